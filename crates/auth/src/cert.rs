//! The principal a client certificate names.
//!
//! The TLS handshake has already verified the chain against the configured CA; this reads who
//! the certificate is for from a URI subject alternative name of the form
//!
//! ```text
//! spiffe://<trust domain>/baton/<tenant or *>/<role>[+<role>...]/<id>
//! ```
//!
//! for example `spiffe://cluster.local/baton/*/service/routing` for the routing service, or
//! `spiffe://cluster.local/baton/acme/agent/ann` for agent ann's desk. The id is the
//! principal's subject (and an agent's agent id). A certificate without such a SAN proves a
//! connection but no principal: its calls need a bearer token.

use x509_parser::{extensions::GeneralName, prelude::FromDer as _};

use crate::principal::{AuthMethod, Principal, Role, Roles, Tenants};

/// The principal named by the first `spiffe://.../baton/...` URI SAN of a DER certificate; with
/// `trust_domain`, only a SAN of that trust domain counts.
pub fn principal_of(der: &[u8], trust_domain: Option<&str>) -> Result<Option<Principal>, String> {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der)
        .map_err(|e| format!("client certificate does not parse: {e}"))?;
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Ok(None);
    };
    for name in &san.value.general_names {
        if let GeneralName::URI(uri) = name
            && trust_domain.is_none_or(|td| in_trust_domain(uri, td))
            && let Some(principal) = parse_uri(uri)?
        {
            return Ok(Some(principal));
        }
    }
    Ok(None)
}

fn in_trust_domain(uri: &str, trust_domain: &str) -> bool {
    uri.strip_prefix("spiffe://")
        .and_then(|rest| rest.split('/').next())
        .is_some_and(|td| td == trust_domain)
}

/// The principal a SAN URI names; `None` for URIs that are not baton's.
pub fn parse_uri(uri: &str) -> Result<Option<Principal>, String> {
    let Some(rest) = uri.strip_prefix("spiffe://") else {
        return Ok(None);
    };
    let mut parts = rest.split('/');
    let _trust_domain = parts.next();
    if parts.next() != Some("baton") {
        return Ok(None);
    }
    let (Some(tenant), Some(roles), Some(id), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!(
            "certificate SAN {uri:?} is not spiffe://<domain>/baton/<tenant>/<role>/<id>"
        ));
    };
    if id.is_empty() || tenant.is_empty() {
        return Err(format!("certificate SAN {uri:?} has an empty tenant or id"));
    }
    let mut parsed = Vec::new();
    for name in roles.split('+') {
        parsed.push(
            Role::parse(name)
                .ok_or_else(|| format!("certificate SAN {uri:?} names unknown role {name:?}"))?,
        );
    }
    let roles = Roles::of(&parsed);
    Ok(Some(Principal {
        subject: id.to_owned(),
        tenants: if tenant == "*" {
            Tenants::Any
        } else {
            Tenants::one(tenant)
        },
        roles,
        agent_id: roles.contains(Role::Agent).then(|| id.to_owned()),
        method: AuthMethod::Certificate,
    }))
}

/// The SAN URI that names `principal`'s kind of caller in `trust_domain`.
pub fn uri_for(trust_domain: &str, tenant: Option<&str>, roles: Roles, id: &str) -> String {
    let roles = roles.iter().map(Role::as_str).collect::<Vec<_>>().join("+");
    format!(
        "spiffe://{trust_domain}/baton/{}/{roles}/{id}",
        tenant.unwrap_or("*")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_san_uri_names_tenant_roles_and_id() {
        let p = parse_uri("spiffe://cluster.local/baton/*/service/routing")
            .expect("valid")
            .expect("baton's");
        assert_eq!(p.subject, "routing");
        assert_eq!(p.tenants, Tenants::Any);
        assert!(p.has(Role::Service));
        let p = parse_uri("spiffe://x/baton/acme/agent+supervisor/ann")
            .expect("valid")
            .expect("baton's");
        assert_eq!(p.agent_id.as_deref(), Some("ann"));
        assert!(p.has(Role::Supervisor));
        assert_eq!(p.tenants, Tenants::one("acme"));
        assert_eq!(
            uri_for("x", Some("acme"), p.roles, "ann"),
            "spiffe://x/baton/acme/agent+supervisor/ann"
        );
    }

    #[test]
    fn a_configured_trust_domain_is_the_only_one_that_counts() {
        assert!(in_trust_domain(
            "spiffe://cluster.local/baton/*/service/routing",
            "cluster.local"
        ));
        assert!(!in_trust_domain(
            "spiffe://evil.example/baton/*/service/routing",
            "cluster.local"
        ));
        assert!(!in_trust_domain(
            "spiffe://cluster.local.evil/baton/x",
            "cluster.local"
        ));
    }

    #[test]
    fn foreign_uris_are_ignored_and_malformed_ones_refused() {
        assert_eq!(parse_uri("https://example.com/x").expect("ignored"), None);
        assert_eq!(
            parse_uri("spiffe://x/other/acme/agent/ann").expect("ignored"),
            None
        );
        assert!(parse_uri("spiffe://x/baton/acme/agent").is_err());
        assert!(parse_uri("spiffe://x/baton/acme/root/ann").is_err());
        assert!(parse_uri("spiffe://x/baton/acme/agent/ann/extra").is_err());
    }
}
