//! The audit log's two backends: the [`AuditSink`]s the server records privileged calls in.
//!
//! Records are the contract's `AuditRecord` messages, keyed by tenant, then time (microseconds
//! since the epoch, zero-padded so keys sort by time), then record id: listing one tenant's
//! records in time order is one range scan, and writing a record again with the same tenant,
//! time and id replaces it (the server writes each record twice: attempted, then answered).
//!
//! - [`EmbeddedAuditLog`]: one table in `audit.redb` in the data directory, for every service
//!   of the process. Each write commits with `fsync`. Like every embedded file, it belongs to
//!   one process at a time: services split over several processes need a data directory each.
//! - [`RedisAuditLog`]: per tenant, a sorted set of keys ordered by their bytes (every score
//!   0, read with `ZRANGEBYLEX`) and a hash from key to record, both under the hash tag
//!   `baton:audit:{<tenant>}`, written together by one guarded commit (so durable as every
//!   Redis commit: appendfsync always, and the configured replicas).

use std::ops::Bound;

use baton_auth::{
    AuditError, AuditSink,
    audit::{AuditCursor, AuditFuture, AuditPage, AuditQuery, record_micros},
};
use baton_proto::v1::AuditRecord;
use redb::TableDefinition;

use crate::{
    EmbeddedDb, StoreError, codec, keys,
    redis_db::{RedisDb, Writes},
};

/// `tenant / time / record id` to the encoded record.
const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("audit_records");

/// A record's key within its tenant: `<time, 20 digits><0x1F><record id>`.
fn position(micros: u64, record_id: &str) -> String {
    let mut key = keys::seq(micros);
    key.push(keys::SEP);
    key.push_str(record_id);
    key
}

fn audit_error(error: StoreError) -> AuditError {
    AuditError(error.to_string())
}

/// The page made of `found` (at most one more than `limit`, in order).
fn page(mut found: Vec<AuditRecord>, limit: usize) -> AuditPage {
    let next = if found.len() > limit {
        found.truncate(limit);
        found.last().map(AuditCursor::of)
    } else {
        None
    };
    AuditPage {
        records: found,
        next,
    }
}

/// The audit log in `audit.redb`.
#[derive(Clone, Debug)]
pub struct EmbeddedAuditLog {
    db: EmbeddedDb,
}

impl EmbeddedAuditLog {
    /// Opens (creating if needed) `<data_dir>/audit.redb`.
    pub fn open(data_dir: &std::path::Path) -> Result<Self, StoreError> {
        Ok(Self {
            db: EmbeddedDb::open(data_dir, "audit")?,
        })
    }
}

impl AuditSink for EmbeddedAuditLog {
    fn put(&self, record: AuditRecord) -> AuditFuture<()> {
        let db = self.db.clone();
        Box::pin(async move {
            let key = keys::scoped(
                &record.tenant_id,
                &[&position(record_micros(&record), &record.record_id)],
            );
            let value = codec::encode(&record);
            db.write(move |txn| -> Result<(), StoreError> {
                txn.open_table(RECORDS)?
                    .insert(key.as_str(), value.as_slice())?;
                Ok(())
            })
            .await
            .map_err(audit_error)
        })
    }

    fn list(&self, query: AuditQuery) -> AuditFuture<AuditPage> {
        let db = self.db.clone();
        Box::pin(async move {
            let tenant = query.tenant_id.as_str();
            let start = keys::scoped(tenant, &[&keys::seq(query.start_micros)]);
            let end = keys::scoped(tenant, &[&keys::seq(query.end_micros)]);
            // After the previous page's last record, or from the start of the range.
            let (lower, exclusive) = match &query.after {
                Some(after) => {
                    let after = keys::scoped(tenant, &[&position(after.micros, &after.record_id)]);
                    if after >= start {
                        (after, true)
                    } else {
                        (start, false)
                    }
                }
                None => (start, false),
            };
            if lower >= end {
                return Ok(AuditPage::default());
            }
            let limit = query.limit.max(1);
            let found = db
                .read(move |txn| -> Result<Vec<AuditRecord>, StoreError> {
                    let Some(table) = crate::open_read(txn, RECORDS)? else {
                        return Ok(Vec::new());
                    };
                    let from = if exclusive {
                        Bound::Excluded(lower.as_str())
                    } else {
                        Bound::Included(lower.as_str())
                    };
                    let mut found = Vec::new();
                    for entry in table.range::<&str>((from, Bound::Excluded(end.as_str())))? {
                        let (_, value) = entry?;
                        found.push(codec::decode(value.value())?);
                        if found.len() > limit {
                            break;
                        }
                    }
                    Ok(found)
                })
                .await
                .map_err(audit_error)?;
            Ok(page(found, limit))
        })
    }
}

/// The audit log on Redis, on a connection of its own (`RedisDb` for service `audit`).
#[derive(Clone, Debug)]
pub struct RedisAuditLog {
    db: RedisDb,
}

impl RedisAuditLog {
    /// The log on `db`, which must have been connected for service `"audit"` so that its
    /// keys are `baton:audit:{<tenant>}:...`.
    pub fn new(db: RedisDb) -> Self {
        Self { db }
    }
}

impl AuditSink for RedisAuditLog {
    fn put(&self, record: AuditRecord) -> AuditFuture<()> {
        let db = self.db.clone();
        Box::pin(async move {
            let tenant = record.tenant_id.as_str();
            let member = position(record_micros(&record), &record.record_id);
            let mut writes = Writes::new();
            writes
                .zadd(&db.key(tenant, &["index"]), 0.0, member.as_bytes())
                .hset(
                    &db.key(tenant, &["records"]),
                    member.as_bytes(),
                    &codec::encode(&record),
                );
            db.commit_checked(&db.key(tenant, &["version"]), &writes)
                .await
                .map_err(audit_error)?;
            Ok(())
        })
    }

    fn list(&self, query: AuditQuery) -> AuditFuture<AuditPage> {
        let db = self.db.clone();
        Box::pin(async move {
            let tenant = query.tenant_id.as_str();
            let start = keys::seq(query.start_micros);
            let min = match &query.after {
                Some(after) if keys::seq(after.micros) >= start => {
                    format!("({}", position(after.micros, &after.record_id))
                }
                _ => format!("[{start}"),
            };
            let max = format!("({}", keys::seq(query.end_micros));
            if min[1..] >= max[1..] {
                return Ok(AuditPage::default());
            }
            let limit = query.limit.max(1);
            let mut conn = db.conn();
            let members: Vec<Vec<u8>> = redis::cmd("ZRANGEBYLEX")
                .arg(db.key(tenant, &["index"]))
                .arg(&min)
                .arg(&max)
                .arg("LIMIT")
                .arg(0)
                .arg(limit + 1)
                .query_async(&mut conn)
                .await
                .map_err(|e| audit_error(e.into()))?;
            if members.is_empty() {
                return Ok(AuditPage::default());
            }
            // Records are only ever added or replaced, so every member read has its record.
            let values: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
                .arg(db.key(tenant, &["records"]))
                .arg(&members)
                .query_async(&mut conn)
                .await
                .map_err(|e| audit_error(e.into()))?;
            let mut found = Vec::with_capacity(values.len());
            for value in values {
                let value = value.ok_or_else(|| {
                    AuditError("an indexed audit record is missing its value".into())
                })?;
                found.push(codec::decode(&value).map_err(audit_error)?);
            }
            Ok(page(found, limit))
        })
    }
}

#[cfg(test)]
mod conformance;
