//! AgentSession: an agent desktop says hello, then receives offers and answers them.
//!
//! The hello names the agent: an agent desk may only be itself, and an agent has at most one
//! session at a time on this server (a second hello is refused with `ALREADY_EXISTS` and the
//! first session carries on).
//!
//! The server side is two halves. Outbound, the dispatcher writes offers and withdrawals into
//! a bounded channel whose receiver is the response stream; the stream ends when the
//! dispatcher drops its sender (the session was closed, or cut off for falling behind) or at
//! shutdown. Inbound, a
//! task reads accepts and rejects and passes them on; when the desktop goes away (its stream
//! ends or breaks) or shutdown fires, the task closes the session so pending offers move on.

use baton_auth::Principal;
use baton_proto::v1::{
    AcceptOffer, AgentHello, AgentSessionRequest, AgentSessionResponse, ContactAssigned,
    ContactConnected, agent_session_request::Action, agent_session_response::Event, event::Payload,
};
use baton_runtime::shutdown::Shutdown;
use baton_runtime::trace::{self, CallSpan};
use futures::StreamExt as _;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};
use tracing::{Instrument as _, Span, field::Empty};

use super::deps::NewEvent;
use super::start::agent_or_system;
use super::{AgentSessionStream, RoutingGrpc, access, durable, record_ids, validate};
use crate::dispatcher::{Command, DispatcherHandle};
use crate::store::RoutingStore;

/// Messages buffered per session; a desktop further behind than this is cut off.
const SESSION_DEPTH: usize = 64;

/// One open session, as the inbound task knows it.
struct Desk<S> {
    tenant_id: String,
    agent_id: String,
    session: u64,
    dispatcher: DispatcherHandle,
    /// Writes the assignment into the customer's history.
    history: super::history::History<S>,
    /// Weak, so the outbound stream ends as soon as the dispatcher lets go of the session.
    outbound: mpsc::WeakSender<AgentSessionResponse>,
}

impl<S: RoutingStore> RoutingGrpc<S> {
    /// Opens the session `hello` asks for (the stream's first message, already read).
    pub(super) async fn session(
        &self,
        call: &CallSpan,
        caller: &Principal,
        mut hello: AgentHello,
        inbound: Streaming<AgentSessionRequest>,
    ) -> Result<AgentSessionStream, Status> {
        hello.tenant_id = caller.tenant(&hello.tenant_id)?;
        access::act_as(caller, &mut hello.agent_id)?;
        validate::hello(&hello)?;
        record_ids(call, &hello.tenant_id, "");
        Span::current().record("agent", hello.agent_id.as_str());
        let (tx, rx) = mpsc::channel(SESSION_DEPTH);
        let outbound = tx.downgrade();
        let dispatcher = self.dispatcher(&hello.tenant_id)?;
        let session = dispatcher
            .call(|reply| Command::OpenSession {
                tenant_id: hello.tenant_id.clone(),
                agent_id: hello.agent_id.clone(),
                tx,
                reply,
            })
            .await??;
        tracing::info!(tenant = %hello.tenant_id, agent = %hello.agent_id, session, "agent session opened");
        let desk = Desk {
            tenant_id: hello.tenant_id,
            agent_id: hello.agent_id,
            session,
            dispatcher: dispatcher.clone(),
            history: self.history.clone(),
            outbound,
        };
        // The session ends with its shard's dispatcher: at shutdown, or when the shard moves
        // to another replica (the desk reconnects and reaches it there).
        let shutdown = dispatcher.stopping();
        tokio::spawn(desk.run(inbound, shutdown.clone()));
        let stream = ReceiverStream::new(rx)
            .map(Ok)
            .take_until(async move { shutdown.triggered().await });
        Ok(Box::pin(stream))
    }
}

impl<S: RoutingStore> Desk<S> {
    async fn run(self, mut inbound: Streaming<AgentSessionRequest>, shutdown: Shutdown) {
        loop {
            let message = tokio::select! {
                message = inbound.message() => message,
                () = shutdown.triggered() => break,
            };
            match message {
                Ok(Some(AgentSessionRequest {
                    action: Some(Action::Accept(accept)),
                })) => self.accept(accept).await,
                Ok(Some(AgentSessionRequest {
                    action: Some(Action::CancelTransfer(cancel)),
                })) => {
                    if let Err(status) = validate::cancel_transfer(&cancel) {
                        tracing::debug!(agent = %self.agent_id, error = %status.message(), "cancel ignored");
                        continue;
                    }
                    self.dispatcher
                        .tell(Command::CancelTransfer {
                            tenant_id: self.tenant_id.clone(),
                            agent_id: self.agent_id.clone(),
                            contact_id: cancel.contact_id,
                        })
                        .await;
                }
                Ok(Some(AgentSessionRequest {
                    action: Some(Action::Reject(reject)),
                })) => {
                    self.dispatcher
                        .tell(Command::Reject {
                            tenant_id: self.tenant_id.clone(),
                            agent_id: self.agent_id.clone(),
                            session: self.session,
                            offer_id: reject.offer_id,
                        })
                        .await;
                }
                Ok(Some(_)) => {
                    tracing::debug!(agent = %self.agent_id, "repeated hello or empty message ignored");
                }
                Ok(None) => break,
                Err(status) => {
                    tracing::debug!(agent = %self.agent_id, code = ?status.code(), "agent session stream broke");
                    break;
                }
            }
        }
        self.dispatcher
            .tell(Command::CloseSession {
                tenant_id: self.tenant_id.clone(),
                agent_id: self.agent_id.clone(),
                session: self.session,
            })
            .await;
        tracing::info!(tenant = %self.tenant_id, agent = %self.agent_id, session = self.session, "agent session closed");
    }

    /// Connects the contact, waits until that is durable, tells the desktop, and records the
    /// assignment in the customer's history.
    async fn accept(&self, accept: AcceptOffer) {
        // An answer is its own trace (an agent's click, any time after the offer), linked to
        // the contact's first trace once the contact is known.
        let span = tracing::info_span!(
            "routing.accept",
            tenant = %self.tenant_id,
            agent = %self.agent_id,
            contact = Empty,
        );
        self.connect(accept).instrument(span).await;
    }

    async fn connect(&self, accept: AcceptOffer) {
        let accepted = self
            .dispatcher
            .call(|reply| Command::Accept {
                tenant_id: self.tenant_id.clone(),
                agent_id: self.agent_id.clone(),
                session: self.session,
                offer_id: accept.offer_id.clone(),
                reply,
            })
            .await;
        let accepted = match accepted {
            Ok(Ok(accepted)) => accepted,
            Ok(Err(err)) | Err(err) => {
                // A late answer to an offer already withdrawn: the desktop was told.
                tracing::debug!(agent = %self.agent_id, offer = %accept.offer_id, error = %err, "accept ignored");
                return;
            }
        };
        if let Err(err) = durable(accepted.durable).await {
            tracing::error!(agent = %self.agent_id, offer = %accept.offer_id, error = %err, "accepted contact not stored");
            return;
        }
        Span::current().record("contact", accepted.record.contact.contact_id.as_str());
        trace::link_current_to(&accepted.record.origin_traceparent);
        let token = accepted.record.token;
        let contact = accepted.record.contact;
        if let Some(tx) = self.outbound.upgrade() {
            let connected = AgentSessionResponse {
                event: Some(Event::Connected(ContactConnected {
                    offer_id: accept.offer_id.clone(),
                    contact: Some(contact.clone()),
                })),
            };
            let _ = tx.send(connected).await;
        }
        tracing::info!(contact = %contact.contact_id, agent = %self.agent_id, "contact connected");
        if contact.customer_id.is_empty() {
            return;
        }
        let history = self.history.clone();
        let agent_id = self.agent_id.clone();
        let tier = accepted.agent_tier;
        // The history write must not hold up the desktop's next answer.
        tokio::spawn(
            async move {
                let _ = history
                    .append(NewEvent {
                        tenant_id: &contact.tenant_id,
                        customer_id: &contact.customer_id,
                        contact_id: &contact.contact_id,
                        channel: contact.channel,
                        actor: agent_or_system(&agent_id),
                        payload: Payload::ContactAssigned(ContactAssigned {
                            agent_id,
                            tier,
                            queue_id: contact.queue_id.clone(),
                        }),
                        idempotency_key: format!("assign/{}", accept.offer_id),
                        token: &token,
                    })
                    .await;
            }
            .instrument(Span::current()),
        );
    }
}
