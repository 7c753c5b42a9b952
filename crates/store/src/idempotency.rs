//! Remembered answers to mutating requests.
//!
//! A mutating RPC looks its key up first, inside the write transaction that will make the
//! change; if an answer is there it is returned as it was, and nothing changes. Otherwise the
//! change and the encoded answer commit together, so a crash can never leave one without the
//! other.

use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

use crate::{StoreError, keys};

/// `tenant / operation / key` to the encoded answer.
pub const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("idempotency");

fn key(tenant: &str, operation: &str, idempotency_key: &str) -> String {
    keys::scoped(tenant, &[operation, idempotency_key])
}

/// The answer remembered for this key, if any.
pub fn recall(
    txn: &WriteTransaction,
    tenant: &str,
    operation: &str,
    idempotency_key: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let table = txn.open_table(TABLE)?;
    let found = table.get(key(tenant, operation, idempotency_key).as_str())?;
    Ok(found.map(|v| v.value().to_vec()))
}

/// The answer remembered for this key, read without taking the write lock (for a fast path
/// before the write; the write must still `recall`, since another may have answered since).
pub fn lookup(
    txn: &ReadTransaction,
    tenant: &str,
    operation: &str,
    idempotency_key: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let Some(table) = crate::open_read(txn, TABLE)? else {
        return Ok(None);
    };
    let found = table.get(key(tenant, operation, idempotency_key).as_str())?;
    Ok(found.map(|v| v.value().to_vec()))
}

/// Forgets the answer for this key (erasure: the answer may describe the erased customer).
/// Whether there was one.
pub fn forget(
    txn: &WriteTransaction,
    tenant: &str,
    operation: &str,
    idempotency_key: &str,
) -> Result<bool, StoreError> {
    let mut table = txn.open_table(TABLE)?;
    let removed = table.remove(key(tenant, operation, idempotency_key).as_str())?;
    Ok(removed.is_some())
}

/// Remembers the answer for this key, in the caller's transaction.
pub fn remember(
    txn: &WriteTransaction,
    tenant: &str,
    operation: &str,
    idempotency_key: &str,
    answer: &[u8],
) -> Result<(), StoreError> {
    let mut table = txn.open_table(TABLE)?;
    table.insert(key(tenant, operation, idempotency_key).as_str(), answer)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EmbeddedDb;

    #[tokio::test]
    async fn an_answer_is_found_by_read_and_write_transactions_until_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = EmbeddedDb::open(dir.path(), "t").expect("open");
        let nothing_yet = db
            .read(|txn| lookup(txn, "t1", "op", "k"))
            .await
            .expect("read before any table exists");
        assert_eq!(nothing_yet, None);
        db.write(|txn| remember(txn, "t1", "op", "k", b"answer"))
            .await
            .expect("remember");
        let read = db
            .read(|txn| lookup(txn, "t1", "op", "k"))
            .await
            .expect("lookup");
        assert_eq!(read.as_deref(), Some(&b"answer"[..]));
        let other_tenant = db
            .read(|txn| lookup(txn, "t2", "op", "k"))
            .await
            .expect("lookup");
        assert_eq!(other_tenant, None);
        let (recalled, forgotten, again) = db
            .write(|txn| {
                Ok::<_, StoreError>((
                    recall(txn, "t1", "op", "k")?,
                    forget(txn, "t1", "op", "k")?,
                    forget(txn, "t1", "op", "k")?,
                ))
            })
            .await
            .expect("forget");
        assert_eq!(recalled.as_deref(), Some(&b"answer"[..]));
        assert!(forgotten && !again);
        let gone = db
            .read(|txn| lookup(txn, "t1", "op", "k"))
            .await
            .expect("lookup");
        assert_eq!(gone, None);
    }
}
