//! Profiles and the links between identifiers and customers, kept consistent with the index.

use baton_proto::v1::{LinkedIdentifier, Profile};
use baton_store::StoreError;
use prost_types::Timestamp;
use uuid::Uuid;

use crate::{
    Error,
    normalize::{IdentityKey, Normalized},
    store::{IdentityRead, IdentityWrite},
};

/// Most identifiers one profile holds; a profile past this is almost certainly several
/// people (a shared family phone, a call-centre e-mail) and must be looked at by a person.
pub const MAX_IDENTIFIERS: usize = 64;
/// Most attributes one profile holds.
pub const MAX_ATTRIBUTES: usize = 32;
/// Longest attribute key, in bytes.
pub const MAX_ATTRIBUTE_KEY_LEN: usize = 64;
/// Longest attribute value, in bytes.
pub const MAX_ATTRIBUTE_VALUE_LEN: usize = 256;
/// Longest retirement chain followed (a merged id whose survivor was merged again, ...).
const MAX_HOPS: usize = 32;

/// A new customer id: `cus_` and a UUIDv7, so ids sort by creation time.
pub fn new_customer_id() -> String {
    format!("cus_{}", Uuid::now_v7())
}

/// An empty profile for a customer first seen `now`.
pub fn new_profile(tenant: &str, customer_id: String, now: Timestamp) -> Profile {
    Profile {
        customer_id,
        tenant_id: tenant.to_owned(),
        // Always present, so that filling and unfilling fields never flips it between
        // absent and empty.
        traits: Some(Default::default()),
        customer_since: Some(now),
        created_at: Some(now),
        updated_at: Some(now),
        revision: 0,
        ..Default::default()
    }
}

/// Records a change to `profile` made `now`.
pub fn touch(profile: &mut Profile, now: Timestamp) {
    profile.revision += 1;
    profile.updated_at = Some(now);
}

/// The identifier `key` as linked on `profile`.
pub fn linked_mut<'p>(
    profile: &'p mut Profile,
    key: &IdentityKey,
) -> Option<&'p mut LinkedIdentifier> {
    profile.identifiers.iter_mut().find(|l| {
        l.identifier
            .as_ref()
            .and_then(IdentityKey::of_stored)
            .is_some_and(|k| &k == key)
    })
}

/// The keys of every identifier on `profile`.
pub fn keys(profile: &Profile) -> Vec<IdentityKey> {
    profile
        .identifiers
        .iter()
        .filter_map(|l| l.identifier.as_ref().and_then(IdentityKey::of_stored))
        .collect()
}

/// What linking an identifier to a profile did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linked {
    /// It is new on the profile (the index must be told).
    Added,
    /// It was there; it is now marked verified.
    Upgraded,
    /// It was there already, as strongly as now.
    Unchanged,
}

/// Links `presented` to `profile` (not to the index: see [`link`]). A verified presentation
/// marks the link verified; nothing ever un-verifies one.
pub fn attach(
    profile: &mut Profile,
    presented: &Normalized,
    now: Timestamp,
) -> Result<Linked, Error> {
    if let Some(existing) = linked_mut(profile, &presented.key) {
        let mut changed = false;
        if presented.is_verified() && !existing.verified {
            existing.verified = true;
            changed = true;
        }
        if let Some(id) = existing.identifier.as_mut()
            && presented.assurance as i32 > id.assurance
        {
            id.assurance = presented.assurance as i32;
            changed = true;
        }
        return Ok(if changed {
            Linked::Upgraded
        } else {
            Linked::Unchanged
        });
    }
    if profile.identifiers.len() >= MAX_IDENTIFIERS {
        return Err(Error::TooManyIdentifiers(MAX_IDENTIFIERS));
    }
    profile.identifiers.push(LinkedIdentifier {
        identifier: Some(presented.key.to_identifier(presented.assurance)),
        verified: presented.is_verified(),
        linked_at: Some(now),
        last_seen_at: Some(now),
    });
    Ok(Linked::Added)
}

/// Attaches `presented` to `profile` and points the index at it when it is new there. The
/// caller has checked that nobody else owns it, and stores the profile afterwards.
pub fn link(
    txn: &mut dyn IdentityWrite,
    profile: &mut Profile,
    presented: &Normalized,
    now: Timestamp,
) -> Result<Linked, Error> {
    let linked = attach(profile, presented, now)?;
    if linked == Linked::Added {
        txn.set_owner(&presented.key, &profile.customer_id)?;
    }
    Ok(linked)
}

/// Marks an identifier on `profile` as seen on a contact `now`.
pub fn seen(profile: &mut Profile, key: &IdentityKey, now: Timestamp) {
    if let Some(linked) = linked_mut(profile, key) {
        linked.last_seen_at = Some(now);
    }
}

/// Where an id stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// A live profile.
    Live(Profile),
    /// Merged away; this is the live profile it resolves to now.
    Retired {
        /// The live profile the id resolves to.
        survivor: Profile,
    },
    /// Never existed, or erased.
    Unknown,
}

/// Finds a customer by id, following retired ids to their survivor.
pub fn find<V: IdentityRead + ?Sized>(view: &V, customer_id: &str) -> Result<Lookup, StoreError> {
    if let Some(profile) = view.profile(customer_id)? {
        return Ok(Lookup::Live(profile));
    }
    let mut id = customer_id.to_owned();
    for _ in 0..MAX_HOPS {
        let Some(next) = view.survivor_of(&id)? else {
            return Ok(Lookup::Unknown);
        };
        if let Some(survivor) = view.profile(&next)? {
            return Ok(Lookup::Retired { survivor });
        }
        id = next;
    }
    tracing::error!(customer = %customer_id, "retirement chain too long or circular");
    Ok(Lookup::Unknown)
}

/// The live profile for an id, following retirement.
pub fn live<V: IdentityRead + ?Sized>(
    view: &V,
    customer_id: &str,
) -> Result<Option<Profile>, StoreError> {
    Ok(match find(view, customer_id)? {
        Lookup::Live(profile) | Lookup::Retired { survivor: profile } => Some(profile),
        Lookup::Unknown => None,
    })
}

/// The live customer an identifier is linked to.
pub fn owner<V: IdentityRead + ?Sized>(
    view: &V,
    key: &IdentityKey,
) -> Result<Option<Profile>, StoreError> {
    match view.owner(key)? {
        Some(id) => live_owner(view, id),
        None => Ok(None),
    }
}

/// The live profile of the customer an index entry names.
fn live_owner<V: IdentityRead + ?Sized>(
    view: &V,
    indexed: String,
) -> Result<Option<Profile>, StoreError> {
    let found = live(view, &indexed)?;
    if found.is_none() {
        // The index and profiles change in one transaction, so this means damage; treating
        // the identifier as unlinked lets the next link repair the entry.
        tracing::error!(customer = %indexed, "index entry points at no profile");
    }
    Ok(found)
}

/// The live owners of `keys`, reading each distinct owner's profile once: `(owner ids by
/// position, the distinct owners' profiles in first-seen order)`. Identifiers presented
/// together usually belong to one customer, whose profile is then read and decoded once.
pub fn owners<'k, V: IdentityRead + ?Sized>(
    view: &V,
    keys: impl IntoIterator<Item = &'k IdentityKey>,
) -> Result<(Vec<Option<String>>, Vec<Profile>), StoreError> {
    let keys = keys.into_iter();
    let mut ids = Vec::with_capacity(keys.size_hint().0);
    let mut profiles: Vec<Profile> = Vec::new();
    for key in keys {
        let Some(indexed) = view.owner(key)? else {
            ids.push(None);
            continue;
        };
        // A profile already read is live under its own id, so an index entry naming it needs
        // no second read.
        if profiles.iter().any(|p| p.customer_id == indexed) {
            ids.push(Some(indexed));
            continue;
        }
        let owner = live_owner(view, indexed)?;
        ids.push(owner.as_ref().map(|p| p.customer_id.clone()));
        if let Some(p) = owner
            && !profiles.iter().any(|q| q.customer_id == p.customer_id)
        {
            profiles.push(p);
        }
    }
    Ok((ids, profiles))
}

/// Keeps the strongest assurance of identifiers that normalize to the same key, in first-seen
/// order: a request naming one e-mail twice names one identifier.
pub fn dedupe(identifiers: Vec<Normalized>) -> Vec<Normalized> {
    let mut out: Vec<Normalized> = Vec::with_capacity(identifiers.len());
    for n in identifiers {
        match out.iter_mut().find(|o| o.key == n.key) {
            Some(o) if n.assurance as i32 > o.assurance as i32 => o.assurance = n.assurance,
            Some(_) => {}
            None => out.push(n),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::{cell::Cell, collections::HashMap};

    use baton_proto::v1::IdentifierKind;

    use super::*;
    use crate::store::{AuditRecord, MatchWeights, MergeRecord};

    /// An index and profiles in memory that count profile reads.
    #[derive(Default)]
    struct Counting {
        index: HashMap<String, String>,
        retired: HashMap<String, String>,
        profiles: HashMap<String, Profile>,
        reads: Cell<usize>,
    }

    impl IdentityRead for Counting {
        fn profile(&self, customer_id: &str) -> Result<Option<Profile>, StoreError> {
            self.reads.set(self.reads.get() + 1);
            Ok(self.profiles.get(customer_id).cloned())
        }
        fn owner(&self, key: &IdentityKey) -> Result<Option<String>, StoreError> {
            Ok(self.index.get(&key.value).cloned())
        }
        fn survivor_of(&self, retired_id: &str) -> Result<Option<String>, StoreError> {
            Ok(self.retired.get(retired_id).cloned())
        }
        fn merge_record(&self, _: &str) -> Result<Option<MergeRecord>, StoreError> {
            Ok(None)
        }
        fn merges_involving(&self, _: &str) -> Result<Vec<String>, StoreError> {
            Ok(Vec::new())
        }
        fn audit_trail(&self, _: usize) -> Result<Vec<AuditRecord>, StoreError> {
            Ok(Vec::new())
        }
        fn blocks(&self, keys: &[String]) -> Result<Vec<Option<String>>, StoreError> {
            Ok(vec![None; keys.len()])
        }
        fn frequencies(&self, terms: &[String]) -> Result<Vec<u64>, StoreError> {
            Ok(vec![0; terms.len()])
        }
        fn weights(&self) -> Result<Option<MatchWeights>, StoreError> {
            Ok(None)
        }
        fn sample_profiles(&self, _: usize) -> Result<Vec<Profile>, StoreError> {
            Ok(Vec::new())
        }
        fn profile_ids(&self) -> Result<Vec<String>, StoreError> {
            Ok(Vec::new())
        }
    }

    fn key(value: &str) -> IdentityKey {
        IdentityKey {
            kind: IdentifierKind::Phone,
            namespace: String::new(),
            value: value.to_owned(),
        }
    }

    #[test]
    fn owners_read_each_live_profile_once_and_follow_retired_ids() {
        let mut store = Counting::default();
        for (value, owner) in [("1", "a"), ("2", "a"), ("3", "old"), ("4", "b")] {
            store.index.insert(value.into(), owner.into());
        }
        store.retired.insert("old".into(), "a".into());
        for id in ["a", "b"] {
            store.profiles.insert(
                id.into(),
                Profile {
                    customer_id: id.into(),
                    ..Default::default()
                },
            );
        }
        let keys = ["1", "2", "3", "none", "4"].map(key);
        let (ids, profiles) = owners(&store, &keys).expect("read");
        assert_eq!(
            ids,
            [Some("a"), Some("a"), Some("a"), None, Some("b")].map(|o| o.map(str::to_owned))
        );
        let distinct: Vec<&str> = profiles.iter().map(|p| p.customer_id.as_str()).collect();
        assert_eq!(distinct, ["a", "b"]);
        // a once, then "old" (none) and its survivor a, then b.
        assert_eq!(store.reads.get(), 4);
    }
}
