//! Remembered answers to mutating requests.
//!
//! A mutating RPC looks its key up first, inside the write transaction that will make the
//! change; if an answer is there it is returned as it was, and nothing changes. Otherwise the
//! change and the encoded answer commit together, so a crash can never leave one without the
//! other.
//!
//! A key is bound to the request it first came with: a record is the request's digest
//! followed by the answer ([`seal`]), and a key that comes back with a different request is
//! refused ([`open`]: [`StoreError::KeyReused`]), never answered with the first request's
//! result. Redis backends store the same records, so they use [`seal`] and [`open`] too.

use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

use crate::{StoreError, keys};

/// `tenant / operation / key` to the record: the request's digest, then the encoded answer.
pub const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("idempotency");

/// Length of the request digest that starts every record.
pub const DIGEST_LEN: usize = 32;

fn key(tenant: &str, operation: &str, idempotency_key: &str) -> String {
    keys::scoped(tenant, &[operation, idempotency_key])
}

/// The record remembering `answer` to the request whose digest is `digest`.
pub fn seal(digest: &[u8; DIGEST_LEN], answer: &[u8]) -> Vec<u8> {
    let mut record = Vec::with_capacity(DIGEST_LEN + answer.len());
    record.extend_from_slice(digest);
    record.extend_from_slice(answer);
    record
}

/// The answer `record` remembers, for a request whose digest is `digest`; `KeyReused` when
/// the record was written for a different `operation` request under the same key.
pub fn open(
    record: &[u8],
    digest: &[u8; DIGEST_LEN],
    operation: &str,
) -> Result<Vec<u8>, StoreError> {
    let (stored, answer) = split(record)?;
    if stored != digest {
        return Err(StoreError::KeyReused {
            operation: operation.to_owned(),
        });
    }
    Ok(answer.to_vec())
}

/// The answer `record` remembers, whatever request it was for: for erasure, which looks
/// through every answer of a tenant for the customers it names.
pub fn answer(record: &[u8]) -> Result<&[u8], StoreError> {
    split(record).map(|(_, answer)| answer)
}

fn split(record: &[u8]) -> Result<(&[u8], &[u8]), StoreError> {
    if record.len() < DIGEST_LEN {
        return Err(StoreError::Corrupt(format!(
            "idempotency record of {} bytes is shorter than its digest",
            record.len()
        )));
    }
    Ok(record.split_at(DIGEST_LEN))
}

/// The answer remembered for this key, if any; `KeyReused` when it was for a request other
/// than the one whose digest is `digest`.
pub fn recall(
    txn: &WriteTransaction,
    tenant: &str,
    operation: &str,
    idempotency_key: &str,
    digest: &[u8; DIGEST_LEN],
) -> Result<Option<Vec<u8>>, StoreError> {
    let table = txn.open_table(TABLE)?;
    let found = table.get(key(tenant, operation, idempotency_key).as_str())?;
    found
        .map(|v| open(v.value(), digest, operation))
        .transpose()
}

/// [`recall`], read without taking the write lock (for a fast path before the write; the
/// write must still `recall`, since another may have answered since).
pub fn lookup(
    txn: &ReadTransaction,
    tenant: &str,
    operation: &str,
    idempotency_key: &str,
    digest: &[u8; DIGEST_LEN],
) -> Result<Option<Vec<u8>>, StoreError> {
    let Some(table) = crate::open_read(txn, TABLE)? else {
        return Ok(None);
    };
    let found = table.get(key(tenant, operation, idempotency_key).as_str())?;
    found
        .map(|v| open(v.value(), digest, operation))
        .transpose()
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

/// Remembers the answer to the request whose digest is `digest` under this key, in the
/// caller's transaction.
pub fn remember(
    txn: &WriteTransaction,
    tenant: &str,
    operation: &str,
    idempotency_key: &str,
    digest: &[u8; DIGEST_LEN],
    answer: &[u8],
) -> Result<(), StoreError> {
    let mut table = txn.open_table(TABLE)?;
    table.insert(
        key(tenant, operation, idempotency_key).as_str(),
        seal(digest, answer).as_slice(),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EmbeddedDb;

    const FIRST: [u8; DIGEST_LEN] = [1; DIGEST_LEN];
    const OTHER: [u8; DIGEST_LEN] = [2; DIGEST_LEN];

    #[tokio::test]
    async fn an_answer_is_found_by_read_and_write_transactions_until_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = EmbeddedDb::open(dir.path(), "t").expect("open");
        let nothing_yet = db
            .read(|txn| lookup(txn, "t1", "op", "k", &FIRST))
            .await
            .expect("read before any table exists");
        assert_eq!(nothing_yet, None);
        db.write(|txn| remember(txn, "t1", "op", "k", &FIRST, b"answer"))
            .await
            .expect("remember");
        let read = db
            .read(|txn| lookup(txn, "t1", "op", "k", &FIRST))
            .await
            .expect("lookup");
        assert_eq!(read.as_deref(), Some(&b"answer"[..]));
        let other_tenant = db
            .read(|txn| lookup(txn, "t2", "op", "k", &FIRST))
            .await
            .expect("lookup");
        assert_eq!(other_tenant, None);
        let (recalled, forgotten, again) = db
            .write(|txn| {
                Ok::<_, StoreError>((
                    recall(txn, "t1", "op", "k", &FIRST)?,
                    forget(txn, "t1", "op", "k")?,
                    forget(txn, "t1", "op", "k")?,
                ))
            })
            .await
            .expect("forget");
        assert_eq!(recalled.as_deref(), Some(&b"answer"[..]));
        assert!(forgotten && !again);
        let gone = db
            .read(|txn| lookup(txn, "t1", "op", "k", &FIRST))
            .await
            .expect("lookup");
        assert_eq!(gone, None);
    }

    #[tokio::test]
    async fn a_key_reused_for_a_different_request_is_refused_by_both_reads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = EmbeddedDb::open(dir.path(), "t").expect("open");
        db.write(|txn| remember(txn, "t1", "op", "k", &FIRST, b"answer"))
            .await
            .expect("remember");
        let read = db.read(|txn| lookup(txn, "t1", "op", "k", &OTHER)).await;
        assert!(
            matches!(&read, Err(StoreError::KeyReused { operation }) if operation == "op"),
            "{read:?}"
        );
        let recalled = db.write(|txn| recall(txn, "t1", "op", "k", &OTHER)).await;
        assert!(
            matches!(recalled, Err(StoreError::KeyReused { .. })),
            "{recalled:?}"
        );
        let first = db
            .read(|txn| lookup(txn, "t1", "op", "k", &FIRST))
            .await
            .expect("the first request still gets its answer");
        assert_eq!(first.as_deref(), Some(&b"answer"[..]));
    }

    #[test]
    fn a_sealed_record_opens_only_for_its_own_request() {
        let record = seal(&FIRST, b"answer");
        assert_eq!(record.len(), DIGEST_LEN + 6);
        assert_eq!(
            open(&record, &FIRST, "op").expect("same request"),
            b"answer"
        );
        assert_eq!(answer(&record).expect("answer"), b"answer");
        let reused = open(&record, &OTHER, "Append").expect_err("different request");
        assert_eq!(
            reused.to_string(),
            "idempotency key was already used with a different Append request"
        );
        let empty = seal(&FIRST, b"");
        assert_eq!(open(&empty, &FIRST, "op").expect("empty answer"), b"");
        for short in [&b""[..], &record[..DIGEST_LEN - 1]] {
            assert!(matches!(
                open(short, &FIRST, "op"),
                Err(StoreError::Corrupt(_))
            ));
            assert!(matches!(answer(short), Err(StoreError::Corrupt(_))));
        }
    }
}
