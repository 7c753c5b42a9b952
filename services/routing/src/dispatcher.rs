//! The task that owns the routing state.
//!
//! RPC handlers and agent sessions send it [`Command`]s and await the oneshot replies. It
//! applies each change to the [`RoutingState`], delivers the resulting offers and withdrawals
//! to agent sessions (bounded channels, never waiting on a slow desktop), runs the offer
//! timers, and hands every durable change to the [`Persister`] without waiting for the disk.
//! After each change it brings routing's metrics up to date (offer outcomes, queue depth and
//! wait). It never calls another service: handlers do that before and after.
//!
//! Idempotency lives in two places: the store remembers answers once durable (a retry after a
//! restart finds them), and this task remembers recent answers (a retry racing the first
//! request, or following a failed commit, finds them here and never applies the change twice).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::SystemTime;

use baton_proto::v1::{
    AgentSessionResponse, Contact, ContactOffer, EndContactResponse, OfferWithdrawn,
    SetAgentStateResponse, StartContactResponse, TransferResponse, TransferReturned,
    agent_session_response::Event,
};
use baton_runtime::shutdown::Shutdown;
use baton_runtime::time::{from_timestamp, to_timestamp};
use baton_token::KeyRing;
use prost::Message;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::RoutingConfig;
use crate::domain::matching::AgentState;
use crate::domain::mint;
use crate::domain::record::ContactRecord;
use crate::domain::state::stats::AgentFilter;
use crate::domain::state::{Effect, Return, RoutingState};
use crate::error::Error;
use crate::metrics::RoutingMetrics;
use crate::persist::Persister;
use crate::store::Write;

mod command;
pub mod events;

pub use command::{Accepted, Acked, Command, DispatcherHandle, Idem};
use command::{Entity, Reply, Slot};

/// How many recent answers the dispatcher keeps for retries that race the store.
const RECENT_ANSWERS: usize = 10_000;

/// How many commands may wait for the dispatcher before callers wait to send.
const COMMAND_DEPTH: usize = 1024;

/// What a timer is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// An offer lapses unless answered first.
    OfferLapses {
        /// The offer.
        offer_id: String,
    },
    /// An agent who declined a contact may be offered it again (when nobody else can take it).
    CoolDownEnds {
        /// The contact declined.
        contact_id: String,
        /// The agent who declined it.
        agent_id: String,
        /// The offer declined: a later refusal has a cool-down of its own.
        offer_id: String,
    },
    /// A warm transfer goes back to the agent holding it unless accepted first.
    WarmTransferLapses {
        /// The contact transferred.
        contact_id: String,
        /// The transfer's hop: a later hop has a timer of its own.
        token_id: String,
    },
    /// Some waiting contact's queue widens who may take it.
    Widen,
    /// An agent's wrap-up is over unless it ended otherwise first.
    WrapUpEnds {
        /// The agent.
        agent_id: String,
        /// When it was to end: a later wrap-up has a timer of its own.
        until: SystemTime,
    },
}

/// An open desktop session.
#[derive(Debug)]
struct Session {
    /// Distinguishes it from earlier and later sessions of the same agent, so a late close
    /// or answer from an ended session touches nothing.
    id: u64,
    /// Bounded: a desktop that stops reading is cut off instead of stalling routing.
    tx: mpsc::Sender<AgentSessionResponse>,
}

/// An answer the dispatcher remembers for a retry that races the store.
#[derive(Debug, Clone)]
struct Remembered {
    /// The request it answers: a key that comes back with another is refused.
    digest: [u8; 32],
    /// The encoded answer.
    answer: Vec<u8>,
    /// What it is about.
    entity: Entity,
}

/// What a mutating command did: the answer, what it is about, what to store with it, and
/// what to tell agent sessions.
struct Change<T> {
    value: T,
    entity: Entity,
    writes: Vec<Write>,
    effects: Vec<Effect>,
}

impl<T> Change<T> {
    /// A change to one contact, stored as it now stands.
    fn contact(value: T, record: ContactRecord, effects: Vec<Effect>) -> Self {
        Self {
            value,
            entity: Entity::Contact(record.contact.contact_id.clone()),
            writes: vec![Write::Contact(Box::new(record))],
            effects,
        }
    }
}

/// The dispatcher task's state.
#[derive(Debug)]
pub struct Dispatcher {
    /// Agents, queues, live contacts and offers.
    state: RoutingState,
    /// Open sessions by tenant and agent.
    sessions: HashMap<(String, String), Session>,
    /// Offer deadlines and cool-downs: `(when, tenant, what)`. Entries for offers already
    /// answered, or contacts that moved on, are left to fire and do nothing, which is cheaper
    /// than finding them.
    timers: BTreeSet<(Instant, String, Timer)>,
    /// Recent answers by key, with the digest of the request they answer; oldest first in
    /// `recent_order`.
    recent: HashMap<Slot, Remembered>,
    /// Eviction order of `recent`.
    recent_order: VecDeque<Slot>,
    /// Where durable changes go.
    persister: Persister,
    /// Seals transfer tokens.
    keys: KeyRing,
    /// Timeouts and token lifetime.
    config: RoutingConfig,
    /// The last session id handed out.
    last_session: u64,
    /// Set once shutdown began: sessions are closed and no new ones open.
    stopping: bool,
    /// Offers, queue depth and wait.
    metrics: RoutingMetrics,
    /// Contacts waiting by tier, per tenant, as last added to the queue depth metric.
    waiting: HashMap<String, BTreeMap<u32, i64>>,
    /// Every change, for supervisors watching.
    events: events::Events,
    /// The earliest [`Timer::Widen`] set per tenant: a later one is not set beside it, since
    /// every dispatch asks again for the next.
    widening: HashMap<String, Instant>,
}

impl Dispatcher {
    /// Starts the task on `state` (already reloaded) and returns its handle. The task ends
    /// when every handle is dropped; shutdown closes every session first.
    pub fn spawn(
        state: RoutingState,
        persister: Persister,
        keys: KeyRing,
        config: RoutingConfig,
        shutdown: Shutdown,
        metrics: RoutingMetrics,
    ) -> DispatcherHandle {
        let (tx, rx) = mpsc::channel(COMMAND_DEPTH);
        let events = events::channel();
        let mut dispatcher = Dispatcher {
            events: events.clone(),
            state,
            sessions: HashMap::new(),
            timers: BTreeSet::new(),
            recent: HashMap::new(),
            recent_order: VecDeque::new(),
            persister,
            keys,
            config,
            last_session: 0,
            stopping: false,
            metrics,
            waiting: HashMap::new(),
            widening: HashMap::new(),
        };
        // Contacts reloaded from the store are waiting already, and warm transfers among them
        // wait for an agent again from now.
        dispatcher.observe_all();
        for (tenant, contact_id, token_id, secs) in dispatcher.state.warm_transfers() {
            let at = Instant::now() + dispatcher.escalation_timeout(secs);
            let timer = Timer::WarmTransferLapses {
                contact_id,
                token_id,
            };
            dispatcher.timers.insert((at, tenant, timer));
        }
        for (tenant, agent_id, until) in dispatcher.state.wrap_ups() {
            dispatcher.time_wrap_up(tenant, agent_id, until);
        }
        tokio::spawn(dispatcher.run(rx, shutdown.clone()));
        DispatcherHandle {
            tx,
            events,
            stop: shutdown,
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>, shutdown: Shutdown) {
        loop {
            let next_timer = self.timers.first().map(|(at, _, _)| *at);
            tokio::select! {
                command = rx.recv() => match command {
                    Some(command) => {
                        let changed = command.changes_tenant().map(str::to_owned);
                        self.handle(command);
                        if let Some(tenant) = changed {
                            self.observe(&tenant);
                        }
                    }
                    None => break,
                },
                () = sleep_until(next_timer) => self.fire_timers(),
                () = shutdown.triggered(), if !self.stopping => {
                    self.stop_sessions();
                    self.observe_all();
                }
            }
        }
        // This process no longer holds any waiting contact: they wait in the store.
        for (tier, n) in self.waiting.drain().flat_map(|(_, w)| w) {
            self.metrics.queue_depth(tier, -n);
        }
    }

    /// Brings the offer and queue depth metrics up to date with what changed for `tenant`.
    fn observe(&mut self, tenant: &str) {
        self.metrics.offers(&self.state.take_offer_tally(tenant));
        let now = self.state.waiting_by_tier(tenant);
        let none = BTreeMap::new();
        let before = self.waiting.get(tenant).unwrap_or(&none);
        let tiers: BTreeSet<u32> = before.keys().chain(now.keys()).copied().collect();
        for tier in tiers {
            let delta = now.get(&tier).unwrap_or(&0) - before.get(&tier).unwrap_or(&0);
            if delta != 0 {
                self.metrics.queue_depth(tier, delta);
            }
        }
        match self.waiting.get_mut(tenant) {
            Some(last) => *last = now,
            None => {
                self.waiting.insert(tenant.to_owned(), now);
            }
        }
    }

    /// [`Self::observe`] for every tenant.
    fn observe_all(&mut self) {
        let tenants: Vec<String> = self.state.tenant_ids().map(str::to_owned).collect();
        for tenant in tenants {
            self.observe(&tenant);
        }
    }

    fn handle(&mut self, command: Command) {
        let now = SystemTime::now();
        match command {
            Command::SetAgent {
                idem,
                update,
                reply,
            } => self.mutate(idem, reply, |d, tenant| {
                let agent_id = update.agent_id.clone();
                let (profile, effects) = d.state.set_agent(tenant, update, now);
                let view = d
                    .state
                    .agent(tenant, &agent_id)
                    .map(AgentState::view)
                    .unwrap_or_default();
                Ok(Change {
                    value: SetAgentStateResponse { agent: Some(view) },
                    entity: Entity::Agent(agent_id),
                    writes: vec![Write::Agent {
                        tenant_id: tenant.to_owned(),
                        agent: profile,
                    }],
                    effects,
                })
            }),
            Command::UpsertQueue { idem, queue, reply } => self.mutate(idem, reply, |d, tenant| {
                let (queue, effects) = d.state.upsert_queue(tenant, queue, now);
                Ok(Change {
                    entity: Entity::Queue(queue.queue_id.clone()),
                    writes: vec![Write::Queue {
                        tenant_id: tenant.to_owned(),
                        queue: queue.clone(),
                    }],
                    value: queue,
                    effects,
                })
            }),
            Command::Start {
                idem,
                record,
                response,
                reply,
            } => self.mutate(idem, reply, |d, _| {
                let (record, placement, effects) = d.state.start(*record, now);
                let value = StartContactResponse {
                    contact: Some(record.contact.clone()),
                    placement: Some(placement),
                    token: record.token.clone(),
                    ..*response
                };
                Ok(Change::contact(value, record, effects))
            }),
            Command::Transfer {
                idem,
                contact_id,
                plan,
                parts,
                reply,
            } => self.mutate(idem, reply, |d, tenant| {
                let (keys, ttl) = (&d.keys, d.config.token_ttl);
                let (record, placement, effects) =
                    d.state.transfer(tenant, &contact_id, *plan, now, |r| {
                        mint::seal(keys, r, *parts, now, ttl)
                    })?;
                let value = TransferResponse {
                    contact: Some(record.contact.clone()),
                    token: record.token.clone(),
                    placement: Some(placement),
                };
                Ok(Change::contact(value, record, effects))
            }),
            Command::End {
                idem,
                contact_id,
                agent_id,
                reply,
            } => self.mutate(idem, reply, |d, tenant| {
                let (record, effects) = d.state.end(tenant, &contact_id, &agent_id, now)?;
                let value = EndContactResponse {
                    contact: Some(record.contact.clone()),
                };
                let mut change = Change::contact(value, record, effects);
                // An agent put in wrap-up is stored with the end that caused it.
                for effect in &change.effects {
                    if let Effect::WrapUp { agent_id, .. } = effect
                        && let Some(agent) = d.state.agent(tenant, agent_id)
                    {
                        change.writes.push(Write::Agent {
                            tenant_id: tenant.to_owned(),
                            agent: agent.profile.clone(),
                        });
                    }
                }
                Ok(change)
            }),
            Command::CheckTransfer {
                tenant_id,
                contact_id,
                plan,
                reply,
            } => {
                let _ = reply.send(self.state.check_transfer(&tenant_id, &contact_id, &plan));
            }
            Command::Contact {
                tenant_id,
                contact_id,
                reply,
            } => {
                let found = self
                    .state
                    .contact(&tenant_id, &contact_id)
                    .map(|c| c.record.clone());
                let _ = reply.send(found);
            }
            Command::Queue {
                tenant_id,
                queue_id,
                reply,
            } => {
                let _ = reply.send(self.state.queue(&tenant_id, &queue_id).cloned());
            }
            Command::Agent {
                tenant_id,
                agent_id,
                reply,
            } => {
                let _ = reply.send(self.state.agent(&tenant_id, &agent_id).cloned());
            }
            Command::QueueStats {
                tenant_id,
                queue_id,
                reply,
            } => {
                let _ = reply.send(self.state.queue_stats(&tenant_id, &queue_id, now));
            }
            Command::ListQueues {
                tenant_id,
                after,
                limit,
                reply,
            } => {
                let _ = reply.send(self.state.list_queues(&tenant_id, &after, limit, now));
            }
            Command::ListAgents {
                tenant_id,
                after,
                limit,
                queue_id,
                team,
                reply,
            } => {
                let filter = AgentFilter {
                    queue_id: &queue_id,
                    team: &team,
                };
                let _ = reply.send(self.state.list_agents(&tenant_id, &after, limit, &filter));
            }
            Command::OpenSession {
                tenant_id,
                agent_id,
                tx,
                reply,
            } => {
                if self.stopping {
                    let _ = reply.send(Err(Error::Busy("shutting down")));
                    return;
                }
                // A desk that went away without its stream ending here yet (its response
                // stream is gone, so nothing can reach it) no longer holds the agent.
                let key = (tenant_id.clone(), agent_id.clone());
                if let Some(gone) = self.sessions.get(&key).filter(|s| s.tx.is_closed()) {
                    let gone = gone.id;
                    self.close_session(&tenant_id, &agent_id, gone, now);
                }
                self.last_session += 1;
                let id = self.last_session;
                match self.state.open_session(&tenant_id, &agent_id, id, now) {
                    Ok((agent, effects)) => {
                        // The welcome goes first, so the desktop knows who it is before any
                        // offer arrives.
                        let welcome = AgentSessionResponse {
                            event: Some(Event::Welcome(agent)),
                        };
                        let _ = tx.try_send(welcome);
                        self.sessions.insert(key, Session { id, tx });
                        self.announce_agent(&tenant_id, &agent_id);
                        let _ = reply.send(Ok(id));
                        self.deliver(effects);
                    }
                    Err(err) => {
                        let _ = reply.send(Err(err));
                    }
                }
            }
            Command::CloseSession {
                tenant_id,
                agent_id,
                session,
            } => self.close_session(&tenant_id, &agent_id, session, now),
            Command::CancelTransfer {
                tenant_id,
                agent_id,
                contact_id,
            } => {
                let cause = Return::Cancelled { agent_id };
                let effects = self.return_warm_transfer(&tenant_id, &contact_id, &cause);
                self.deliver(effects);
            }
            Command::Accept {
                tenant_id,
                agent_id,
                session,
                offer_id,
                reply,
            } => {
                let result = self
                    .state
                    .accept(&tenant_id, &agent_id, session, &offer_id, now)
                    .map(|(record, effects)| {
                        let c = &record.contact;
                        // Waiting began when the current hop (start or transfer) queued it.
                        let entered = c.path.last().and_then(|h| h.at.as_ref());
                        if let Some(entered) = entered.or(c.requested_at.as_ref()) {
                            let waited = now.duration_since(from_timestamp(entered));
                            self.metrics
                                .queue_wait(c.tier, waited.unwrap_or_default().as_secs_f64());
                        }
                        let write = Write::Contact(Box::new(record.clone()));
                        self.announce_write(&write);
                        let durable = self.persister.enqueue(vec![write]);
                        let agent_tier = self
                            .state
                            .agent(&tenant_id, &agent_id)
                            .map_or(0, |a| a.profile.tier);
                        self.deliver(effects);
                        Accepted {
                            record,
                            agent_tier,
                            durable,
                        }
                    });
                let _ = reply.send(result);
            }
            Command::Reject {
                tenant_id,
                agent_id,
                session,
                offer_id,
            } => match self
                .state
                .reject(&tenant_id, &agent_id, session, &offer_id, now)
            {
                Ok(effects) => self.deliver(effects),
                Err(err) => {
                    tracing::debug!(agent = %agent_id, offer = %offer_id, error = %err, "reject ignored")
                }
            },
        }
    }

    /// Answers a mutating request: a retry gets the remembered answer; otherwise `change`
    /// applies it (given the tenant), its answer is committed with its writes, and its
    /// effects go to the sessions.
    fn mutate<T: Message + Default>(
        &mut self,
        idem: Idem,
        reply: Reply<Acked<T>>,
        change: impl FnOnce(&mut Self, &str) -> Result<Change<T>, Error>,
    ) {
        let result = match self.replay(&idem) {
            Some(replayed) => replayed,
            None => change(self, &idem.tenant_id).map(|c| {
                for write in &c.writes {
                    self.announce_write(write);
                }
                let acked = self.commit(idem, c.value, c.entity, c.writes);
                self.deliver(c.effects);
                acked
            }),
        };
        let _ = reply.send(result);
    }

    /// The remembered answer to `idem`, if any; `KeyReused` when its key answered a different
    /// request. Its subject's current state and the answer are stored again, so a retry after
    /// a failed commit still ends durable.
    fn replay<T: Message + Default>(&mut self, idem: &Idem) -> Option<Result<Acked<T>, Error>> {
        if idem.key.is_empty() {
            return None;
        }
        let Remembered {
            digest,
            answer: bytes,
            entity,
        } = self.recent.get(&idem.slot())?.clone();
        if digest != idem.digest {
            return Some(Err(Error::KeyReused));
        }
        let value = match T::decode(bytes.as_slice()) {
            Ok(value) => value,
            Err(err) => {
                tracing::error!(error = %err, "remembered answer does not decode");
                return None;
            }
        };
        let tenant = &idem.tenant_id;
        let mut writes: Vec<Write> = match entity {
            Entity::Contact(id) => self
                .state
                .contact(tenant, &id)
                .map(|c| Write::Contact(Box::new(c.record.clone())))
                .into_iter()
                .collect(),
            Entity::Agent(id) => self
                .state
                .agent(tenant, &id)
                .map(|a| Write::Agent {
                    tenant_id: tenant.clone(),
                    agent: a.profile.clone(),
                })
                .into_iter()
                .collect(),
            Entity::Queue(id) => self
                .state
                .queue(tenant, &id)
                .map(|q| Write::Queue {
                    tenant_id: tenant.clone(),
                    queue: q.clone(),
                })
                .into_iter()
                .collect(),
        };
        writes.push(answer_write(idem, bytes));
        Some(Ok(Acked {
            value,
            durable: self.persister.enqueue(writes),
            replayed: true,
        }))
    }

    /// Remembers the answer and queues the change with it in one commit.
    fn commit<T: Message>(
        &mut self,
        idem: Idem,
        value: T,
        entity: Entity,
        mut writes: Vec<Write>,
    ) -> Acked<T> {
        if idem.key.is_empty() {
            return Acked {
                value,
                durable: self.persister.enqueue(writes),
                replayed: false,
            };
        }
        let bytes = value.encode_to_vec();
        writes.push(answer_write(&idem, bytes.clone()));
        if self.recent_order.len() >= RECENT_ANSWERS
            && let Some(oldest) = self.recent_order.pop_front()
        {
            self.recent.remove(&oldest);
        }
        self.recent_order.push_back(idem.slot());
        self.recent.insert(
            idem.slot(),
            Remembered {
                digest: idem.digest,
                answer: bytes,
                entity,
            },
        );
        Acked {
            value,
            durable: self.persister.enqueue(writes),
            replayed: false,
        }
    }

    /// Sends offers and withdrawals to sessions, starting a timer per offer. A session that
    /// cannot take a message (gone, or too far behind) is closed and its offers move on.
    fn deliver(&mut self, effects: Vec<Effect>) {
        let mut pending: VecDeque<Effect> = effects.into();
        while let Some(effect) = pending.pop_front() {
            let (tenant, agent, session, message, timer) = match effect {
                Effect::Offer {
                    tenant_id,
                    agent_id,
                    session,
                    offer_id,
                    contact,
                    token,
                } => {
                    let now = SystemTime::now();
                    let change = events::contact(&contact, &offer_id, "");
                    events::announce(&self.events, &tenant_id, &contact.queue_id, change);
                    let token = self.offer_token(&contact, token, &agent_id, now);
                    let offer = ContactOffer {
                        offer_id: offer_id.clone(),
                        contact: Some(*contact),
                        token,
                        expires_at: Some(to_timestamp(now + self.config.offer_timeout)),
                    };
                    let timer = (
                        Instant::now() + self.config.offer_timeout,
                        tenant_id.clone(),
                        Timer::OfferLapses { offer_id },
                    );
                    (
                        tenant_id,
                        agent_id,
                        session,
                        Event::Offer(offer),
                        Some(timer),
                    )
                }
                Effect::WarmTransferPending {
                    tenant_id,
                    contact_id,
                    token_id,
                    timeout_secs,
                } => {
                    let at = Instant::now() + self.escalation_timeout(timeout_secs);
                    let timer = Timer::WarmTransferLapses {
                        contact_id,
                        token_id,
                    };
                    self.timers.insert((at, tenant_id, timer));
                    continue;
                }
                Effect::TransferReturned {
                    tenant_id,
                    agent_id,
                    session,
                    contact,
                    reason,
                } => {
                    let change = events::contact(&contact, "", reason);
                    events::announce(&self.events, &tenant_id, &contact.queue_id, change);
                    let returned = TransferReturned {
                        contact: Some(*contact),
                        reason: reason.to_owned(),
                    };
                    (
                        tenant_id,
                        agent_id,
                        session,
                        Event::TransferReturned(returned),
                        None,
                    )
                }
                Effect::WrapUp {
                    tenant_id,
                    agent_id,
                    until,
                } => {
                    self.tell_presence(&tenant_id, &agent_id);
                    self.time_wrap_up(tenant_id, agent_id, until);
                    continue;
                }
                Effect::Widen { tenant_id, at } => {
                    let after = at.duration_since(SystemTime::now()).unwrap_or_default();
                    let at = Instant::now() + after;
                    if self.widening.get(&tenant_id).is_none_or(|set| at < *set) {
                        self.widening.insert(tenant_id.clone(), at);
                        self.timers.insert((at, tenant_id, Timer::Widen));
                    }
                    continue;
                }
                Effect::CoolDown {
                    tenant_id,
                    contact_id,
                    agent_id,
                    offer_id,
                } => {
                    let at = Instant::now() + self.config.offer_cooldown;
                    let timer = Timer::CoolDownEnds {
                        contact_id,
                        agent_id,
                        offer_id,
                    };
                    self.timers.insert((at, tenant_id, timer));
                    continue;
                }
                Effect::Withdrawn {
                    tenant_id,
                    agent_id,
                    session,
                    offer_id,
                    contact_id,
                    reason,
                } => {
                    let (queue_id, change) = match self.state.contact(&tenant_id, &contact_id) {
                        Some(live) => {
                            let c = &live.record.contact;
                            let mut change = events::contact(c, &offer_id, reason);
                            if let baton_proto::v1::routing_event::Change::Contact(ch) = &mut change
                            {
                                ch.agent_id.clone_from(&agent_id);
                            }
                            (c.queue_id.clone(), change)
                        }
                        None => (
                            String::new(),
                            events::gone(&contact_id, &agent_id, &offer_id, reason),
                        ),
                    };
                    events::announce(&self.events, &tenant_id, &queue_id, change);
                    let withdrawn = OfferWithdrawn {
                        offer_id,
                        reason: reason.to_owned(),
                    };
                    (
                        tenant_id,
                        agent_id,
                        session,
                        Event::Withdrawn(withdrawn),
                        None,
                    )
                }
            };
            let key = (tenant, agent);
            let sent = match self.sessions.get(&key) {
                Some(s) if s.id == session => {
                    s.tx.try_send(AgentSessionResponse {
                        event: Some(message),
                    })
                    .is_ok()
                }
                _ => false,
            };
            if sent {
                if let Some(timer) = timer {
                    self.timers.insert(timer);
                }
            } else if timer.is_some() {
                tracing::warn!(agent = %key.1, "agent session cannot take an offer, closing it");
                self.sessions.remove(&key);
                let now = SystemTime::now();
                pending.extend(self.state.close_session(&key.0, &key.1, session, now));
            }
        }
    }

    /// Announces a durable change to supervisors watching: a contact as it now stands, an
    /// agent with its session and load, a queue.
    fn announce_write(&self, write: &Write) {
        if self.events.receiver_count() == 0 {
            return;
        }
        use baton_proto::v1::routing_event::Change;
        match write {
            Write::Contact(record) => {
                let c = &record.contact;
                let offer = self
                    .state
                    .contact(&c.tenant_id, &c.contact_id)
                    .and_then(|live| live.offer_id.as_deref());
                let change = events::contact(c, offer.unwrap_or_default(), "");
                events::announce(&self.events, &c.tenant_id, &c.queue_id, change);
            }
            Write::Agent { tenant_id, agent } => self.announce_agent(tenant_id, &agent.agent_id),
            Write::Queue { tenant_id, queue } => {
                events::announce(&self.events, tenant_id, "", Change::Queue(queue.clone()));
            }
            _ => {}
        }
    }

    /// Announces an agent as it is now (profile, session, contacts).
    fn announce_agent(&self, tenant: &str, agent_id: &str) {
        if let Some(agent) = self.state.agent(tenant, agent_id) {
            let change = baton_proto::v1::routing_event::Change::Agent(agent.view());
            events::announce(&self.events, tenant, "", change);
        }
    }

    /// Tells the agent's desk, if one is open, its presence as the router just set it.
    fn tell_presence(&self, tenant: &str, agent_id: &str) {
        self.announce_agent(tenant, agent_id);
        let key = (tenant.to_owned(), agent_id.to_owned());
        if let (Some(session), Some(agent)) =
            (self.sessions.get(&key), self.state.agent(tenant, agent_id))
        {
            let _ = session.tx.try_send(AgentSessionResponse {
                event: Some(Event::PresenceChanged(agent.view())),
            });
        }
    }

    /// Sets the timer that ends a wrap-up at `until` (at once if that has passed).
    fn time_wrap_up(&mut self, tenant: String, agent_id: String, until: SystemTime) {
        let after = until.duration_since(SystemTime::now()).unwrap_or_default();
        let timer = Timer::WrapUpEnds { agent_id, until };
        self.timers.insert((Instant::now() + after, tenant, timer));
    }

    /// The token an offer to `agent_id` carries: the contact's newest token (`hop_token`)
    /// addressed to that agent alone.
    fn offer_token(
        &self,
        contact: &Contact,
        hop_token: Vec<u8>,
        agent_id: &str,
        now: SystemTime,
    ) -> Vec<u8> {
        let (keys, ttl) = (&self.keys, self.config.token_ttl);
        match self.state.contact(&contact.tenant_id, &contact.contact_id) {
            Some(live) => mint::for_offer(keys, &live.record, agent_id, now, ttl),
            None => {
                let record = ContactRecord {
                    target: contact.path.last().and_then(|h| h.to.clone()),
                    contact: contact.clone(),
                    token: hop_token,
                    ..ContactRecord::default()
                };
                mint::for_offer(keys, &record, agent_id, now, ttl)
            }
        }
    }

    /// How long a warm transfer waits for an agent: its queue's escalation timeout when it
    /// has one, else the configured default.
    fn escalation_timeout(&self, queue_secs: u32) -> std::time::Duration {
        if queue_secs == 0 {
            self.config.warm_transfer_timeout
        } else {
            std::time::Duration::from_secs(u64::from(queue_secs))
        }
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some(first) = self.timers.first() {
            if first.0 > now {
                break;
            }
            let Some((at, tenant, timer)) = self.timers.pop_first() else {
                break;
            };
            let effects = match timer {
                Timer::OfferLapses { offer_id } => {
                    let effects = self
                        .state
                        .offer_timed_out(&tenant, &offer_id, SystemTime::now());
                    if !effects.is_empty() {
                        tracing::info!(tenant = %tenant, offer = %offer_id, "offer timed out");
                    }
                    effects
                }
                Timer::CoolDownEnds {
                    contact_id,
                    agent_id,
                    offer_id,
                } => self.state.cool_down_over(
                    &tenant,
                    &contact_id,
                    &agent_id,
                    &offer_id,
                    SystemTime::now(),
                ),
                Timer::WarmTransferLapses {
                    contact_id,
                    token_id,
                } => {
                    let cause = Return::Lapsed { token_id };
                    self.return_warm_transfer(&tenant, &contact_id, &cause)
                }
                Timer::Widen => {
                    if self.widening.get(&tenant) == Some(&at) {
                        self.widening.remove(&tenant);
                    }
                    self.state.widen(&tenant, SystemTime::now())
                }
                Timer::WrapUpEnds { agent_id, until } => {
                    match self
                        .state
                        .wrap_up_over(&tenant, &agent_id, until, SystemTime::now())
                    {
                        Some((profile, effects)) => {
                            // Nobody waits for it: after a crash first, the agent is still in
                            // wrap-up and its timer is set again at start.
                            drop(self.persister.enqueue(vec![Write::Agent {
                                tenant_id: tenant.clone(),
                                agent: profile,
                            }]));
                            self.tell_presence(&tenant, &agent_id);
                            effects
                        }
                        None => Vec::new(),
                    }
                }
            };
            self.deliver(effects);
            self.observe(&tenant);
        }
    }

    /// Gives a warm transfer back to the agent holding it (see
    /// [`RoutingState::return_warm_transfer`]) and stores the contact as it is again. Nobody
    /// waits for the commit: the holding agent is told at once, and after a crash before it
    /// the transfer is still pending and lapses again. Returns the effects to deliver; none
    /// when the transfer was no longer pending.
    fn return_warm_transfer(
        &mut self,
        tenant: &str,
        contact_id: &str,
        cause: &Return,
    ) -> Vec<Effect> {
        match self
            .state
            .return_warm_transfer(tenant, contact_id, cause, SystemTime::now())
        {
            Ok((record, effects)) => {
                tracing::info!(tenant = %tenant, contact = %contact_id, ?cause, "warm transfer returned");
                drop(
                    self.persister
                        .enqueue(vec![Write::Contact(Box::new(record))]),
                );
                effects
            }
            Err(err) => {
                tracing::debug!(tenant = %tenant, contact = %contact_id, error = %err, "warm transfer not returned");
                Vec::new()
            }
        }
    }

    fn close_session(&mut self, tenant: &str, agent: &str, session: u64, now: SystemTime) {
        let key = (tenant.to_owned(), agent.to_owned());
        if self.sessions.get(&key).is_some_and(|s| s.id == session) {
            self.sessions.remove(&key);
        }
        let effects = self.state.close_session(tenant, agent, session, now);
        self.announce_agent(tenant, agent);
        self.deliver(effects);
    }

    /// Shutdown: every session's stream ends (its sender is dropped) and its offers go back
    /// to waiting; no new session opens.
    fn stop_sessions(&mut self) {
        self.stopping = true;
        let now = SystemTime::now();
        let sessions: Vec<((String, String), u64)> =
            self.sessions.drain().map(|(k, s)| (k, s.id)).collect();
        for ((tenant, agent), session) in sessions {
            // No session is left to deliver to: the effects are offers nobody can take.
            let _ = self.state.close_session(&tenant, &agent, session, now);
        }
        tracing::info!("agent sessions closed for shutdown");
    }
}

fn answer_write(idem: &Idem, answer: Vec<u8>) -> Write {
    Write::Answer {
        tenant_id: idem.tenant_id.clone(),
        operation: idem.operation,
        key: idem.key.clone(),
        digest: idem.digest,
        answer,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
