//! Where a phone number written without its country code ("02 9876 5432") is read.
//!
//! An identifier may name its own `default_region`. When it does not, the tenant's configured
//! region applies, else the process's configured default, else [`FALLBACK_REGION`]. The
//! adapter fills the identifier's empty `default_region` with that region before the
//! identifier is normalized, so the domain reads every number the same way whichever RPC
//! brought it.

use std::{collections::BTreeMap, fmt, str::FromStr as _};

use baton_proto::v1::{Identifier, IdentifierKind};
use phonenumber::country;

use crate::normalize::FALLBACK_REGION;

/// The configured default regions: one for the process, and one per tenant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PhoneRegions {
    /// The region of tenants without one of their own; unset, [`FALLBACK_REGION`].
    default: Option<String>,
    /// Tenants whose customers' numbers are local to somewhere else (`acme` → `AU`).
    tenants: BTreeMap<String, String>,
}

/// A region or a tenant list that cannot be used; the process refuses to start on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionError {
    /// Not an ISO 3166-1 alpha-2 code phone numbering knows.
    #[error("{0:?} is not an ISO 3166-1 alpha-2 region code (such as AU, GB or US)")]
    Unknown(String),
    /// An entry of the tenant list is not `tenant=REGION`.
    #[error("{0:?} is not tenant=REGION (expected a list such as acme=AU,globex=GB)")]
    Malformed(String),
    /// A tenant appears twice with different regions.
    #[error("tenant {0:?} is given two regions")]
    Duplicate(String),
}

/// `code` upper-cased when it is a region phone numbering knows.
pub fn region(code: &str) -> Result<String, RegionError> {
    let upper = code.trim().to_ascii_uppercase();
    let alpha2 = upper.len() == 2 && upper.bytes().all(|b| b.is_ascii_alphabetic());
    if alpha2 && country::Id::from_str(&upper).is_ok() {
        Ok(upper)
    } else {
        Err(RegionError::Unknown(code.to_owned()))
    }
}

impl PhoneRegions {
    /// The process default `default` (none: [`FALLBACK_REGION`]) and the per-tenant list
    /// `tenants`, `acme=AU,globex=GB` (empty for none). Every code is checked.
    pub fn new(default: Option<&str>, tenants: &str) -> Result<Self, RegionError> {
        let default = default
            .filter(|d| !d.trim().is_empty())
            .map(region)
            .transpose()?;
        let mut map = BTreeMap::new();
        for entry in tenants.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((tenant, code)) = entry.split_once('=') else {
                return Err(RegionError::Malformed(entry.to_owned()));
            };
            let tenant = tenant.trim();
            if tenant.is_empty() {
                return Err(RegionError::Malformed(entry.to_owned()));
            }
            let code = region(code)?;
            if let Some(before) = map.insert(tenant.to_owned(), code.clone())
                && before != code
            {
                return Err(RegionError::Duplicate(tenant.to_owned()));
            }
        }
        Ok(Self {
            default,
            tenants: map,
        })
    }

    /// The region `tenant`'s numbers without a country code are read in.
    pub fn for_tenant(&self, tenant: &str) -> &str {
        self.tenants
            .get(tenant)
            .or(self.default.as_ref())
            .map_or(FALLBACK_REGION, String::as_str)
    }

    /// Gives each phone identifier without a region of its own `region`.
    pub fn fill(region: &str, identifiers: &mut [Identifier]) {
        for id in identifiers {
            if id.kind == IdentifierKind::Phone as i32 && id.default_region.trim().is_empty() {
                region.clone_into(&mut id.default_region);
            }
        }
    }
}

impl fmt::Display for PhoneRegions {
    /// `default XX; acme=AU, globex=GB`, for the start-up log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "default {}",
            self.default.as_deref().unwrap_or(FALLBACK_REGION)
        )?;
        for (i, (tenant, code)) in self.tenants.iter().enumerate() {
            write!(f, "{}{tenant}={code}", if i == 0 { "; " } else { ", " })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tenant_then_the_default_then_the_fallback() {
        let regions = PhoneRegions::new(Some("gb"), "acme=AU, globex = nz").expect("valid");
        assert_eq!(regions.for_tenant("acme"), "AU");
        assert_eq!(regions.for_tenant("globex"), "NZ");
        assert_eq!(regions.for_tenant("initech"), "GB");
        let none = PhoneRegions::new(None, "").expect("valid");
        assert_eq!(none.for_tenant("acme"), FALLBACK_REGION);
        assert_eq!(regions.to_string(), "default GB; acme=AU, globex=NZ");
    }

    #[test]
    fn unknown_codes_and_malformed_lists_are_refused() {
        assert_eq!(
            PhoneRegions::new(Some("XX"), ""),
            Err(RegionError::Unknown("XX".into()))
        );
        assert_eq!(
            PhoneRegions::new(None, "acme=Australia"),
            Err(RegionError::Unknown("Australia".into()))
        );
        assert_eq!(
            PhoneRegions::new(None, "acme"),
            Err(RegionError::Malformed("acme".into()))
        );
        assert_eq!(
            PhoneRegions::new(None, "=AU"),
            Err(RegionError::Malformed("=AU".into()))
        );
        assert_eq!(
            PhoneRegions::new(None, "acme=AU,acme=GB"),
            Err(RegionError::Duplicate("acme".into()))
        );
        assert!(PhoneRegions::new(None, "acme=AU,acme=au").is_ok());
    }

    #[test]
    fn only_phones_without_a_region_are_filled() {
        let phone = |region: &str| Identifier {
            kind: IdentifierKind::Phone as i32,
            value: "02 9876 5432".into(),
            default_region: region.into(),
            ..Default::default()
        };
        let mut ids = vec![
            phone(""),
            phone("NZ"),
            Identifier {
                kind: IdentifierKind::Email as i32,
                value: "a@b.co".into(),
                ..Default::default()
            },
        ];
        PhoneRegions::fill("AU", &mut ids);
        assert_eq!(ids[0].default_region, "AU");
        assert_eq!(ids[1].default_region, "NZ");
        assert_eq!(ids[2].default_region, "");
    }
}
