use std::{fmt, path::Path, sync::Arc};

use redb::{Database, ReadTransaction, ReadableDatabase, WriteTransaction};

use crate::StoreError;

/// One service's redb database, shareable across tasks.
///
/// Every write commits with redb's default durability (the commit returns after `fsync`), so
/// an acknowledged RPC survives a crash of the process or the machine.
#[derive(Clone)]
pub struct EmbeddedDb {
    /// Shared by every clone; redb allows many readers and one writer at a time.
    db: Arc<Database>,
    /// The service name: what `Debug` shows (redb's own `Debug` shows nothing).
    name: Arc<str>,
}

impl fmt::Debug for EmbeddedDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedDb")
            .field("name", &self.name)
            .finish()
    }
}

impl EmbeddedDb {
    /// Opens (creating if needed) `<data_dir>/<name>.redb`, creating the directory too.
    pub fn open(data_dir: &Path, name: &str) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Backend(format!(
                "cannot create data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(format!("{name}.redb"));
        let db = Database::create(&path)
            .map_err(|e| StoreError::Backend(format!("cannot open {}: {e}", path.display())))?;
        Ok(Self {
            db: Arc::new(db),
            name: name.into(),
        })
    }

    /// Runs `f` in a read transaction on the blocking pool.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&ReadTransaction) -> Result<T, E> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(StoreError::from)?;
            f(&txn)
        })
        .await
        .map_err(|e| E::from(StoreError::Task(e.to_string())))?
    }

    /// Runs `f` in a write transaction on the blocking pool and commits when it returns `Ok`;
    /// an `Err` aborts the transaction and nothing is written.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T, E> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_write().map_err(StoreError::from)?;
            let value = f(&txn)?;
            txn.commit().map_err(StoreError::from)?;
            Ok(value)
        })
        .await
        .map_err(|e| E::from(StoreError::Task(e.to_string())))?
    }
}

#[cfg(test)]
mod tests {
    use redb::TableDefinition;

    use super::*;

    const T: TableDefinition<&str, u64> = TableDefinition::new("t");

    #[tokio::test]
    async fn committed_writes_survive_reopen_and_failed_writes_leave_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let db = EmbeddedDb::open(dir.path(), "svc").expect("open");
            db.write(|txn| -> Result<(), StoreError> {
                txn.open_table(T)?.insert("kept", 1)?;
                Ok(())
            })
            .await
            .expect("write");
            let failed: Result<(), StoreError> = db
                .write(|txn| {
                    txn.open_table(T)?.insert("dropped", 2)?;
                    Err(StoreError::Backend("refused".into()))
                })
                .await;
            assert!(failed.is_err());
        }
        let db = EmbeddedDb::open(dir.path(), "svc").expect("reopen");
        let (kept, dropped) = db
            .read(|txn| -> Result<_, StoreError> {
                let t = txn.open_table(T)?;
                Ok((
                    t.get("kept")?.map(|v| v.value()),
                    t.get("dropped")?.map(|v| v.value()),
                ))
            })
            .await
            .expect("read");
        assert_eq!(kept, Some(1));
        assert_eq!(dropped, None);
    }
}
