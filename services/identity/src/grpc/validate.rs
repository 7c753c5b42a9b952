//! Requests to commands: every check a request must pass before the domain sees it, each
//! failure a field violation, all of them reported at once. Sizes come first: a list's
//! length before its items, a string's length before its characters, so an oversized field
//! is one violation and no work.

use baton_proto::v1::{
    Channel, ForgetCustomerRequest, Identifier, IdentifierAssurance, IdentifierKind,
    LinkIdentifierRequest, MergeProfilesRequest, PersonTraits, ProfileRecord, ResolveRequest,
    UnmergeProfileRequest, UpsertProfileRequest, VerificationMethod,
};
use baton_runtime::validate::{MAX_ID_LEN, Violations};
use tonic::Status;

use crate::{
    domain::{
        ForgetCommand, LinkCommand, MergeCommand, ResolveCommand, UnmergeCommand, UpsertCommand,
        person,
        profile::{MAX_ATTRIBUTE_KEY_LEN, MAX_ATTRIBUTE_VALUE_LEN, MAX_ATTRIBUTES},
    },
    normalize::{self, MAX_NAMESPACE_LEN, MAX_REGION_LEN, MAX_VALUE_LEN, Normalized},
};

/// Most identifiers in one Resolve request or one upserted record.
pub const MAX_IDENTIFIERS: usize = 16;
/// Most records in one UpsertProfile request.
pub const MAX_RECORDS: usize = 500;
/// Most extra proofs in one Resolve request (there are seven methods).
pub const MAX_PROOFS: usize = 8;
/// Longest audit reason.
pub const MAX_REASON_LEN: usize = 256;
/// Longest name field.
const MAX_NAME_LEN: usize = 128;
/// Longest BCP 47 language tag we keep.
const MAX_LANGUAGE_LEN: usize = 35;
/// Most address lines, and the longest of each address field.
const MAX_ADDRESS_LINES: usize = 4;
const MAX_ADDRESS_FIELD_LEN: usize = 128;
/// Longest country code accepted before trimming (the code itself is two letters).
const MAX_COUNTRY_CODE_LEN: usize = 8;

/// What one UpsertProfile record encodes to at most, rounded up: 16 identifiers of about 340
/// bytes (value, namespace, region), 32 attributes of about 330 (key and value), traits of
/// about 1.2 KiB (names, four address lines and the other address fields, language), the
/// external id and source: 17 KiB. `a_full_bulk_import_fits_the_message_limit` builds one.
const MAX_RECORD_BYTES: usize = 18 * 1024;
/// The largest request the server decodes: a full UpsertProfile (500 records at their limits,
/// about 8.3 MiB) plus room for the tenant and key. Every other request is a few KiB (Resolve
/// at its limits is under 8 KiB), but one server has one limit; anything larger is refused
/// before it is decoded, so a hostile request cannot cost more memory than this allows.
pub const MAX_REQUEST_BYTES: usize = MAX_RECORDS * MAX_RECORD_BYTES + 64 * 1024;

/// Checks kind and assurance of an identifier; true when both are known.
fn identifier_enums(v: &mut Violations, path: &str, raw: &Identifier) -> bool {
    let kind = v.enum_value::<IdentifierKind>(&format!("{path}.kind"), raw.kind, true);
    let assurance =
        v.enum_value::<IdentifierAssurance>(&format!("{path}.assurance"), raw.assurance, false);
    kind.is_some() && assurance.is_some()
}

/// Validates and normalizes one identifier at `path` (normalizing checks sizes first).
fn identifier(v: &mut Violations, path: &str, raw: &Identifier) -> Option<Normalized> {
    if !identifier_enums(v, path, raw) {
        return None;
    }
    match normalize::identifier(raw) {
        Ok(n) => Some(n),
        Err(invalid) => {
            v.add(format!("{path}.{}", invalid.field), invalid.problem);
            None
        }
    }
}

/// Checks optional text: at most `max` bytes, then no control characters. True when it
/// passed the size check (so it is worth looking at).
fn bounded_text(v: &mut Violations, field: &str, value: &str, max: usize) -> bool {
    if !v.text(field, value, max) {
        return false;
    }
    if value.chars().any(char::is_control) {
        v.add(field, "must not contain control characters");
    }
    true
}

/// Checks required text: at most `max` bytes, not blank, no control characters.
fn required_bounded_text(v: &mut Violations, field: &str, value: &str, max: usize) {
    if !v.text(field, value, max) {
        return;
    }
    if value.trim().is_empty() {
        v.add(field, "is required");
    } else if value.chars().any(char::is_control) {
        v.add(field, "must not contain control characters");
    }
}

/// Checks person traits at `path` (`traits`), every size before any content. Returns whether
/// every size is within bounds, so a caller may look at the contents (is anything given?).
/// Routing checks a contact's traits with this too, since it passes them to Resolve.
pub fn person_traits(v: &mut Violations, path: &str, t: &PersonTraits) -> bool {
    let mut sized = true;
    for (name, value, max) in [
        ("given_name", &t.given_name, MAX_NAME_LEN),
        ("family_name", &t.family_name, MAX_NAME_LEN),
        ("language", &t.language, MAX_LANGUAGE_LEN),
    ] {
        sized &= bounded_text(v, &format!("{path}.{name}"), value, max);
    }
    if let Some(d) = t.date_of_birth
        && d != Default::default()
        && !valid_date(d.year, d.month, d.day)
    {
        v.add(
            format!("{path}.date_of_birth"),
            "is not a valid calendar date",
        );
    }
    if let Some(a) = &t.address {
        let lines = format!("{path}.address.lines");
        if v.max_items(&lines, a.lines.len(), MAX_ADDRESS_LINES) {
            for (i, line) in a.lines.iter().enumerate() {
                sized &= bounded_text(v, &format!("{lines}[{i}]"), line, MAX_ADDRESS_FIELD_LEN);
            }
        } else {
            sized = false;
        }
        for (name, value) in [
            ("locality", &a.locality),
            ("region", &a.region),
            ("postal_code", &a.postal_code),
        ] {
            sized &= bounded_text(
                v,
                &format!("{path}.address.{name}"),
                value,
                MAX_ADDRESS_FIELD_LEN,
            );
        }
        let cc = &a.country_code;
        let sized_cc = cc.len() <= MAX_COUNTRY_CODE_LEN;
        sized &= sized_cc;
        let alpha2_or_empty = |code: &str| {
            code.is_empty() || code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic())
        };
        if !(sized_cc && alpha2_or_empty(cc.trim())) {
            v.add(
                format!("{path}.address.country_code"),
                "must be an ISO 3166-1 alpha-2 code",
            );
        }
    }
    sized
}

fn valid_date(year: i32, month: i32, day: i32) -> bool {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1000..=9999).contains(&year) && (1..=days).contains(&day)
}

/// Checks an optional-or-required reason and an actor id.
fn audit_fields(v: &mut Violations, reason: &str, actor_id: &str) {
    bounded_text(v, "reason", reason, MAX_REASON_LEN);
    v.id("actor_id", actor_id);
}

/// A Resolve request.
pub fn resolve(req: ResolveRequest) -> Result<ResolveCommand, Status> {
    let mut v = Violations::new();
    v.tenant(&req.tenant_id);
    let mut identifiers = Vec::new();
    if v.max_items("identifiers", req.identifiers.len(), MAX_IDENTIFIERS) {
        for (i, raw) in req.identifiers.iter().enumerate() {
            if let Some(n) = identifier(&mut v, &format!("identifiers[{i}]"), raw) {
                identifiers.push(n);
            }
        }
    }
    // Oversized traits are given (and refused); only bounded ones are looked into.
    let traits_given = req
        .traits
        .as_ref()
        .is_some_and(|t| !person_traits(&mut v, "traits", t) || !person::is_empty(t));
    if req.identifiers.is_empty() && !traits_given {
        v.add(
            "identifiers",
            "at least one identifier or a person trait is required",
        );
    }
    let channel = v
        .enum_value::<Channel>("channel", req.channel, false)
        .unwrap_or_default();
    let mut proofs = Vec::new();
    if v.max_items("proofs", req.proofs.len(), MAX_PROOFS) {
        for (i, raw) in req.proofs.iter().enumerate() {
            if let Some(m) = v.enum_value::<VerificationMethod>(&format!("proofs[{i}]"), *raw, true)
            {
                proofs.push(m);
            }
        }
    }
    if !req.lookup_only || !req.idempotency_key.is_empty() {
        v.idempotency_key(&req.idempotency_key);
    }
    v.check()?;
    Ok(ResolveCommand {
        tenant: req.tenant_id,
        identifiers,
        traits: req.traits.filter(|t| !person::is_empty(t)),
        channel,
        lookup_only: req.lookup_only,
        proofs,
        idempotency_key: req.idempotency_key,
    })
}

/// An UpsertProfile request. Contract breaches (sizes, unknown enum values, missing ids)
/// refuse the whole call; data that does not normalize (a bad phone number in a CRM export)
/// only refuses its record, in the domain.
pub fn upsert(req: UpsertProfileRequest) -> Result<UpsertCommand, Status> {
    let mut v = Violations::new();
    v.tenant(&req.tenant_id);
    v.idempotency_key(&req.idempotency_key);
    if v.max_items("records", req.records.len(), MAX_RECORDS) {
        for (i, record) in req.records.iter().enumerate() {
            profile_record(&mut v, &format!("records[{i}]"), record);
        }
    }
    v.check()?;
    Ok(UpsertCommand {
        tenant: req.tenant_id,
        records: req.records,
        idempotency_key: req.idempotency_key,
    })
}

/// Checks one upserted record at `path` (`records[3]`).
fn profile_record(v: &mut Violations, path: &str, record: &ProfileRecord) {
    let external_id = format!("{path}.external_id");
    if !record.external_id.is_empty()
        && record.external_id.len() <= MAX_ID_LEN
        && record.external_id.trim().is_empty()
    {
        v.add(external_id, "must not be blank");
    } else {
        v.id(&external_id, &record.external_id);
    }
    required_bounded_text(
        v,
        &format!("{path}.source"),
        &record.source,
        MAX_NAMESPACE_LEN,
    );
    let ids = format!("{path}.identifiers");
    if v.max_items(&ids, record.identifiers.len(), MAX_IDENTIFIERS) {
        for (j, raw) in record.identifiers.iter().enumerate() {
            let at = format!("{ids}[{j}]");
            identifier_enums(v, &at, raw);
            v.text(&format!("{at}.value"), &raw.value, MAX_VALUE_LEN);
            v.text(
                &format!("{at}.namespace"),
                &raw.namespace,
                MAX_NAMESPACE_LEN,
            );
            v.text(
                &format!("{at}.default_region"),
                &raw.default_region,
                MAX_REGION_LEN,
            );
        }
    }
    if let Some(t) = &record.traits {
        person_traits(v, &format!("{path}.traits"), t);
    }
    let attrs = format!("{path}.attributes");
    if v.max_items(&attrs, record.attributes.len(), MAX_ATTRIBUTES) {
        let mut keys: Vec<&String> = record.attributes.keys().collect();
        keys.sort();
        for key in keys {
            let value = &record.attributes[key];
            if key.is_empty()
                || key.len() > MAX_ATTRIBUTE_KEY_LEN
                || key.chars().any(char::is_control)
            {
                v.add(
                    attrs.clone(),
                    format!(
                        "keys must be 1 to {MAX_ATTRIBUTE_KEY_LEN} bytes without control characters"
                    ),
                );
            } else {
                bounded_text(
                    v,
                    &format!("{attrs}[{key}]"),
                    value,
                    MAX_ATTRIBUTE_VALUE_LEN,
                );
            }
        }
    }
}

/// A GetProfile request: `(tenant, customer_id)`.
pub fn get_profile(tenant: &str, customer_id: &str) -> Result<(), Status> {
    let mut v = Violations::new();
    v.tenant(tenant);
    v.id("customer_id", customer_id);
    v.check()
}

/// A LinkIdentifier request.
pub fn link(req: LinkIdentifierRequest) -> Result<LinkCommand, Status> {
    let mut v = Violations::new();
    v.tenant(&req.tenant_id);
    v.id("customer_id", &req.customer_id);
    let normalized = match &req.identifier {
        Some(raw) => identifier(&mut v, "identifier", raw),
        None => {
            v.add("identifier", "is required");
            None
        }
    };
    v.idempotency_key(&req.idempotency_key);
    v.check()?;
    let Some(identifier) = normalized else {
        // Unreachable: a missing or invalid identifier added a violation above.
        return Err(Status::invalid_argument("identifier is required"));
    };
    Ok(LinkCommand {
        tenant: req.tenant_id,
        customer_id: req.customer_id,
        identifier,
        idempotency_key: req.idempotency_key,
    })
}

/// A MergeProfiles request.
pub fn merge(req: MergeProfilesRequest) -> Result<MergeCommand, Status> {
    let mut v = Violations::new();
    v.tenant(&req.tenant_id);
    v.id("survivor_id", &req.survivor_id);
    v.id("merged_id", &req.merged_id);
    if !req.merged_id.is_empty() && req.merged_id == req.survivor_id {
        v.add(
            "merged_id",
            "must differ from survivor_id: a profile cannot be merged into itself",
        );
    }
    audit_fields(&mut v, &req.reason, &req.actor_id);
    v.idempotency_key(&req.idempotency_key);
    v.check()?;
    Ok(MergeCommand {
        tenant: req.tenant_id,
        survivor_id: req.survivor_id,
        merged_id: req.merged_id,
        reason: req.reason,
        actor_id: req.actor_id,
        idempotency_key: req.idempotency_key,
    })
}

/// An UnmergeProfile request.
pub fn unmerge(req: UnmergeProfileRequest) -> Result<UnmergeCommand, Status> {
    let mut v = Violations::new();
    v.tenant(&req.tenant_id);
    v.id("merge_id", &req.merge_id);
    audit_fields(&mut v, &req.reason, &req.actor_id);
    v.idempotency_key(&req.idempotency_key);
    v.check()?;
    Ok(UnmergeCommand {
        tenant: req.tenant_id,
        merge_id: req.merge_id,
        reason: req.reason,
        actor_id: req.actor_id,
        idempotency_key: req.idempotency_key,
    })
}

/// A ForgetCustomer request.
pub fn forget(req: ForgetCustomerRequest) -> Result<ForgetCommand, Status> {
    let mut v = Violations::new();
    v.tenant(&req.tenant_id);
    v.id("customer_id", &req.customer_id);
    bounded_text(&mut v, "reason", &req.reason, MAX_REASON_LEN);
    v.idempotency_key(&req.idempotency_key);
    v.check()?;
    Ok(ForgetCommand {
        tenant: req.tenant_id,
        customer_id: req.customer_id,
        reason: req.reason,
        idempotency_key: req.idempotency_key,
    })
}

#[cfg(test)]
mod tests {
    use baton_proto::v1::{CalendarDate, PostalAddress};
    use baton_runtime::validate::field_violations;
    use prost::Message as _;

    use super::*;

    fn fields(status: &Status) -> Vec<String> {
        field_violations(status)
            .into_iter()
            .map(|(f, _)| f)
            .collect()
    }

    #[test]
    fn dates_are_checked_for_real() {
        assert!(valid_date(2000, 2, 29));
        assert!(!valid_date(1900, 2, 29));
        assert!(!valid_date(1990, 13, 1));
        assert!(!valid_date(1990, 4, 31));
        assert!(!valid_date(99, 1, 1));
    }

    #[test]
    fn resolve_reports_every_problem_at_once() {
        let status = resolve(ResolveRequest {
            tenant_id: "t1".into(),
            identifiers: vec![
                Identifier {
                    kind: 99,
                    value: "x".into(),
                    ..Default::default()
                },
                Identifier {
                    kind: IdentifierKind::Phone as i32,
                    value: "12".into(),
                    ..Default::default()
                },
            ],
            traits: Some(PersonTraits {
                date_of_birth: Some(CalendarDate {
                    year: 1990,
                    month: 2,
                    day: 30,
                }),
                ..Default::default()
            }),
            proofs: vec![0, 42],
            channel: 77,
            ..Default::default()
        })
        .expect_err("invalid");
        assert_eq!(
            fields(&status),
            [
                "identifiers[0].kind",
                "identifiers[1].value",
                "traits.date_of_birth",
                "channel",
                "proofs[0]",
                "proofs[1]",
                "idempotency_key"
            ]
        );
    }

    #[test]
    fn lookup_only_needs_no_key() {
        let cmd = resolve(ResolveRequest {
            tenant_id: "t1".into(),
            identifiers: vec![Identifier {
                kind: IdentifierKind::Email as i32,
                value: "A@B.CO".into(),
                ..Default::default()
            }],
            lookup_only: true,
            ..Default::default()
        })
        .expect("valid");
        assert_eq!(cmd.identifiers[0].key.value, "a@b.co");
    }

    /// A valid record at every size limit, numbered `n`.
    fn full_record(n: usize) -> ProfileRecord {
        let text = |len: usize, tag: &str| format!("{tag}{}", "x".repeat(len - tag.len()));
        ProfileRecord {
            external_id: text(MAX_ID_LEN, &format!("ext-{n}-")),
            source: text(MAX_NAMESPACE_LEN, "crm-"),
            identifiers: (0..MAX_IDENTIFIERS)
                .map(|i| Identifier {
                    kind: IdentifierKind::CrmId as i32,
                    value: text(MAX_VALUE_LEN, &format!("{n}-{i}-")),
                    assurance: IdentifierAssurance::Verified as i32,
                    namespace: text(MAX_NAMESPACE_LEN, "ns-"),
                    default_region: text(MAX_REGION_LEN, "GB"),
                })
                .collect(),
            traits: Some(PersonTraits {
                given_name: text(MAX_NAME_LEN, "g"),
                family_name: text(MAX_NAME_LEN, "f"),
                date_of_birth: Some(CalendarDate {
                    year: 1990,
                    month: 12,
                    day: 31,
                }),
                address: Some(PostalAddress {
                    lines: vec![text(MAX_ADDRESS_FIELD_LEN, "l"); MAX_ADDRESS_LINES],
                    locality: text(MAX_ADDRESS_FIELD_LEN, "c"),
                    region: text(MAX_ADDRESS_FIELD_LEN, "r"),
                    postal_code: text(MAX_ADDRESS_FIELD_LEN, "p"),
                    country_code: "GB".into(),
                }),
                language: text(MAX_LANGUAGE_LEN, "en-"),
            }),
            customer_since: Some(prost_types::Timestamp {
                seconds: i64::MAX,
                nanos: 999_999_999,
            }),
            attributes: (0..MAX_ATTRIBUTES)
                .map(|i| {
                    (
                        text(MAX_ATTRIBUTE_KEY_LEN, &format!("k{i}-")),
                        text(MAX_ATTRIBUTE_VALUE_LEN, "v"),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn a_full_bulk_import_fits_the_message_limit() {
        assert!(full_record(0).encoded_len() <= MAX_RECORD_BYTES);
        let req = UpsertProfileRequest {
            tenant_id: "t".repeat(64),
            records: (0..MAX_RECORDS).map(full_record).collect(),
            idempotency_key: "k".repeat(128),
        };
        let len = req.encoded_len();
        assert!(len <= MAX_REQUEST_BYTES, "{len} > {MAX_REQUEST_BYTES}");
        upsert(req).expect("valid at every limit");
    }

    #[test]
    fn too_many_identifiers_are_refused_without_looking_at_them() {
        let status = resolve(ResolveRequest {
            tenant_id: "t1".into(),
            identifiers: vec![Identifier::default(); 100_000],
            idempotency_key: "k".into(),
            ..Default::default()
        })
        .expect_err("invalid");
        assert_eq!(fields(&status), ["identifiers"]);
        assert!(status.message().len() < 1024, "{}", status.message());
    }

    #[test]
    fn too_many_proofs_or_address_lines_are_refused_without_looking_at_them() {
        let status = resolve(ResolveRequest {
            tenant_id: "t1".into(),
            traits: Some(PersonTraits {
                address: Some(PostalAddress {
                    lines: vec!["\u{7}".repeat(200); 100_000],
                    ..Default::default()
                }),
                ..Default::default()
            }),
            proofs: vec![0; 100_000],
            idempotency_key: "k".into(),
            ..Default::default()
        })
        .expect_err("invalid");
        assert_eq!(fields(&status), ["traits.address.lines", "proofs"]);
    }

    #[test]
    fn too_many_records_or_identifiers_in_one_are_refused_without_looking_at_them() {
        let status = upsert(UpsertProfileRequest {
            tenant_id: "t1".into(),
            records: vec![ProfileRecord::default(); MAX_RECORDS + 1],
            idempotency_key: "k".into(),
        })
        .expect_err("invalid");
        assert_eq!(fields(&status), ["records"]);

        let mut record = full_record(0);
        record.identifiers = vec![Identifier::default(); 100_000];
        let status = upsert(UpsertProfileRequest {
            tenant_id: "t1".into(),
            records: vec![record],
            idempotency_key: "k".into(),
        })
        .expect_err("invalid");
        assert_eq!(fields(&status), ["records[0].identifiers"]);
        assert!(status.message().len() < 1024, "{}", status.message());
    }

    #[test]
    fn oversized_text_is_refused_for_its_size_alone() {
        let status = upsert(UpsertProfileRequest {
            tenant_id: "t1".into(),
            records: vec![ProfileRecord {
                external_id: " ".repeat(1 << 20),
                source: "\u{7}".repeat(1 << 20),
                ..full_record(0)
            }],
            idempotency_key: "k".into(),
        })
        .expect_err("invalid");
        let found = field_violations(&status);
        assert_eq!(found.len(), 2, "{found:?}");
        for (_, description) in found {
            assert!(description.starts_with("must be at most"), "{description}");
        }
    }

    #[test]
    fn merge_into_itself_is_refused() {
        let status = merge(MergeProfilesRequest {
            tenant_id: "t1".into(),
            survivor_id: "cus_1".into(),
            merged_id: "cus_1".into(),
            actor_id: "agent-7".into(),
            idempotency_key: "k".into(),
            ..Default::default()
        })
        .expect_err("invalid");
        assert_eq!(fields(&status), ["merged_id"]);
    }
}
