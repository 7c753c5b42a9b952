//! The bounded span export: a call never waits for the collector, memory never grows with
//! it, and every span refused is counted.
//!
//! The SDK's `BatchSpanProcessor` already has the right shape: finished spans go into a
//! bounded channel that a background thread drains into the exporter, and a full channel
//! refuses the span instead of blocking. But it keeps its count of refused spans private (it
//! only logs the total at shutdown), so nothing could report drops while the process runs.
//! Rather than copy it, [`BoundedExport`] wraps it and keeps the bound itself: it counts the
//! spans handed to the batch processor that the exporter has not taken yet, and refuses (and
//! counts) any span beyond the limit. The batch processor's own channel gets the same
//! capacity and never holds more than that count, so it never refuses a span on its own and
//! every drop goes through this counter. What is in memory is at most the queue plus the one
//! batch being exported.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use opentelemetry::Context;
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{BatchConfigBuilder, BatchSpanProcessor, Span, SpanData, SpanExporter, SpanProcessor},
};

/// Spans dropped by every export queue of this process since it started.
static SPANS_DROPPED: AtomicU64 = AtomicU64::new(0);

/// How many finished spans this process dropped because the export queue was full (the
/// collector down, slow or unreachable). Also reported as the metric
/// `baton.telemetry.spans_dropped` (see [`crate::metrics`]).
pub fn spans_dropped() -> u64 {
    SPANS_DROPPED.load(Ordering::Relaxed)
}

/// Adds `n` to the process-wide count of dropped spans.
pub(crate) fn count_dropped(n: u64) {
    SPANS_DROPPED.fetch_add(n, Ordering::Relaxed);
}

/// A span processor that exports in batches from a bounded queue and counts what it drops.
#[derive(Debug)]
pub(crate) struct BoundedExport {
    /// Does the batching and exporting on its own thread.
    inner: BatchSpanProcessor,
    /// Spans accepted and not yet handed to the exporter; shared with [`Counted`].
    pending: Arc<AtomicUsize>,
    /// The most spans that may wait.
    max_queue: usize,
    /// Spans this processor dropped (the process-wide count is [`spans_dropped`]).
    dropped: Arc<AtomicU64>,
}

impl BoundedExport {
    /// Exports through `exporter`, keeping at most `max_queue` spans waiting.
    pub(crate) fn new<E>(exporter: E, max_queue: usize) -> Self
    where
        E: SpanExporter + 'static,
    {
        let max_queue = max_queue.max(1);
        let pending = Arc::new(AtomicUsize::new(0));
        let counted = Counted {
            inner: exporter,
            pending: Arc::clone(&pending),
        };
        let config = BatchConfigBuilder::default()
            .with_max_queue_size(max_queue)
            .build();
        let inner = BatchSpanProcessor::builder(counted)
            .with_batch_config(config)
            .build();
        Self {
            inner,
            pending,
            max_queue,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Spans this processor dropped.
    #[cfg(test)]
    pub(crate) fn dropped(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.dropped)
    }
}

impl SpanProcessor for BoundedExport {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        // Claim a place first, so that concurrent callers can never overshoot the bound.
        if self.pending.fetch_add(1, Ordering::AcqRel) >= self.max_queue {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            count_dropped(1);
            // No log line per drop: this runs while the tracing subscriber closes a span, and
            // an outage would flood the logs. The total is logged at shutdown.
            return;
        }
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// The exporter behind [`BoundedExport`]: releases the places of the spans it is handed.
#[derive(Debug)]
struct Counted<E> {
    /// The real exporter (OTLP).
    inner: E,
    /// See [`BoundedExport::pending`].
    pending: Arc<AtomicUsize>,
}

impl<E: SpanExporter> SpanExporter for Counted<E> {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        // The batch has left the queue: new spans may take its places while it is sent.
        self.pending.fetch_sub(batch.len(), Ordering::AcqRel);
        self.inner.export(batch)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Condvar, Mutex};
    use std::time::Instant;

    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;

    use super::*;

    /// An exporter whose exports block until the test opens the gate: a collector that
    /// accepts connections and never answers.
    #[derive(Debug, Clone, Default)]
    struct Gated {
        open: Arc<(Mutex<bool>, Condvar)>,
        exported: Arc<AtomicUsize>,
    }

    impl Gated {
        fn open(&self) {
            let (lock, cvar) = &*self.open;
            *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
            cvar.notify_all();
        }
    }

    impl SpanExporter for Gated {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            // Runs on the batch processor's own thread: blocking here is the point.
            let (lock, cvar) = &*self.open;
            let mut open = lock.lock().unwrap_or_else(|e| e.into_inner());
            while !*open {
                open = cvar.wait(open).unwrap_or_else(|e| e.into_inner());
            }
            self.exported.fetch_add(batch.len(), Ordering::SeqCst);
            Ok(())
        }
    }

    #[test]
    fn a_stuck_collector_never_blocks_callers_and_every_span_is_exported_or_counted() {
        let exporter = Gated::default();
        let processor = BoundedExport::new(exporter.clone(), 4);
        let dropped = processor.dropped();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .build();
        let tracer = provider.tracer("test");
        for _ in 0..100 {
            // Ending a span must return at once although the exporter is stuck.
            drop(tracer.start("work"));
        }
        // At most the queue (4) and one batch being exported (4) were accepted.
        let refused = dropped.load(Ordering::SeqCst);
        assert!((92..=96).contains(&refused), "dropped {refused}");
        exporter.open();
        provider
            .shutdown_with_timeout(Duration::from_secs(5))
            .expect("shutdown");
        let exported = exporter.exported.load(Ordering::SeqCst) as u64;
        assert_eq!(
            exported + refused,
            100,
            "exported {exported}, dropped {refused}"
        );
        assert!(spans_dropped() >= refused);
    }

    #[test]
    fn shutdown_gives_up_on_a_stuck_collector_after_the_timeout() {
        let exporter = Gated::default();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(BoundedExport::new(exporter.clone(), 8))
            .build();
        let tracer = provider.tracer("test");
        for _ in 0..20 {
            drop(tracer.start("work"));
        }
        let started = Instant::now();
        let result = provider.shutdown_with_timeout(Duration::from_millis(200));
        assert!(result.is_err(), "a stuck export cannot finish");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        // Let the export thread finish.
        exporter.open();
    }
}
