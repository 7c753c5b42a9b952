use std::{
    fmt,
    path::Path,
    sync::{Arc, Condvar, Mutex},
};

use redb::{Database, Durability, ReadTransaction, ReadableDatabase, WriteTransaction};
use tokio::sync::Semaphore;

use crate::StoreError;

/// One service's redb database, shareable across tasks.
///
/// # Group commit
///
/// Writes are durable when [`write`](Self::write) returns, and concurrent writers share the
/// `fsync` that makes them so. Each write is its own transaction (all or nothing, as before),
/// committed without syncing (redb's `Durability::None`), and then waits for a *flush*: an
/// empty transaction committed with `Durability::Immediate`, which makes every commit before
/// it durable. One writer at a time runs a flush; whoever arrives while one runs waits for the
/// next, which covers everything committed meanwhile. So under load one `fsync` serves many
/// writers and throughput grows with concurrency, while alone a writer pays what it paid
/// before (a commit and an `fsync`).
///
/// A read may see a commit that is not durable yet; before it returns, it waits for the flush
/// that covers every commit it could have seen, so nothing answered from a read (a
/// remembered answer replayed, a history) can be lost by a crash either. A read while nothing
/// is pending waits for nothing.
///
/// # Bounded reads
///
/// At most `READERS` (8) reads run on the blocking pool at once; the others wait for a turn
/// without holding a thread. Reads are short and CPU-bound, so more at once would only queue
/// for the cores, while each would keep a blocking thread (and its stack and allocator
/// cache) alive: ten thousand watches opening together would otherwise start hundreds.
/// A turn ends when the read transaction does, before any wait for durability, so a read
/// waiting for a flush never holds up the others.
#[derive(Clone)]
pub struct EmbeddedDb {
    /// Shared by every clone; redb allows many readers and one writer at a time.
    db: Arc<Database>,
    /// What is committed and what is durable (see above).
    group: Arc<Group>,
    /// Turns for reads on the blocking pool (see above).
    readers: Arc<Semaphore>,
    /// The service name: what `Debug` shows (redb's own `Debug` shows nothing).
    name: Arc<str>,
}

/// How far commits and flushes have got.
#[derive(Debug, Default)]
struct Progress {
    /// Commits made so far (each counted as it begins to commit, while it still holds the
    /// database's one write transaction).
    committed: u64,
    /// Every commit up to this count is durable.
    durable: u64,
    /// Writers inside a write transaction (begun, not yet committed or aborted).
    writing: u32,
    /// A flush is running.
    flushing: bool,
    /// Flushes run so far.
    flushes: u64,
    /// The last flush failed with this, for everyone it would have covered.
    failed: Option<(u64, String)>,
}

/// The group commit's shared state; its waits run on the blocking pool.
#[derive(Debug, Default)]
struct Group {
    progress: Mutex<Progress>,
    flushed: Condvar,
    /// Signalled when the last writer inside a transaction leaves it.
    idle: Condvar,
}

/// Longest a flush waits for the writers already inside a transaction to commit, so that it
/// covers them too: redb holds its one write transaction through a commit's `fsync`, so a
/// writer that gets in after the flush waits for it and then for the next one.
const GATHER: std::time::Duration = std::time::Duration::from_millis(2);

/// Reads of one database running on the blocking pool at once.
const READERS: usize = 8;

/// A writer inside a write transaction, counted until it leaves.
struct Writing<'a>(&'a Group);

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        let mut progress = self.0.lock();
        progress.writing -= 1;
        if progress.writing == 0 {
            self.0.idle.notify_all();
        }
    }
}

impl Group {
    fn lock(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a writer entering a write transaction.
    fn writing(&self) -> Writing<'_> {
        self.lock().writing += 1;
        Writing(self)
    }

    /// Counts a commit about to be made; the number to wait for.
    fn committing(&self) -> u64 {
        let mut progress = self.lock();
        progress.committed += 1;
        progress.committed
    }

    /// The count every commit a read that began before now could see is within.
    fn seen(&self) -> u64 {
        self.lock().committed
    }

    /// Returns once every commit up to `upto` is durable, flushing when nobody else is.
    fn wait_durable(&self, db: &Database, upto: u64) -> Result<(), StoreError> {
        let mut progress = self.lock();
        loop {
            if progress.durable >= upto {
                return Ok(());
            }
            if let Some((covered, err)) = &progress.failed
                && *covered >= upto
            {
                return Err(StoreError::Backend(format!(
                    "the commit was written but could not be made durable: {err}"
                )));
            }
            if progress.flushing {
                progress = self
                    .flushed
                    .wait(progress)
                    .unwrap_or_else(|p| p.into_inner());
                continue;
            }
            progress.flushing = true;
            // Let the writers already in a transaction commit first, so this flush covers
            // them, within a bound so that a steady stream of writers never starves it.
            let gathered = std::time::Instant::now() + GATHER;
            while progress.writing > 0 {
                let left = gathered.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                progress = self
                    .idle
                    .wait_timeout(progress, left)
                    .map(|(p, _)| p)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
            // Everything counted now has committed or holds the write transaction, so the
            // flush, whose transaction begins after, covers it.
            let target = progress.committed;
            drop(progress);
            let flushed = flush(db);
            progress = self.lock();
            progress.flushing = false;
            progress.flushes += 1;
            match flushed {
                Ok(()) => {
                    progress.durable = progress.durable.max(target);
                    progress.failed = None;
                }
                Err(err) => progress.failed = Some((target, err.to_string())),
            }
            self.flushed.notify_all();
        }
    }
}

/// Makes every commit before it durable: an empty transaction committed with `fsync`.
fn flush(db: &Database) -> Result<(), StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    txn.commit()?;
    Ok(())
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
            group: Arc::default(),
            readers: Arc::new(Semaphore::new(READERS)),
            name: name.into(),
        })
    }

    /// Runs `f` in a write transaction on this thread and commits it durably when it returns
    /// `Ok`: for what a store does once as it opens (dropping tables an earlier version kept),
    /// before any other work shares the database.
    pub fn write_now<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&WriteTransaction) -> Result<T, StoreError>,
    {
        let _writing = self.group.writing();
        let txn = self.db.begin_write()?;
        let value = f(&txn)?;
        txn.commit()?;
        Ok(value)
    }

    /// How many `fsync`ing flushes have run, for seeing how many writers shared each.
    pub fn flushes(&self) -> u64 {
        self.group.lock().flushes
    }

    /// Runs `f` in a read transaction on the blocking pool; returns once whatever it could
    /// have seen is durable.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&ReadTransaction) -> Result<T, E> + Send + 'static,
    {
        let (db, group) = (Arc::clone(&self.db), Arc::clone(&self.group));
        let turn = Arc::clone(&self.readers)
            .acquire_owned()
            .await
            .map_err(|e| E::from(StoreError::Task(e.to_string())))?;
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(StoreError::from)?;
            // Read after the transaction began: every commit it sees is counted.
            let seen = group.seen();
            let value = f(&txn);
            drop(txn);
            drop(turn);
            let value = value?;
            group.wait_durable(&db, seen)?;
            Ok(value)
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
        let (db, group) = (Arc::clone(&self.db), Arc::clone(&self.group));
        tokio::task::spawn_blocking(move || {
            let (value, mine) = {
                let _writing = group.writing();
                let mut txn = db.begin_write().map_err(StoreError::from)?;
                txn.set_durability(Durability::None)
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
                let value = f(&txn)?;
                // Counted before it commits, so a read that sees it counts it too; a flush
                // that counts it begins after it (redb's one writer at a time), so covers it.
                let mine = group.committing();
                txn.commit().map_err(StoreError::from)?;
                (value, mine)
            };
            group.wait_durable(&db, mine)?;
            Ok(value)
        })
        .await
        .map_err(|e| E::from(StoreError::Task(e.to_string())))?
    }
}

#[cfg(test)]
mod tests {
    use redb::{ReadableTableMetadata, TableDefinition};

    use super::*;

    const T: TableDefinition<&str, u64> = TableDefinition::new("t");

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_share_flushes_and_every_write_survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let writers = 64;
        {
            let db = EmbeddedDb::open(dir.path(), "svc").expect("open");
            let mut tasks = Vec::new();
            for i in 0..writers {
                let db = db.clone();
                tasks.push(tokio::spawn(async move {
                    db.write(move |txn| -> Result<(), StoreError> {
                        txn.open_table(T)?.insert(format!("k{i}").as_str(), i)?;
                        Ok(())
                    })
                    .await
                }));
            }
            for task in tasks {
                task.await.expect("task").expect("write");
            }
            assert!(
                db.flushes() < writers,
                "{} flushes for {writers} concurrent writers: none shared",
                db.flushes()
            );
            // A failed write in between commits nothing of its own.
            let failed: Result<(), StoreError> = db
                .write(|txn| {
                    txn.open_table(T)?.insert("dropped", 0)?;
                    Err(StoreError::Backend("refused".into()))
                })
                .await;
            assert!(failed.is_err());
        }
        let db = EmbeddedDb::open(dir.path(), "svc").expect("reopen");
        let (count, dropped) = db
            .read(|txn| -> Result<(u64, bool), StoreError> {
                let table = txn.open_table(T)?;
                Ok((table.len()?, table.get("dropped")?.is_some()))
            })
            .await
            .expect("read");
        assert_eq!(
            count, writers,
            "every acknowledged write is there after reopening"
        );
        assert!(!dropped);
    }

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
