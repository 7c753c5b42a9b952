//! EndContact and AddNote.

use baton_auth::Principal;
use baton_proto::v1::{
    AddNoteRequest, AddNoteResponse, CaseOpened, Contact, ContactEnded, EndContactRequest,
    EndContactResponse, NoteAdded, ReasonConfirmed, event::Payload,
};
use uuid::Uuid;

use super::deps::{ForContact, NewEvent};
use super::start::agent_or_system;
use super::{RoutingGrpc, access, durable};
use crate::dispatcher::{Command, Idem};
use crate::domain::ids;
use crate::error::Error;
use crate::store::{RoutingStore, Write};

/// What an ended contact teaches about likely reasons: its wrap-up code with what the
/// customer said on it, when it has both (a code alone says nothing to learn words from).
fn confirmed_reason(r: &EndContactRequest, contact: &Contact) -> Option<ReasonConfirmed> {
    if r.reason_code.is_empty() || (contact.utterance.is_empty() && contact.intent.is_empty()) {
        return None;
    }
    Some(ReasonConfirmed {
        code: r.reason_code.clone(),
        utterance: contact.utterance.clone(),
        intent: contact.intent.clone(),
        label: r.reason_label.clone(),
    })
}

impl<S: RoutingStore> RoutingGrpc<S> {
    pub(super) async fn end(
        &self,
        caller: &Principal,
        r: EndContactRequest,
        idem: Idem,
    ) -> Result<EndContactResponse, Error> {
        if let Some(answer) = self.recall(&idem).await? {
            return Ok(answer);
        }
        // An agent ends only what it holds; the dispatcher checks again (as `agent_id`) in
        // case the contact moved since.
        if access::is_desk(caller)
            && let Some(live) = self.live_contact(&r.tenant_id, &r.contact_id).await?
        {
            access::may_handle(caller, &live)?;
        }
        let ended = self
            .dispatcher(&idem.tenant_id)?
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
                access::may_read(caller, &record)?;
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
                .history
                .append(NewEvent {
                    tenant_id: &r.tenant_id,
                    customer_id: &contact.customer_id,
                    contact_id: &contact.contact_id,
                    channel: contact.channel,
                    actor: agent_or_system(&r.agent_id),
                    payload: Payload::ContactEnded(ContactEnded {
                        disposition: r.disposition,
                        summary: r.summary.clone(),
                        reason_code: r.reason_code.clone(),
                        reason_label: r.reason_label.clone(),
                    }),
                    idempotency_key: format!("end/{}", contact.contact_id),
                    // The end answer holds no token; the ids still label the call.
                    token: &[],
                })
                .await;
            if let Some(reason) = confirmed_reason(&r, contact) {
                // Best effort too: a wrap-up code teaches likely reasons, and the history
                // keeps it either way.
                let call = ForContact {
                    tenant_id: &r.tenant_id,
                    contact_id: &contact.contact_id,
                    token: &[],
                };
                let _ = self
                    .deps
                    .confirm_reason(call, &contact.customer_id, reason)
                    .await;
            }
        }
        tracing::info!(contact = %r.contact_id, "contact ended");
        Ok(answer)
    }

    pub(super) async fn note(
        &self,
        caller: &Principal,
        r: AddNoteRequest,
        idem: Idem,
    ) -> Result<AddNoteResponse, Error> {
        if let Some(answer) = self.recall(&idem).await? {
            return Ok(answer);
        }
        let record = self.find_contact(&r.tenant_id, &r.contact_id).await?;
        access::may_handle(caller, &record)?;
        let c = &record.contact;
        if c.customer_id.is_empty() {
            return Err(Error::FailedPrecondition(format!(
                "contact {} has no identified customer to keep notes for",
                r.contact_id
            )));
        }
        // Without a caller's key the note is still written once per call.
        let base = if idem.key.is_empty() {
            Uuid::now_v7().to_string()
        } else {
            idem.derived()
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
        if !idem.key.is_empty() {
            self.store
                .apply(vec![Write::Answer {
                    tenant_id: idem.tenant_id,
                    operation: idem.operation,
                    key: idem.key,
                    digest: idem.digest,
                    answer: prost::Message::encode_to_vec(&answer),
                }])
                .await?;
        }
        Ok(answer)
    }
}
