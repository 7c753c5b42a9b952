//! EndContact and AddNote.

use baton_proto::v1::{
    AddNoteRequest, AddNoteResponse, CaseOpened, ContactEnded, EndContactRequest,
    EndContactResponse, NoteAdded, event::Payload,
};
use uuid::Uuid;

use super::deps::NewEvent;
use super::start::agent_or_system;
use super::{RoutingGrpc, durable, idem};
use crate::dispatcher::Command;
use crate::domain::ids;
use crate::error::Error;
use crate::store::{RoutingStore, Write};

impl<S: RoutingStore> RoutingGrpc<S> {
    pub(super) async fn end(&self, r: EndContactRequest) -> Result<EndContactResponse, Error> {
        let idem = idem(&r.tenant_id, "end", &r.idempotency_key);
        if let Some(answer) = self.recall(&idem).await? {
            return Ok(answer);
        }
        let ended = self
            .dispatcher
            .call(|reply| Command::End {
                idem,
                contact_id: r.contact_id.clone(),
                agent_id: r.agent_id.clone(),
                reply,
            })
            .await?;
        let acked = match ended {
            Ok(acked) => acked,
            // Not live: ended before (answered unchanged) or unknown.
            Err(Error::NotFound { .. }) => {
                let record = self.find_contact(&r.tenant_id, &r.contact_id).await?;
                return Ok(EndContactResponse {
                    contact: Some(record.contact),
                });
            }
            Err(err) => return Err(err),
        };
        durable(acked.durable).await?;
        let answer = acked.value;
        if let Some(contact) = answer
            .contact
            .as_ref()
            .filter(|c| !c.customer_id.is_empty())
        {
            // Best effort: the contact is ended either way; keyed by contact so a contact
            // ends once in the history.
            let _ = self
                .deps
                .append(NewEvent {
                    tenant_id: &r.tenant_id,
                    customer_id: &contact.customer_id,
                    contact_id: &contact.contact_id,
                    channel: contact.channel,
                    actor: agent_or_system(&r.agent_id),
                    payload: Payload::ContactEnded(ContactEnded {
                        disposition: r.disposition,
                        summary: r.summary.clone(),
                    }),
                    idempotency_key: format!("end/{}", contact.contact_id),
                    // The end answer holds no token; the ids still label the call.
                    token: &[],
                })
                .await;
        }
        tracing::info!(contact = %r.contact_id, "contact ended");
        Ok(answer)
    }

    pub(super) async fn note(&self, r: AddNoteRequest) -> Result<AddNoteResponse, Error> {
        let idem = idem(&r.tenant_id, "note", &r.idempotency_key);
        if let Some(answer) = self.recall(&idem).await? {
            return Ok(answer);
        }
        let record = self.find_contact(&r.tenant_id, &r.contact_id).await?;
        let c = &record.contact;
        if c.customer_id.is_empty() {
            return Err(Error::FailedPrecondition(format!(
                "contact {} has no identified customer to keep notes for",
                r.contact_id
            )));
        }
        // Without a caller's key the note is still written once per call.
        let base = if r.idempotency_key.is_empty() {
            Uuid::now_v7().to_string()
        } else {
            r.idempotency_key.clone()
        };
        let append = |payload, suffix: &str| {
            self.deps.append(NewEvent {
                tenant_id: &r.tenant_id,
                customer_id: &c.customer_id,
                contact_id: &c.contact_id,
                channel: c.channel,
                actor: agent_or_system(&r.agent_id),
                payload,
                idempotency_key: format!("note/{base}/{suffix}"),
                token: &record.token,
            })
        };
        let unavailable = |_| Error::Unavailable {
            dependency: "context",
        };
        let mut case_id = r.case_id.clone();
        if let Some(open) = &r.open_case {
            let opened = CaseOpened {
                case_id: if open.case_id.is_empty() {
                    ids::case_id()
                } else {
                    open.case_id.clone()
                },
                ..open.clone()
            };
            let stored = append(Payload::CaseOpened(opened.clone()), "case")
                .await
                .map_err(unavailable)?;
            // A retry gets the stored event back: keep the case id it was opened with.
            case_id = match stored.event.and_then(|e| e.payload) {
                Some(Payload::CaseOpened(stored)) => stored.case_id,
                _ => opened.case_id,
            };
        }
        let note = NoteAdded {
            case_id: case_id.clone(),
            text: r.text.clone(),
        };
        let stored = append(Payload::Note(note), "note")
            .await
            .map_err(unavailable)?;
        let answer = AddNoteResponse {
            case_id,
            context_version: stored.version,
        };
        if !r.idempotency_key.is_empty() {
            self.store
                .apply(vec![Write::Answer {
                    tenant_id: r.tenant_id.clone(),
                    operation: "note",
                    key: r.idempotency_key.clone(),
                    answer: prost::Message::encode_to_vec(&answer),
                }])
                .await?;
        }
        Ok(answer)
    }
}
