//! ForgetCustomer across the mesh: one call erases a customer in identity, context,
//! recommendation and routing, and answers with a receipt of what each removed.
//!
//! Before calling anyone the erasure is recorded as a job in routing's store (tenant,
//! customer, the caller-scoped key, the request digest); each step done is recorded with its
//! result as it completes; routing's own step (its ended contacts of the customer and the
//! remembered answers describing them) commits in one transaction with the receipt,
//! remembered as the key's answer, and the closing of the job. A step that fails leaves the job open: the call answers `UNAVAILABLE` naming what is
//! done and what is pending, and the job is finished by a retry or, after a restart, by
//! [`Eraser::resume_open_jobs`]. The services' own erasures are idempotent under keys derived
//! from the job, so a step repeated after a crash changes nothing.
//!
//! While the customer has a live contact the erasure is refused (`FAILED_PRECONDITION`):
//! routing would otherwise erase the records a contact in progress still needs.

use std::sync::Arc;
use std::time::Duration;

use baton_proto::v1::{ForgetCustomerReceipt, ForgetCustomerRequest, ServiceErasure};
use baton_runtime::shutdown::Shutdown;
use baton_runtime::time::now;
use prost::Message;
use tokio::sync::Mutex;

use crate::Dependencies;
use crate::dispatcher::Idem;
use crate::domain::erasure::{ErasureJob, STEPS};
use crate::error::Error;
use crate::store::{RoutingStore, Write};

/// The operation an erasure's receipt is remembered under.
pub const OPERATION: &str = "forget";

/// The first wait before resuming open jobs again after a failure; it doubles up to
/// [`MAX_RESUME_BACK_OFF`].
const RESUME_BACK_OFF: Duration = Duration::from_secs(1);
/// The longest wait between two attempts to resume open jobs.
const MAX_RESUME_BACK_OFF: Duration = Duration::from_secs(30);

/// Runs erasure jobs: for a call, and in the background for the jobs a start finds open.
#[derive(Debug)]
pub struct Eraser<S> {
    /// Where jobs and receipts are kept.
    store: Arc<S>,
    /// The services erased in.
    deps: Dependencies,
    /// The history events still waiting for context, which hold the customer's data too.
    history: super::history::History<S>,
    /// One erasure at a time in this process, so a retry and the background resumption never
    /// run one job twice at once (erasures are rare; the services' calls are short).
    one_at_a_time: Arc<Mutex<()>>,
}

impl<S> Clone for Eraser<S> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            deps: self.deps.clone(),
            history: self.history.clone(),
            one_at_a_time: Arc::clone(&self.one_at_a_time),
        }
    }
}

impl<S: RoutingStore> Eraser<S> {
    /// An eraser over `store`, calling `deps`.
    pub(crate) fn new(
        store: Arc<S>,
        deps: Dependencies,
        history: super::history::History<S>,
    ) -> Self {
        Self {
            store,
            deps,
            history,
            one_at_a_time: Arc::new(Mutex::new(())),
        }
    }

    /// Erases the customer a validated request names, or finishes the erasure an earlier
    /// call with the same key started; a completed one answers its stored receipt.
    pub async fn forget(
        &self,
        r: ForgetCustomerRequest,
        idem: Idem,
    ) -> Result<ForgetCustomerReceipt, Error> {
        let _one = self.one_at_a_time.lock().await;
        if let Some(receipt) = self.receipt(&idem).await? {
            return Ok(receipt);
        }
        let job = match self.store.job(&idem.tenant_id, &idem.key).await? {
            Some(job) if job.digest() == idem.digest => job,
            Some(_) => return Err(Error::KeyReused),
            None => {
                self.refuse_live_contacts(&r.tenant_id, &r.customer_id)
                    .await?;
                let job = ErasureJob {
                    tenant_id: r.tenant_id,
                    customer_id: r.customer_id,
                    key: idem.key,
                    digest: idem.digest.to_vec(),
                    reason: r.reason,
                    done: Vec::new(),
                };
                self.store
                    .apply(vec![Write::Job(Box::new(job.clone()))])
                    .await?;
                tracing::info!(tenant = %job.tenant_id, customer = %job.customer_id, "erasure job opened");
                job
            }
        };
        self.run(job).await
    }

    /// Finishes every open job in the background, trying again with a growing pause while a
    /// service is unavailable, until all are done or `shutdown` fires.
    pub fn resume_open_jobs(self, shutdown: Shutdown) {
        tokio::spawn(async move {
            let mut pause = RESUME_BACK_OFF;
            loop {
                match self.resume_once().await {
                    Ok(0) => return,
                    Ok(open) => tracing::warn!(open, "erasure jobs still open, resuming later"),
                    Err(err) => tracing::warn!(error = %err, "erasure jobs could not be resumed"),
                }
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = shutdown.triggered() => return,
                }
                pause = (pause * 2).min(MAX_RESUME_BACK_OFF);
            }
        });
    }

    /// One pass over the open jobs; how many are still open after it.
    async fn resume_once(&self) -> Result<usize, Error> {
        let jobs = self.store.open_jobs().await?;
        if !jobs.is_empty() {
            tracing::info!(jobs = jobs.len(), "resuming open erasure jobs");
        }
        let mut open = 0;
        for job in jobs {
            let _one = self.one_at_a_time.lock().await;
            // A retry may have finished it meanwhile.
            let Some(job) = self.store.job(&job.tenant_id, &job.key).await? else {
                continue;
            };
            if let Err(err) = self.run(job).await {
                tracing::warn!(error = %err, "erasure job still open");
                open += 1;
            }
        }
        Ok(open)
    }

    /// The stored receipt for this request, if the erasure completed.
    async fn receipt(&self, idem: &Idem) -> Result<Option<ForgetCustomerReceipt>, Error> {
        let Some(bytes) = self
            .store
            .answer(&idem.tenant_id, OPERATION, &idem.key, &idem.digest)
            .await?
        else {
            return Ok(None);
        };
        ForgetCustomerReceipt::decode(bytes.as_slice())
            .map(Some)
            .map_err(|e| Error::Store(baton_store::StoreError::from(e)))
    }

    /// Refuses while the customer has a contact that is not ended.
    async fn refuse_live_contacts(&self, tenant_id: &str, customer_id: &str) -> Result<(), Error> {
        let contacts = self.store.customer_contacts(tenant_id, customer_id).await?;
        match contacts
            .iter()
            .find(|c| c.state() != baton_proto::v1::ContactState::Ended)
        {
            Some(live) => Err(Error::FailedPrecondition(format!(
                "customer has a live contact {}; end it first",
                live.contact_id()
            ))),
            None => Ok(()),
        }
    }

    /// Runs a job's pending steps in order, recording each as it completes, and closes it with
    /// its receipt.
    async fn run(&self, mut job: ErasureJob) -> Result<ForgetCustomerReceipt, Error> {
        let idem = Idem {
            tenant_id: job.tenant_id.clone(),
            operation: OPERATION,
            key: job.key.clone(),
            digest: job.digest(),
        };
        let derived = idem.derived();
        // Kept events would bring back what context erases, so they go first.
        self.history
            .forget(&job.tenant_id, &job.customer_id)
            .await?;
        for service in ["identity", "context", "recommendation"] {
            if job.is_done(service) {
                continue;
            }
            let request = ForgetCustomerRequest {
                tenant_id: job.tenant_id.clone(),
                customer_id: job.customer_id.clone(),
                reason: job.reason.clone(),
                idempotency_key: format!("{OPERATION}/{derived}/{service}"),
            };
            let Ok(erased) = self.deps.forget(service, request).await else {
                return Err(Error::ErasurePending {
                    customer_id: job.customer_id.clone(),
                    done: job.done.iter().map(|e| e.service.clone()).collect(),
                    pending: job.pending(),
                });
            };
            job.mark_done(ServiceErasure {
                service: service.to_owned(),
                found: erased.found,
                records_removed: erased.records_removed,
            });
            self.store
                .apply(vec![Write::Job(Box::new(job.clone()))])
                .await?;
        }
        self.close(job, idem).await
    }

    /// Routing's own step: its ended contacts of the customer and the remembered answers
    /// describing them go, in the commit that stores the receipt and closes the job. A contact that started during the erasure is live and
    /// stays (it was not there when the erasure was accepted).
    async fn close(&self, job: ErasureJob, idem: Idem) -> Result<ForgetCustomerReceipt, Error> {
        let contacts = self
            .store
            .customer_contacts(&job.tenant_id, &job.customer_id)
            .await?;
        let mut writes: Vec<Write> = contacts
            .iter()
            .filter(|c| c.state() == baton_proto::v1::ContactState::Ended)
            .map(|c| Write::EraseContact {
                tenant_id: job.tenant_id.clone(),
                contact_id: c.contact_id().to_owned(),
                customer_id: job.customer_id.clone(),
            })
            .collect();
        let removed = writes.len() as u64;
        if removed < contacts.len() as u64 {
            tracing::warn!(tenant = %job.tenant_id, customer = %job.customer_id, "a contact started during the erasure stays");
        }
        // The remembered answers describing the customer's contacts go with them (they hold
        // the contact, and a start's greeting, recommendations and facts on record), except a
        // staying contact's: a retry of its start must still find its answer, not start it
        // again. They are copies of the records, so the receipt does not count them.
        let staying: Vec<&str> = contacts
            .iter()
            .filter(|c| c.state() != baton_proto::v1::ContactState::Ended)
            .map(|c| c.contact_id())
            .collect();
        let answers = self
            .store
            .customer_answers(&job.tenant_id, &job.customer_id)
            .await?;
        let before = writes.len();
        writes.extend(
            answers
                .into_iter()
                .filter(|a| !staying.contains(&a.contact_id.as_str()))
                .map(|a| Write::ForgetAnswer {
                    tenant_id: job.tenant_id.clone(),
                    operation: a.operation,
                    key: a.key,
                }),
        );
        let answers_removed = writes.len() - before;
        let mut erasures = job.done;
        erasures.push(ServiceErasure {
            service: "routing".to_owned(),
            found: removed > 0,
            records_removed: removed,
        });
        debug_assert_eq!(
            erasures
                .iter()
                .map(|e| e.service.as_str())
                .collect::<Vec<_>>(),
            STEPS
        );
        let receipt = ForgetCustomerReceipt {
            tenant_id: job.tenant_id.clone(),
            customer_id: job.customer_id.clone(),
            erasures,
            completed_at: Some(now()),
        };
        writes.push(Write::Answer {
            tenant_id: job.tenant_id.clone(),
            operation: OPERATION,
            key: job.key.clone(),
            digest: idem.digest,
            answer: receipt.encode_to_vec(),
        });
        writes.push(Write::CloseJob {
            tenant_id: job.tenant_id,
            key: job.key,
        });
        self.store.apply(writes).await?;
        tracing::info!(tenant = %receipt.tenant_id, customer = %receipt.customer_id, answers_removed, "customer erased");
        Ok(receipt)
    }
}
