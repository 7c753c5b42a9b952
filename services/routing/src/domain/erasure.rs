//! An erasure job: ForgetCustomer across the mesh, recorded before anyone is called so that a
//! crash or an unavailable service leaves it open, and finished later from where it stopped.
//!
//! The steps run in a fixed order ([`STEPS`]): the three services' own erasures, then
//! routing's, which commits together with the receipt and the closing of the job.

use baton_proto::v1::{
    Contact, EndContactResponse, ServiceErasure, StartContactResponse, TransferResponse,
};
use prost::Message;

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

/// Whether a remembered answer of `operation` describes a contact of `customer_id`, and which:
/// `Some(contact id)` when it does (the id may be empty), `None` when it does not.
///
/// The answers that can describe a customer are those carrying the contact (StartContact's,
/// with its greeting, recommendations and facts on record, Transfer's and EndContact's), and
/// each is decoded as the response it was stored as: a contact's `customer_id` is compared
/// whole, so erasing `cust_1` never takes the answers of `cust_10`. The other answers name no
/// customer (AddNote's: a case id and a version; an agent's; a queue's), and an erasure's own
/// receipt is its proof and is kept. An answer of one of those operations that does not
/// decode is searched for the customer id's bytes instead, so damage errs towards erasing.
pub fn answered_contact(operation: &str, answer: &[u8], customer_id: &str) -> Option<String> {
    let contact = match operation {
        "start" => StartContactResponse::decode(answer).map(|r| r.contact),
        "transfer" => TransferResponse::decode(answer).map(|r| r.contact),
        "end" => EndContactResponse::decode(answer).map(|r| r.contact),
        _ => return None,
    };
    match contact {
        Ok(contact) => contact
            .filter(|c| !customer_id.is_empty() && c.customer_id == customer_id)
            .map(|c: Contact| c.contact_id),
        Err(_) => {
            let needle = customer_id.as_bytes();
            (!needle.is_empty() && answer.windows(needle.len()).any(|w| w == needle))
                .then(String::new)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start_answer(contact_id: &str, customer_id: &str) -> Vec<u8> {
        StartContactResponse {
            contact: Some(Contact {
                contact_id: contact_id.into(),
                customer_id: customer_id.into(),
                ..Contact::default()
            }),
            ..StartContactResponse::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn an_answer_describes_a_customer_only_by_its_contacts_whole_customer_id() {
        let answer = start_answer("con_1", "cust_1");
        assert_eq!(
            answered_contact("start", &answer, "cust_1").as_deref(),
            Some("con_1")
        );
        assert_eq!(answered_contact("start", &answer, "cust_"), None);
        assert_eq!(
            answered_contact("start", &start_answer("con_2", "cust_10"), "cust_1"),
            None
        );
        assert_eq!(
            answered_contact("start", &start_answer("con_3", ""), ""),
            None
        );
        let ended = EndContactResponse {
            contact: Some(Contact {
                contact_id: "con_1".into(),
                customer_id: "cust_1".into(),
                ..Contact::default()
            }),
        }
        .encode_to_vec();
        assert_eq!(
            answered_contact("end", &ended, "cust_1").as_deref(),
            Some("con_1")
        );
        // A receipt names the customer but is kept: it is the erasure's proof.
        assert_eq!(answered_contact("forget", &answer, "cust_1"), None);
        // Damaged: searched for the id's bytes.
        let damaged = b"\xffcust_1".to_vec();
        assert_eq!(
            answered_contact("transfer", &damaged, "cust_1").as_deref(),
            Some("")
        );
    }

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
