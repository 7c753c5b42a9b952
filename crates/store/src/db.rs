use std::{
    collections::VecDeque,
    fmt,
    panic::{AssertUnwindSafe, catch_unwind},
    path::Path,
    sync::{
        Arc, Condvar, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
};

use redb::{Database, Durability, ReadTransaction, ReadableDatabase, WriteTransaction};
use tokio::sync::Semaphore;

use crate::StoreError;

/// One service's redb database, shareable across tasks.
///
/// # Group commit
///
/// Writes are durable when [`write`](Self::write) returns, and writers that arrive together
/// share one transaction and the one `fsync` that commits it. A writer hands its write to a
/// queue; whoever finds no transaction running becomes the *leader*: it takes everything
/// queued (up to `BATCH`, 256), runs the writes one after another in a single write
/// transaction and commits it durably (redb's `Durability::Immediate`). Writers that arrive
/// meanwhile queue for the next one. So under load one transaction and one `fsync` serve many
/// writers and throughput grows with concurrency, while alone a writer pays what one
/// transaction costs.
///
/// Each write still behaves as a transaction of its own, in the order the writes queued: a
/// write sees what the writes before it in the batch wrote, and one that fails (returns
/// `Err` or panics) leaves nothing behind. The leader then aborts the batch, gives that
/// writer its error and runs the others again in the next one. That is why a write is an
/// `FnMut`: it may run more than once, and only its last run counts, so it must not act
/// outside the transaction it is given.
///
/// redb makes a durable commit visible to readers only once it is on disk, so a read never
/// sees what a crash could lose and never waits.
///
/// # Bounded reads
///
/// At most `READERS` (8) reads run on the blocking pool at once; the others wait for a turn
/// without holding a thread. Reads are short and CPU-bound, so more at once would only queue
/// for the cores, while each would keep a blocking thread (and its stack and allocator
/// cache) alive: ten thousand watches opening together would otherwise start hundreds.
#[derive(Clone)]
pub struct EmbeddedDb {
    /// Shared by every clone; redb allows many readers and one writer at a time.
    db: Arc<Database>,
    /// Writes waiting for a transaction, and whether one is running (see above).
    group: Arc<Group>,
    /// Turns for reads on the blocking pool (see above).
    readers: Arc<Semaphore>,
    /// The service name: what `Debug` shows (redb's own `Debug` shows nothing).
    name: Arc<str>,
}

/// Most writes one transaction carries: enough that a burst shares a commit, few enough
/// that no writer waits behind a long transaction.
const BATCH: usize = 256;

/// Reads of one database running on the blocking pool at once.
const READERS: usize = 8;

/// A queued write, as the leader sees it: whatever its result type.
trait Job: Send {
    /// Runs the write in `txn` and keeps its result; false when it failed.
    fn run(&mut self, txn: &WriteTransaction) -> bool;
    /// The transaction it ran in could not commit: its writer gets this error.
    fn fail(&mut self, err: &StoreError);
}

/// One writer's write and what came of its last run.
struct Pending<T, E, F> {
    write: F,
    outcome: Option<Result<T, E>>,
}

impl<T, E, F> Job for Pending<T, E, F>
where
    T: Send,
    E: From<StoreError> + Send,
    F: FnMut(&WriteTransaction) -> Result<T, E> + Send,
{
    fn run(&mut self, txn: &WriteTransaction) -> bool {
        let outcome = catch_unwind(AssertUnwindSafe(|| (self.write)(txn))).unwrap_or_else(|_| {
            Err(E::from(StoreError::Task(
                "the write panicked; nothing of it was kept".into(),
            )))
        });
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn fail(&mut self, err: &StoreError) {
        self.outcome = Some(Err(E::from(StoreError::Backend(format!(
            "the write could not be committed: {err}"
        )))));
    }
}

/// A queued write and whether its outcome is final.
struct Member<J: ?Sized> {
    settled: AtomicBool,
    job: Mutex<J>,
}

impl<J: ?Sized> Member<J> {
    fn job(&self) -> MutexGuard<'_, J> {
        self.job.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn settle(&self) {
        self.settled.store(true, Ordering::Release);
    }
}

type Queued = Arc<Member<dyn Job>>;

/// What is queued and whether a leader is running a transaction.
#[derive(Default)]
struct Queue {
    waiting: VecDeque<Queued>,
    leading: bool,
    /// Transactions committed so far.
    commits: u64,
}

/// The group commit's shared state; its waits run on the blocking pool.
#[derive(Default)]
struct Group {
    queue: Mutex<Queue>,
    /// Signalled when a leader is done: its writers are settled and another may lead.
    led: Condvar,
}

impl Group {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `member` and returns once it is settled, leading transactions while nobody else
    /// does.
    fn submit(&self, db: &Database, member: Queued) {
        let mut queue = self.lock();
        queue.waiting.push_back(Arc::clone(&member));
        loop {
            if member.settled.load(Ordering::Acquire) {
                return;
            }
            if queue.leading {
                queue = self.led.wait(queue).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            queue.leading = true;
            let take = queue.waiting.len().min(BATCH);
            let batch: Vec<Queued> = queue.waiting.drain(..take).collect();
            drop(queue);
            let (retry, committed) = lead(db, batch);
            queue = self.lock();
            // The writes to run again go first, in the order they queued.
            for member in retry.into_iter().rev() {
                queue.waiting.push_front(member);
            }
            queue.commits += u64::from(committed);
            queue.leading = false;
            self.led.notify_all();
        }
    }
}

/// Runs `batch` in one durable transaction and settles it. When a write fails, the others
/// are not committed and come back to run again (with the failed one settled); whether a
/// transaction was committed.
fn lead(db: &Database, batch: Vec<Queued>) -> (Vec<Queued>, bool) {
    let txn = match begin(db) {
        Ok(txn) => txn,
        Err(err) => {
            for member in &batch {
                member.job().fail(&err);
                member.settle();
            }
            return (Vec::new(), false);
        }
    };
    for (i, member) in batch.iter().enumerate() {
        if !member.job().run(&txn) {
            // Aborted when dropped: nothing of this batch is kept.
            drop(txn);
            member.settle();
            let mut retry = batch;
            retry.remove(i);
            return (retry, false);
        }
    }
    let committed = txn.commit().map_err(StoreError::from);
    for member in &batch {
        if let Err(err) = &committed {
            member.job().fail(err);
        }
        member.settle();
    }
    (Vec::new(), committed.is_ok())
}

/// A write transaction that commits durably.
fn begin(db: &Database) -> Result<WriteTransaction, StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok(txn)
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
        let txn = begin(&self.db)?;
        let value = f(&txn)?;
        txn.commit()?;
        Ok(value)
    }

    /// How many transactions [`write`](Self::write) has committed, for seeing how many
    /// writers shared each.
    pub fn commits(&self) -> u64 {
        self.group.lock().commits
    }

    /// Runs `f` in a read transaction on the blocking pool.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&ReadTransaction) -> Result<T, E> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        let turn = Arc::clone(&self.readers)
            .acquire_owned()
            .await
            .map_err(|e| E::from(StoreError::Task(e.to_string())))?;
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let txn = db.begin_read().map_err(StoreError::from)?;
            f(&txn)
        })
        .await
        .map_err(|e| E::from(StoreError::Task(e.to_string())))?
    }

    /// Runs `f` in a write transaction on the blocking pool, shared with the writes queued
    /// with it (see [group commit](Self#group-commit)), and returns once it is durable. An
    /// `Err` (or a panic) leaves nothing of `f` behind. `f` may run more than once (a write
    /// beside it failed); only its last run is kept, so it must act only through `txn`.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnMut(&WriteTransaction) -> Result<T, E> + Send + 'static,
    {
        let (db, group) = (Arc::clone(&self.db), Arc::clone(&self.group));
        tokio::task::spawn_blocking(move || {
            let member = Arc::new(Member {
                settled: AtomicBool::new(false),
                job: Mutex::new(Pending {
                    write: f,
                    outcome: None,
                }),
            });
            group.submit(&db, Arc::clone(&member) as Queued);
            member.job().outcome.take().unwrap_or_else(|| {
                Err(E::from(StoreError::Task(
                    "the write was settled without an outcome".into(),
                )))
            })
        })
        .await
        .map_err(|e| E::from(StoreError::Task(e.to_string())))?
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use redb::{ReadableTable, ReadableTableMetadata, TableDefinition};

    use super::*;

    const T: TableDefinition<&str, u64> = TableDefinition::new("t");

    /// Writes `key` = `value`, or fails after writing it when `fail` is set.
    async fn put(db: &EmbeddedDb, key: String, value: u64, fail: bool) -> Result<(), StoreError> {
        db.write(move |txn| {
            txn.open_table(T)?.insert(key.as_str(), value)?;
            if fail {
                return Err(StoreError::Backend("refused".into()));
            }
            Ok(())
        })
        .await
    }

    async fn count_and_get(db: &EmbeddedDb, key: &'static str) -> (u64, Option<u64>) {
        db.read(move |txn| -> Result<_, StoreError> {
            let table = txn.open_table(T)?;
            Ok((table.len()?, table.get(key)?.map(|v| v.value())))
        })
        .await
        .expect("read")
    }

    /// Holds the write transaction for a while, so that the writes started meanwhile queue
    /// behind it and share the next one.
    fn hold(db: &EmbeddedDb) -> tokio::task::JoinHandle<Result<(), StoreError>> {
        let db = db.clone();
        tokio::spawn(async move {
            db.write(|txn| {
                txn.open_table(T)?.insert("held", 0)?;
                std::thread::sleep(Duration::from_millis(150));
                Ok(())
            })
            .await
        })
    }

    /// Starts `n` writers (`start(db, i)`) while the write transaction is held, so that they
    /// queue behind it and share what follows; their outcomes, in the order they started.
    async fn queued_behind_a_held_write<T, Fut>(
        db: &EmbeddedDb,
        n: u64,
        start: impl Fn(EmbeddedDb, u64) -> Fut,
    ) -> Vec<T>
    where
        T: Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        let held = hold(db);
        tokio::time::sleep(Duration::from_millis(30)).await;
        let tasks: Vec<_> = (0..n).map(|i| tokio::spawn(start(db.clone(), i))).collect();
        held.await.expect("task").expect("held write");
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.expect("the writer's task survives"));
        }
        outcomes
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_share_transactions_and_every_write_survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let writers = 64;
        {
            let db = EmbeddedDb::open(dir.path(), "svc").expect("open");
            let outcomes = queued_behind_a_held_write(&db, writers, |db, i| async move {
                put(&db, format!("k{i}"), i, false).await
            })
            .await;
            for outcome in outcomes {
                outcome.expect("write");
            }
            assert!(
                db.commits() < writers / 2,
                "{} transactions for {writers} concurrent writers: few shared",
                db.commits()
            );
        }
        let db = EmbeddedDb::open(dir.path(), "svc").expect("reopen");
        let (count, _) = count_and_get(&db, "k0").await;
        assert_eq!(
            count,
            writers + 1,
            "every acknowledged write is there after reopening"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_that_fails_beside_others_leaves_nothing_and_takes_nothing_with_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = EmbeddedDb::open(dir.path(), "svc").expect("open");
        // Every fifth write fails after writing; one panics.
        let outcomes = queued_behind_a_held_write(&db, 40, |db, i| async move {
            if i == 17 {
                return db
                    .write(|txn| -> Result<(), StoreError> {
                        txn.open_table(T)?.insert("panicked", 1)?;
                        panic!("a write that panics");
                    })
                    .await;
            }
            put(&db, format!("k{i:02}"), i, i % 5 == 0).await
        })
        .await;
        let mut failed = 0;
        for (i, outcome) in outcomes.into_iter().enumerate() {
            assert_eq!(
                outcome.is_err(),
                i % 5 == 0 || i == 17,
                "write {i}: {outcome:?}"
            );
            failed += usize::from(outcome.is_err());
        }
        assert_eq!(failed, 9);
        assert!(
            db.commits() < 20,
            "{} transactions: the writes beside a failure still shared",
            db.commits()
        );
        let survivors = db
            .read(|txn| -> Result<Vec<String>, StoreError> {
                let table = txn.open_table(T)?;
                let mut keys = Vec::new();
                for row in table.iter()? {
                    keys.push(row?.0.value().to_owned());
                }
                Ok(keys)
            })
            .await
            .expect("read");
        let expected: Vec<String> = ["held".to_owned()]
            .into_iter()
            .chain(
                (0..40u64)
                    .filter(|i| i % 5 != 0 && *i != 17)
                    .map(|i| format!("k{i:02}")),
            )
            .collect();
        assert_eq!(survivors, expected);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_sharing_a_transaction_see_each_other_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = EmbeddedDb::open(dir.path(), "svc").expect("open");
        // Read-modify-write of one counter: lost updates would leave it short.
        let outcomes = queued_behind_a_held_write(&db, 50, |db, _| async move {
            db.write(|txn| -> Result<u64, StoreError> {
                let mut table = txn.open_table(T)?;
                let next = table.get("counter")?.map_or(0, |v| v.value()) + 1;
                table.insert("counter", next)?;
                Ok(next)
            })
            .await
        })
        .await;
        let mut seen: Vec<u64> = outcomes
            .into_iter()
            .map(|outcome| outcome.expect("write"))
            .collect();
        seen.sort_unstable();
        assert_eq!(
            seen,
            (1..=50).collect::<Vec<u64>>(),
            "each saw the one before"
        );
        assert_eq!(count_and_get(&db, "counter").await.1, Some(50));
    }

    #[tokio::test]
    async fn committed_writes_survive_reopen_and_failed_writes_leave_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let db = EmbeddedDb::open(dir.path(), "svc").expect("open");
            put(&db, "kept".into(), 1, false).await.expect("write");
            assert!(put(&db, "dropped".into(), 2, true).await.is_err());
        }
        let db = EmbeddedDb::open(dir.path(), "svc").expect("reopen");
        assert_eq!(count_and_get(&db, "kept").await, (1, Some(1)));
        assert_eq!(count_and_get(&db, "dropped").await.1, None);
    }
}
