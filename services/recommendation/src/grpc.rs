//! The gRPC adapter: take the tenant from the caller, validate the request, call the
//! [`Recommender`], map errors to statuses.
//!
//! Every handler asks the caller's principal which tenant the request is for before anything
//! else and writes it back into the request, so validation and the recommender see only a
//! tenant the caller may act for. A mutating request's idempotency key is scoped to the caller
//! and bound to the digest of the request as it arrived.

pub mod validate;

use baton_auth::digest;
use baton_proto::v1::recommendation_service_server::RecommendationService;
use baton_proto::v1::{
    ForgetCustomerRequest, ForgetCustomerResponse, RecommendRequest, RecommendResponse,
    RecordOutcomeRequest, RecordOutcomeResponse, SetActionRulesRequest, SetActionRulesResponse,
    SetSynonymsRequest, SetSynonymsResponse, UpsertArticlesRequest, UpsertArticlesResponse,
    UpsertCatalogRequest, UpsertCatalogResponse,
};
use baton_runtime::shutdown::Shutdown;
use baton_runtime::time;
use tonic::{Request, Response, Status};
use tracing::Span;
use tracing::field::Empty;

use crate::Error;
use crate::recommend::Limits;
use crate::recommender::{RecommendQuery, Recommender};
use crate::store::RecommendationStore;

/// `RecommendationService` over a store.
#[derive(Debug)]
pub struct RecommendationGrpc<S> {
    /// The use cases.
    recommender: Recommender<S>,
    /// Once triggered, new calls are refused so the drain finishes in time.
    shutdown: Shutdown,
}

impl<S: RecommendationStore> RecommendationGrpc<S> {
    /// The adapter over `store`, refusing new calls once `shutdown` fires.
    pub fn new(store: S, shutdown: Shutdown) -> Self {
        Self {
            recommender: Recommender::new(store),
            shutdown,
        }
    }

    fn accepting(&self) -> Result<(), Status> {
        if self.shutdown.is_triggered() {
            return Err(Error::ShuttingDown.into());
        }
        Ok(())
    }
}

/// Records the ids of a validated request on the handler's span (never before validation, so
/// a garbage id is never logged).
fn record_ids(tenant: &str, customer: &str) {
    let span = Span::current();
    span.record("tenant", tenant);
    span.record("customer", customer);
}

#[tonic::async_trait]
impl<S: RecommendationStore> RecommendationService for RecommendationGrpc<S> {
    #[tracing::instrument(level = "debug", name = "recommend", skip_all, fields(tenant = Empty, customer = Empty))]
    async fn recommend(
        &self,
        request: Request<RecommendRequest>,
    ) -> Result<Response<RecommendResponse>, Status> {
        let caller = baton_auth::caller(&request)?;
        let mut req = request.into_inner();
        req.tenant_id = caller.tenant(&req.tenant_id)?;
        validate::recommend(&req)?;
        record_ids(&req.tenant_id, &req.customer_id);
        self.accepting()?;
        let query = RecommendQuery {
            tenant: req.tenant_id,
            customer_id: req.customer_id,
            snapshot: req.context.unwrap_or_default(),
            utterance: req.utterance,
            intent: req.intent,
            given_name: req.given_name,
            limits: Limits {
                offers: Limits::requested(req.max_offers),
                reasons: Limits::requested(req.max_reasons),
                articles: Limits::requested(req.max_articles),
            },
            now: time::now().seconds,
        };
        let recommendations = self.recommender.recommend(&query).await?;
        tracing::debug!(
            reasons = recommendations.reasons.len(),
            offers = recommendations.offers.len(),
            articles = recommendations.articles.len(),
            "recommended"
        );
        Ok(Response::new(RecommendResponse {
            recommendations: Some(recommendations),
        }))
    }

    #[tracing::instrument(level = "debug", name = "record_outcome", skip_all, fields(tenant = Empty, customer = Empty))]
    async fn record_outcome(
        &self,
        request: Request<RecordOutcomeRequest>,
    ) -> Result<Response<RecordOutcomeResponse>, Status> {
        let caller = baton_auth::caller(&request)?;
        let mut req = request.into_inner();
        let digest = digest::of(&req);
        req.tenant_id = caller.tenant(&req.tenant_id)?;
        let outcome = validate::record_outcome(&req)?;
        record_ids(&req.tenant_id, &req.customer_id);
        self.accepting()?;
        self.recommender
            .record_outcome(
                &req.tenant_id,
                &req.customer_id,
                &caller.scoped_key(&req.idempotency_key),
                &digest,
                outcome,
                time::now(),
            )
            .await?;
        Ok(Response::new(RecordOutcomeResponse {}))
    }

    #[tracing::instrument(level = "debug", name = "upsert_catalog", skip_all, fields(tenant = Empty))]
    async fn upsert_catalog(
        &self,
        request: Request<UpsertCatalogRequest>,
    ) -> Result<Response<UpsertCatalogResponse>, Status> {
        let caller = baton_auth::caller(&request)?;
        let mut req = request.into_inner();
        let digest = digest::of(&req);
        req.tenant_id = caller.tenant(&req.tenant_id)?;
        validate::upsert_catalog(&req)?;
        Span::current().record("tenant", req.tenant_id.as_str());
        self.accepting()?;
        let upserted = self
            .recommender
            .upsert_catalog(
                &req.tenant_id,
                &caller.scoped_key(&req.idempotency_key),
                &digest,
                req.items,
            )
            .await?;
        Ok(Response::new(UpsertCatalogResponse { upserted }))
    }

    #[tracing::instrument(level = "debug", name = "upsert_articles", skip_all, fields(tenant = Empty))]
    async fn upsert_articles(
        &self,
        request: Request<UpsertArticlesRequest>,
    ) -> Result<Response<UpsertArticlesResponse>, Status> {
        let caller = baton_auth::caller(&request)?;
        let mut req = request.into_inner();
        let digest = digest::of(&req);
        req.tenant_id = caller.tenant(&req.tenant_id)?;
        validate::upsert_articles(&req)?;
        Span::current().record("tenant", req.tenant_id.as_str());
        self.accepting()?;
        let upserted = self
            .recommender
            .upsert_articles(
                &req.tenant_id,
                &caller.scoped_key(&req.idempotency_key),
                &digest,
                req.articles,
            )
            .await?;
        Ok(Response::new(UpsertArticlesResponse { upserted }))
    }

    #[tracing::instrument(level = "debug", name = "set_action_rules", skip_all, fields(tenant = Empty))]
    async fn set_action_rules(
        &self,
        request: Request<SetActionRulesRequest>,
    ) -> Result<Response<SetActionRulesResponse>, Status> {
        let caller = baton_auth::caller(&request)?;
        let mut req = request.into_inner();
        let digest = digest::of(&req);
        req.tenant_id = caller.tenant(&req.tenant_id)?;
        validate::set_action_rules(&req)?;
        Span::current().record("tenant", req.tenant_id.as_str());
        self.accepting()?;
        let rules = self
            .recommender
            .set_action_rules(
                &req.tenant_id,
                &caller.scoped_key(&req.idempotency_key),
                &digest,
                req.rules,
            )
            .await?;
        Ok(Response::new(SetActionRulesResponse { rules }))
    }

    #[tracing::instrument(level = "debug", name = "set_synonyms", skip_all, fields(tenant = Empty))]
    async fn set_synonyms(
        &self,
        request: Request<SetSynonymsRequest>,
    ) -> Result<Response<SetSynonymsResponse>, Status> {
        let caller = baton_auth::caller(&request)?;
        let mut req = request.into_inner();
        let digest = digest::of(&req);
        req.tenant_id = caller.tenant(&req.tenant_id)?;
        validate::set_synonyms(&req)?;
        Span::current().record("tenant", req.tenant_id.as_str());
        self.accepting()?;
        let groups = req.groups.into_iter().map(|g| g.terms).collect();
        let groups = self
            .recommender
            .set_synonyms(
                &req.tenant_id,
                &caller.scoped_key(&req.idempotency_key),
                &digest,
                groups,
            )
            .await?;
        Ok(Response::new(SetSynonymsResponse { groups }))
    }

    #[tracing::instrument(level = "debug", name = "forget_customer", skip_all, fields(tenant = Empty, customer = Empty))]
    async fn forget_customer(
        &self,
        request: Request<ForgetCustomerRequest>,
    ) -> Result<Response<ForgetCustomerResponse>, Status> {
        let caller = baton_auth::caller(&request)?;
        let mut req = request.into_inner();
        let digest = digest::of(&req);
        req.tenant_id = caller.tenant(&req.tenant_id)?;
        validate::forget_customer(&req)?;
        record_ids(&req.tenant_id, &req.customer_id);
        self.accepting()?;
        let forgotten = self
            .recommender
            .forget_customer(
                &req.tenant_id,
                &req.customer_id,
                &caller.scoped_key(&req.idempotency_key),
                &digest,
            )
            .await?;
        tracing::info!(
            found = forgotten.found,
            records_removed = forgotten.records_removed,
            "customer forgotten"
        );
        Ok(Response::new(ForgetCustomerResponse {
            found: forgotten.found,
            records_removed: forgotten.records_removed,
        }))
    }
}
