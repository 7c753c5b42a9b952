//! What the dispatcher tells supervisors: each change to routing state, as it makes it, on
//! one broadcast channel that `WatchRouting` streams subscribe to.
//!
//! Events are built only while somebody watches. The channel is bounded: a watcher that falls
//! behind loses the oldest events and is told how many (`RoutingEvent.lagged`), so a slow
//! wallboard never slows routing. Events carry where contacts are, never what customers said.

use std::sync::Arc;
use std::time::SystemTime;

use baton_proto::v1::{Contact, ContactChange, ContactState, RoutingEvent, routing_event::Change};
use baton_runtime::time::to_timestamp;
use tokio::sync::broadcast;

/// Events kept for the slowest watcher before it lags.
pub const EVENT_BUFFER: usize = 4096;

/// One change, with what a watch filters it by.
#[derive(Debug)]
pub struct Announced {
    /// The tenant it happened in.
    pub tenant_id: String,
    /// For a contact, the queue it is in or came through; empty otherwise (and for contacts
    /// routed by tier, agent or channel).
    pub queue_id: String,
    /// The event.
    pub event: RoutingEvent,
}

impl Announced {
    /// Whether a watch of `tenant_id`, limited to `queue_id` when that is not empty, gets it:
    /// agents and queues always, contacts of that queue only.
    pub fn is_for(&self, tenant_id: &str, queue_id: &str) -> bool {
        self.tenant_id == tenant_id
            && (queue_id.is_empty()
                || !matches!(self.event.change, Some(Change::Contact(_)))
                || self.queue_id == queue_id)
    }
}

/// The sending side, held by the dispatcher and by every handle (to subscribe).
pub type Events = broadcast::Sender<Arc<Announced>>;

/// A new channel with no watcher.
pub fn channel() -> Events {
    broadcast::channel(EVENT_BUFFER).0
}

/// Sends `change` of `tenant_id` to every watcher, if there is one.
pub fn announce(events: &Events, tenant_id: &str, queue_id: &str, change: Change) {
    if events.receiver_count() == 0 {
        return;
    }
    let event = RoutingEvent {
        at: Some(to_timestamp(SystemTime::now())),
        change: Some(change),
    };
    let _ = events.send(Arc::new(Announced {
        tenant_id: tenant_id.to_owned(),
        queue_id: queue_id.to_owned(),
        event,
    }));
}

/// A contact as a wallboard sees it; `offer_id` and `reason` say which offer changed and why.
pub fn contact(c: &Contact, offer_id: &str, reason: &str) -> Change {
    Change::Contact(ContactChange {
        contact_id: c.contact_id.clone(),
        state: c.state,
        queue_id: c.queue_id.clone(),
        tier: c.tier,
        channel: c.channel,
        agent_id: c.agent_id.clone(),
        holding_agent_id: c.holding_agent_id.clone(),
        offer_id: offer_id.to_owned(),
        reason: reason.to_owned(),
        transfers: u32::try_from(c.path.len().saturating_sub(1)).unwrap_or(u32::MAX),
        requested_at: c.requested_at,
    })
}

/// A contact that is no longer live, known by id only (an offer withdrawn as it ended).
pub fn gone(contact_id: &str, agent_id: &str, offer_id: &str, reason: &str) -> Change {
    Change::Contact(ContactChange {
        contact_id: contact_id.to_owned(),
        state: ContactState::Ended as i32,
        agent_id: agent_id.to_owned(),
        offer_id: offer_id.to_owned(),
        reason: reason.to_owned(),
        ..ContactChange::default()
    })
}
