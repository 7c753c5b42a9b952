//! Durable writes per second on the embedded store with 1, 8 and 32 concurrent writers, each
//! write a small change of its own acknowledged only once durable. With group commit the
//! writers that arrive together share a transaction and its `fsync`, so the rate grows with
//! concurrency; the single writer, measured in the same run, is the baseline of the ratios.
//! `make bench-store`; `--writes N` (4000).

use std::time::Instant;

use baton_store::{EmbeddedDb, StoreError};
use redb::TableDefinition;

const T: TableDefinition<&str, u64> = TableDefinition::new("t");

async fn rate(writers: usize, writes: usize) -> (f64, u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = EmbeddedDb::open(dir.path(), "bench").expect("open");
    let per = writes / writers;
    let at = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                db.write(move |txn| -> Result<(), StoreError> {
                    txn.open_table(T)?
                        .insert(format!("w{w}-{i}").as_str(), i as u64)?;
                    Ok(())
                })
                .await
                .expect("write");
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer");
    }
    (
        (per * writers) as f64 / at.elapsed().as_secs_f64(),
        db.commits(),
    )
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let writes = match args.iter().position(|a| a == "--writes") {
        Some(i) => args[i + 1].parse().expect("--writes takes a number"),
        None => 4000,
    };
    println!(
        "| writers | durable writes/s | transactions | writes per transaction | vs 1 writer |"
    );
    println!("|---|---|---|---|---|");
    let mut baseline = None;
    for writers in [1, 8, 32] {
        let (per_sec, commits) = rate(writers, writes).await;
        let base = *baseline.get_or_insert(per_sec);
        let n = (writes / writers * writers) as f64;
        println!(
            "| {writers} | {per_sec:.0} | {commits} | {:.1} | {:.2}x |",
            n / commits.max(1) as f64,
            per_sec / base
        );
    }
}
