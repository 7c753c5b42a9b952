//! RoutingService: contacts, queues and agents, and the only minter of context tokens.
//!
//! A contact starts here: routing resolves the customer once (identity), records the start and
//! reads the history (context), asks what the customer probably wants (recommendation), mints
//! the first sealed token and offers the contact to the best qualified agent, or queues it.
//! Transfers and channel switches mint a new token for the destination; every offer carries
//! the newest one. Dependencies are called over gRPC only, and routing degrades rather than
//! fails when context or recommendation (or identity) are down.
//!
//! # Layout
//!
//! - [`domain`]: the rules, with no gRPC in them: [`domain::matching`] (who may take a
//!   contact, who gets it, which waiting contact goes first), [`domain::state`] (the state
//!   machine of contacts, offers and agents), [`domain::mint`] (what a token holds),
//!   [`domain::record`] (the stored contact).
//! - `dispatcher`: the task that owns the state; handlers talk to it over a channel. It runs
//!   offer timers and delivers offers to agent sessions.
//! - `persist`: the single writer that commits the dispatcher's changes in order.
//! - [`store`]: [`RoutingStore`] and its implementations, embedded (redb) and Redis;
//!   [`conformance`] is the suite every backend runs.
//! - [`grpc`]: the adapter: validation, calls to the other services, sessions, errors.
//! - [`error`]: the one error enum and its status codes.
//! - [`metrics`]: queue depth and wait, offers, transfers, tokens, re-identifications avoided.

pub mod conformance;
mod dispatcher;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod metrics;
mod persist;
pub mod shards;
pub mod store;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use baton_proto::v1::context_service_client::ContextServiceClient;
use baton_proto::v1::identity_service_client::IdentityServiceClient;
use baton_proto::v1::recommendation_service_client::RecommendationServiceClient;
use baton_proto::v1::routing_service_server::RoutingServiceServer;
use baton_runtime::client::ClientChannel;
use baton_runtime::shutdown::Shutdown;
use baton_store::StoreError;
use baton_store::redis_db::RedisDb;
use baton_token::KeyRing;

pub use error::Error;
pub use grpc::RoutingGrpc;
pub use shards::ShardConfig;
pub use store::{EmbeddedRoutingStore, RedisRoutingStore, RoutingStore};

/// Routing's tunables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutingConfig {
    /// How long a minted token opens. Long enough for a contact's whole life on one hop.
    pub token_ttl: Duration,
    /// How long an agent has to answer an offer before it goes to the next agent.
    pub offer_timeout: Duration,
    /// How long an agent who rejected a contact, or let its offer lapse, is not offered it
    /// again. After that it may be, when nobody else can take it: a contact nobody else
    /// serves is never left waiting for good.
    pub offer_cooldown: Duration,
    /// How long a warm transfer waits for an agent to accept it when its queue sets no
    /// escalation timeout; then the agent holding the customer is told and gets it back.
    pub warm_transfer_timeout: Duration,
    /// Waiting this long raises a contact's priority by one, so nobody waits forever behind
    /// higher-priority arrivals.
    pub priority_aging: Duration,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            token_ttl: Duration::from_secs(3600),
            offer_timeout: Duration::from_secs(30),
            offer_cooldown: Duration::from_secs(5),
            warm_transfer_timeout: Duration::from_secs(120),
            priority_aging: Duration::from_secs(60),
        }
    }
}

/// Clients for the services routing calls (build the channels with
/// `baton_runtime::client::connect_lazy`).
#[derive(Debug, Clone)]
pub struct Dependencies {
    /// Resolves customers.
    pub identity: IdentityServiceClient<ClientChannel>,
    /// Records and reads history.
    pub context: ContextServiceClient<ClientChannel>,
    /// Recommends for a contact.
    pub recommendation: RecommendationServiceClient<ClientChannel>,
    /// Retries of the calls to each of them (`Default::default()` builds them).
    pub retries: std::sync::Arc<Retries>,
}

/// The retry budgets of the calls routing makes: one per service, so that one failing
/// service does not spend the retries of the others.
#[derive(Debug)]
pub struct Retries {
    /// Calls to identity.
    pub identity: baton_runtime::retry::Retry,
    /// Calls to context.
    pub context: baton_runtime::retry::Retry,
    /// Calls to recommendation.
    pub recommendation: baton_runtime::retry::Retry,
}

impl Default for Retries {
    fn default() -> Self {
        use baton_runtime::retry::Retry;
        Self {
            identity: Retry::new("baton.v1.IdentityService"),
            context: Retry::new("baton.v1.ContextService"),
            recommendation: Retry::new("baton.v1.RecommendationService"),
        }
    }
}

/// Opens (creating if needed) the embedded routing store in `data_dir` (`routing.redb`).
pub fn open_embedded(data_dir: &Path) -> Result<EmbeddedRoutingStore, StoreError> {
    EmbeddedRoutingStore::open(data_dir)
}

/// Connects to the Redis routing store at `url` (`redis://host:port/db`). Fails when the
/// server cannot be reached now, so a misconfigured deployment fails at start.
pub async fn open_redis(url: &str) -> Result<RedisRoutingStore, StoreError> {
    let db = RedisDb::connect(url, "routing").await?;
    Ok(RedisRoutingStore::new(db))
}

/// The gRPC service over `store`, ready for `tonic::transport::Server::add_service`. On a
/// store only one process opens (embedded), it reloads agents, queues and live contacts first
/// (so it is async and can fail on a damaged store) and holds every shard; on a shared store
/// it takes shards as calls for their tenants arrive and as other replicas let theirs lapse
/// (see [`shards`]). Resumes open erasure jobs in the background.
/// Agent sessions end, and shards are handed back after the drain, when `shutdown` fires;
/// the task returned with the service ends once they are.
pub async fn grpc_service<S: RoutingStore>(
    store: S,
    deps: Dependencies,
    keys: KeyRing,
    config: RoutingConfig,
    sharing: ShardConfig,
    shutdown: Shutdown,
) -> Result<
    (
        RoutingServiceServer<RoutingGrpc<S>>,
        tokio::task::JoinHandle<()>,
    ),
    Error,
> {
    let store = Arc::new(store);
    // After the process installed its meter provider: instruments bind to it when created.
    let metrics = metrics::RoutingMetrics::global();
    let shards = shards::Shards::new(
        Arc::clone(&store),
        sharing,
        keys.clone(),
        config,
        metrics.clone(),
        shutdown.clone(),
    );
    if shards.exclusive() {
        shards.hold_all().await?;
    }
    let handed_back = tokio::spawn(Arc::clone(&shards).run());
    let service = RoutingGrpc::new(store, deps, shards, keys, config, shutdown.clone(), metrics);
    // Erasures a crash or an unavailable service left open finish in the background.
    service.eraser().resume_open_jobs(shutdown.clone());
    // History events kept while context was out of reach reach it when it answers again.
    let delivering = service.deliver_kept_history(shutdown);
    // The store is let go once both are done, so the process may open it again.
    let finished = tokio::spawn(async move {
        let _ = handed_back.await;
        let _ = delivering.await;
    });
    let server = RoutingServiceServer::new(service)
        .max_decoding_message_size(grpc::validate::MAX_REQUEST_BYTES);
    Ok((server, finished))
}
