//! Channel identifiers in one canonical form, so the same phone number or e-mail address
//! written two ways finds the same customer.
//!
//! Everything here is pure. The output of a normalizer is a fixed point: normalizing an
//! already normalized value returns it unchanged, which is what lets the stored form be
//! presented again (by a CRM export, say) and still match.

use std::{fmt, str::FromStr as _};

use baton_proto::v1::{Identifier, IdentifierAssurance, IdentifierKind};
use phonenumber::{Mode, country};

/// Longest identifier value accepted, in bytes, before normalization.
pub const MAX_VALUE_LEN: usize = 256;
/// Longest identifier namespace accepted, in bytes.
pub const MAX_NAMESPACE_LEN: usize = 64;
/// Longest default region accepted, in bytes (an ISO 3166-1 alpha-2 code, maybe padded).
pub const MAX_REGION_LEN: usize = 8;
/// Region used to read phone numbers written without a country code when the caller gives none.
pub const FALLBACK_REGION: &str = "US";

/// What makes an identifier the same identifier: its kind, its namespace where the kind has
/// one, and its normalized value. The identity index is keyed by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdentityKey {
    /// The kind; never UNSPECIFIED.
    pub kind: IdentifierKind,
    /// The system the value belongs to (CRM, social network, login issuer); empty for kinds
    /// whose values are global (phone numbers, e-mail addresses).
    pub namespace: String,
    /// The normalized value.
    pub value: String,
}

impl IdentityKey {
    /// The key of an identifier as stored on a profile (already normalized), or `None` when
    /// the stored kind is not one this version knows.
    pub fn of_stored(identifier: &Identifier) -> Option<Self> {
        let kind = IdentifierKind::try_from(identifier.kind).ok()?;
        if kind == IdentifierKind::Unspecified {
            return None;
        }
        Some(Self {
            kind,
            namespace: identifier.namespace.clone(),
            value: identifier.value.clone(),
        })
    }

    /// The identifier in its stored form, with the given assurance.
    pub fn to_identifier(&self, assurance: IdentifierAssurance) -> Identifier {
        Identifier {
            kind: self.kind as i32,
            value: self.value.clone(),
            assurance: assurance as i32,
            namespace: self.namespace.clone(),
            default_region: String::new(),
        }
    }

    /// The stable field name of this key's kind ("phone", "email", ...), as used in evidence,
    /// questions and known facts.
    pub fn field(&self) -> &'static str {
        kind_field(self.kind)
    }
}

/// The stable field name of an identifier kind.
pub fn kind_field(kind: IdentifierKind) -> &'static str {
    match kind {
        IdentifierKind::Unspecified => "identifier",
        IdentifierKind::Phone => "phone",
        IdentifierKind::Email => "email",
        IdentifierKind::AccountNumber => "account_number",
        IdentifierKind::CrmId => "crm_id",
        IdentifierKind::Login => "login",
        IdentifierKind::Device => "device",
        IdentifierKind::SocialHandle => "social_handle",
        IdentifierKind::NationalId => "national_id",
    }
}

/// An identifier after normalization, with the assurance the channel gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// What it is.
    pub key: IdentityKey,
    /// How strongly the channel vouches for it; UNSPECIFIED is read as CLAIMED.
    pub assurance: IdentifierAssurance,
}

impl Normalized {
    /// Whether the customer proved control of this identifier on this contact.
    pub fn is_verified(&self) -> bool {
        self.assurance == IdentifierAssurance::Verified
    }
}

/// Why an identifier cannot be normalized: the sub-field at fault and what is wrong with it,
/// phrased to follow the field path ("value is not a valid phone number").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// `kind`, `value`, `namespace`, `assurance` or `default_region`.
    pub field: &'static str,
    /// What is wrong, without echoing the value (it is personal data).
    pub problem: String,
}

impl Invalid {
    fn new(field: &'static str, problem: impl Into<String>) -> Self {
        Self {
            field,
            problem: problem.into(),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.problem)
    }
}

impl std::error::Error for Invalid {}

/// Normalizes one identifier as a caller presented it.
pub fn identifier(raw: &Identifier) -> Result<Normalized, Invalid> {
    let kind = match IdentifierKind::try_from(raw.kind) {
        Ok(IdentifierKind::Unspecified) => return Err(Invalid::new("kind", "is required")),
        Ok(kind) => kind,
        Err(_) => return Err(Invalid::new("kind", format!("unknown value {}", raw.kind))),
    };
    let assurance = match IdentifierAssurance::try_from(raw.assurance) {
        Ok(IdentifierAssurance::Unspecified) => IdentifierAssurance::Claimed,
        Ok(assurance) => assurance,
        Err(_) => {
            return Err(Invalid::new(
                "assurance",
                format!("unknown value {}", raw.assurance),
            ));
        }
    };
    check_text("value", &raw.value, MAX_VALUE_LEN)?;
    check_text("namespace", &raw.namespace, MAX_NAMESPACE_LEN)?;
    check_text("default_region", &raw.default_region, MAX_REGION_LEN)?;
    let value = value(kind, &raw.value, &raw.default_region)?;
    let namespace = namespace(kind, &raw.namespace);
    // Lower-casing can lengthen text ("Ⱥ" is 2 bytes, "ⱥ" 3). The stored form must fit the
    // same bounds, or presenting it again would be refused.
    check_normalized_len("value", &value, MAX_VALUE_LEN)?;
    check_normalized_len("namespace", &namespace, MAX_NAMESPACE_LEN)?;
    Ok(Normalized {
        key: IdentityKey {
            kind,
            namespace,
            value,
        },
        assurance,
    })
}

/// Normalizes a value of the given kind.
pub fn value(kind: IdentifierKind, value: &str, default_region: &str) -> Result<String, Invalid> {
    let normalized = match kind {
        IdentifierKind::Phone => phone(value, default_region)?,
        IdentifierKind::Email => email(value)?,
        IdentifierKind::AccountNumber => account_number(value)?,
        IdentifierKind::NationalId => national_id(value)?,
        IdentifierKind::SocialHandle => social_handle(value),
        IdentifierKind::CrmId | IdentifierKind::Login | IdentifierKind::Device => {
            value.trim().to_owned()
        }
        IdentifierKind::Unspecified => return Err(Invalid::new("kind", "is required")),
    };
    if normalized.is_empty() {
        return Err(Invalid::new("value", "is required"));
    }
    Ok(normalized)
}

/// The namespace that belongs to the identity of a kind: trimmed and lower-cased for CRM ids,
/// logins and social handles ("Salesforce" and "salesforce" are one system), empty for every
/// other kind so a stray namespace cannot split one phone number into two identities.
pub fn namespace(kind: IdentifierKind, namespace: &str) -> String {
    match kind {
        IdentifierKind::CrmId
        | IdentifierKind::Login
        | IdentifierKind::SocialHandle
        | IdentifierKind::NationalId => namespace.trim().to_lowercase(),
        _ => String::new(),
    }
}

/// A phone number in E.164 ("+442079460018"). Numbers without a country code are read in
/// `default_region` (ISO 3166-1 alpha-2), or [`FALLBACK_REGION`] when it is empty.
pub fn phone(value: &str, default_region: &str) -> Result<String, Invalid> {
    let region = default_region.trim();
    let region = if region.is_empty() {
        FALLBACK_REGION.to_owned()
    } else {
        region.to_ascii_uppercase()
    };
    let region = country::Id::from_str(&region)
        .map_err(|_| Invalid::new("default_region", "is not a known ISO 3166-1 alpha-2 region"))?;
    if value.trim().is_empty() {
        return Err(Invalid::new("value", "is required"));
    }
    let invalid = || Invalid::new("value", "is not a valid phone number");
    let value = value.trim();
    // A number written with its country code ("+49 ...", "tel:+49-...") is read by its own
    // country's rules alone: given a default region, phonenumber strips that region's national
    // prefix from it, so in the US "+49 1512 3456789" loses its "1" and becomes another number.
    // Written so, it is parsed once, without the region; otherwise a plus found on the way
    // (after other text) still gets it read again.
    let plus = value
        .strip_prefix("tel:")
        .unwrap_or(value)
        .trim_start()
        .starts_with('+');
    let mut number = phonenumber::parse((!plus).then_some(region), value).map_err(|_| invalid())?;
    if !plus && number.code().source() == country::Source::Plus {
        number = phonenumber::parse(None, value).map_err(|_| invalid())?;
    }
    if !phonenumber::is_valid(&number) {
        return Err(invalid());
    }
    Ok(number.format().mode(Mode::E164).to_string())
}

/// An e-mail address, trimmed and lower-cased, with the plus-tag removed from the local part
/// (`Ann.Lee+promo@Example.COM` is `ann.lee@example.com`).
pub fn email(value: &str) -> Result<String, Invalid> {
    let lowered = value.trim().to_lowercase();
    let invalid = || Invalid::new("value", "is not a valid e-mail address");
    let mut parts = lowered.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    // Sub-addressing: everything from the first '+' is a tag the mailbox owner chose, and
    // the same person hands out many of them.
    let local = local.split('+').next().unwrap_or_default();
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..");
    if local.is_empty() || !domain_ok || lowered.chars().any(char::is_whitespace) {
        return Err(invalid());
    }
    Ok(format!("{local}@{domain}"))
}

/// An account number with spaces and dashes removed, upper-cased; only letters and digits may
/// remain.
pub fn account_number(value: &str) -> Result<String, Invalid> {
    let compact: String = value
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_ascii_uppercase();
    if !compact.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Invalid::new(
            "value",
            "may contain only letters, digits, spaces and dashes",
        ));
    }
    Ok(compact)
}

/// A national identity number with spaces, dashes, dots and slashes removed, upper-cased;
/// only letters and digits may remain ("123-45-6789" and "123 45 6789" are one number).
pub fn national_id(value: &str) -> Result<String, Invalid> {
    let compact: String = value
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '.' | '/'))
        .collect::<String>()
        .to_ascii_uppercase();
    if !compact.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Invalid::new(
            "value",
            "may contain only letters, digits, spaces, dashes, dots and slashes",
        ));
    }
    Ok(compact)
}

/// A social handle, trimmed and lower-cased, without leading '@'s.
pub fn social_handle(value: &str) -> String {
    value
        .trim_start_matches(|c: char| c == '@' || c.is_whitespace())
        .trim_end()
        .to_lowercase()
}

fn check_normalized_len(field: &'static str, value: &str, max: usize) -> Result<(), Invalid> {
    if value.len() > max {
        return Err(Invalid::new(
            field,
            format!(
                "must be at most {max} bytes once normalized (got {})",
                value.len()
            ),
        ));
    }
    Ok(())
}

fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), Invalid> {
    if value.len() > max {
        return Err(Invalid::new(
            field,
            format!("must be at most {max} bytes (got {})", value.len()),
        ));
    }
    // Control characters have no place in an identifier, and excluding them keeps the
    // store's key separator out of every key part.
    if value.chars().any(char::is_control) {
        return Err(Invalid::new(field, "must not contain control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn raw(kind: IdentifierKind, value: &str) -> Identifier {
        Identifier {
            kind: kind as i32,
            value: value.to_owned(),
            ..Default::default()
        }
    }

    #[test]
    fn phone_numbers_written_differently_meet_in_e164() {
        assert_eq!(
            phone("+44 20 7946 0018", "").expect("valid"),
            "+442079460018"
        );
        assert_eq!(
            phone("020 7946 0018", "gb").expect("valid"),
            "+442079460018"
        );
        assert_eq!(phone("(201) 555-0123", "").expect("valid"), "+12015550123");
    }

    #[test]
    fn a_number_with_its_country_code_ignores_the_default_region() {
        // Read by the default region's rules, each of these lost its first digit as if it were
        // that region's national prefix ("1" in the US and Canada, "0" in the UK): the first
        // two became other valid numbers, the rest were refused.
        for (written, region, e164) in [
            ("+49 1512 3456789", "", "+4915123456789"),
            ("+49 171 1234567", "US", "+491711234567"),
            ("+33 1 23 45 67 89", "", "+33123456789"),
            ("+44 161 496 0000", "CA", "+441614960000"),
            ("tel:+33-1-23-45-67-89", "US", "+33123456789"),
            ("+39 06 1234 5678", "GB", "+390612345678"),
        ] {
            assert_eq!(
                phone(written, region).as_deref(),
                Ok(e164),
                "{written} in {region:?}"
            );
            assert_eq!(
                phone(e164, region).as_deref(),
                Ok(e164),
                "{e164} in {region:?}"
            );
        }
    }

    #[test]
    fn phone_problems_name_the_field() {
        assert_eq!(phone("12", "").expect_err("short").field, "value");
        assert_eq!(
            phone("not a number", "GB").expect_err("letters").problem,
            "is not a valid phone number"
        );
        assert_eq!(
            phone("020 7946 0018", "XX").expect_err("region").field,
            "default_region"
        );
    }

    #[test]
    fn email_loses_case_space_and_plus_tag() {
        assert_eq!(
            email(" Ann.Lee+promo@Example.COM ").expect("valid"),
            "ann.lee@example.com"
        );
        for bad in [
            "ann",
            "ann@example",
            "a@b@example.com",
            "+tag@example.com",
            "ann lee@example.com",
            "ann@.com",
            "ann@example.com.",
            "@example.com",
        ] {
            assert!(email(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn account_numbers_lose_spaces_and_dashes() {
        assert_eq!(
            account_number("ab-12 34-x").expect("valid"),
            "AB1234X".to_owned()
        );
        assert!(account_number("12/34").is_err());
    }

    #[test]
    fn social_handles_and_exact_kinds() {
        assert_eq!(social_handle("  @AnnLee "), "annlee");
        let n = identifier(&Identifier {
            kind: IdentifierKind::SocialHandle as i32,
            value: "@AnnLee".into(),
            namespace: " X ".into(),
            ..Default::default()
        })
        .expect("valid");
        assert_eq!(n.key.namespace, "x");
        assert_eq!(n.key.value, "annlee");
        let crm = identifier(&raw(IdentifierKind::CrmId, "  Abc-1 ")).expect("valid");
        assert_eq!(crm.key.value, "Abc-1", "crm ids keep their case");
    }

    #[test]
    fn namespace_only_counts_where_the_kind_has_one() {
        let mut phone = raw(IdentifierKind::Phone, "+12015550123");
        phone.namespace = "mobile".into();
        assert_eq!(identifier(&phone).expect("valid").key.namespace, "");
        let mut login = raw(IdentifierKind::Login, "sub-1");
        login.namespace = "Auth0".into();
        assert_eq!(identifier(&login).expect("valid").key.namespace, "auth0");
    }

    #[test]
    fn bounds_kinds_and_assurance_are_checked() {
        let long = raw(IdentifierKind::CrmId, &"x".repeat(MAX_VALUE_LEN + 1));
        assert_eq!(identifier(&long).expect_err("long").field, "value");
        let mut ns = raw(IdentifierKind::CrmId, "1");
        ns.namespace = "n".repeat(MAX_NAMESPACE_LEN + 1);
        assert_eq!(identifier(&ns).expect_err("ns").field, "namespace");
        assert_eq!(
            identifier(&raw(IdentifierKind::Unspecified, "1"))
                .expect_err("kind")
                .field,
            "kind"
        );
        let mut unknown = raw(IdentifierKind::Device, "d");
        unknown.kind = 99;
        assert_eq!(identifier(&unknown).expect_err("kind").field, "kind");
        unknown.kind = IdentifierKind::Device as i32;
        unknown.assurance = 42;
        assert_eq!(
            identifier(&unknown).expect_err("assurance").field,
            "assurance"
        );
        assert!(identifier(&raw(IdentifierKind::Device, "a\u{1f}b")).is_err());
        assert!(identifier(&raw(IdentifierKind::Device, "   ")).is_err());
    }

    #[test]
    fn the_stored_form_fits_the_bounds_it_is_presented_again_under() {
        // Each "Ⱥ" (2 bytes) lower-cases to "ⱥ" (3 bytes).
        let mut handle = raw(IdentifierKind::SocialHandle, &"Ⱥ".repeat(MAX_VALUE_LEN / 2));
        assert_eq!(identifier(&handle).expect_err("long").field, "value");
        handle.value = "Ⱥ".repeat(MAX_VALUE_LEN / 3);
        let n = identifier(&handle).expect("fits once normalized");
        assert_eq!(identifier(&n.key.to_identifier(n.assurance)), Ok(n));
        let mut login = raw(IdentifierKind::Login, "sub-1");
        login.namespace = "Ⱥ".repeat(MAX_NAMESPACE_LEN / 2);
        assert_eq!(identifier(&login).expect_err("long").field, "namespace");
    }

    #[test]
    fn unspecified_assurance_reads_as_claimed() {
        let n = identifier(&raw(IdentifierKind::Device, "d")).expect("valid");
        assert_eq!(n.assurance, IdentifierAssurance::Claimed);
    }

    fn kind() -> impl Strategy<Value = IdentifierKind> {
        prop_oneof![
            Just(IdentifierKind::Phone),
            Just(IdentifierKind::Email),
            Just(IdentifierKind::AccountNumber),
            Just(IdentifierKind::CrmId),
            Just(IdentifierKind::Login),
            Just(IdentifierKind::Device),
            Just(IdentifierKind::SocialHandle),
        ]
    }

    proptest! {
        #[test]
        fn never_panics_and_output_is_a_fixed_point(
            kind in kind(),
            value in "\\PC{0,40}",
            region in prop_oneof![Just(""), Just("GB"), Just("de"), Just("US")],
        ) {
            if let Ok(once) = super::value(kind, &value, region) {
                let twice = super::value(kind, &once, region);
                prop_assert_eq!(twice.as_ref(), Ok(&once));
            }
        }

        #[test]
        fn phone_like_input_never_panics_and_reaches_a_fixed_point(
            value in "[+]?[0-9 ().-]{0,24}",
            region in prop_oneof![Just(""), Just("GB"), Just("FR"), Just("IN"), Just("US")],
        ) {
            if let Ok(once) = phone(&value, region) {
                prop_assert!(once.starts_with('+'));
                prop_assert_eq!(phone(&once, region), Ok(once.clone()));
                prop_assert_eq!(phone(&once, "JP"), Ok(once), "E.164 does not depend on the region");
            }
        }

        #[test]
        fn phone_punctuation_does_not_matter(
            digits in "[2-9][0-9]{2}[2-9][0-9]{6}",
            style in 0usize..4,
        ) {
            let formatted = match style {
                0 => format!("({}) {}-{}", &digits[..3], &digits[3..6], &digits[6..]),
                1 => format!("{}.{}.{}", &digits[..3], &digits[3..6], &digits[6..]),
                2 => format!("+1 {} {} {}", &digits[..3], &digits[3..6], &digits[6..]),
                _ => format!("1-{}-{}-{}", &digits[..3], &digits[3..6], &digits[6..]),
            };
            let plain = phone(&digits, "US");
            let pretty = phone(&formatted, "US");
            prop_assert_eq!(plain.is_ok(), pretty.is_ok());
            if let (Ok(a), Ok(b)) = (plain, pretty) {
                prop_assert_eq!(&a, &b);
                prop_assert!(a.starts_with("+1"));
            }
        }

        #[test]
        fn email_case_and_tags_do_not_matter(
            local in "[a-z][a-z0-9.]{0,12}",
            tag in "[a-zA-Z0-9]{0,8}",
            domain in "[a-z]{1,10}\\.(com|org|co\\.uk)",
        ) {
            let local = local.trim_end_matches('.').replace("..", ".");
            let plain = email(&format!("{local}@{domain}"));
            let tagged = email(&format!("  {}+{tag}@{} ", local.to_uppercase(), domain.to_uppercase()));
            prop_assert_eq!(plain, tagged);
        }

        #[test]
        fn account_number_separators_do_not_matter(
            chars in proptest::collection::vec(("[a-zA-Z0-9]", prop_oneof![Just(""), Just(" "), Just("-")]), 1..20),
        ) {
            let bare: String = chars.iter().map(|(c, _)| c.as_str()).collect();
            let spaced: String = chars.iter().map(|(c, sep)| format!("{c}{sep}")).collect();
            prop_assert_eq!(account_number(&bare), account_number(&spaced));
        }
    }
}
