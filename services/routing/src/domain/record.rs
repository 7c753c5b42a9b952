//! The stored form of a contact: the contract's `Contact` plus what routing needs to keep
//! routing it after a restart.

use baton_proto::v1::{Audience, Contact, ContactState, KnownFact, audience::Target};

/// What routing keeps about a contact. A protobuf message so the store holds the contract's
/// own encoding (readable by any protobuf tool) and old records decode after additions.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContactRecord {
    /// The contact as callers see it.
    #[prost(message, required, tag = "1")]
    pub contact: Contact,
    /// The newest sealed token, attached to every offer so the agent opens what was minted
    /// for this hop.
    #[prost(bytes = "vec", tag = "2")]
    pub token: Vec<u8>,
    /// Who the contact is for now (a tier, queue, agent or channel): the audience of the
    /// newest token, and the constraint eligibility checks.
    #[prost(message, optional, tag = "3")]
    pub target: Option<Audience>,
    /// Facts on record from the start, carried into every later token so no hop asks again.
    #[prost(message, repeated, tag = "4")]
    pub known_facts: Vec<KnownFact>,
    /// During a warm transfer: the channel on which the holding agent keeps capacity (a
    /// channel switch moves the contact but the holding agent stays on the old channel).
    #[prost(enumeration = "baton_proto::v1::Channel", tag = "5")]
    pub holding_channel: i32,
    /// The W3C `traceparent` of the contact's start: every later hop (a transfer, a channel
    /// switch, an accepted offer) happens in another trace and links back to this one, and
    /// every token carries it. Empty when the start was not traced.
    #[prost(string, tag = "6")]
    pub origin_traceparent: String,
    /// The ids merged into the customer when the contact started (its profile's
    /// `retired_ids`): every context read for the contact names them, so each hop's token
    /// shows the same history, the merged ids' included. A merge or unmerge during the
    /// contact shows from the customer's next contact on.
    #[prost(string, repeated, tag = "7")]
    pub merged_ids: Vec<String>,
    /// During a warm transfer: the contact as it was with the agent holding it, to go back
    /// to if nobody accepts the transfer in time or the agent cancels it.
    #[prost(message, optional, tag = "8")]
    pub warm_origin: Option<WarmOrigin>,
}

/// Where a warm transfer started: what the contact returns to when the transfer comes back
/// to the agent holding the customer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WarmOrigin {
    /// The contact as it was, connected to the holding agent.
    #[prost(message, optional, tag = "1")]
    pub contact: Option<Contact>,
    /// Its routing target then.
    #[prost(message, optional, tag = "2")]
    pub target: Option<Audience>,
    /// Its newest token then, which the holding agent has.
    #[prost(bytes = "vec", tag = "3")]
    pub token: Vec<u8>,
}

impl ContactRecord {
    /// The routing target, if one is set.
    pub fn target(&self) -> Option<&Target> {
        self.target.as_ref().and_then(|a| a.target.as_ref())
    }

    /// The contact's tenant.
    pub fn tenant_id(&self) -> &str {
        &self.contact.tenant_id
    }

    /// The contact's id.
    pub fn contact_id(&self) -> &str {
        &self.contact.contact_id
    }

    /// The contact's lifecycle state (unknown numbers read as unspecified).
    pub fn state(&self) -> ContactState {
        ContactState::try_from(self.contact.state).unwrap_or(ContactState::Unspecified)
    }

    /// Whether the contact is with `agent_id` now: offered or connected to it, or held by it
    /// during a warm transfer. Such an agent may transfer it.
    pub fn is_with(&self, agent_id: &str) -> bool {
        !agent_id.is_empty()
            && (self.contact.holding_agent_id == agent_id
                || (self.contact.agent_id == agent_id
                    && matches!(
                        self.state(),
                        ContactState::Offered | ContactState::Connected
                    )))
    }

    /// Whether `agent_id` holds the customer now: connected to it, or held by it during a warm
    /// transfer. Such an agent may end it and write notes on it.
    pub fn is_held_by(&self, agent_id: &str) -> bool {
        !agent_id.is_empty()
            && (self.contact.holding_agent_id == agent_id
                || (self.contact.agent_id == agent_id && self.state() == ContactState::Connected))
    }

    /// Whether the contact is, or was last, `agent_id`'s: with it now, or ended while with
    /// it. Such an agent may read it.
    pub fn belongs_to(&self, agent_id: &str) -> bool {
        self.is_with(agent_id)
            || (!agent_id.is_empty()
                && self.state() == ContactState::Ended
                && self.contact.agent_id == agent_id)
    }
}

/// An audience naming `target`.
pub fn audience(target: Target) -> Audience {
    Audience {
        target: Some(target),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(state: ContactState, agent: &str, holding: &str) -> ContactRecord {
        ContactRecord {
            contact: Contact {
                state: state as i32,
                agent_id: agent.into(),
                holding_agent_id: holding.into(),
                ..Contact::default()
            },
            ..ContactRecord::default()
        }
    }

    #[test]
    fn an_agent_holds_what_it_is_connected_to_or_holds_and_has_what_is_offered_to_it() {
        let offered = with(ContactState::Offered, "ann", "");
        assert!(offered.is_with("ann") && !offered.is_held_by("ann"));
        let connected = with(ContactState::Connected, "ann", "");
        assert!(connected.is_with("ann") && connected.is_held_by("ann"));
        assert!(!connected.is_with("bob") && !connected.belongs_to("bob"));
        let warm = with(ContactState::Offered, "tim", "ann");
        assert!(warm.is_held_by("ann") && warm.is_with("tim") && !warm.is_held_by("tim"));
        let ended = with(ContactState::Ended, "ann", "");
        assert!(!ended.is_with("ann") && !ended.is_held_by("ann") && ended.belongs_to("ann"));
        let queued = with(ContactState::Queued, "", "");
        assert!(!queued.is_with("") && !queued.belongs_to(""));
    }
}
