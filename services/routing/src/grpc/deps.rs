//! Calls to identity, context and recommendation. Each failure is logged with its code only
//! (the cause stays in the dependency's own logs) and returned for the caller to degrade on.
//! Each of them is safe to repeat (a read, or a write with an idempotency key), so a call
//! answered UNAVAILABLE is tried again within that service's budget
//! ([`baton_runtime::retry`]) before the caller degrades; erasures are not, since their job
//! resumes them itself.
//!
//! Every call is made for a contact and says so in its metadata ([`ForContact`]): the tenant
//! and contact ids, which the callee's `grpc.server` span records, and the contact's sealed
//! token when it has one.

use baton_proto::v1::{
    Actor, AppendEventRequest, AppendEventResponse, ContextSnapshot, Event, ForgetCustomerRequest,
    ForgetCustomerResponse, GetContextRequest, ReasonConfirmed, RecommendRequest, Recommendations,
    RecordOutcomeRequest, ResolveRequest, ResolveResponse, event::Payload,
    record_outcome_request::Outcome,
};
use baton_runtime::time::{self, now};
use baton_runtime::trace::{CONTACT_METADATA_KEY, TENANT_METADATA_KEY};
use prost_types::Timestamp;
use tonic::Status;
use tonic::metadata::{MetadataMap, MetadataValue};

use crate::Dependencies;

/// How many recent interactions a token carries.
const MAX_INTERACTIONS: u32 = 10;

/// Most ids merged into a customer that one context read names (the context service's
/// bound).
pub const MAX_MERGED_IDS: usize = 32;

/// The largest sealed token sent along as metadata. A token carrying a rich history can be
/// larger than what an HTTP/2 peer accepts in headers (16 KiB by default, and base64 grows the
/// token by a third); a call must never fail for it, so a larger token stays at home.
const MAX_TOKEN_METADATA_BYTES: usize = 8 * 1024;

/// Why a part of a token is missing.
pub const CONTEXT_UNAVAILABLE: &str = "context unavailable";
/// Why a token carries no recommendations.
pub const RECOMMENDATIONS_UNAVAILABLE: &str = "recommendations unavailable";
/// Why a contact is unidentified although identifiers were given.
pub const IDENTITY_UNAVAILABLE: &str = "identity unavailable";

/// The contact a dependency call is made for.
#[derive(Debug, Clone, Copy)]
pub struct ForContact<'a> {
    /// The tenant.
    pub tenant_id: &'a str,
    /// The contact.
    pub contact_id: &'a str,
    /// The contact's newest sealed token; empty before the first one is minted.
    pub token: &'a [u8],
}

impl ForContact<'_> {
    /// `message` as a request carrying `baton-tenant`, `baton-contact` and, when there is one
    /// (and it fits), the token as `baton-context-bin`.
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        let metadata = request.metadata_mut();
        insert_id(metadata, TENANT_METADATA_KEY, self.tenant_id);
        insert_id(metadata, CONTACT_METADATA_KEY, self.contact_id);
        if !self.token.is_empty() && self.token.len() <= MAX_TOKEN_METADATA_BYTES {
            baton_token::metadata::insert(metadata, self.token);
        }
        request
    }
}

/// Ids are validated (or minted here) and always ASCII; anything else is left out rather
/// than failing the call.
fn insert_id(metadata: &mut MetadataMap, key: &'static str, id: &str) {
    if id.is_empty() {
        return;
    }
    if let Ok(value) = MetadataValue::try_from(id) {
        metadata.insert(key, value);
    }
}

/// One event for a customer's history, on a contact.
#[derive(Debug)]
pub struct NewEvent<'a> {
    /// The tenant.
    pub tenant_id: &'a str,
    /// The customer.
    pub customer_id: &'a str,
    /// The contact it happened on.
    pub contact_id: &'a str,
    /// The channel it happened on.
    pub channel: i32,
    /// Who did it.
    pub actor: Actor,
    /// What happened.
    pub payload: Payload,
    /// Derived from the request's key, so a retry appends nothing twice.
    pub idempotency_key: String,
    /// The contact's newest sealed token, sent along; empty when there is none yet.
    pub token: &'a [u8],
}

impl NewEvent<'_> {
    /// The append this event is, stamped with the time now.
    pub(crate) fn request(&self) -> AppendEventRequest {
        AppendEventRequest {
            tenant_id: self.tenant_id.to_owned(),
            customer_id: self.customer_id.to_owned(),
            event: Some(Event {
                contact_id: self.contact_id.to_owned(),
                channel: self.channel,
                actor: Some(self.actor.clone()),
                occurred_at: Some(now()),
                payload: Some(self.payload.clone()),
                ..Event::default()
            }),
            idempotency_key: self.idempotency_key.clone(),
            expected_version: 0,
        }
    }
}

impl Dependencies {
    /// Resolves a customer.
    pub(crate) async fn resolve(
        &self,
        call: ForContact<'_>,
        request: ResolveRequest,
    ) -> Result<ResolveResponse, Status> {
        let result = self
            .retries
            .identity
            .call(|| {
                let (mut client, request) = (self.identity.clone(), call.request(request.clone()));
                async move { client.resolve(request).await }
            })
            .await;
        logged(
            "identity",
            "resolve",
            result.map(tonic::Response::into_inner),
        )
    }

    /// Appends one event to a customer's history.
    pub(crate) async fn append(&self, e: NewEvent<'_>) -> Result<AppendEventResponse, Status> {
        let call = ForContact {
            tenant_id: e.tenant_id,
            contact_id: e.contact_id,
            token: e.token,
        };
        self.append_request(call, e.request()).await
    }

    /// Appends `request` to a customer's history, for the contact `call` names.
    pub(crate) async fn append_request(
        &self,
        call: ForContact<'_>,
        request: AppendEventRequest,
    ) -> Result<AppendEventResponse, Status> {
        let result = self
            .retries
            .context
            .call(|| {
                let (mut client, request) = (self.context.clone(), call.request(request.clone()));
                async move { client.append_event(request).await }
            })
            .await;
        logged("context", "append", result.map(tonic::Response::into_inner))
    }

    /// Reads a customer's context snapshot, the history of the ids merged into it included.
    pub(crate) async fn context(
        &self,
        call: ForContact<'_>,
        customer_id: &str,
        merged_ids: &[String],
    ) -> Result<ContextSnapshot, Status> {
        let request = GetContextRequest {
            tenant_id: call.tenant_id.to_owned(),
            customer_id: customer_id.to_owned(),
            max_interactions: MAX_INTERACTIONS,
            merged_ids: merged_ids.to_vec(),
        };
        let result = self
            .retries
            .context
            .call(|| {
                let (mut client, request) = (self.context.clone(), call.request(request.clone()));
                async move { client.get_context(request).await }
            })
            .await;
        logged(
            "context",
            "get_context",
            result.map(|r| r.into_inner().snapshot.unwrap_or_default()),
        )
    }

    /// Recommends for a contact.
    pub(crate) async fn recommend(
        &self,
        call: ForContact<'_>,
        request: RecommendRequest,
    ) -> Result<Recommendations, Status> {
        let result = self
            .retries
            .recommendation
            .call(|| {
                let (mut client, request) =
                    (self.recommendation.clone(), call.request(request.clone()));
                async move { client.recommend(request).await }
            })
            .await;
        logged(
            "recommendation",
            "recommend",
            result.map(|r| r.into_inner().recommendations.unwrap_or_default()),
        )
    }

    /// Teaches recommendation what a contact turned out to be about (its wrap-up reason), with
    /// what the customer said on it. Keyed by contact: a contact confirms one reason.
    pub(crate) async fn confirm_reason(
        &self,
        call: ForContact<'_>,
        customer_id: &str,
        reason: ReasonConfirmed,
    ) -> Result<(), Status> {
        let request = RecordOutcomeRequest {
            tenant_id: call.tenant_id.to_owned(),
            customer_id: customer_id.to_owned(),
            contact_id: call.contact_id.to_owned(),
            outcome: Some(Outcome::Reason(reason)),
            idempotency_key: format!("reason/{}", call.contact_id),
        };
        let result = self
            .retries
            .recommendation
            .call(|| {
                let (mut client, request) =
                    (self.recommendation.clone(), call.request(request.clone()));
                async move { client.record_outcome(request).await }
            })
            .await;
        logged("recommendation", "record_outcome", result.map(|_| ()))
    }
}

impl Dependencies {
    /// Erases a customer in one service (`identity`, `context` or `recommendation`). The
    /// request's key is derived from the erasure job, so a repeat changes nothing.
    pub(crate) async fn forget(
        &self,
        service: &'static str,
        request: ForgetCustomerRequest,
    ) -> Result<ForgetCustomerResponse, Status> {
        let tenant_id = request.tenant_id.clone();
        let call = ForContact {
            tenant_id: &tenant_id,
            contact_id: "",
            token: &[],
        }
        .request(request);
        let result = match service {
            "identity" => self.identity.clone().forget_customer(call).await,
            "context" => self.context.clone().forget_customer(call).await,
            "recommendation" => self.recommendation.clone().forget_customer(call).await,
            other => Err(Status::internal(format!("no service {other} to erase in"))),
        };
        logged(service, "forget", result.map(tonic::Response::into_inner))
    }
}

/// The ids a context read for `customer_id` names as merged into it, from its profile's
/// `retired_ids`: each once, never the customer itself nor an empty id, at most
/// [`MAX_MERGED_IDS`] (the first merged), so that an odd profile costs some history rather
/// than the whole context.
pub fn merged_ids(customer_id: &str, retired_ids: &[String]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for id in retired_ids {
        if !id.is_empty() && id != customer_id && !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    if ids.len() > MAX_MERGED_IDS {
        tracing::warn!(
            customer = %customer_id,
            merged = ids.len(),
            "more ids merged into a customer than a context read names; the latest are left out"
        );
        ids.truncate(MAX_MERGED_IDS);
    }
    ids
}

fn logged<T>(dependency: &str, call: &str, result: Result<T, Status>) -> Result<T, Status> {
    if let Err(status) = &result {
        tracing::warn!(dependency, call, code = ?status.code(), "dependency call failed");
    }
    result
}

/// What a contact's context and recommendations were for one hop, fetched best effort.
#[derive(Debug, Default)]
pub struct Fetched {
    /// The snapshot, if it could be read.
    pub snapshot: Option<ContextSnapshot>,
    /// The recommendations, if they could be made.
    pub recommendations: Option<Recommendations>,
    /// What is missing.
    pub partial_reasons: Vec<String>,
}

/// What to recommend for.
#[derive(Debug)]
pub struct Ask<'a> {
    /// The tenant, the contact and its token the calls are made for.
    pub call: ForContact<'a>,
    /// The customer; empty when unidentified (no context is read).
    pub customer_id: &'a str,
    /// The ids merged into the customer, whose history its context shows too.
    pub merged_ids: &'a [String],
    /// What the customer said.
    pub utterance: &'a str,
    /// The detected intent.
    pub intent: &'a str,
    /// The contact's channel.
    pub channel: i32,
    /// For the greeting.
    pub given_name: &'a str,
    /// When the profile says the relationship began; the snapshot's tenure starts at the
    /// earlier of this and its own, so a CRM's "customer since" counts.
    pub customer_since: Option<Timestamp>,
}

impl Dependencies {
    /// Reads the context (for an identified customer) and recommends, marking what failed.
    pub(crate) async fn fetch(&self, ask: Ask<'_>) -> Fetched {
        let mut fetched = Fetched::default();
        if !ask.customer_id.is_empty() {
            match self
                .context(ask.call, ask.customer_id, ask.merged_ids)
                .await
            {
                Ok(mut snapshot) => {
                    if let Some(since) = ask.customer_since {
                        let tenure = snapshot.tenure.get_or_insert_with(Default::default);
                        let earlier = match tenure.customer_since {
                            Some(own) if time::sort_key(&own) <= time::sort_key(&since) => own,
                            _ => since,
                        };
                        tenure.customer_since = Some(earlier);
                    }
                    fetched.snapshot = Some(snapshot);
                }
                Err(_) => fetched.partial_reasons.push(CONTEXT_UNAVAILABLE.to_owned()),
            }
        }
        let request = RecommendRequest {
            tenant_id: ask.call.tenant_id.to_owned(),
            customer_id: ask.customer_id.to_owned(),
            context: fetched.snapshot.clone(),
            utterance: ask.utterance.to_owned(),
            intent: ask.intent.to_owned(),
            channel: ask.channel,
            given_name: ask.given_name.to_owned(),
            ..RecommendRequest::default()
        };
        match self.recommend(ask.call, request).await {
            Ok(recommendations) => fetched.recommendations = Some(recommendations),
            Err(_) => fetched
                .partial_reasons
                .push(RECOMMENDATIONS_UNAVAILABLE.to_owned()),
        }
        fetched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_names_its_tenant_and_contact_and_carries_the_token() {
        let call = ForContact {
            tenant_id: "acme",
            contact_id: "con_1",
            token: b"BTN\x01sealed",
        };
        let request = call.request(());
        let metadata = request.metadata();
        assert_eq!(
            metadata
                .get(TENANT_METADATA_KEY)
                .and_then(|v| v.to_str().ok()),
            Some("acme")
        );
        assert_eq!(
            metadata
                .get(CONTACT_METADATA_KEY)
                .and_then(|v| v.to_str().ok()),
            Some("con_1")
        );
        assert_eq!(
            baton_token::metadata::get(metadata),
            Ok(Some(b"BTN\x01sealed".to_vec()))
        );
    }

    #[test]
    fn merged_ids_are_named_once_without_the_customer_and_bounded() {
        let ids = |list: &[&str]| list.iter().map(|id| (*id).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            merged_ids("cus_a", &ids(&["cus_b", "", "cus_a", "cus_c", "cus_b"])),
            ids(&["cus_b", "cus_c"])
        );
        let many: Vec<String> = (0..40).map(|n| format!("cus_{n}")).collect();
        let named = merged_ids("cus_a", &many);
        assert_eq!(named.len(), MAX_MERGED_IDS);
        assert_eq!(named[0], "cus_0");
    }

    #[test]
    fn no_token_or_a_token_too_large_for_headers_stays_out() {
        let none = ForContact {
            tenant_id: "acme",
            contact_id: "",
            token: &[],
        }
        .request(());
        assert_eq!(baton_token::metadata::get(none.metadata()), Ok(None));
        assert!(none.metadata().get(CONTACT_METADATA_KEY).is_none());
        let huge = vec![7u8; MAX_TOKEN_METADATA_BYTES + 1];
        let request = ForContact {
            tenant_id: "acme",
            contact_id: "con_1",
            token: &huge,
        }
        .request(());
        assert_eq!(baton_token::metadata::get(request.metadata()), Ok(None));
        assert!(request.metadata().get(CONTACT_METADATA_KEY).is_some());
    }
}
