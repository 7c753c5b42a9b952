//! What handlers ask the dispatcher, and what it answers.

use baton_auth::digest::RequestDigest;
use baton_proto::v1::{
    AgentSessionResponse, AgentStatus, EndContactResponse, Queue, QueueStats,
    SetAgentStateResponse, StartContactResponse, TransferResponse,
};
use sha2::{Digest as _, Sha256};
use tokio::sync::{mpsc, oneshot};

use crate::domain::matching::AgentState;
use crate::domain::mint::TokenParts;
use crate::domain::record::ContactRecord;
use crate::domain::state::stats::Page;
use crate::domain::state::{AgentUpdate, TransferPlan};
use crate::error::Error;
use crate::persist::Durable;

/// A reply channel.
pub type Reply<T> = oneshot::Sender<Result<T, Error>>;

/// Identifies one mutating request for idempotency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idem {
    /// The tenant.
    pub tenant_id: String,
    /// The operation ("start", "transfer", ...).
    pub operation: &'static str,
    /// The caller's key scoped to the caller; empty when the request has none (it is then
    /// applied every time).
    pub key: String,
    /// The digest of the request as received: the key answers this request and no other.
    pub digest: RequestDigest,
}

/// Where an answer is remembered: tenant, operation and scoped key, without the digest, so a
/// key that comes back with a different request is found, and refused.
pub(super) type Slot = (String, &'static str, String);

impl Idem {
    pub(super) fn slot(&self) -> Slot {
        (self.tenant_id.clone(), self.operation, self.key.clone())
    }

    /// The key routing derives from this one for the calls it makes for the request
    /// (`start/<derived>` to identity, `start/<derived>/started` to context): 32 hex digits
    /// of a hash of the scoped key and the request digest. So it stays short, is the same for
    /// a retry of the same request, and never meets another caller's key nor a different
    /// request's. Empty for a request without a key.
    pub fn derived(&self) -> String {
        if self.key.is_empty() {
            return String::new();
        }
        let mut hash = Sha256::new();
        hash.update(self.key.as_bytes());
        hash.update([0x1f]);
        hash.update(self.digest);
        hash.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// An answer, and a receiver that resolves once it (and the change it reports) is durable.
#[derive(Debug)]
pub struct Acked<T> {
    /// The answer.
    pub value: T,
    /// Await before answering the caller.
    pub durable: Durable,
    /// True when this is a remembered answer to an earlier identical request.
    pub replayed: bool,
}

/// An accepted offer.
#[derive(Debug)]
pub struct Accepted {
    /// The contact, now connected.
    pub record: ContactRecord,
    /// The accepting agent's tier, for the history.
    pub agent_tier: u32,
    /// Resolves once the connection is durable; only then is the agent told.
    pub durable: Durable,
}

/// What a remembered answer is about, so a replay can re-store the current state of it.
#[derive(Debug, Clone)]
pub(super) enum Entity {
    Contact(String),
    Agent(String),
    Queue(String),
}

/// A request to the dispatcher.
#[derive(Debug)]
pub enum Command {
    /// Create or update an agent.
    SetAgent {
        idem: Idem,
        update: AgentUpdate,
        reply: Reply<Acked<SetAgentStateResponse>>,
    },
    /// Create or replace a queue.
    UpsertQueue {
        idem: Idem,
        queue: Queue,
        reply: Reply<Acked<Queue>>,
    },
    /// Add and place a new contact; `response` is filled in with the contact and placement.
    Start {
        idem: Idem,
        record: Box<ContactRecord>,
        response: Box<StartContactResponse>,
        reply: Reply<Acked<StartContactResponse>>,
    },
    /// Move a contact; the token is minted here from `parts`.
    Transfer {
        idem: Idem,
        contact_id: String,
        plan: Box<TransferPlan>,
        parts: Box<TokenParts>,
        reply: Reply<Acked<TransferResponse>>,
    },
    /// End a live contact (`NotFound` when it is not live).
    End {
        idem: Idem,
        contact_id: String,
        /// The agent ending it, if an agent is (empty: a system).
        agent_id: String,
        reply: Reply<Acked<EndContactResponse>>,
    },
    /// Whether a transfer would be taken (see `RoutingState::check_transfer`); asked before
    /// the handler records anything, and asked again when the transfer is applied.
    CheckTransfer {
        tenant_id: String,
        contact_id: String,
        plan: Box<TransferPlan>,
        reply: Reply<()>,
    },
    /// A live contact.
    Contact {
        tenant_id: String,
        contact_id: String,
        reply: oneshot::Sender<Option<ContactRecord>>,
    },
    /// A queue.
    Queue {
        tenant_id: String,
        queue_id: String,
        reply: oneshot::Sender<Option<Queue>>,
    },
    /// An agent.
    Agent {
        tenant_id: String,
        agent_id: String,
        reply: oneshot::Sender<Option<AgentState>>,
    },
    /// One queue's figures now (`None`: no such queue).
    QueueStats {
        tenant_id: String,
        queue_id: String,
        reply: oneshot::Sender<Option<QueueStats>>,
    },
    /// A page of queues' figures, by id, after `after`.
    ListQueues {
        tenant_id: String,
        after: String,
        limit: usize,
        reply: oneshot::Sender<Page<QueueStats>>,
    },
    /// A page of agents, by id, after `after`; only those serving `queue_id` unless empty.
    ListAgents {
        tenant_id: String,
        after: String,
        limit: usize,
        queue_id: String,
        team: String,
        reply: oneshot::Sender<Page<AgentStatus>>,
    },
    /// Open a desktop session; replies with the session id (the agent goes to `tx` as the
    /// welcome).
    OpenSession {
        tenant_id: String,
        agent_id: String,
        tx: mpsc::Sender<AgentSessionResponse>,
        reply: Reply<u64>,
    },
    /// A desktop session ended.
    CloseSession {
        tenant_id: String,
        agent_id: String,
        session: u64,
    },
    /// An agent accepted an offer; replies with the connected contact.
    Accept {
        tenant_id: String,
        agent_id: String,
        session: u64,
        offer_id: String,
        reply: Reply<Accepted>,
    },
    /// An agent takes back a warm transfer it started.
    CancelTransfer {
        tenant_id: String,
        agent_id: String,
        contact_id: String,
    },
    /// An agent rejected an offer.
    Reject {
        tenant_id: String,
        agent_id: String,
        session: u64,
        offer_id: String,
    },
}

impl Command {
    /// The tenant whose routing state the command may change; `None` for reads.
    pub fn changes_tenant(&self) -> Option<&str> {
        match self {
            Command::SetAgent { idem, .. }
            | Command::UpsertQueue { idem, .. }
            | Command::Start { idem, .. }
            | Command::Transfer { idem, .. }
            | Command::End { idem, .. } => Some(&idem.tenant_id),
            Command::OpenSession { tenant_id, .. }
            | Command::CloseSession { tenant_id, .. }
            | Command::Accept { tenant_id, .. }
            | Command::Reject { tenant_id, .. }
            | Command::CancelTransfer { tenant_id, .. } => Some(tenant_id),
            Command::CheckTransfer { .. }
            | Command::Contact { .. }
            | Command::Queue { .. }
            | Command::Agent { .. }
            | Command::QueueStats { .. }
            | Command::ListQueues { .. }
            | Command::ListAgents { .. } => None,
        }
    }
}

/// The handle handlers use.
#[derive(Debug, Clone)]
pub struct DispatcherHandle {
    /// Bounded: callers wait when the dispatcher is behind.
    pub(super) tx: mpsc::Sender<Command>,
    /// Where the dispatcher announces every change (see [`super::events`]).
    pub(super) events: super::events::Events,
    /// Fires when the dispatcher stops taking sessions (the shard was given up, or the
    /// process is stopping).
    pub(super) stop: baton_runtime::shutdown::Shutdown,
}

impl DispatcherHandle {
    /// Subscribes to every change from now on.
    pub fn watch(
        &self,
    ) -> tokio::sync::broadcast::Receiver<std::sync::Arc<super::events::Announced>> {
        self.events.subscribe()
    }

    /// Fires when the dispatcher stops taking sessions: what a session's inbound half waits on.
    pub fn stopping(&self) -> baton_runtime::shutdown::Shutdown {
        self.stop.clone()
    }

    /// How many handles on the dispatcher exist (this one included): the calls and sessions
    /// still using it.
    pub fn callers(&self) -> usize {
        self.tx.strong_count()
    }

    /// Sends a command built around a fresh reply channel and awaits the reply.
    pub async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, Error> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| Error::Busy("shutting down"))?;
        rx.await.map_err(|_| Error::Busy("shutting down"))
    }

    /// Sends a command that has no reply.
    pub async fn tell(&self, command: Command) {
        // A send only fails once the dispatcher is gone, when there is nobody left to tell.
        let _ = self.tx.send(command).await;
    }
}
