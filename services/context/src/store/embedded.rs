//! The context store on the embedded redb database.
//!
//! Tables (every key starts with the tenant, see [`baton_store::keys`]):
//! - `context_events`: `tenant / customer / sequence` to the encoded [`Event`]; sequences are
//!   zero-padded so a range scan reads a history in order.
//! - `context_views`: `tenant / customer` to the encoded view.
//! - `context_append_keys`: `tenant / customer / idempotency key`, an index of the remembered
//!   append answers that name the customer, so erasure finds them without scanning the
//!   tenant's whole idempotency table.

use std::path::Path;

use baton_proto::v1::{AppendEventResponse, ContextSnapshot, Event};
use baton_store::{
    EmbeddedDb, StoreError, codec, idempotency, keys, open_read,
    redb::{ReadableTable, TableDefinition, Value},
};

use super::{APPEND_OPERATION, Appended, ContextStore, NewEvent};
use crate::{
    Error,
    view::{self, View},
};

const EVENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("context_events");
const VIEWS: TableDefinition<&str, &[u8]> = TableDefinition::new("context_views");
const APPEND_KEYS: TableDefinition<&str, ()> = TableDefinition::new("context_append_keys");

/// A [`ContextStore`] in `<data_dir>/context.redb`. Cheap to clone; clones share the file.
#[derive(Clone, Debug)]
pub struct EmbeddedContextStore {
    /// The service's database; redb serializes writers, which is what keeps sequences
    /// gap-free without any lock of our own.
    db: EmbeddedDb,
}

impl EmbeddedContextStore {
    /// Opens (creating if needed) the store in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Ok(Self {
            db: EmbeddedDb::open(data_dir, "context")?,
        })
    }
}

fn customer_key(tenant_id: &str, customer_id: &str) -> String {
    keys::scoped(tenant_id, &[customer_id])
}

fn event_key(tenant_id: &str, customer_id: &str, sequence: u64) -> String {
    keys::scoped(tenant_id, &[customer_id, &keys::seq(sequence)])
}

/// Any redb failure as the service's error.
fn store(err: impl Into<StoreError>) -> Error {
    Error::Store(err.into())
}

impl ContextStore for EmbeddedContextStore {
    #[tracing::instrument(skip_all, fields(tenant = %new.tenant_id, customer = %new.customer_id))]
    async fn append(&self, new: NewEvent) -> Result<Appended, Error> {
        self.db
            .write(move |txn| {
                let NewEvent {
                    tenant_id,
                    customer_id,
                    idempotency_key,
                    request_digest,
                    expected_version,
                    event,
                } = &new;
                // Each run starts from the event as asked (a run may be repeated).
                let (expected_version, mut event) = (*expected_version, event.clone());
                let remembered = match idempotency::recall(
                    txn,
                    tenant_id,
                    APPEND_OPERATION,
                    idempotency_key,
                    request_digest,
                ) {
                    // Another customer's key is refused as such, as on Redis, which checks
                    // the customer before the request.
                    Err(StoreError::KeyReused { .. })
                        if !used_by(txn, tenant_id, customer_id, idempotency_key)? =>
                    {
                        return Err(Error::IdempotencyKeyReused);
                    }
                    remembered => remembered?,
                };
                if let Some(bytes) = remembered {
                    let answer: AppendEventResponse = codec::decode(&bytes)?;
                    let event = answer.event.unwrap_or_default();
                    if event.customer_id != *customer_id {
                        return Err(Error::IdempotencyKeyReused);
                    }
                    return Ok(Appended {
                        event,
                        version: answer.version,
                        duplicate: true,
                    });
                }

                let view_key = customer_key(tenant_id, customer_id);
                let mut views = txn.open_table(VIEWS).map_err(store)?;
                let stored = views
                    .get(view_key.as_str())
                    .map_err(store)?
                    .map(|guard| codec::decode::<ContextSnapshot>(guard.value()))
                    .transpose()?;
                let mut current =
                    stored.map_or_else(|| View::empty(customer_id), View::from_stored);
                let version = current.version();
                if expected_version != 0 && expected_version != version {
                    return Err(Error::VersionConflict {
                        current: version,
                        expected: expected_version,
                    });
                }

                event.sequence = version + 1;
                event.customer_id = customer_id.clone();
                txn.open_table(EVENTS)
                    .map_err(store)?
                    .insert(
                        event_key(tenant_id, customer_id, event.sequence).as_str(),
                        codec::encode(&event).as_slice(),
                    )
                    .map_err(store)?;
                view::apply(&mut current, &event);
                views
                    .insert(
                        view_key.as_str(),
                        codec::encode(current.as_stored()).as_slice(),
                    )
                    .map_err(store)?;

                let version = event.sequence;
                let answer = AppendEventResponse {
                    event: Some(event),
                    version,
                    duplicate: false,
                };
                idempotency::remember(
                    txn,
                    tenant_id,
                    APPEND_OPERATION,
                    idempotency_key,
                    request_digest,
                    &codec::encode(&answer),
                )?;
                txn.open_table(APPEND_KEYS)
                    .map_err(store)?
                    .insert(
                        keys::scoped(tenant_id, &[customer_id, idempotency_key]).as_str(),
                        (),
                    )
                    .map_err(store)?;
                Ok(Appended {
                    event: answer.event.unwrap_or_default(),
                    version,
                    duplicate: false,
                })
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant_id, customer = %customer_id))]
    async fn view(&self, tenant_id: &str, customer_id: &str) -> Result<Option<View>, Error> {
        let key = customer_key(tenant_id, customer_id);
        self.db
            .read(move |txn| {
                let Some(views) = open_read(txn, VIEWS).map_err(store)? else {
                    return Ok(None);
                };
                let stored = views.get(key.as_str()).map_err(store)?;
                Ok(stored
                    .map(|guard| codec::decode::<ContextSnapshot>(guard.value()))
                    .transpose()?
                    .map(View::from_stored))
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant_id, customers = customer_ids.len()))]
    async fn views(
        &self,
        tenant_id: &str,
        customer_ids: &[String],
    ) -> Result<Vec<Option<View>>, Error> {
        let keys: Vec<String> = customer_ids
            .iter()
            .map(|id| customer_key(tenant_id, id))
            .collect();
        // One read transaction: every view as of the same commit.
        self.db
            .read(move |txn| {
                let Some(views) = open_read(txn, VIEWS).map_err(store)? else {
                    return Ok(vec![None; keys.len()]);
                };
                keys.iter()
                    .map(|key| {
                        let stored = views.get(key.as_str()).map_err(store)?;
                        Ok(stored
                            .map(|guard| codec::decode::<ContextSnapshot>(guard.value()))
                            .transpose()?
                            .map(View::from_stored))
                    })
                    .collect()
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant_id, customer = %customer_id, after))]
    async fn events_after(
        &self,
        tenant_id: &str,
        customer_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Event>, Error> {
        let Some(first) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        let from = event_key(tenant_id, customer_id, first);
        let (_, to) = keys::prefix_range(&customer_key(tenant_id, customer_id));
        self.db
            .read(move |txn| {
                let Some(events) = open_read(txn, EVENTS).map_err(store)? else {
                    return Ok(Vec::new());
                };
                let mut found = Vec::with_capacity(limit.min(1024));
                for entry in events.range(from.as_str()..to.as_str()).map_err(store)? {
                    if found.len() >= limit {
                        break;
                    }
                    let (_, value) = entry.map_err(store)?;
                    found.push(codec::decode::<Event>(value.value())?);
                }
                Ok(found)
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant_id, customer = %customer_id))]
    async fn forget(&self, tenant_id: &str, customer_id: &str) -> Result<u64, Error> {
        let tenant_id = tenant_id.to_owned();
        let customer = customer_key(&tenant_id, customer_id);
        self.db
            .write(move |txn| {
                let (lo, hi) = keys::prefix_range(&customer);
                let mut removed = 0;

                let mut events = txn.open_table(EVENTS).map_err(store)?;
                for key in range_keys(&events, &lo, &hi)? {
                    events.remove(key.as_str()).map_err(store)?;
                    removed += 1;
                }
                let mut views = txn.open_table(VIEWS).map_err(store)?;
                if views.remove(customer.as_str()).map_err(store)?.is_some() {
                    removed += 1;
                }

                // The remembered answers hold whole events; they go too.
                let mut append_keys = txn.open_table(APPEND_KEYS).map_err(store)?;
                for key in range_keys(&append_keys, &lo, &hi)? {
                    if let Some(idempotency_key) = key.strip_prefix(lo.as_str()) {
                        idempotency::forget(txn, &tenant_id, APPEND_OPERATION, idempotency_key)
                            .map_err(store)?;
                    }
                    append_keys.remove(key.as_str()).map_err(store)?;
                }
                Ok(removed)
            })
            .await
    }
}

/// Whether `idempotency_key` acknowledged an append for `customer_id` (the index erasure
/// reads).
fn used_by(
    txn: &baton_store::redb::WriteTransaction,
    tenant_id: &str,
    customer_id: &str,
    idempotency_key: &str,
) -> Result<bool, Error> {
    let index = txn.open_table(APPEND_KEYS).map_err(store)?;
    let key = keys::scoped(tenant_id, &[customer_id, idempotency_key]);
    Ok(index.get(key.as_str()).map_err(store)?.is_some())
}

/// Every key in `lo..hi`, collected so the table can be changed afterwards.
fn range_keys<V: Value + 'static>(
    table: &impl ReadableTable<&'static str, V>,
    lo: &str,
    hi: &str,
) -> Result<Vec<String>, Error> {
    let mut found = Vec::new();
    for entry in table.range(lo..hi).map_err(store)? {
        let (key, _) = entry.map_err(store)?;
        found.push(key.value().to_owned());
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use baton_proto::v1::{NoteAdded, event::Payload};

    use super::*;
    use crate::conformance;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn embedded_store_passes_the_conformance_suite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().to_owned();
        conformance::run_all(|| {
            std::future::ready(EmbeddedContextStore::open(&path).expect("open store"))
        })
        .await;
    }

    /// Every key and value of every table the store writes, as text, for scanning.
    async fn everything_stored(db: &EmbeddedDb) -> Vec<String> {
        db.read(|txn| -> Result<Vec<String>, Error> {
            let mut all = Vec::new();
            for table in [EVENTS, VIEWS, idempotency::TABLE] {
                if let Some(t) = open_read(txn, table).map_err(store)? {
                    for entry in t.iter().map_err(store)? {
                        let (k, v) = entry.map_err(store)?;
                        all.push(k.value().to_owned());
                        all.push(String::from_utf8_lossy(v.value()).into_owned());
                    }
                }
            }
            if let Some(t) = open_read(txn, APPEND_KEYS).map_err(store)? {
                for entry in t.iter().map_err(store)? {
                    all.push(entry.map_err(store)?.0.value().to_owned());
                }
            }
            Ok(all)
        })
        .await
        .expect("read everything")
    }

    #[tokio::test]
    async fn nothing_about_an_erased_customer_remains_after_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = EmbeddedContextStore::open(dir.path()).expect("open");
            for (n, customer) in ["erased-customer-42", "kept-customer"].iter().enumerate() {
                let note = Payload::Note(NoteAdded {
                    case_id: String::new(),
                    text: format!("secret-note-of-{customer}"),
                });
                let key = format!("key-{n}");
                store
                    .append(conformance::new_event("t1", customer, &key, 0, note))
                    .await
                    .expect("append");
                store
                    .append(conformance::new_event(
                        "t1",
                        customer,
                        &format!("{key}-b"),
                        0,
                        conformance::started("hello"),
                    ))
                    .await
                    .expect("append");
            }
            assert_eq!(store.forget("t1", "erased-customer-42").await.ok(), Some(3));
        }
        let db = EmbeddedDb::open(dir.path(), "context").expect("reopen");
        let all = everything_stored(&db).await;
        assert!(
            all.iter().any(|s| s.contains("kept-customer")),
            "the scan sees stored data"
        );
        for item in &all {
            assert!(
                !item.contains("erased-customer-42") && !item.contains("secret-note-of-erased"),
                "erased customer still present: {item:?}"
            );
        }
        assert!(
            !all.iter().any(|s| s.contains("key-0")),
            "its idempotency keys are gone"
        );
    }
}
