//! `make bench` (identity): how well and how fast the identity service links people.
//!
//! Quality: a generated population (`--records`, default 10,000) with duplicates and hard
//! negatives, deduplicated online (one import per record, shuffled) and linked (originals
//! imported, duplicates resolved with `lookup_only`), each with traits alone and with
//! national ids; the same on FEBRL files when given (`--febrl3 FILE`, `--febrl4 A B`).
//!
//! Scale: `--identity-profiles` originals (default 1,000,000) imported into a fresh embedded
//! store in batches of `--batch` (default: what an import stream commits at once into the
//! embedded store), then `--calls` lookups of each kind, interleaved call by call
//! so drift hits all alike: a bare redb point read through the same blocking-pool hop (the
//! baseline), an exact Resolve by phone, and a fuzzy Resolve by the traits of a corrupted
//! duplicate. Latencies are reported absolute and as ratios to the baseline; storage as
//! bytes per profile on disk and in memory (VmRSS growth).
//!
//! `--short` runs a small version of both for CI (under a minute).

use std::{path::Path, process::ExitCode, time::Instant};

use baton_identity::{EmbeddedIdentityStore, Identity, IdentityStore, grpc::validate};
use baton_proto::v1::{self as pb, IdentifierAssurance, IdentifierKind, ResolveDecision};
use baton_store::{EmbeddedDb, StoreError, redb::TableDefinition};
use baton_tests::{
    linkage::{self, Ids},
    people::{self, Config, Generator, Record},
};
use hdrhistogram::Histogram;

/// The allocator the `baton` binary runs on, so memory per profile is what a server uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TENANT: &str = "bench";
const SEED: u64 = 7;

struct Args {
    records: usize,
    profiles: usize,
    batch: usize,
    calls: usize,
    febrl3: Option<String>,
    febrl4: Option<(String, String)>,
    quality: bool,
    scale: bool,
}

impl Args {
    fn parse() -> Result<Self, String> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let value = |name: &str| -> Option<&String> {
            args.iter()
                .position(|a| a == name)
                .and_then(|i| args.get(i + 1))
        };
        let number = |name: &str, default: usize| -> Result<usize, String> {
            value(name).map_or(Ok(default), |v| {
                v.replace('_', "")
                    .parse()
                    .map_err(|_| format!("{name} takes a number, not {v:?}"))
            })
        };
        let short = args.iter().any(|a| a == "--short");
        let febrl4 = args.iter().position(|a| a == "--febrl4").map(|i| {
            (
                args.get(i + 1).cloned().unwrap_or_default(),
                args.get(i + 2).cloned().unwrap_or_default(),
            )
        });
        if febrl4
            .as_ref()
            .is_some_and(|(a, b)| a.is_empty() || b.is_empty())
        {
            return Err("--febrl4 takes two files: A.csv B.csv".into());
        }
        Ok(Self {
            records: number("--records", if short { 2_000 } else { 10_000 })?,
            profiles: number(
                "--identity-profiles",
                if short { 20_000 } else { 1_000_000 },
            )?,
            batch: number(
                "--batch",
                <EmbeddedIdentityStore as IdentityStore>::IMPORT_BATCH,
            )?
            .max(1),
            calls: number("--calls", if short { 500 } else { 3_000 })?.max(1),
            febrl3: value("--febrl3").cloned(),
            febrl4,
            quality: !args.iter().any(|a| a == "--scale-only"),
            scale: !args.iter().any(|a| a == "--quality-only"),
        })
    }
}

fn fresh_identity() -> (tempfile::TempDir, Identity<EmbeddedIdentityStore>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedIdentityStore::open(dir.path()).expect("identity store opens");
    (dir, Identity::new(store))
}

async fn dedup(source: &str, records: &[Record], ids: Ids) -> linkage::Report {
    let (_dir, identity) = fresh_identity();
    linkage::dedup(&identity, TENANT, source, records, ids, SEED)
        .await
        .expect("dedup runs")
}

async fn link(source: &str, a: &[Record], b: &[Record], ids: Ids) -> linkage::Report {
    let (_dir, identity) = fresh_identity();
    linkage::link(&identity, TENANT, source, a, b, ids)
        .await
        .expect("link runs")
}

async fn quality(args: &Args) -> Result<(), String> {
    let records = people::generate(
        SEED,
        &Config {
            records: args.records,
            ..Config::default()
        },
    );
    let originals = records.iter().filter(|r| r.copy == 0).count();
    println!(
        "linkage quality: {} generated records ({originals} people, {} duplicates)",
        records.len(),
        records.len() - originals
    );
    let (a, b) = linkage::split_for_link(&records);
    for ids in [Ids::None, Ids::NationalId] {
        println!("  generated {}", dedup("gen", &records, ids).await);
        println!("  generated {}", link("gen", &a, &b, ids).await);
    }
    if let Some(file) = &args.febrl3 {
        let records = linkage::read_febrl(Path::new(file))?;
        for ids in [Ids::None, Ids::NationalId] {
            println!("  febrl3 {}", dedup("febrl", &records, ids).await);
        }
    }
    if let Some((a, b)) = &args.febrl4 {
        let a = linkage::read_febrl(Path::new(a))?;
        let b = linkage::read_febrl(Path::new(b))?;
        for ids in [Ids::None, Ids::NationalId] {
            println!("  febrl4 {}", link("febrl", &a, &b, ids).await);
        }
    }
    println!();
    Ok(())
}

/// The resident set of this process in bytes (Linux; 0 elsewhere).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn histogram() -> Histogram<u64> {
    Histogram::new(3).expect("histogram")
}

/// p50 and p99 in microseconds.
fn p50_p99(h: &Histogram<u64>) -> (f64, f64) {
    (
        h.value_at_quantile(0.50) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
    )
}

const BASELINE: TableDefinition<&str, &str> = TableDefinition::new("baseline");

/// A database holding one key, read the way the identity store reads: a read transaction on
/// the blocking pool.
fn baseline_db(dir: &Path) -> EmbeddedDb {
    let db = EmbeddedDb::open(dir, "baseline").expect("baseline db opens");
    let runtime = tokio::runtime::Handle::current();
    let writer = db.clone();
    tokio::task::block_in_place(|| {
        runtime.block_on(writer.write(|txn| {
            txn.open_table(BASELINE)?.insert("key", "value")?;
            Ok::<_, StoreError>(())
        }))
    })
    .expect("baseline key written");
    db
}

async fn baseline_read(db: &EmbeddedDb) -> bool {
    db.read(|txn| {
        let table = txn.open_table(BASELINE)?;
        Ok::<_, StoreError>(table.get("key")?.is_some())
    })
    .await
    .unwrap_or(false)
}

/// A lookup-only Resolve as the gRPC adapter would run it: validated, then resolved.
async fn resolve(
    identity: &Identity<EmbeddedIdentityStore>,
    request: pb::ResolveRequest,
) -> Option<pb::ResolveResponse> {
    let digest = baton_auth::digest::of(&request);
    let cmd = validate::resolve(request, "").ok()?;
    identity.resolve(cmd, digest).await.ok()
}

fn by_phone(phone: &str) -> pb::ResolveRequest {
    pb::ResolveRequest {
        tenant_id: TENANT.to_owned(),
        identifiers: vec![pb::Identifier {
            kind: IdentifierKind::Phone as i32,
            value: phone.to_owned(),
            assurance: IdentifierAssurance::Observed as i32,
            default_region: "US".to_owned(),
            ..Default::default()
        }],
        channel: pb::Channel::Voice as i32,
        lookup_only: true,
        ..Default::default()
    }
}

fn by_traits(r: &Record) -> pb::ResolveRequest {
    pb::ResolveRequest {
        tenant_id: TENANT.to_owned(),
        traits: Some(linkage::traits(r)),
        channel: pb::Channel::Voice as i32,
        lookup_only: true,
        ..Default::default()
    }
}

async fn scale(args: &Args) {
    let n = args.profiles;
    // Sampled while loading: the phones of every stride-th person, and duplicates of them
    // (never loaded) for the fuzzy lookups.
    let stride = (n / args.calls).max(1) as u64;
    let mut phones = Vec::with_capacity(args.calls);
    let mut duplicates = Vec::with_capacity(args.calls);
    let baseline_dir = tempfile::tempdir().expect("tempdir");
    let baseline = baseline_db(baseline_dir.path());

    let rss_before = rss_bytes();
    let (dir, identity) = fresh_identity();
    let mut generator = Generator::new(
        SEED,
        Config {
            records: usize::MAX,
            // Households share phones, and a shared phone joins or refuses a record: without
            // them nearly every record is a profile of its own.
            hard_negative_share: 0.0,
            ..Config::default()
        },
    );
    let (mut loaded, mut refused, mut created) = (0usize, 0usize, 0usize);
    let mut batch = Vec::with_capacity(args.batch);
    let began = Instant::now();
    while loaded < n {
        for r in generator.next_group() {
            let sampled = r.entity % stride == 0;
            if sampled && r.copy == 0 {
                phones.extend(r.phone.clone());
            }
            if sampled && r.copy > 0 && duplicates.len() < args.calls {
                duplicates.push(r.clone());
            }
            if r.copy == 0 && loaded + batch.len() < n {
                batch.push(linkage::profile_record(&r, "crm", Ids::All));
            }
        }
        if batch.len() >= args.batch || loaded + batch.len() >= n {
            loaded += batch.len();
            let answer = identity
                .import(TENANT, std::mem::take(&mut batch))
                .await
                .expect("import runs");
            refused += answer
                .results
                .iter()
                .filter(|r| !r.error.is_empty())
                .count();
            created += answer.results.iter().filter(|r| r.created).count();
        }
    }
    let import_secs = began.elapsed().as_secs_f64();
    let rss_after = rss_bytes();
    let file_bytes = std::fs::metadata(dir.path().join("identity.redb")).map_or(0, |m| m.len());
    println!(
        "identity scale: {n} profiles imported in batches of {} in {import_secs:.1} s: \
         {:.0} profiles/s ({created} customers created, {refused} refused: a phone, e-mail or \
         national id drawn twice)",
        args.batch,
        n as f64 / import_secs
    );
    println!(
        "  on disk {:.0} bytes/profile ({:.1} MiB); in memory {:.0} bytes/profile (VmRSS \
         +{:.1} MiB)",
        file_bytes as f64 / n as f64,
        file_bytes as f64 / 1_048_576.0,
        rss_after.saturating_sub(rss_before) as f64 / n as f64,
        rss_after.saturating_sub(rss_before) as f64 / 1_048_576.0
    );

    let (mut base_h, mut exact_h, mut fuzzy_h) = (histogram(), histogram(), histogram());
    let (mut exact_hits, mut fuzzy_hits) = (0usize, 0usize);
    let matched = |a: &Option<pb::ResolveResponse>| {
        a.as_ref()
            .is_some_and(|a| a.decision == ResolveDecision::Matched as i32)
    };
    for i in 0..args.calls {
        let t = Instant::now();
        let ok = baseline_read(&baseline).await;
        let _ = base_h.record(t.elapsed().as_nanos() as u64);
        assert!(ok, "the baseline key is there");
        if let Some(phone) = phones.get(i % phones.len().max(1)) {
            let t = Instant::now();
            let answer = resolve(&identity, by_phone(phone)).await;
            let _ = exact_h.record(t.elapsed().as_nanos() as u64);
            exact_hits += usize::from(matched(&answer));
        }
        if let Some(d) = duplicates.get(i % duplicates.len().max(1)) {
            let t = Instant::now();
            let answer = resolve(&identity, by_traits(d)).await;
            let _ = fuzzy_h.record(t.elapsed().as_nanos() as u64);
            fuzzy_hits += usize::from(matched(&answer));
        }
    }
    let (b50, b99) = p50_p99(&base_h);
    let rows = [
        ("bare redb point read (baseline)", &base_h, None),
        (
            "Resolve exact (phone, lookup only)",
            &exact_h,
            Some(exact_hits),
        ),
        (
            "Resolve fuzzy (traits, lookup only)",
            &fuzzy_h,
            Some(fuzzy_hits),
        ),
    ];
    println!("  {} calls of each, interleaved:", args.calls);
    for (name, h, hits) in rows {
        let (p50, p99) = p50_p99(h);
        let hits = hits.map_or(String::new(), |k| format!("   matched {k}/{}", h.len()));
        println!(
            "  {name:<38} p50 {p50:>8.1} us ({:>6.2}x)   p99 {p99:>8.1} us ({:>6.2}x){hits}",
            p50 / b50,
            p99 / b99
        );
    }

    // Rebuilding the fuzzy index of everything loaded, against the import that built it.
    let began = Instant::now();
    let rebuilt = identity
        .rebuild_index(TENANT, || false, |_| {})
        .await
        .expect("rebuild runs");
    let rebuild_secs = began.elapsed().as_secs_f64();
    let verify = duplicates.iter().take(200);
    let mut still = 0usize;
    let mut asked = 0usize;
    for d in verify {
        asked += 1;
        still += usize::from(matched(&resolve(&identity, by_traits(d)).await));
    }
    println!(
        "  index rebuilt: {} profiles in {rebuild_secs:.1} s, {:.0} profiles/s ({:.2}x the \
         import's rate); {} names counted; fuzzy lookups matched after it {still}/{asked}",
        rebuilt.filed,
        rebuilt.filed as f64 / rebuild_secs,
        (rebuilt.filed as f64 / rebuild_secs) / (n as f64 / import_secs),
        rebuilt.terms
    );
    println!();
}

fn main() -> ExitCode {
    let args = match Args::parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        if args.quality
            && let Err(e) = quality(&args).await
        {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
        if args.scale {
            scale(&args).await;
        }
        ExitCode::SUCCESS
    })
}
