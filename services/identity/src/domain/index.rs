//! Writing profiles with their blocking keys and name counts, so the fuzzy index never
//! disagrees with the profiles: every profile write of the domain goes through [`save`] or
//! [`remove`], in the transaction that changes the profile.

use std::collections::BTreeSet;

use baton_proto::v1::Profile;

use crate::{
    Error,
    matching::blocking::{self, Members},
    standardize,
    store::IdentityWrite,
};

/// The term counting every live profile of the tenant.
pub const PROFILES_TERM: &str = "*";

/// The term counting profiles whose given name (canonical form) is `canonical`.
pub fn given_term(canonical: &str) -> String {
    format!("g:{canonical}")
}

/// The term counting profiles whose family name (canonical form) is `canonical`.
pub fn family_term(canonical: &str) -> String {
    format!("f:{canonical}")
}

/// Stores `profile`, refiling it under the blocking keys and name counts it now has.
pub fn save(txn: &mut dyn IdentityWrite, profile: &Profile) -> Result<(), Error> {
    let before = txn.profile(&profile.customer_id)?;
    let (old_keys, old_terms) = before.as_ref().map(filing).unwrap_or_default();
    let (new_keys, new_terms) = filing(profile);
    refile(txn, &profile.customer_id, &old_keys, &new_keys)?;
    recount(txn, &old_terms, &new_terms)?;
    txn.put_profile(profile)?;
    Ok(())
}

/// Removes the profile stored under `customer_id` and its filing; false when there was none.
pub fn remove(txn: &mut dyn IdentityWrite, customer_id: &str) -> Result<bool, Error> {
    let Some(before) = txn.profile(customer_id)? else {
        return Ok(false);
    };
    let (old_keys, old_terms) = filing(&before);
    refile(txn, customer_id, &old_keys, &BTreeSet::new())?;
    recount(txn, &old_terms, &BTreeSet::new())?;
    Ok(txn.remove_profile(customer_id)?)
}

/// Files `profile` under its blocking keys, adding it wherever it is missing and touching
/// nothing else (a rebuild files every profile this way once the old keys are gone; a
/// profile written meanwhile was filed by [`save`], and adding it again changes nothing).
/// Returns the terms it counts, which the caller tallies.
pub fn file(txn: &mut dyn IdentityWrite, profile: &Profile) -> Result<BTreeSet<String>, Error> {
    let (keys, terms) = filing(profile);
    refile(txn, &profile.customer_id, &BTreeSet::new(), &keys)?;
    Ok(terms)
}

/// The blocking keys and counted terms of a profile.
fn filing(profile: &Profile) -> (BTreeSet<String>, BTreeSet<String>) {
    let person = profile.traits.as_ref().map(standardize::person);
    let keys = blocking::profile_keys_with(profile, person.as_ref());
    let mut terms = BTreeSet::from([PROFILES_TERM.to_owned()]);
    if let Some(person) = person {
        if !person.given.canonical.is_empty() {
            terms.insert(given_term(&person.given.canonical));
        }
        if !person.family.canonical.is_empty() {
            terms.insert(family_term(&person.family.canonical));
        }
    }
    (keys, terms)
}

fn refile(
    txn: &mut dyn IdentityWrite,
    customer_id: &str,
    old: &BTreeSet<String>,
    new: &BTreeSet<String>,
) -> Result<(), Error> {
    let changed: Vec<String> = old.symmetric_difference(new).cloned().collect();
    if changed.is_empty() {
        return Ok(());
    }
    let stored = txn.blocks(&changed)?;
    for (key, stored) in changed.iter().zip(stored) {
        let mut members = Members::decode(stored.as_deref());
        if new.contains(key) {
            members.add(customer_id);
        } else {
            members.remove(customer_id);
        }
        txn.put_block(key, &members.encode())?;
    }
    Ok(())
}

fn recount(
    txn: &mut dyn IdentityWrite,
    old: &BTreeSet<String>,
    new: &BTreeSet<String>,
) -> Result<(), Error> {
    for gone in old.difference(new) {
        txn.count(gone, -1)?;
    }
    for added in new.difference(old) {
        txn.count(added, 1)?;
    }
    Ok(())
}
