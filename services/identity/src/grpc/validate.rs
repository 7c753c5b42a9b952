//! Requests to commands: every check a request must pass before the domain sees it, each
//! failure a field violation, all of them reported at once. Sizes come first: a list's
//! length before its items, a string's length before its characters, so an oversized field
//! is one violation and no work.

use baton_proto::v1::{
    Channel, ForgetCustomerRequest, Identifier, IdentifierAssurance, IdentifierKind,
    LinkIdentifierRequest, MergeProfilesRequest, PersonTraits, ProfileRecord, RebuildIndexRequest,
    ResolveRequest, TrainMatcherRequest, UnmergeProfileRequest, UpsertProfileRequest, UpsertResult,
    VerificationMethod,
};
use baton_runtime::validate::{MAX_ID_LEN, Violations, field_violations};
use tonic::Status;

use super::regions::PhoneRegions;
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
/// Candidate pairs TrainMatcher compares when the request says 0.
pub const DEFAULT_TRAINING_PAIRS: usize = 200_000;
/// Most candidate pairs one TrainMatcher request may ask for: enough for any tenant's
/// estimates to settle, few enough that one call cannot occupy the service for hours.
pub const MAX_TRAINING_PAIRS: u32 = 10_000_000;
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

/// A Resolve request; phone numbers without a region of their own are read in `region`.
pub fn resolve(mut req: ResolveRequest, region: &str) -> Result<ResolveCommand, Status> {
    let mut v = Violations::new();
    v.tenant(&req.tenant_id);
    let mut identifiers = Vec::new();
    if v.max_items("identifiers", req.identifiers.len(), MAX_IDENTIFIERS) {
        PhoneRegions::fill(region, &mut req.identifiers);
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

/// A validated UpsertProfile request: the command over the records that passed, and the
/// ones refused, to put back among the domain's results with [`splice`].
#[derive(Debug)]
pub struct Upsert {
    /// The request with only its valid records.
    pub command: UpsertCommand,
    /// The refused records, in request order.
    pub refused: Vec<Refused>,
}

/// One record refused before the domain saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Its position among the request's (or the import stream's) records.
    pub index: usize,
    /// Its external id as sent.
    pub external_id: String,
    /// Every problem found, `field problem` joined by `; `.
    pub error: String,
}

/// An UpsertProfile request. Problems of the request itself (tenant, idempotency key, too
/// many records) refuse the call with field violations; a record's own problems (sizes,
/// unknown enum values, a missing external id or source, a date of birth that is no date)
/// refuse that record alone, named by its path (`records[3].traits.date_of_birth is not a
/// valid calendar date`), and the others apply. Data that does not normalize (a bad phone
/// number in a CRM export) is refused by the domain, also per record. Phone numbers without
/// a region of their own are read in `region`.
pub fn upsert(req: UpsertProfileRequest, region: &str) -> Result<Upsert, Status> {
    let mut v = Violations::new();
    v.tenant(&req.tenant_id);
    v.idempotency_key(&req.idempotency_key);
    v.max_items("records", req.records.len(), MAX_RECORDS);
    v.check()?;
    let mut records = Vec::with_capacity(req.records.len());
    let mut refused = Vec::new();
    for (index, record) in req.records.into_iter().enumerate() {
        match profile_record(record, &format!("records[{index}]."), region) {
            Ok(record) => records.push(record),
            Err((external_id, error)) => refused.push(Refused {
                index,
                external_id,
                error,
            }),
        }
    }
    Ok(Upsert {
        command: UpsertCommand {
            tenant: req.tenant_id,
            records,
            idempotency_key: req.idempotency_key,
        },
        refused,
    })
}

/// Puts the refused records' results back among `applied` (the domain's results for the
/// valid records, in their order), so the answer has one result per record of the request,
/// in request order.
pub fn splice(applied: Vec<UpsertResult>, refused: Vec<Refused>) -> Vec<UpsertResult> {
    let mut results = Vec::with_capacity(applied.len() + refused.len());
    let mut applied = applied.into_iter();
    for r in refused {
        while results.len() < r.index {
            match applied.next() {
                Some(result) => results.push(result),
                None => break,
            }
        }
        results.push(UpsertResult {
            external_id: r.external_id,
            error: r.error,
            ..Default::default()
        });
    }
    results.extend(applied);
    results
}

/// One record as an import stream or an UpsertProfile request carries it: the record ready
/// for the domain (phones without a region given `region`), or its external id and every
/// problem found. `prefix` starts each field path (`records[3].`, or empty).
pub fn profile_record(
    mut record: ProfileRecord,
    prefix: &str,
    region: &str,
) -> Result<ProfileRecord, (String, String)> {
    let mut v = Violations::new();
    check_record(&mut v, prefix, &record);
    if let Err(status) = v.check() {
        let error = field_violations(&status)
            .into_iter()
            .map(|(field, problem)| format!("{field} {problem}").trim().to_owned())
            .collect::<Vec<_>>()
            .join("; ");
        // The id goes back to the caller as its label; an oversized one is cut like any
        // echoed field.
        let mut external_id = record.external_id;
        if external_id.len() > MAX_ID_LEN {
            let mut end = MAX_ID_LEN;
            while !external_id.is_char_boundary(end) {
                end -= 1;
            }
            external_id.truncate(end);
        }
        return Err((external_id, error));
    }
    PhoneRegions::fill(region, &mut record.identifiers);
    Ok(record)
}

/// Checks one upserted record, its fields named `<prefix><field>`.
fn check_record(v: &mut Violations, prefix: &str, record: &ProfileRecord) {
    let external_id = format!("{prefix}external_id");
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
        &format!("{prefix}source"),
        &record.source,
        MAX_NAMESPACE_LEN,
    );
    let ids = format!("{prefix}identifiers");
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
        person_traits(v, &format!("{prefix}traits"), t);
    }
    let attrs = format!("{prefix}attributes");
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

/// The tenant of an import stream's first message, and the size of every message.
pub fn import_message(tenant: &str, records: usize) -> Result<(), Status> {
    let mut v = Violations::new();
    v.tenant(tenant);
    v.max_items("records", records, MAX_RECORDS);
    v.check()
}

/// A RebuildIndex request: only its tenant.
pub fn rebuild(req: &RebuildIndexRequest) -> Result<(), Status> {
    let mut v = Violations::new();
    v.tenant(&req.tenant_id);
    v.check()
}

/// A TrainMatcher request: how many candidate pairs to compare at most.
pub fn train(req: &TrainMatcherRequest) -> Result<usize, Status> {
    let mut v = Violations::new();
    v.tenant(&req.tenant_id);
    if req.max_pairs > MAX_TRAINING_PAIRS {
        v.add(
            "max_pairs",
            format!("must be at most {MAX_TRAINING_PAIRS} (0 means {DEFAULT_TRAINING_PAIRS})"),
        );
    }
    v.check()?;
    Ok(match req.max_pairs {
        0 => DEFAULT_TRAINING_PAIRS,
        n => n as usize,
    })
}

/// A GetProfile request: `(tenant, customer_id)`.
pub fn get_profile(tenant: &str, customer_id: &str) -> Result<(), Status> {
    let mut v = Violations::new();
    v.tenant(tenant);
    v.id("customer_id", customer_id);
    v.check()
}

/// A LinkIdentifier request; a phone number without a region of its own is read in `region`.
pub fn link(mut req: LinkIdentifierRequest, region: &str) -> Result<LinkCommand, Status> {
    let mut v = Violations::new();
    v.tenant(&req.tenant_id);
    v.id("customer_id", &req.customer_id);
    if let Some(raw) = &mut req.identifier {
        PhoneRegions::fill(region, std::slice::from_mut(raw));
    }
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

    const US: &str = "US";

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
        let status = resolve(
            ResolveRequest {
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
            },
            US,
        )
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
        let cmd = resolve(
            ResolveRequest {
                tenant_id: "t1".into(),
                identifiers: vec![Identifier {
                    kind: IdentifierKind::Email as i32,
                    value: "A@B.CO".into(),
                    ..Default::default()
                }],
                lookup_only: true,
                ..Default::default()
            },
            US,
        )
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
        let checked = upsert(req, US).expect("valid at every limit");
        assert_eq!(checked.command.records.len(), MAX_RECORDS);
        assert_eq!(checked.refused, []);
    }

    #[test]
    fn too_many_identifiers_are_refused_without_looking_at_them() {
        let status = resolve(
            ResolveRequest {
                tenant_id: "t1".into(),
                identifiers: vec![Identifier::default(); 100_000],
                idempotency_key: "k".into(),
                ..Default::default()
            },
            US,
        )
        .expect_err("invalid");
        assert_eq!(fields(&status), ["identifiers"]);
        assert!(status.message().len() < 1024, "{}", status.message());
    }

    #[test]
    fn too_many_proofs_or_address_lines_are_refused_without_looking_at_them() {
        let status = resolve(
            ResolveRequest {
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
            },
            US,
        )
        .expect_err("invalid");
        assert_eq!(fields(&status), ["traits.address.lines", "proofs"]);
    }

    #[test]
    fn too_many_records_refuse_the_call_and_too_many_identifiers_refuse_the_record() {
        let status = upsert(
            UpsertProfileRequest {
                tenant_id: "t1".into(),
                records: vec![ProfileRecord::default(); MAX_RECORDS + 1],
                idempotency_key: "k".into(),
            },
            US,
        )
        .expect_err("invalid");
        assert_eq!(fields(&status), ["records"]);

        let mut record = full_record(0);
        record.identifiers = vec![Identifier::default(); 100_000];
        let checked = upsert(
            UpsertProfileRequest {
                tenant_id: "t1".into(),
                records: vec![record, full_record(1)],
                idempotency_key: "k".into(),
            },
            US,
        )
        .expect("the request itself is valid");
        assert_eq!(checked.command.records.len(), 1);
        let [refused] = &checked.refused[..] else {
            panic!("one refused: {:?}", checked.refused);
        };
        assert_eq!(refused.index, 0);
        assert!(
            refused
                .error
                .starts_with("records[0].identifiers must have at most 16 items"),
            "{}",
            refused.error
        );
        assert!(refused.error.len() < 1024, "{}", refused.error);
    }

    #[test]
    fn request_level_problems_still_refuse_the_call() {
        let status = upsert(
            UpsertProfileRequest {
                tenant_id: String::new(),
                records: vec![full_record(0)],
                idempotency_key: String::new(),
            },
            US,
        )
        .expect_err("invalid");
        assert_eq!(fields(&status), ["tenant_id", "idempotency_key"]);
    }

    #[test]
    fn oversized_text_is_refused_for_its_size_alone() {
        let checked = upsert(
            UpsertProfileRequest {
                tenant_id: "t1".into(),
                records: vec![ProfileRecord {
                    external_id: " ".repeat(1 << 20),
                    source: "\u{7}".repeat(1 << 20),
                    ..full_record(0)
                }],
                idempotency_key: "k".into(),
            },
            US,
        )
        .expect("the request itself is valid");
        let [refused] = &checked.refused[..] else {
            panic!("one refused: {:?}", checked.refused);
        };
        let problems: Vec<&str> = refused.error.split("; ").collect();
        assert_eq!(problems.len(), 2, "{problems:?}");
        for problem in problems {
            assert!(problem.contains(" must be at most"), "{problem}");
        }
        assert_eq!(refused.external_id.len(), MAX_ID_LEN, "echoed cut");
    }

    fn dated(n: usize, month: i32, day: i32) -> ProfileRecord {
        ProfileRecord {
            external_id: format!("crm-{n}"),
            source: "crm".into(),
            traits: Some(PersonTraits {
                date_of_birth: Some(CalendarDate {
                    year: 1990,
                    month,
                    day,
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_batch_with_one_bad_date_applies_the_others() {
        let checked = upsert(
            UpsertProfileRequest {
                tenant_id: "t1".into(),
                records: vec![
                    dated(0, 1, 2),
                    dated(1, 5, 6),
                    dated(2, 7, 8),
                    dated(3, 2, 30),
                    dated(4, 9, 10),
                    ProfileRecord {
                        source: String::new(),
                        ..dated(5, 3, 4)
                    },
                ],
                idempotency_key: "k".into(),
            },
            US,
        )
        .expect("the request itself is valid");
        let kept: Vec<&str> = checked
            .command
            .records
            .iter()
            .map(|r| r.external_id.as_str())
            .collect();
        assert_eq!(kept, ["crm-0", "crm-1", "crm-2", "crm-4"]);
        assert_eq!(
            checked.refused,
            [
                Refused {
                    index: 3,
                    external_id: "crm-3".into(),
                    error: "records[3].traits.date_of_birth is not a valid calendar date".into(),
                },
                Refused {
                    index: 5,
                    external_id: "crm-5".into(),
                    error: "records[5].source is required".into(),
                },
            ]
        );

        // The domain answers for the four it saw; the answer has six, in request order.
        let applied = kept
            .iter()
            .map(|id| UpsertResult {
                external_id: (*id).to_owned(),
                customer_id: format!("cus_{id}"),
                ..Default::default()
            })
            .collect();
        let results = splice(applied, checked.refused);
        let order: Vec<(&str, bool)> = results
            .iter()
            .map(|r| (r.external_id.as_str(), r.error.is_empty()))
            .collect();
        assert_eq!(
            order,
            [
                ("crm-0", true),
                ("crm-1", true),
                ("crm-2", true),
                ("crm-3", false),
                ("crm-4", true),
                ("crm-5", false),
            ]
        );
        assert_eq!(results[3].customer_id, "");
    }

    #[test]
    fn splicing_puts_refusals_first_middle_and_last() {
        let result = |id: &str| UpsertResult {
            external_id: id.into(),
            ..Default::default()
        };
        let refused = |index: usize| Refused {
            index,
            external_id: format!("r{index}"),
            error: "bad".into(),
        };
        let ids = |results: Vec<UpsertResult>| -> Vec<String> {
            results.into_iter().map(|r| r.external_id).collect()
        };
        assert_eq!(
            ids(splice(
                vec![result("a1"), result("a3")],
                vec![refused(0), refused(2), refused(4)]
            )),
            ["r0", "a1", "r2", "a3", "r4"]
        );
        assert_eq!(ids(splice(vec![], vec![refused(0)])), ["r0"]);
        assert_eq!(ids(splice(vec![result("a0")], vec![])), ["a0"]);
    }

    #[test]
    fn phones_without_a_region_are_read_in_the_tenants() {
        let local = Identifier {
            kind: IdentifierKind::Phone as i32,
            value: "02 9876 5432".into(),
            ..Default::default()
        };
        let cmd = resolve(
            ResolveRequest {
                tenant_id: "acme".into(),
                identifiers: vec![
                    local.clone(),
                    Identifier {
                        default_region: "GB".into(),
                        value: "020 7946 0018".into(),
                        ..local.clone()
                    },
                ],
                lookup_only: true,
                ..Default::default()
            },
            "AU",
        )
        .expect("valid");
        assert_eq!(cmd.identifiers[0].key.value, "+61298765432");
        assert_eq!(cmd.identifiers[1].key.value, "+442079460018");

        let checked = upsert(
            UpsertProfileRequest {
                tenant_id: "acme".into(),
                records: vec![ProfileRecord {
                    identifiers: vec![local.clone()],
                    ..dated(0, 1, 2)
                }],
                idempotency_key: "k".into(),
            },
            "AU",
        )
        .expect("valid");
        assert_eq!(
            checked.command.records[0].identifiers[0].default_region,
            "AU"
        );

        let linked = link(
            LinkIdentifierRequest {
                tenant_id: "acme".into(),
                customer_id: "cus_1".into(),
                identifier: Some(local),
                idempotency_key: "k".into(),
            },
            "AU",
        )
        .expect("valid");
        assert_eq!(linked.identifier.key.value, "+61298765432");
    }

    #[test]
    fn training_defaults_and_bounds_its_pairs() {
        let req = |tenant: &str, max_pairs| TrainMatcherRequest {
            tenant_id: tenant.into(),
            max_pairs,
        };
        assert_eq!(train(&req("t1", 0)).expect("valid"), 200_000);
        assert_eq!(train(&req("t1", 5_000)).expect("valid"), 5_000);
        let status = train(&req("", MAX_TRAINING_PAIRS + 1)).expect_err("invalid");
        assert_eq!(fields(&status), ["tenant_id", "max_pairs"]);
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
