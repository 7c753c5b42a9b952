//! `make bench`: what StartContact costs, as ratios to a baseline measured in the same run.
//!
//! The baseline is a bare tonic unary call (the health check) through the same server stack on
//! the same mesh. StartContact is measured three times, each in a fresh child process (tracing
//! is process-wide), each with telemetry set up as `baton serve` does (logs at `RUST_LOG`):
//! on the embedded store with tracing off (no OTLP endpoint), the same with every span exported
//! over OTLP at 100% sampling to a receiver in the parent process that counts bytes without
//! decoding, on a throwaway `redis-server` (append-only, fsync always) with tracing off,
//! next to a bare Redis round trip (PING) on the same server; and for the cost of security,
//! with anonymous callers in plaintext (the development switch) against TLS on every port,
//! mutual TLS between services and a verified bearer JWT on every call (the other modes run
//! with development JWTs in plaintext). The five modes run `--rounds`
//! times in a rotating order; each ratio is taken within a round and the median reported,
//! since a shared machine drifts between runs more than tracing costs. Closed loop:
//! `--concurrency` callers, each sending its next call when the last answered, for `--secs`
//! after a warm-up. Latencies go into HDR histograms.
//!
//! Then, in a sixth child on the embedded store: StartContact into a queue nobody serves that
//! already holds `--queue-depth` waiting contacts (10,000), against StartContact into a queue
//! nobody waits in, each against the echo of the same child, so a placement that went through
//! every waiting contact would show as a ratio well above 1. `--queue-only` runs just that.

use std::{
    process::{Command, ExitCode},
    sync::Arc,
    time::{Duration, Instant},
};

use baton::config::ServiceName;
use baton_proto::v1::{self as pb, IdentifierAssurance, IdentifierKind};
use baton_runtime::telemetry::{self, TelemetryConfig};
use baton_store::redis;
use baton_tests::{Stores, TestMesh, ident};
use hdrhistogram::Histogram;
use tokio::sync::Mutex;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// The allocator the `baton` binary runs on, since the measured mesh runs in this process.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone, Copy)]
struct Settings {
    secs: u64,
    warmup_secs: u64,
    concurrency: usize,
}

struct Measured {
    calls: u64,
    errors: u64,
    elapsed: Duration,
    histogram: Histogram<u64>,
}

impl Measured {
    fn per_sec(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }
    fn p(&self, q: f64) -> f64 {
        self.histogram.value_at_quantile(q) as f64 / 1000.0
    }
    fn line(&self, name: &str) -> String {
        format!(
            "{name} calls={} errors={} per_sec={:.1} p50_ms={:.3} p99_ms={:.3} max_ms={:.3}",
            self.calls,
            self.errors,
            self.per_sec(),
            self.p(0.50),
            self.p(0.99),
            self.histogram.max() as f64 / 1000.0
        )
    }
}

/// The baseline of every child: health checks on the same channel, printed as "echo".
async fn echo(settings: Settings, channel: &baton_runtime::client::ClientChannel) {
    let health = HealthClient::new(channel.clone());
    let measured = closed_loop(settings, move |_, _| {
        let mut client = health.clone();
        async move {
            client
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .is_ok()
        }
    })
    .await;
    println!("{}", measured.line("echo"));
}

/// Runs `call(worker, n)` from `concurrency` workers; counts only calls after the warm-up.
async fn closed_loop<F, Fut>(settings: Settings, call: F) -> Measured
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let start = Instant::now();
    let warm_until = start + Duration::from_secs(settings.warmup_secs);
    let stop_at = warm_until + Duration::from_secs(settings.secs);
    let merged = Arc::new(Mutex::new((
        Histogram::<u64>::new(3).expect("histogram"),
        0u64,
        0u64,
    )));
    let mut workers = Vec::new();
    for w in 0..settings.concurrency {
        let call = Arc::clone(&call);
        let merged = Arc::clone(&merged);
        workers.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new(3).expect("histogram");
            let (mut calls, mut errors, mut n) = (0u64, 0u64, 0u64);
            loop {
                let began = Instant::now();
                if began >= stop_at {
                    break;
                }
                let ok = call(w, n).await;
                n += 1;
                if began >= warm_until {
                    calls += 1;
                    if !ok {
                        errors += 1;
                    }
                    let _ = h.record(began.elapsed().as_micros() as u64);
                }
            }
            let mut m = merged.lock().await;
            let _ = m.0.add(&h);
            m.1 += calls;
            m.2 += errors;
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let m = merged.lock().await;
    Measured {
        calls: m.1,
        errors: m.2,
        elapsed: Duration::from_secs(settings.secs),
        histogram: m.0.clone(),
    }
}

/// How callers and services are secured in a measured mesh.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Security {
    /// Development credentials: a bearer JWT verified on every call, plaintext on loopback.
    Dev,
    /// The development switch for anonymous callers: no credentials to verify, plaintext.
    Open,
    /// Production-like: TLS on every port, mutual TLS from routing to the other services
    /// (routing's client certificate names it), and the gateway's bearer JWT verified.
    Mtls,
}

/// Files a secured mesh reads (certificates from a throwaway CA, a JWT key), and the
/// gateway's side of them.
struct Secured {
    ca_pem: String,
    gateway_token: String,
}

fn secure(config: &mut baton::config::MeshConfig, dir: &std::path::Path) -> Secured {
    let ca = baton_tests::pki::Ca::new("bench ca");
    let (cert, key) = ca
        .issue(&["spiffe://bench.local/baton/*/service/routing"], 1)
        .write(dir, "server");
    let ca_file = ca.write(dir, "ca.pem");
    let secret = dir.join("callers.secret");
    std::fs::write(&secret, "a bench secret of at least thirty-two bytes").expect("secret");
    config.tls.tls_cert_file = Some(cert);
    config.tls.tls_key_file = Some(key);
    config.tls.tls_client_ca_file = Some(ca_file.clone());
    config.tls.tls_ca_file = Some(ca_file);
    config.auth.jwt_keys = vec![secret.clone()];
    let gateway_token = baton_auth::jwt::Signer::from_file(&secret)
        .expect("signer")
        .sign(&baton_auth::jwt::Claims::new(
            "bench-gateway",
            &baton_auth::Tenants::one("bench"),
            baton_auth::Roles::of(&[baton_auth::Role::Gateway]),
            None,
            Duration::from_secs(3600),
            "baton",
        ))
        .expect("token");
    Secured {
        ca_pem: ca.pem(),
        gateway_token,
    }
}

/// One child process: start the mesh (exporting every span to `otlp` when given), measure,
/// print lines.
async fn child(
    settings: Settings,
    otlp: Option<String>,
    on_redis: bool,
    security: Security,
) -> ExitCode {
    let stores = if on_redis {
        Stores::redis()
    } else {
        Stores::embedded()
    };
    let mut mesh_config = stores.config();
    // The bench's callers are far over any one caller's sensible rate: measure, not limit.
    mesh_config.auth.rate_limit_per_sec = 0;
    let keys_dir = tempfile::tempdir().expect("tempdir");
    let secured = match security {
        Security::Dev => None,
        Security::Open => {
            mesh_config.auth.insecure_anonymous_loopback = true;
            None
        }
        Security::Mtls => Some(secure(&mut mesh_config, keys_dir.path())),
    };
    if let Some(url) = stores.redis_url() {
        let client = redis::Client::open(url).expect("redis url");
        let conn = client
            .get_connection_manager()
            .await
            .expect("redis connects");
        let ping = closed_loop(settings, move |_, _| {
            let mut conn = conn.clone();
            async move {
                redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            }
        })
        .await;
        println!("{}", ping.line("redis_ping"));
    }
    // Telemetry as `baton serve` sets it up: logs always, spans exported only with an endpoint.
    let config = TelemetryConfig {
        otlp_endpoint: otlp,
        sample_ratio: 1.0,
        ..TelemetryConfig::default()
    };
    let telemetry = telemetry::init("baton-bench", &config).expect("telemetry");
    let mesh = TestMesh::start_with(mesh_config).await;
    let routing_url = mesh.url(ServiceName::Routing);
    let mut endpoint = tonic::transport::Channel::from_shared(routing_url).expect("url");
    let credentials = match (&secured, security) {
        (Some(secured), _) => {
            endpoint = endpoint
                .tls_config(
                    tonic::transport::ClientTlsConfig::new()
                        .ca_certificate(tonic::transport::Certificate::from_pem(&secured.ca_pem))
                        .domain_name("localhost"),
                )
                .expect("tls");
            Some(baton_auth::reload::Watched::fixed(
                secured.gateway_token.clone(),
            ))
        }
        (None, Security::Open) => None,
        (None, _) => Some(mesh.token.clone()),
    };
    let channel = endpoint.connect().await.expect("connect");
    let channel = baton_runtime::client::with_credentials(
        channel,
        credentials,
        std::time::Duration::from_secs(10),
    );

    echo(settings, &channel).await;

    let routing = pb::routing_service_client::RoutingServiceClient::new(channel);
    let transfers = routing.clone();
    let tenant = "bench".to_owned();
    let start_contact = closed_loop(settings, move |w, n| {
        let mut client = routing.clone();
        let tenant = tenant.clone();
        async move {
            // 500 returning customers per worker: most calls resolve, a few create.
            let who = format!("w{w}-c{}@bench.example", n % 500);
            client
                .start_contact(pb::StartContactRequest {
                    tenant_id: tenant,
                    channel: pb::Channel::Chat as i32,
                    identifiers: vec![ident(
                        IdentifierKind::Email,
                        &who,
                        IdentifierAssurance::Verified,
                    )],
                    utterance: "where is my order".into(),
                    self_service: true,
                    idempotency_key: format!("w{w}-n{n}"),
                    ..Default::default()
                })
                .await
                .is_ok()
        }
    })
    .await;
    println!("{}", start_contact.line("start_contact"));
    let transfer = transfer(settings, transfers).await;
    println!("{}", transfer.line("transfer"));
    mesh.stop().await;
    // Flushes the last spans before the parent reads what its receiver got.
    drop(telemetry);
    ExitCode::SUCCESS
}

/// Contacts each worker moves in turn, so no one contact's path grows long.
const TRANSFERRED_PER_WORKER: u64 = 100;

/// Cold transfers between tiers 1 and 2 of contacts waiting for an agent, as a gateway or a
/// supervisor moves them: each call checks that someone could take the contact there,
/// records the hop in the customer's history and mints the hop's token. Agents of both tiers
/// are registered without a desk, so the target is servable and nobody is offered anything.
async fn transfer(
    settings: Settings,
    routing: pb::routing_service_client::RoutingServiceClient<baton_runtime::client::ClientChannel>,
) -> Measured {
    for (agent, tier) in [("bench-t1", 1), ("bench-t2", 2)] {
        routing
            .clone()
            .set_agent_state(pb::SetAgentStateRequest {
                tenant_id: "bench".into(),
                agent_id: agent.into(),
                presence: pb::Presence::Offline as i32,
                tier: Some(tier),
                capacities: Some(pb::CapacitySet {
                    capacities: vec![pb::ChannelCapacity {
                        channel: pb::Channel::Chat as i32,
                        max_contacts: 3,
                        exclusive: false,
                    }],
                }),
                idempotency_key: format!("agent-{agent}"),
                ..Default::default()
            })
            .await
            .expect("a bench agent is registered");
    }
    let mut ids = Vec::new();
    for w in 0..settings.concurrency {
        let mut mine = Vec::new();
        for n in 0..TRANSFERRED_PER_WORKER {
            let started = routing
                .clone()
                .start_contact(queued_start(w, n, String::new(), "moved"))
                .await
                .expect("a contact to transfer starts")
                .into_inner();
            mine.push(started.contact.map(|c| c.contact_id).unwrap_or_default());
        }
        ids.push(mine);
    }
    let ids = Arc::new(ids);
    closed_loop(settings, move |w, n| {
        let mut client = routing.clone();
        let contact_id = ids[w][(n % TRANSFERRED_PER_WORKER) as usize].clone();
        // Each contact goes to tier 2, then back to tier 1, and so on.
        let tier = if (n / TRANSFERRED_PER_WORKER).is_multiple_of(2) {
            2
        } else {
            1
        };
        async move {
            client
                .transfer(pb::TransferRequest {
                    tenant_id: "bench".into(),
                    contact_id,
                    target: Some(pb::TransferTarget {
                        target: Some(pb::transfer_target::Target::Tier(tier)),
                        ..Default::default()
                    }),
                    mode: pb::TransferMode::Cold as i32,
                    idempotency_key: format!("move-w{w}-n{n}"),
                    ..Default::default()
                })
                .await
                .is_ok()
        }
    })
    .await
}

/// A StartContact of worker `w`'s `n`th call into `queue`, where nobody serves it: it waits.
fn queued_start(w: usize, n: u64, queue: String, prefix: &str) -> pb::StartContactRequest {
    pb::StartContactRequest {
        tenant_id: "bench".into(),
        channel: pb::Channel::Chat as i32,
        identifiers: vec![ident(
            IdentifierKind::Email,
            &format!("w{w}-c{}@bench.example", n % 500),
            IdentifierAssurance::Verified,
        )],
        utterance: "where is my order".into(),
        queue_id: queue,
        idempotency_key: format!("{prefix}-w{w}-n{n}"),
        ..Default::default()
    }
}

/// The queue child: echo, then StartContact into empty queues, then the same into one queue
/// holding `depth` waiting contacts (filled first, not measured).
async fn queue_child(settings: Settings, depth: u64) -> ExitCode {
    let mut mesh_config = Stores::embedded().config();
    mesh_config.auth.rate_limit_per_sec = 0;
    let telemetry = telemetry::init("baton-bench", &TelemetryConfig::default()).expect("telemetry");
    let mesh = TestMesh::start_with(mesh_config).await;
    let endpoint =
        tonic::transport::Channel::from_shared(mesh.url(ServiceName::Routing)).expect("url");
    let channel = endpoint.connect().await.expect("connect");
    let channel = baton_runtime::client::with_credentials(
        channel,
        Some(mesh.token.clone()),
        std::time::Duration::from_secs(10),
    );
    echo(settings, &channel).await;

    let routing = pb::routing_service_client::RoutingServiceClient::new(channel);
    // A queue of its own per call: nobody waits in it when the contact arrives.
    let client = routing.clone();
    let empty = closed_loop(settings, move |w, n| {
        let mut client = client.clone();
        async move {
            let queue = format!("empty-w{w}-n{n}");
            client
                .start_contact(queued_start(w, n, queue, "empty"))
                .await
                .is_ok()
        }
    })
    .await;
    println!("{}", empty.line("queue_empty"));

    let workers = settings.concurrency.max(1) as u64;
    let fills: Vec<_> = (0..workers)
        .map(|w| {
            let mut client = routing.clone();
            tokio::spawn(async move {
                let mut n = w;
                while n < depth {
                    let request = queued_start(w as usize, n, "deep".into(), "fill");
                    client.start_contact(request).await.expect("fill the queue");
                    n += workers;
                }
            })
        })
        .collect();
    for fill in fills {
        fill.await.expect("filled");
    }
    let client = routing.clone();
    let deep = closed_loop(settings, move |w, n| {
        let mut client = client.clone();
        async move {
            client
                .start_contact(queued_start(w, n, "deep".into(), "deep"))
                .await
                .is_ok()
        }
    })
    .await;
    println!("{}", deep.line("queue_deep"));
    mesh.stop().await;
    drop(telemetry);
    ExitCode::SUCCESS
}

/// Runs the queue child `rounds` times and reports StartContact into a deep queue against an
/// empty one, and each against the echo measured in the same child. False when calls failed.
fn queue_comparison(settings: Settings, rounds: usize, depth: u64) -> bool {
    let runs: Vec<Vec<String>> = (0..rounds)
        .map(|_| run_child_with(settings, "queue", &["--queue-depth", &depth.to_string()]))
        .collect();
    let per_round = |name: &str, key: &str| -> Vec<f64> {
        runs.iter()
            .map(|lines| {
                let line = lines.iter().find(|l| l.starts_with(name));
                field(line.map_or("", String::as_str), key)
            })
            .collect()
    };
    println!("\nStartContact into a queue nobody serves, {depth} waiting vs none:");
    for (name, line) in [
        ("echo", "echo "),
        ("StartContact, none waiting", "queue_empty "),
        ("StartContact, deep queue", "queue_deep "),
    ] {
        println!(
            "{name:<30} {:>9.1} calls/s   p50 {:>7.3} ms   p99 {:>7.3} ms   errors {}",
            median(per_round(line, "per_sec")),
            median(per_round(line, "p50_ms")),
            median(per_round(line, "p99_ms")),
            per_round(line, "errors").iter().sum::<f64>()
        );
    }
    let ratio = |a: &str, b: &str, key: &str| -> Vec<f64> {
        per_round(a, key)
            .into_iter()
            .zip(per_round(b, key))
            .map(|(a, b)| a / b)
            .collect()
    };
    for (label, ratios) in [
        (
            "deep / empty queue, p50:",
            ratio("queue_deep ", "queue_empty ", "p50_ms"),
        ),
        (
            "deep / empty queue, p99:",
            ratio("queue_deep ", "queue_empty ", "p99_ms"),
        ),
        (
            "empty queue p50 / echo p50:",
            ratio("queue_empty ", "echo ", "p50_ms"),
        ),
        (
            "deep queue p50 / echo p50:",
            ratio("queue_deep ", "echo ", "p50_ms"),
        ),
    ] {
        let each: Vec<String> = ratios.iter().map(|r| format!("{r:.3}")).collect();
        println!(
            "{label:<40} {:.3}x  (rounds: {})",
            median(ratios),
            each.join(", ")
        );
    }
    let errors: f64 = ["queue_empty ", "queue_deep "]
        .iter()
        .flat_map(|line| per_round(line, "errors"))
        .sum();
    !(errors.is_nan() || errors > 0.0)
}

/// The middle value (the mean of the two middle ones for an even count); NaN for none.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn field(line: &str, key: &str) -> f64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Runs one measuring child: `mode` is `plain`, `redis`, or the OTLP endpoint to export to.
fn run_child(settings: Settings, mode: &str) -> Vec<String> {
    run_child_with(settings, mode, &[])
}

/// [`run_child`] with more arguments for the child.
fn run_child_with(settings: Settings, mode: &str, extra: &[&str]) -> Vec<String> {
    let exe = std::env::current_exe().expect("own path");
    let output = Command::new(exe)
        .args([
            "--child",
            mode,
            "--secs",
            &settings.secs.to_string(),
            "--warmup-secs",
            &settings.warmup_secs.to_string(),
            "--concurrency",
            &settings.concurrency.to_string(),
        ])
        .args(extra)
        .env("RUST_LOG", "warn")
        .output()
        .expect("child runs");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    }
    stdout.lines().map(str::to_owned).collect()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: u64| baton_tests::number_arg(&args, name, default);
    let settings = Settings {
        secs: arg("--secs", 10),
        warmup_secs: arg("--warmup-secs", 2),
        concurrency: arg("--concurrency", 8) as usize,
    };
    let depth = arg("--queue-depth", 10_000);
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let mode = args.get(i + 1).cloned().unwrap_or_default();
        let on_redis = mode == "redis";
        let security = match mode.as_str() {
            "open" => Security::Open,
            "mtls" => Security::Mtls,
            _ => Security::Dev,
        };
        let otlp = Some(mode.clone()).filter(|m| m.starts_with("http"));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        if mode == "queue" {
            return runtime.block_on(queue_child(settings, depth));
        }
        return runtime.block_on(child(settings, otlp, on_redis, security));
    }

    let rounds = arg("--rounds", 3).max(1) as usize;
    if args.iter().any(|a| a == "--queue-only") {
        return if queue_comparison(settings, rounds, depth) {
            ExitCode::SUCCESS
        } else {
            eprintln!("bench calls failed");
            ExitCode::FAILURE
        };
    }
    println!(
        "baton bench: closed loop, {} callers, {} s measured after {} s warm-up, in child \
         processes; {rounds} rounds of the five modes, in a rotating order\n",
        settings.concurrency, settings.secs, settings.warmup_secs
    );
    // The collector stand-in lives in this process, not in the measured one.
    let receiver = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (otlp_addr, exported_bytes) = receiver.block_on(baton_tests::otlp::start_discarding());
    let traced_mode = format!("http://{otlp_addr}");
    let modes = ["plain", traced_mode.as_str(), "redis", "open", "mtls"];
    // runs[mode][round]: the lines one child printed.
    let mut runs: [Vec<Vec<String>>; 5] = Default::default();
    for round in 0..rounds {
        // Rotating the order keeps a drift of the machine from always favouring one mode.
        for k in 0..modes.len() {
            let mode = (round + k) % modes.len();
            runs[mode].push(run_child(settings, modes[mode]));
        }
    }
    let [plain, traced, on_redis, open, mtls] = &runs;
    let find = |lines: &[String], name: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(name))
            .cloned()
            .unwrap_or_default()
    };
    // One metric of one kind of line, per round.
    let per_round = |runs: &[Vec<String>], name: &str, key: &str| -> Vec<f64> {
        runs.iter()
            .map(|lines| field(&find(lines, name), key))
            .collect()
    };
    let rows = [
        ("echo (tracing off)", plain, "echo "),
        ("StartContact (tracing off)", plain, "start_contact "),
        ("Transfer (tracing off)", plain, "transfer "),
        ("echo (traced)", traced, "echo "),
        ("StartContact (traced, 100%)", traced, "start_contact "),
        ("Redis PING", on_redis, "redis_ping "),
        ("StartContact (Redis store)", on_redis, "start_contact "),
        ("echo (anonymous, plaintext)", open, "echo "),
        ("StartContact (anonymous)", open, "start_contact "),
        ("echo (mTLS + JWT)", mtls, "echo "),
        ("StartContact (mTLS + JWT)", mtls, "start_contact "),
    ];
    println!("medians over the rounds:");
    for (name, runs, line) in rows {
        println!(
            "{name:<30} {:>9.1} calls/s   p50 {:>7.3} ms   p99 {:>7.3} ms   errors {}",
            median(per_round(runs, line, "per_sec")),
            median(per_round(runs, line, "p50_ms")),
            median(per_round(runs, line, "p99_ms")),
            per_round(runs, line, "errors").iter().sum::<f64>()
        );
    }
    let exported = exported_bytes.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "traced runs exported {:.1} MiB of OTLP spans",
        exported as f64 / (1024.0 * 1024.0)
    );
    println!();
    // Ratios are taken within a round (measured minutes apart at most), then the median.
    let ratio = |a: &[Vec<String>], a_line: &str, b: &[Vec<String>], b_line: &str, key: &str| {
        per_round(a, a_line, key)
            .into_iter()
            .zip(per_round(b, b_line, key))
            .map(|(a, b)| a / b)
            .collect::<Vec<f64>>()
    };
    let sc = "start_contact ";
    let report = |label: &str, ratios: Vec<f64>, target: &str| {
        let each: Vec<String> = ratios.iter().map(|r| format!("{r:.3}")).collect();
        println!(
            "{label:<40} {:.3}x {target}  (rounds: {})",
            median(ratios),
            each.join(", ")
        );
    };
    report(
        "StartContact p99 / echo p99 (off):",
        ratio(plain, sc, plain, "echo ", "p99_ms"),
        "",
    );
    report(
        "StartContact throughput / echo (off):",
        ratio(plain, sc, plain, "echo ", "per_sec"),
        "",
    );
    report(
        "Transfer p50 / echo p50 (off):",
        ratio(plain, "transfer ", plain, "echo ", "p50_ms"),
        "",
    );
    report(
        "Transfer p99 / echo p99 (off):",
        ratio(plain, "transfer ", plain, "echo ", "p99_ms"),
        "",
    );
    report(
        "tracing on / off, p99:",
        ratio(traced, sc, plain, sc, "p99_ms"),
        "(target <= 1.10)",
    );
    report(
        "tracing on / off, throughput:",
        ratio(traced, sc, plain, sc, "per_sec"),
        "(target >= 0.90)",
    );
    report(
        "mTLS + authorization on / off, p99:",
        ratio(mtls, sc, open, sc, "p99_ms"),
        "(target <= 1.10)",
    );
    report(
        "mTLS + authorization on / off, throughput:",
        ratio(mtls, sc, open, sc, "per_sec"),
        "",
    );
    report(
        "JWT verification on / off (plaintext), p99:",
        ratio(plain, sc, open, sc, "p99_ms"),
        "",
    );
    report(
        "StartContact p50 on Redis / PING p50:",
        ratio(on_redis, sc, on_redis, "redis_ping ", "p50_ms"),
        "",
    );
    report(
        "Redis / embedded store, p99:",
        ratio(on_redis, sc, plain, sc, "p99_ms"),
        "",
    );
    report(
        "Redis / embedded store, throughput:",
        ratio(on_redis, sc, plain, sc, "per_sec"),
        "",
    );
    let queue_ok = queue_comparison(settings, rounds, depth);
    let errors: f64 = runs
        .iter()
        .flat_map(|mode| {
            let mut errors = per_round(mode, sc, "errors");
            errors.extend(per_round(mode, "transfer ", "errors"));
            errors
        })
        .sum();
    if errors.is_nan() || errors > 0.0 || !queue_ok {
        eprintln!("bench calls failed: {errors}");
        return ExitCode::FAILURE;
    }
    // A traced run that exported nothing measured nothing: refuse to report it as a result.
    if exported == 0 {
        eprintln!("the traced runs exported no spans: the tracing comparison is void");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
