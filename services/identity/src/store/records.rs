//! What the identity store keeps besides profiles: the merge ledger and the audit trail.
//!
//! Both are protobuf messages (declared here rather than in the public contract, because
//! no caller ever sees them) so the stored form stays readable and evolvable the same way
//! as the profiles next to them.

use std::collections::HashMap;

use baton_proto::v1::{FieldWeights, Identifier, PersonTraits, Profile};
use prost_types::Timestamp;

/// One merge, recording exactly what moved so that it can be reversed exactly.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MergeRecord {
    /// Names the merge; callers pass it to UnmergeProfile.
    #[prost(string, tag = "1")]
    pub merge_id: String,
    /// The profile that remained.
    #[prost(string, tag = "2")]
    pub survivor_id: String,
    /// The profile folded in and retired.
    #[prost(string, tag = "3")]
    pub merged_id: String,
    /// The merged profile as it was just before the merge; unmerge brings it back.
    #[prost(message, optional, tag = "4")]
    pub merged_profile: Option<Profile>,
    /// The identifiers that moved from the merged profile to the survivor (normalized).
    #[prost(message, repeated, tag = "5")]
    pub moved_identifiers: Vec<Identifier>,
    /// The trait fields the survivor lacked and took from the merged profile; only the
    /// fields that were filled are set.
    #[prost(message, optional, tag = "6")]
    pub traits_filled: Option<PersonTraits>,
    /// The attributes the survivor lacked and took from the merged profile.
    #[prost(map = "string, string", tag = "7")]
    pub attributes_added: HashMap<String, String>,
    /// The ids that started resolving to the survivor (the merged id and the ids retired
    /// into it before).
    #[prost(string, repeated, tag = "8")]
    pub retired_ids_added: Vec<String>,
    /// Whether the merge moved the survivor's `customer_since` earlier.
    #[prost(bool, tag = "9")]
    pub customer_since_changed: bool,
    /// The survivor's `customer_since` before the merge, when the merge changed it.
    #[prost(message, optional, tag = "10")]
    pub customer_since_before: Option<Timestamp>,
    /// When the merge happened.
    #[prost(message, optional, tag = "11")]
    pub merged_at: Option<Timestamp>,
    /// When the merge was reversed; unset while it stands.
    #[prost(message, optional, tag = "12")]
    pub reversed_at: Option<Timestamp>,
}

/// One audited operation. Ids, the actor, the caller's reason and the time only: no
/// personal data, so the trail can outlive an erasure.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AuditRecord {
    /// Unique and time-ordered (a UUIDv7).
    #[prost(string, tag = "1")]
    pub audit_id: String,
    /// `merge`, `unmerge` or `forget`.
    #[prost(string, tag = "2")]
    pub action: String,
    /// The merge concerned, for merges and unmerges.
    #[prost(string, tag = "3")]
    pub merge_id: String,
    /// The survivor of a merge, or the erased customer.
    #[prost(string, tag = "4")]
    pub customer_id: String,
    /// The merged (or restored) customer.
    #[prost(string, tag = "5")]
    pub other_customer_id: String,
    /// Who asked.
    #[prost(string, tag = "6")]
    pub actor_id: String,
    /// Why, as the caller put it.
    #[prost(string, tag = "7")]
    pub reason: String,
    /// When.
    #[prost(message, optional, tag = "8")]
    pub at: Option<Timestamp>,
}

/// A tenant's matching weights, as the last training estimated them.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MatchWeights {
    /// Every compared field's levels with their m and u probabilities.
    #[prost(message, repeated, tag = "1")]
    pub fields: Vec<FieldWeights>,
    /// When they were estimated.
    #[prost(message, optional, tag = "2")]
    pub trained_at: Option<Timestamp>,
    /// Profiles the estimate read.
    #[prost(uint64, tag = "3")]
    pub profiles: u64,
    /// Candidate pairs it compared.
    #[prost(uint64, tag = "4")]
    pub pairs: u64,
    /// The estimated share of candidate pairs that are one person.
    #[prost(double, tag = "5")]
    pub match_share: f64,
}
