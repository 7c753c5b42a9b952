//! The one writer: applies the dispatcher's changes to the store in the order they were made.
//!
//! The dispatcher never waits for the disk; it hands each change here and moves on. Jobs are
//! committed in arrival order, several per commit when they pile up (one `fsync` for many
//! changes), so a later change to a contact can never be overwritten by an earlier one. Whoever
//! must not answer before the change is durable (an RPC handler, an agent session about to say
//! `connected`) awaits the job's [`Durable`] receiver.

use std::sync::Arc;

use baton_runtime::shutdown::Shutdown;
use baton_store::StoreError;
use tokio::sync::{mpsc, oneshot};

use crate::store::{Lease, RoutingStore, Write};

/// Most jobs folded into one commit.
const MAX_BATCH: usize = 64;

/// How many jobs may wait for the disk before new changes are refused.
pub const QUEUE_DEPTH: usize = 4096;

/// Resolves once a change is durable (or could not be made durable).
pub type Durable = oneshot::Receiver<Result<(), StoreError>>;

/// One change and who to tell when it is durable.
struct Job {
    /// Committed atomically.
    writes: Vec<Write>,
    /// Told the outcome.
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// The handle the dispatcher enqueues changes through.
#[derive(Debug, Clone)]
pub struct Persister {
    /// Bounded, so a stalled disk shows up as refused changes rather than unbounded memory.
    tx: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("writes", &self.writes.len())
            .finish()
    }
}

impl Persister {
    /// Starts the writer task on `store`, every commit fenced by `lease` (when given):
    /// once a commit finds the lease taken, `lost` fires and every later commit fails too (as
    /// they do once the shard's holder fires it, giving the shard up).
    /// It ends when every handle is dropped.
    pub fn spawn<S: RoutingStore>(store: Arc<S>, lease: Option<Lease>, lost: Shutdown) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(run(Fenced { store, lease, lost }, rx));
        Self { tx }
    }

    /// Queues `writes` for one atomic commit after everything queued before. Never waits.
    pub fn enqueue(&self, writes: Vec<Write>) -> Durable {
        let (done, durable) = oneshot::channel();
        if let Err(err) = self.tx.try_send(Job { writes, done }) {
            let job = match err {
                mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job) => {
                    job
                }
            };
            tracing::error!("routing store writer is saturated or stopped, change refused");
            let _ = job.done.send(Err(StoreError::Backend(
                "routing store writer is saturated or stopped".into(),
            )));
        }
        durable
    }
}

/// The store as one shard's holder writes to it.
struct Fenced<S> {
    store: Arc<S>,
    lease: Option<Lease>,
    /// Fired on the first commit that finds the lease taken, or by the shard's holder when
    /// it gives the shard up.
    lost: Shutdown,
}

impl<S: RoutingStore> Fenced<S> {
    async fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if self.lease.is_some() && self.lost.is_triggered() {
            return Err(StoreError::Fenced("this replica gave up its shard".into()));
        }
        let result = self.store.apply_fenced(self.lease.as_ref(), writes).await;
        if let Err(StoreError::Fenced(lost)) = &result {
            tracing::warn!(lease = %lost, "routing shard taken by another replica, giving it up");
            self.lost.trigger();
        }
        result
    }
}

async fn run<S: RoutingStore>(store: Fenced<S>, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Alone, a job's writes move into the commit; a group keeps them for the retry below.
        if batch.len() == 1
            && let Some(job) = batch.pop()
        {
            let _ = job.done.send(store.apply(job.writes).await);
            continue;
        }
        let writes: Vec<Write> = batch
            .iter()
            .flat_map(|j| j.writes.iter().cloned())
            .collect();
        match store.apply(writes).await {
            Ok(()) => {
                for job in batch.drain(..) {
                    let _ = job.done.send(Ok(()));
                }
            }
            Err(err) => {
                // Commit the jobs one by one so one bad change does not fail the others.
                tracing::warn!(error = %err, jobs = batch.len(), "group commit failed, retrying jobs one by one");
                for job in batch.drain(..) {
                    let result = store.apply(job.writes).await;
                    let _ = job.done.send(result);
                }
            }
        }
    }
}
