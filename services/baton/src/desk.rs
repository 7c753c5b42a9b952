//! A minimal agent desktop: one `AgentSession` stream, used by the demo and the tests.

use std::time::Duration;

use baton_proto::v1::{
    self as pb, agent_session_request::Action, agent_session_response::Event,
    routing_service_client::RoutingServiceClient,
};
use baton_runtime::client::ClientChannel;
use tokio::sync::mpsc;
use tokio_stream::{StreamExt as _, wrappers::ReceiverStream};
use tonic::Streaming;

/// Why a desk could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// The server answered with an error.
    #[error("routing refused: {0}")]
    Status(#[from] tonic::Status),
    /// Nothing arrived in time.
    #[error("{agent} waited {waited:?} for the server")]
    Timeout {
        /// The agent.
        agent: String,
        /// How long.
        waited: Duration,
    },
    /// The stream ended.
    #[error("the session of {0} closed")]
    Closed(String),
    /// Something other than what was expected arrived.
    #[error("{agent} expected {expected}, got {got}")]
    Unexpected {
        /// The agent.
        agent: String,
        /// What was expected.
        expected: &'static str,
        /// What came.
        got: String,
    },
}

/// An open agent session.
#[derive(Debug)]
pub struct Desk {
    /// The agent.
    pub agent_id: String,
    /// The agent as routing knew it when the session opened: its presence, and the contacts
    /// it holds (a desk that reconnects picks those up again).
    pub welcome: pb::Agent,
    /// How long to wait for the server.
    patience: Duration,
    /// Messages to the server.
    tx: mpsc::Sender<pb::AgentSessionRequest>,
    /// Messages from the server.
    rx: Streaming<pb::AgentSessionResponse>,
}

impl Desk {
    /// Opens a session for `agent_id` and waits for the welcome.
    pub async fn open(
        routing: &mut RoutingServiceClient<ClientChannel>,
        tenant: &str,
        agent_id: &str,
        patience: Duration,
    ) -> Result<Desk, DeskError> {
        let (tx, rx) = mpsc::channel(16);
        let hello = pb::AgentSessionRequest {
            action: Some(Action::Hello(pb::AgentHello {
                tenant_id: tenant.to_owned(),
                agent_id: agent_id.to_owned(),
            })),
        };
        tx.send(hello)
            .await
            .map_err(|_| DeskError::Closed(agent_id.to_owned()))?;
        let rx = routing
            .agent_session(ReceiverStream::new(rx))
            .await?
            .into_inner();
        let mut desk = Desk {
            agent_id: agent_id.to_owned(),
            welcome: pb::Agent::default(),
            patience,
            tx,
            rx,
        };
        match desk.next().await? {
            Event::Welcome(agent) => {
                desk.welcome = agent;
                Ok(desk)
            }
            other => Err(desk.unexpected("a welcome", &other)),
        }
    }

    /// The next event from the server.
    pub async fn next(&mut self) -> Result<Event, DeskError> {
        let message = tokio::time::timeout(self.patience, self.rx.next())
            .await
            .map_err(|_| DeskError::Timeout {
                agent: self.agent_id.clone(),
                waited: self.patience,
            })?
            .ok_or_else(|| DeskError::Closed(self.agent_id.clone()))??;
        message
            .event
            .ok_or_else(|| DeskError::Closed(self.agent_id.clone()))
    }

    /// Waits for the next offer.
    pub async fn offer(&mut self) -> Result<pb::ContactOffer, DeskError> {
        match self.next().await? {
            Event::Offer(offer) => Ok(offer),
            other => Err(self.unexpected("an offer", &other)),
        }
    }

    /// Accepts an offer without waiting: the connection (or a withdrawal) comes as an event.
    pub async fn send_accept(&self, offer: &pb::ContactOffer) -> Result<(), DeskError> {
        self.send(Action::Accept(pb::AcceptOffer {
            offer_id: offer.offer_id.clone(),
        }))
        .await
    }

    /// Accepts an offer and waits until it is connected.
    pub async fn accept(&mut self, offer: &pb::ContactOffer) -> Result<pb::Contact, DeskError> {
        self.send(Action::Accept(pb::AcceptOffer {
            offer_id: offer.offer_id.clone(),
        }))
        .await?;
        loop {
            match self.next().await? {
                Event::Connected(c) if c.offer_id == offer.offer_id => {
                    return c
                        .contact
                        .ok_or_else(|| DeskError::Closed(self.agent_id.clone()));
                }
                Event::Withdrawn(w) if w.offer_id == offer.offer_id => {
                    return Err(self.unexpected("connected", &Event::Withdrawn(w)));
                }
                _ => {}
            }
        }
    }

    /// Rejects an offer.
    pub async fn reject(
        &mut self,
        offer: &pb::ContactOffer,
        reason: &str,
    ) -> Result<(), DeskError> {
        self.send(Action::Reject(pb::RejectOffer {
            offer_id: offer.offer_id.clone(),
            reason: reason.to_owned(),
        }))
        .await
    }

    async fn send(&self, action: Action) -> Result<(), DeskError> {
        self.tx
            .send(pb::AgentSessionRequest {
                action: Some(action),
            })
            .await
            .map_err(|_| DeskError::Closed(self.agent_id.clone()))
    }

    fn unexpected(&self, expected: &'static str, got: &Event) -> DeskError {
        let got = match got {
            Event::Welcome(_) => "a welcome",
            Event::Offer(_) => "an offer",
            Event::Withdrawn(_) => "a withdrawal",
            Event::Connected(_) => "a connection",
            Event::TransferReturned(_) => "a transfer returned",
            Event::PresenceChanged(_) => "a presence change",
        };
        DeskError::Unexpected {
            agent: self.agent_id.clone(),
            expected,
            got: got.to_owned(),
        }
    }
}
