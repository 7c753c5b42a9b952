//! Routing's state in the embedded redb store.

use std::path::Path;
use std::time::Duration;

use baton_proto::v1::{Agent, ContactState, Queue};
use baton_store::redb::{ReadableTable, TableDefinition};
use baton_store::{EmbeddedDb, StoreError, codec, idempotency, keys, open_read};

use super::{
    Claim, CustomerAnswer, Holder, Lease, Loaded, Member, PendingEvent, RoutingStore, Write,
};
use crate::domain::erasure::{ErasureJob, answered_contact};
use crate::domain::record::ContactRecord;

/// `tenant / contact id` to the encoded [`ContactRecord`], ended or not.
const CONTACTS: TableDefinition<&str, &[u8]> = TableDefinition::new("routing_contacts");
/// `tenant / contact id` of every contact that is not ended: what a restart reloads.
const LIVE: TableDefinition<&str, ()> = TableDefinition::new("routing_live_contacts");
/// `tenant / agent id` to the encoded agent profile.
const AGENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("routing_agents");
/// `tenant / queue id` to the encoded queue.
const QUEUES: TableDefinition<&str, &[u8]> = TableDefinition::new("routing_queues");
/// `tenant / scoped idempotency key` to the encoded open [`ErasureJob`].
const JOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("routing_erasure_jobs");

/// `tenant / queued key` to the encoded [`PendingEvent`] history event waiting for context.
const PENDING: TableDefinition<&str, &[u8]> = TableDefinition::new("routing_pending_events");

/// Routing's store on redb: `<data_dir>/routing.redb`.
#[derive(Debug, Clone)]
pub struct EmbeddedRoutingStore {
    /// The shared database handle.
    db: EmbeddedDb,
}

impl EmbeddedRoutingStore {
    /// Opens (creating if needed) the store in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Ok(Self {
            db: EmbeddedDb::open(data_dir, "routing")?,
        })
    }
}

/// Only one process opens a redb file, so it holds every shard: claims are granted, leases
/// fence nothing and nothing ever lapses.
impl RoutingStore for EmbeddedRoutingStore {
    async fn claim(
        &self,
        shard: u32,
        _replica: &str,
        _address: &str,
        _ttl: Duration,
    ) -> Result<Claim, StoreError> {
        Ok(Claim::Held {
            lease: Lease {
                shard,
                fence: String::new(),
            },
            renewed: false,
        })
    }

    async fn release(&self, _lease: &Lease) -> Result<(), StoreError> {
        Ok(())
    }

    async fn lapsed(&self) -> Result<Vec<u32>, StoreError> {
        Ok(Vec::new())
    }

    async fn announce(
        &self,
        _replica: &str,
        _address: &str,
        _ttl: Duration,
    ) -> Result<Vec<Member>, StoreError> {
        Ok(Vec::new())
    }

    async fn leave(&self, _replica: &str) -> Result<(), StoreError> {
        Ok(())
    }

    async fn holders(&self) -> Result<Vec<Holder>, StoreError> {
        Ok(Vec::new())
    }

    async fn hand_over(
        &self,
        _lease: &Lease,
        _replica: &str,
        _address: &str,
        _ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        Ok(None)
    }

    #[tracing::instrument(skip_all, fields(writes = writes.len()))]
    async fn apply_fenced(
        &self,
        _lease: Option<&Lease>,
        writes: Vec<Write>,
    ) -> Result<(), StoreError> {
        self.db
            .write(move |txn| {
                let mut contacts = txn.open_table(CONTACTS)?;
                let mut live = txn.open_table(LIVE)?;
                let mut agents = txn.open_table(AGENTS)?;
                let mut queues = txn.open_table(QUEUES)?;
                let mut jobs = txn.open_table(JOBS)?;
                let mut pending = txn.open_table(PENDING)?;
                for write in &writes {
                    match write {
                        Write::Contact(record) => {
                            let key = keys::scoped(record.tenant_id(), &[record.contact_id()]);
                            contacts
                                .insert(key.as_str(), codec::encode(record.as_ref()).as_slice())?;
                            if record.state() == ContactState::Ended {
                                live.remove(key.as_str())?;
                            } else {
                                live.insert(key.as_str(), ())?;
                            }
                        }
                        Write::Agent { tenant_id, agent } => {
                            let key = keys::scoped(tenant_id, &[&agent.agent_id]);
                            agents.insert(key.as_str(), codec::encode(agent).as_slice())?;
                        }
                        Write::Queue { tenant_id, queue } => {
                            let key = keys::scoped(tenant_id, &[&queue.queue_id]);
                            queues.insert(key.as_str(), codec::encode(queue).as_slice())?;
                        }
                        Write::Answer {
                            tenant_id,
                            operation,
                            key,
                            digest,
                            answer,
                        } => idempotency::remember(txn, tenant_id, operation, key, digest, answer)?,
                        Write::Job(job) => {
                            let key = keys::scoped(&job.tenant_id, &[&job.key]);
                            jobs.insert(key.as_str(), codec::encode(job.as_ref()).as_slice())?;
                        }
                        Write::CloseJob { tenant_id, key } => {
                            jobs.remove(keys::scoped(tenant_id, &[key]).as_str())?;
                        }
                        Write::EraseContact {
                            tenant_id,
                            contact_id,
                            ..
                        } => {
                            let key = keys::scoped(tenant_id, &[contact_id]);
                            contacts.remove(key.as_str())?;
                            live.remove(key.as_str())?;
                        }
                        Write::ForgetAnswer {
                            tenant_id,
                            operation,
                            key,
                        } => {
                            idempotency::forget(txn, tenant_id, operation, key)?;
                        }
                        Write::Pending(event) => {
                            let key = keys::scoped(&event.tenant_id, &[&event.key]);
                            pending
                                .insert(key.as_str(), codec::encode(event.as_ref()).as_slice())?;
                        }
                        Write::Delivered { tenant_id, key } => {
                            pending.remove(keys::scoped(tenant_id, &[key]).as_str())?;
                        }
                    }
                }
                Ok(())
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant_id, operation = %operation))]
    async fn answer(
        &self,
        tenant_id: &str,
        operation: &str,
        key: &str,
        digest: &[u8; 32],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        // Read without taking the single write lock: a retry's lookup must not queue behind
        // commits.
        let (tenant_id, operation, key, digest) = (
            tenant_id.to_owned(),
            operation.to_owned(),
            key.to_owned(),
            *digest,
        );
        self.db
            .read(move |txn| idempotency::lookup(txn, &tenant_id, &operation, &key, &digest))
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant_id, contact = %contact_id))]
    async fn contact(
        &self,
        tenant_id: &str,
        contact_id: &str,
    ) -> Result<Option<ContactRecord>, StoreError> {
        let key = keys::scoped(tenant_id, &[contact_id]);
        self.db
            .read(move |txn| {
                let Some(table) = open_read(txn, CONTACTS)? else {
                    return Ok(None);
                };
                table
                    .get(key.as_str())?
                    .map(|v| codec::decode::<ContactRecord>(v.value()))
                    .transpose()
            })
            .await
    }

    async fn pending(&self, limit: usize) -> Result<Vec<PendingEvent>, StoreError> {
        self.db
            .read(move |txn| {
                let Some(table) = open_read(txn, PENDING)? else {
                    return Ok(Vec::new());
                };
                let mut found = Vec::new();
                for entry in table.iter()?.take(limit) {
                    let (_, value) = entry?;
                    found.push(codec::decode(value.value())?);
                }
                Ok(found)
            })
            .await
    }

    #[tracing::instrument(skip_all)]
    async fn load(&self) -> Result<Loaded, StoreError> {
        self.db
            .read(|txn| {
                let mut loaded = Loaded::default();
                if let Some(agents) = open_read(txn, AGENTS)? {
                    for entry in agents.iter()? {
                        let (key, value) = entry?;
                        let agent: Agent = codec::decode(value.value())?;
                        loaded.agents.push((tenant_of(key.value()), agent));
                    }
                }
                if let Some(queues) = open_read(txn, QUEUES)? {
                    for entry in queues.iter()? {
                        let (key, value) = entry?;
                        let queue: Queue = codec::decode(value.value())?;
                        loaded.queues.push((tenant_of(key.value()), queue));
                    }
                }
                if let (Some(live), Some(contacts)) =
                    (open_read(txn, LIVE)?, open_read(txn, CONTACTS)?)
                {
                    for entry in live.iter()? {
                        let (key, ()) = entry.map(|(k, v)| (k, v.value()))?;
                        if let Some(value) = contacts.get(key.value())? {
                            loaded.contacts.push(codec::decode(value.value())?);
                        }
                    }
                }
                Ok(loaded)
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant_id))]
    async fn customer_contacts(
        &self,
        tenant_id: &str,
        customer_id: &str,
    ) -> Result<Vec<ContactRecord>, StoreError> {
        // Erasure is rare: a scan of the tenant's contacts rather than an index kept on
        // every contact write.
        let (lo, hi) = keys::prefix_range(tenant_id);
        let customer_id = customer_id.to_owned();
        self.db
            .read(move |txn| {
                let Some(table) = open_read(txn, CONTACTS)? else {
                    return Ok(Vec::new());
                };
                let mut found = Vec::new();
                for entry in table.range(lo.as_str()..hi.as_str())? {
                    let (_, value) = entry?;
                    let record: ContactRecord = codec::decode(value.value())?;
                    if record.contact.customer_id == customer_id {
                        found.push(record);
                    }
                }
                Ok(found)
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant_id))]
    async fn customer_answers(
        &self,
        tenant_id: &str,
        customer_id: &str,
    ) -> Result<Vec<CustomerAnswer>, StoreError> {
        // Answers are keyed `tenant / operation / key`: the tenant's prefix holds them all.
        let (lo, hi) = keys::prefix_range(tenant_id);
        let customer_id = customer_id.to_owned();
        self.db
            .read(move |txn| {
                let Some(table) = open_read(txn, idempotency::TABLE)? else {
                    return Ok(Vec::new());
                };
                let mut found = Vec::new();
                for entry in table.range(lo.as_str()..hi.as_str())? {
                    let (key, value) = entry?;
                    let Some((operation, key)) = key.value()[lo.len()..].split_once(keys::SEP)
                    else {
                        continue;
                    };
                    let answer = idempotency::answer(value.value())?;
                    if let Some(contact_id) = answered_contact(operation, answer, &customer_id) {
                        found.push(CustomerAnswer {
                            operation: operation.to_owned(),
                            key: key.to_owned(),
                            contact_id,
                        });
                    }
                }
                Ok(found)
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant_id))]
    async fn job(&self, tenant_id: &str, key: &str) -> Result<Option<ErasureJob>, StoreError> {
        let key = keys::scoped(tenant_id, &[key]);
        self.db
            .read(move |txn| {
                let Some(table) = open_read(txn, JOBS)? else {
                    return Ok(None);
                };
                table
                    .get(key.as_str())?
                    .map(|v| codec::decode::<ErasureJob>(v.value()))
                    .transpose()
            })
            .await
    }

    #[tracing::instrument(skip_all)]
    async fn open_jobs(&self) -> Result<Vec<ErasureJob>, StoreError> {
        self.db
            .read(|txn| {
                let Some(table) = open_read(txn, JOBS)? else {
                    return Ok(Vec::new());
                };
                let mut jobs = Vec::new();
                for entry in table.iter()? {
                    let (_, value) = entry?;
                    jobs.push(codec::decode(value.value())?);
                }
                Ok(jobs)
            })
            .await
    }
}

/// The tenant part of a scoped key.
fn tenant_of(key: &str) -> String {
    key.split(keys::SEP).next().unwrap_or_default().to_owned()
}
