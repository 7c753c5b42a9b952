//! Resolve: identifiers and traits to one customer, a new one, or a question.

use baton_proto::v1::{
    Channel, IdentifierAssurance, IdentifierKind, PersonTraits, Profile, ResolveDecision,
    ResolveResponse, VerificationMethod,
};
use baton_runtime::time;
use prost_types::Timestamp;

use super::{person, profile};
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

/// What the index said about a request, read in the transaction that acts on it.
struct Found {
    /// `owners[i]`: the live customer holding identifier i.
    owners: Vec<Option<String>>,
    /// The distinct owners' profiles, in first-seen order.
    profiles: Vec<Profile>,
    decision: Decision,
}

fn look_up<V: IdentityRead + ?Sized>(view: &V, cmd: &ResolveCommand) -> Result<Found, Error> {
    let (owners, profiles) = profile::owners(view, cmd.identifiers.iter().map(|n| &n.key))?;
    let decision = matching::decide(&owners);
    Ok(Found {
        owners,
        profiles,
        decision,
    })
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

fn ambiguous(cmd: &ResolveCommand, found: &Found, now: Timestamp) -> ResolveResponse {
    let traits = cmd.traits.as_ref();
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
        candidates: matching::candidates(&cmd.identifiers, &found.owners, traits, &found.profiles),
        profile: None,
        question: Some(matching::question(
            &cmd.identifiers,
            traits,
            &found.profiles,
        )),
        reason: String::new(),
    }
}

/// The MATCHED answer. `as_found` is the profile as the request found it (the evidence
/// compares against that, not against what this contact just added to it).
fn matched(
    cmd: &ResolveCommand,
    found: &Found,
    as_found: &Profile,
    profile: Profile,
    now: Timestamp,
) -> ResolveResponse {
    let methods_from = matched_by(cmd, &found.owners, &profile.customer_id);
    let traits = cmd.traits.as_ref();
    ResolveResponse {
        decision: ResolveDecision::Matched as i32,
        customer_id: profile.customer_id.clone(),
        verification: Some(verification::assess(
            true,
            &methods_from,
            &cmd.proofs,
            cmd.channel,
            now,
        )),
        candidates: vec![matching::score(
            &cmd.identifiers,
            &found.owners,
            traits,
            as_found,
        )],
        profile: Some(profile),
        question: None,
        reason: String::new(),
    }
}

/// Answers a `lookup_only` request from a read snapshot.
pub(super) fn look<V: IdentityRead + ?Sized>(
    view: &V,
    cmd: &ResolveCommand,
) -> Result<ResolveResponse, Error> {
    let now = time::now();
    let found = look_up(view, cmd)?;
    Ok(match &found.decision {
        Decision::NoMatch => ResolveResponse {
            decision: ResolveDecision::New as i32,
            verification: Some(verification::assess(
                false,
                &[],
                &cmd.proofs,
                cmd.channel,
                now,
            )),
            ..Default::default()
        },
        Decision::Unique { .. } => {
            let Some(profile) = found.profiles.first() else {
                return Err(Error::Inconsistent("matched customer has no profile"));
            };
            matched(cmd, &found, profile, profile.clone(), now)
        }
        Decision::Ambiguous { .. } => ambiguous(cmd, &found, now),
    })
}

/// Decides and applies, in one write transaction.
pub(super) fn apply(
    txn: &mut dyn IdentityWrite,
    cmd: &ResolveCommand,
) -> Result<ResolveResponse, Error> {
    let now = time::now();
    let found = look_up(txn, cmd)?;
    match &found.decision {
        Decision::NoMatch => create(txn, cmd, now),
        Decision::Unique { .. } => {
            let Some(as_found) = found.profiles.first() else {
                return Err(Error::Inconsistent("matched customer has no profile"));
            };
            let mut p = as_found.clone();
            refresh(txn, cmd, &found, &mut p, now)?;
            Ok(matched(cmd, &found, as_found, p, now))
        }
        Decision::Ambiguous { customer_ids } => {
            tracing::info!(candidates = customer_ids.len(), "resolve ambiguous");
            Ok(ambiguous(cmd, &found, now))
        }
    }
}

fn create(
    txn: &mut dyn IdentityWrite,
    cmd: &ResolveCommand,
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
    txn.put_profile(&p)?;
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
        reason: String::new(),
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
    txn.put_profile(p)?;
    Ok(())
}
