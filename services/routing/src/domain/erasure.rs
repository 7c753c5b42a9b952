//! An erasure job: ForgetCustomer across the mesh, recorded before anyone is called so that a
//! crash or an unavailable service leaves it open, and finished later from where it stopped.
//!
//! The steps run in a fixed order ([`STEPS`]): the three services' own erasures, then
//! routing's, which commits together with the receipt and the closing of the job.

use baton_proto::v1::ServiceErasure;

/// Every step of an erasure, in the order they run. Routing is last: its step commits in the
/// same transaction that stores the receipt and closes the job.
pub const STEPS: [&str; 4] = ["identity", "context", "recommendation", "routing"];

/// An open erasure, as the store keeps it until it completes.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ErasureJob {
    /// The tenant.
    #[prost(string, tag = "1")]
    pub tenant_id: String,
    /// The customer erased.
    #[prost(string, tag = "2")]
    pub customer_id: String,
    /// The idempotency key, scoped to the caller: the job's id, and where its receipt is
    /// remembered.
    #[prost(string, tag = "3")]
    pub key: String,
    /// The digest of the request that opened the job: the key answers it and no other.
    #[prost(bytes = "vec", tag = "4")]
    pub digest: Vec<u8>,
    /// Why, passed on to each service (for its audit record).
    #[prost(string, tag = "5")]
    pub reason: String,
    /// The steps done, with what each removed, in [`STEPS`] order.
    #[prost(message, repeated, tag = "6")]
    pub done: Vec<ServiceErasure>,
}

impl ErasureJob {
    /// Whether `service`'s step is done.
    pub fn is_done(&self, service: &str) -> bool {
        self.done.iter().any(|e| e.service == service)
    }

    /// Records `erasure` as done (once: a step done twice keeps its first result).
    pub fn mark_done(&mut self, erasure: ServiceErasure) {
        if !self.is_done(&erasure.service) {
            self.done.push(erasure);
        }
    }

    /// The steps not done yet, in order.
    pub fn pending(&self) -> Vec<&'static str> {
        STEPS.into_iter().filter(|s| !self.is_done(s)).collect()
    }

    /// The request digest as the store's idempotency records take it (a damaged one reads
    /// as zeros and so matches no request).
    pub fn digest(&self) -> [u8; 32] {
        self.digest.as_slice().try_into().unwrap_or([0; 32])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_pending_in_order_until_done_and_a_step_keeps_its_first_result() {
        let mut job = ErasureJob::default();
        assert_eq!(job.pending(), STEPS);
        job.mark_done(ServiceErasure {
            service: "context".into(),
            found: true,
            records_removed: 3,
        });
        assert_eq!(job.pending(), ["identity", "recommendation", "routing"]);
        job.mark_done(ServiceErasure {
            service: "context".into(),
            found: false,
            records_removed: 0,
        });
        assert_eq!(job.done.len(), 1);
        assert_eq!(job.done[0].records_removed, 3);
    }
}
