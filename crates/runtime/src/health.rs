//! The standard gRPC health service, with watches that let the process stop.
//!
//! `tonic_health` answers `Check` and `Watch` from a [`HealthReporter`]'s statuses; a `Watch`
//! stream never ends on its own, so an open one would hold a draining server until its
//! deadline. Here a watch is told NOT_SERVING like everyone else when the stop signal fires,
//! and ends a moment later, so load balancers learn the news and the drain is not held.

use std::pin::Pin;
use std::time::Duration;

use futures::{Stream, StreamExt as _};
use tonic::{Request, Response, Status};
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_health::server::{HealthReporter, HealthService};

use crate::shutdown::Shutdown;

/// How long after the stop signal an open watch ends: long enough for the NOT_SERVING it was
/// sent to go out first.
const WATCH_ENDS_AFTER: Duration = Duration::from_millis(200);

/// The health service over `reporter`'s statuses, whose watches end once `shutdown` fired.
pub fn server(reporter: HealthReporter, shutdown: Shutdown) -> HealthServer<DrainingHealth> {
    HealthServer::new(DrainingHealth {
        inner: HealthService::from_health_reporter(reporter),
        shutdown,
    })
}

/// See the module docs.
#[derive(Debug)]
pub struct DrainingHealth {
    inner: HealthService,
    shutdown: Shutdown,
}

/// A watch's updates.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Health for DrainingHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        self.inner.check(request).await
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        let updates = self.inner.watch(request).await?.into_inner();
        let shutdown = self.shutdown.clone();
        let ended = async move {
            shutdown.triggered().await;
            tokio::time::sleep(WATCH_ENDS_AFTER).await;
        };
        Ok(Response::new(Box::pin(updates.take_until(ended))))
    }
}
