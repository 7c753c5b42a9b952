//! Resolve: identifiers and traits to one customer, a new one, or a question.

use baton_proto::v1::{
    Candidate, Channel, IdentifierAssurance, IdentifierKind, PersonTraits, Profile,
    ResolveDecision, ResolveResponse, VerificationMethod,
};
use baton_runtime::time;
use prost_types::Timestamp;

use super::{
    candidates::{self, Found},
    index, person, profile,
};
use crate::{
    Error,
    matching::{self, Decision},
    normalize::Normalized,
    store::{IdentityRead, IdentityWrite},
    verification,
};

/// A validated Resolve request.
#[derive(Debug, Clone)]
pub struct ResolveCommand {
    /// Tenant.
    pub tenant: String,
    /// Normalized identifiers, at most 16.
    pub identifiers: Vec<Normalized>,
    /// Traits the customer gave.
    pub traits: Option<PersonTraits>,
    /// The contact's channel.
    pub channel: Channel,
    /// Read only: create nothing, link nothing, touch nothing.
    pub lookup_only: bool,
    /// Proofs the channel performed.
    pub proofs: Vec<VerificationMethod>,
    /// Required unless `lookup_only`.
    pub idempotency_key: String,
}

/// The identifiers of the request held by `customer_id`, as (kind, assurance presented).
fn matched_by(
    cmd: &ResolveCommand,
    owners: &[Option<String>],
    customer_id: &str,
) -> Vec<(IdentifierKind, IdentifierAssurance)> {
    cmd.identifiers
        .iter()
        .zip(owners)
        .filter(|(_, o)| o.as_deref() == Some(customer_id))
        .map(|(n, _)| (n.key.kind, n.assurance))
        .collect()
}

fn candidates(found: &Found) -> Vec<Candidate> {
    found
        .ranked
        .iter()
        .take(matching::MAX_CANDIDATES)
        .map(|s| s.candidate.clone())
        .collect()
}

fn ambiguous(cmd: &ResolveCommand, found: &Found, reason: &str, now: Timestamp) -> ResolveResponse {
    let close: Vec<&Profile> = found
        .ranked
        .iter()
        .take(3)
        .filter_map(|s| found.profile(&s.candidate.customer_id))
        .collect();
    ResolveResponse {
        decision: ResolveDecision::Ambiguous as i32,
        customer_id: String::new(),
        verification: Some(verification::assess(
            false,
            &[],
            &cmd.proofs,
            cmd.channel,
            now,
        )),
        candidates: candidates(found),
        profile: None,
        question: Some(matching::question(&found.query(&cmd.identifiers), &close)),
        reason: reason.to_owned(),
    }
}

fn new_answer(cmd: &ResolveCommand, reason: &str, now: Timestamp) -> ResolveResponse {
    ResolveResponse {
        decision: ResolveDecision::New as i32,
        verification: Some(verification::assess(
            false,
            &[],
            &cmd.proofs,
            cmd.channel,
            now,
        )),
        reason: reason.to_owned(),
        ..Default::default()
    }
}

/// The MATCHED answer. The evidence is the candidate's as the request found it, not as this
/// contact just changed it; the verification comes from the identifiers the customer holds
/// or, matched by traits alone, from that and the proofs.
fn matched(
    cmd: &ResolveCommand,
    found: &Found,
    by_traits: bool,
    reason: &str,
    profile: Profile,
    now: Timestamp,
) -> ResolveResponse {
    let mut methods_from = matched_by(cmd, &found.owners, &profile.customer_id);
    let mut proofs = cmd.proofs.clone();
    if by_traits {
        methods_from.clear();
        proofs.push(VerificationMethod::MatchedTraits);
    }
    let best = found
        .ranked
        .iter()
        .find(|s| s.candidate.customer_id == profile.customer_id)
        .map(|s| s.candidate.clone());
    ResolveResponse {
        decision: ResolveDecision::Matched as i32,
        customer_id: profile.customer_id.clone(),
        verification: Some(verification::assess(
            true,
            &methods_from,
            &proofs,
            cmd.channel,
            now,
        )),
        candidates: best.into_iter().collect(),
        profile: Some(profile),
        question: None,
        reason: reason.to_owned(),
    }
}

/// Answers a `lookup_only` request from a read snapshot.
pub(super) fn look<V: IdentityRead + ?Sized>(
    view: &V,
    cmd: &ResolveCommand,
) -> Result<ResolveResponse, Error> {
    let now = time::now();
    let found = candidates::find(
        view,
        &candidates::model(view)?,
        &cmd.identifiers,
        cmd.traits.as_ref(),
    )?;
    Ok(match &found.decision {
        Decision::New { reason } => new_answer(cmd, reason, now),
        Decision::Matched {
            customer_id,
            by_traits,
            reason,
        } => {
            let Some(profile) = found.profile(customer_id) else {
                return Err(Error::Inconsistent("matched customer has no profile"));
            };
            matched(cmd, &found, *by_traits, reason, profile.clone(), now)
        }
        Decision::Ambiguous { reason } => ambiguous(cmd, &found, reason, now),
    })
}

/// Decides and applies, in one write transaction.
pub(super) fn apply(
    txn: &mut dyn IdentityWrite,
    cmd: &ResolveCommand,
) -> Result<ResolveResponse, Error> {
    let now = time::now();
    let found = candidates::find(
        txn,
        &candidates::model(txn)?,
        &cmd.identifiers,
        cmd.traits.as_ref(),
    )?;
    match &found.decision {
        Decision::New { reason } => create(txn, cmd, reason, now),
        Decision::Matched {
            customer_id,
            by_traits,
            reason,
        } => {
            let Some(as_found) = found.profile(customer_id) else {
                return Err(Error::Inconsistent("matched customer has no profile"));
            };
            let mut p = as_found.clone();
            refresh(txn, cmd, &found, &mut p, now)?;
            Ok(matched(cmd, &found, *by_traits, reason, p, now))
        }
        Decision::Ambiguous { reason } => {
            tracing::info!(candidates = found.ranked.len(), "resolve ambiguous");
            Ok(ambiguous(cmd, &found, reason, now))
        }
    }
}

fn create(
    txn: &mut dyn IdentityWrite,
    cmd: &ResolveCommand,
    reason: &str,
    now: Timestamp,
) -> Result<ResolveResponse, Error> {
    let mut p = profile::new_profile(&cmd.tenant, profile::new_customer_id(), now);
    for presented in &cmd.identifiers {
        profile::link(txn, &mut p, presented, now)?;
    }
    if let Some(traits) = &cmd.traits {
        person::fill_empty(p.traits.get_or_insert_with(Default::default), traits);
    }
    profile::touch(&mut p, now);
    index::save(txn, &p)?;
    tracing::info!(customer = %p.customer_id, "customer created");
    let created_with: Vec<_> = cmd
        .identifiers
        .iter()
        .map(|n| (n.key.kind, n.assurance))
        .collect();
    Ok(ResolveResponse {
        decision: ResolveDecision::New as i32,
        customer_id: p.customer_id.clone(),
        verification: Some(verification::assess(
            true,
            &created_with,
            &cmd.proofs,
            cmd.channel,
            now,
        )),
        candidates: Vec::new(),
        profile: Some(p),
        question: None,
        reason: reason.to_owned(),
    })
}

/// Records the contact on the matched profile: identifiers seen, verified ones upgraded,
/// and, only when the customer proved one of the matching identifiers, the request's other
/// identifiers linked. A claim never attaches anything to a profile: otherwise anyone could
/// add their phone number to someone else's account by typing that person's e-mail.
fn refresh(
    txn: &mut dyn IdentityWrite,
    cmd: &ResolveCommand,
    found: &Found,
    p: &mut Profile,
    now: Timestamp,
) -> Result<(), Error> {
    let mut proved = false;
    for (presented, owner) in cmd.identifiers.iter().zip(&found.owners) {
        if owner.as_deref() == Some(p.customer_id.as_str()) {
            profile::attach(p, presented, now)?;
            profile::seen(p, &presented.key, now);
            proved |= presented.is_verified();
        }
    }
    if proved {
        for (presented, owner) in cmd.identifiers.iter().zip(&found.owners) {
            if owner.is_none() {
                match profile::link(txn, p, presented, now) {
                    Ok(_) => {}
                    Err(Error::TooManyIdentifiers(max)) => {
                        // Resolution must still answer; the identifier stays unlinked.
                        tracing::warn!(customer = %p.customer_id, max, "profile full, identifier not linked");
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    if let Some(traits) = &cmd.traits {
        person::fill_empty(p.traits.get_or_insert_with(Default::default), traits);
    }
    profile::touch(p, now);
    index::save(txn, p)?;
    Ok(())
}
