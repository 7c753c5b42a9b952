//! Requests to commands: every check a request must pass before the domain sees it, each
//! failure a field violation, all of them reported at once.

use baton_proto::v1::{
    Channel, ForgetCustomerRequest, Identifier, IdentifierAssurance, IdentifierKind,
    LinkIdentifierRequest, MergeProfilesRequest, PersonTraits, ResolveRequest,
    UnmergeProfileRequest, UpsertProfileRequest, VerificationMethod,
};
use baton_runtime::validate::Violations;
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

/// Checks kind and assurance of an identifier; true when both are known.
fn identifier_enums(v: &mut Violations, path: &str, raw: &Identifier) -> bool {
    let kind = v.enum_value::<IdentifierKind>(&format!("{path}.kind"), raw.kind, true);
    let assurance =
        v.enum_value::<IdentifierAssurance>(&format!("{path}.assurance"), raw.assurance, false);
    kind.is_some() && assurance.is_some()
}

/// Validates and normalizes one identifier at `path`.
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

fn no_control(v: &mut Violations, field: &str, value: &str) {
    if value.chars().any(char::is_control) {
        v.add(field, "must not contain control characters");
    }
}

fn bounded_text(v: &mut Violations, field: &str, value: &str, max: usize) {
    v.text(field, value, max);
    no_control(v, field, value);
}

fn traits(v: &mut Violations, path: &str, t: &PersonTraits) {
    bounded_text(
        v,
        &format!("{path}.given_name"),
        &t.given_name,
        MAX_NAME_LEN,
    );
    bounded_text(
        v,
        &format!("{path}.family_name"),
        &t.family_name,
        MAX_NAME_LEN,
    );
    bounded_text(
        v,
        &format!("{path}.language"),
        &t.language,
        MAX_LANGUAGE_LEN,
    );
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
        v.max_items(&lines, a.lines.len(), MAX_ADDRESS_LINES);
        for (i, line) in a.lines.iter().take(MAX_ADDRESS_LINES).enumerate() {
            bounded_text(v, &format!("{lines}[{i}]"), line, MAX_ADDRESS_FIELD_LEN);
        }
        for (name, value) in [
            ("locality", &a.locality),
            ("region", &a.region),
            ("postal_code", &a.postal_code),
        ] {
            bounded_text(
                v,
                &format!("{path}.address.{name}"),
                value,
                MAX_ADDRESS_FIELD_LEN,
            );
        }
        let cc = a.country_code.trim();
        let alpha2 = cc.len() == 2 && cc.bytes().all(|b| b.is_ascii_alphabetic());
        if !cc.is_empty() && !alpha2 {
            v.add(
                format!("{path}.address.country_code"),
                "must be an ISO 3166-1 alpha-2 code",
            );
        }
    }
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
    v.max_items("identifiers", req.identifiers.len(), MAX_IDENTIFIERS);
    let mut identifiers = Vec::with_capacity(req.identifiers.len());
    if req.identifiers.len() <= MAX_IDENTIFIERS {
        for (i, raw) in req.identifiers.iter().enumerate() {
            if let Some(n) = identifier(&mut v, &format!("identifiers[{i}]"), raw) {
                identifiers.push(n);
            }
        }
    }
    let traits_given = req.traits.as_ref().is_some_and(|t| !person::is_empty(t));
    if let Some(t) = &req.traits {
        traits(&mut v, "traits", t);
    }
    if req.identifiers.is_empty() && !traits_given {
        v.add(
            "identifiers",
            "at least one identifier or a person trait is required",
        );
    }
    let channel = v
        .enum_value::<Channel>("channel", req.channel, false)
        .unwrap_or_default();
    v.max_items("proofs", req.proofs.len(), MAX_PROOFS);
    let mut proofs = Vec::with_capacity(req.proofs.len());
    for (i, raw) in req.proofs.iter().take(MAX_PROOFS).enumerate() {
        if let Some(m) = v.enum_value::<VerificationMethod>(&format!("proofs[{i}]"), *raw, true) {
            proofs.push(m);
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
    v.max_items("records", req.records.len(), MAX_RECORDS);
    v.idempotency_key(&req.idempotency_key);
    if req.records.len() <= MAX_RECORDS {
        for (i, record) in req.records.iter().enumerate() {
            let path = format!("records[{i}]");
            let external_id = format!("{path}.external_id");
            if !record.external_id.is_empty() && record.external_id.trim().is_empty() {
                v.add(external_id, "must not be blank");
            } else {
                v.id(&external_id, &record.external_id);
            }
            let source = format!("{path}.source");
            v.required_text(&source, &record.source, MAX_NAMESPACE_LEN);
            no_control(&mut v, &source, &record.source);
            let ids = format!("{path}.identifiers");
            v.max_items(&ids, record.identifiers.len(), MAX_IDENTIFIERS);
            for (j, raw) in record.identifiers.iter().take(MAX_IDENTIFIERS).enumerate() {
                let at = format!("{ids}[{j}]");
                identifier_enums(&mut v, &at, raw);
                v.text(&format!("{at}.value"), &raw.value, MAX_VALUE_LEN);
                v.text(
                    &format!("{at}.namespace"),
                    &raw.namespace,
                    MAX_NAMESPACE_LEN,
                );
                let region = format!("{at}.default_region");
                v.text(&region, &raw.default_region, MAX_REGION_LEN);
            }
            if let Some(t) = &record.traits {
                traits(&mut v, &format!("{path}.traits"), t);
            }
            let attrs = format!("{path}.attributes");
            v.max_items(&attrs, record.attributes.len(), MAX_ATTRIBUTES);
            if record.attributes.len() <= MAX_ATTRIBUTES {
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
                            format!("keys must be 1 to {MAX_ATTRIBUTE_KEY_LEN} bytes without control characters"),
                        );
                    } else {
                        bounded_text(
                            &mut v,
                            &format!("{attrs}[{key}]"),
                            value,
                            MAX_ATTRIBUTE_VALUE_LEN,
                        );
                    }
                }
            }
        }
    }
    v.check()?;
    Ok(UpsertCommand {
        tenant: req.tenant_id,
        records: req.records,
        idempotency_key: req.idempotency_key,
    })
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
    use baton_runtime::validate::field_violations;

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
                date_of_birth: Some(baton_proto::v1::CalendarDate {
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
