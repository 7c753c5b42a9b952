//! A store in memory, for tests of the layers above the store and to prove the conformance
//! suite does not lean on the embedded backend.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};

use baton_proto::v1::Event;

use super::{Appended, ContextStore, NewEvent};
use crate::{
    Error,
    view::{self, View},
};

type Customer = (String, String);

/// Clones share one state, so "reopening" is cloning.
#[derive(Clone, Debug, Default)]
pub(crate) struct MemoryStore {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    events: HashMap<Customer, Vec<Event>>,
    views: HashMap<Customer, View>,
    /// `(tenant, idempotency key)` to the digest of the first request and its answer.
    answers: HashMap<(String, String), ([u8; 32], Appended)>,
}

impl MemoryStore {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ContextStore for MemoryStore {
    async fn append(&self, new: NewEvent) -> Result<Appended, Error> {
        let mut state = self.lock();
        let answer_key = (new.tenant_id.clone(), new.idempotency_key.clone());
        if let Some((digest, answer)) = state.answers.get(&answer_key) {
            if answer.event.customer_id != new.customer_id {
                return Err(Error::IdempotencyKeyReused);
            }
            if *digest != new.request_digest {
                return Err(Error::Store(baton_store::StoreError::KeyReused {
                    operation: super::APPEND_OPERATION.to_owned(),
                }));
            }
            return Ok(Appended {
                duplicate: true,
                ..answer.clone()
            });
        }
        let customer = (new.tenant_id, new.customer_id);
        let mut current = state
            .views
            .get(&customer)
            .cloned()
            .unwrap_or_else(|| View::empty(&customer.1));
        let version = current.version();
        if new.expected_version != 0 && new.expected_version != version {
            return Err(Error::VersionConflict {
                current: version,
                expected: new.expected_version,
            });
        }
        let mut event = new.event;
        event.sequence = version + 1;
        event.customer_id = customer.1.clone();
        view::apply(&mut current, &event);
        state.views.insert(customer.clone(), current);
        state
            .events
            .entry(customer)
            .or_default()
            .push(event.clone());
        let appended = Appended {
            version: event.sequence,
            event,
            duplicate: false,
        };
        state
            .answers
            .insert(answer_key, (new.request_digest, appended.clone()));
        Ok(appended)
    }

    async fn view(&self, tenant_id: &str, customer_id: &str) -> Result<Option<View>, Error> {
        let key = (tenant_id.to_owned(), customer_id.to_owned());
        Ok(self.lock().views.get(&key).cloned())
    }

    async fn views(
        &self,
        tenant_id: &str,
        customer_ids: &[String],
    ) -> Result<Vec<Option<View>>, Error> {
        let state = self.lock();
        Ok(customer_ids
            .iter()
            .map(|id| {
                let key = (tenant_id.to_owned(), id.clone());
                state.views.get(&key).cloned()
            })
            .collect())
    }

    async fn events_after(
        &self,
        tenant_id: &str,
        customer_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Event>, Error> {
        let key = (tenant_id.to_owned(), customer_id.to_owned());
        Ok(self
            .lock()
            .events
            .get(&key)
            .map_or_else(Vec::new, |events| {
                events
                    .iter()
                    .filter(|e| e.sequence > after)
                    .take(limit)
                    .cloned()
                    .collect()
            }))
    }

    async fn forget(&self, tenant_id: &str, customer_id: &str) -> Result<u64, Error> {
        let key = (tenant_id.to_owned(), customer_id.to_owned());
        let mut state = self.lock();
        let events = state.events.remove(&key).map_or(0, |e| e.len() as u64);
        let view = u64::from(state.views.remove(&key).is_some());
        state.answers.retain(|(tenant, _), (_, answer)| {
            !(tenant == tenant_id && answer.event.customer_id == customer_id)
        });
        Ok(events + view)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_passes_the_conformance_suite() {
    let store = MemoryStore::default();
    crate::conformance::run_all(|| std::future::ready(store.clone())).await;
}
