//! `make bench-streams`: what open streams and waiting contacts cost the process serving them.
//!
//! The mesh runs in a child process (this binary with `--child`), exactly as the other benches
//! start it, on the embedded store or (`--redis`) on a throwaway `redis-server`. The parent
//! reads the child's resident memory (`VmRSS`) and thread count from `/proc/<pid>/status`:
//! idle; with `--watches` `WatchContext` streams open (10,000 by default, of as many
//! customers spread over `--tenants` tenants, over connections of at most
//! `--streams-per-connection` streams each); after one live event reached every watch; and
//! after `--contacts` contacts were routed into a queue nobody serves (0 skips that step);
//! and with `--sessions` agents made available and then an `AgentSession` stream open for
//! each (5,000; 0 skips), its welcome read, each against the reading before it.
//! Each figure is printed absolute and per stream or per contact, against the idle process
//! measured in the same run. Nothing here is asserted on time: this is a measurement.

use std::{
    io::{BufRead as _, BufReader, Read as _},
    process::{Child, Command, ExitCode, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use baton::config::ServiceName;
use baton_proto::v1::{
    self as pb, context_service_client::ContextServiceClient,
    routing_service_client::RoutingServiceClient,
};
use baton_runtime::telemetry::{self, TelemetryConfig};
use baton_tests::{Stores, TestMesh};
use tokio::sync::Semaphore;
use tonic::{
    Request, Status, metadata::MetadataValue, service::interceptor::InterceptedService,
    transport::Channel,
};

/// The allocator the `baton` binary runs on, since the measured mesh runs in the child.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long the child is left alone before a settled reading: longer than Tokio keeps an idle
/// blocking thread (10 s), so that threads a burst of work started and no longer needs are
/// gone, and what is left is what the open streams hold.
const SETTLE: Duration = Duration::from_secs(12);

/// The pause before a reading right after a step, for the allocator to take back what the
/// step freed.
const PAUSE: Duration = Duration::from_secs(2);

/// Calls in flight while opening streams, appending and routing.
const IN_FLIGHT: usize = 64;

/// What the parent was asked to measure.
#[derive(Clone, Copy, Debug)]
struct Settings {
    watches: usize,
    tenants: usize,
    streams_per_connection: usize,
    contacts: usize,
    sessions: usize,
    redis: bool,
}

/// One reading of the child's `/proc/<pid>/status`.
#[derive(Clone, Copy, Debug)]
struct Reading {
    rss_kib: u64,
    threads: u64,
}

/// The child's resident memory and thread count now.
fn read_status(pid: u32) -> Reading {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("child status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    };
    Reading {
        rss_kib: field("VmRSS:"),
        threads: field("Threads:"),
    }
}

/// A channel that sends the child's bearer token on every call, with no deadline (a watch
/// stays open as long as the bench holds it).
type Authed = InterceptedService<Channel, Bearer>;

#[derive(Clone)]
struct Bearer(MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A new connection to `url`.
async fn connect(url: &str, bearer: &Bearer) -> Authed {
    let channel = Channel::from_shared(url.to_owned())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    InterceptedService::new(channel, bearer.clone())
}

/// The tenant of the `n`th watch or contact.
fn tenant(n: usize, settings: Settings) -> String {
    format!("streams-t{}", n % settings.tenants.max(1))
}

/// The customer of the `n`th watch.
fn customer(n: usize) -> String {
    format!("cust-{n}")
}

/// The child: the mesh on the chosen store, its addresses and token on one line of stdout,
/// then serving until stdin closes.
async fn child(redis: bool) -> ExitCode {
    let stores = if redis {
        Stores::redis()
    } else {
        Stores::embedded()
    };
    let mut config = stores.config();
    // One harness principal opens every stream: no per-caller limits in the way.
    config.auth.rate_limit_per_sec = 0;
    config.auth.max_streams_per_caller = usize::MAX;
    let telemetry = telemetry::init("baton-bench", &TelemetryConfig::default()).expect("telemetry");
    let mesh = TestMesh::start_with(config).await;
    println!(
        "ready context={} routing={} token={}",
        mesh.url(ServiceName::Context),
        mesh.url(ServiceName::Routing),
        mesh.token.get()
    );
    // Serve until the parent closes stdin (or goes away).
    let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await;
    mesh.stop().await;
    drop(telemetry);
    drop(stores);
    ExitCode::SUCCESS
}

/// Opens one watch of each customer, over connections of at most `streams_per_connection`.
async fn open_watches(
    settings: Settings,
    url: &str,
    bearer: &Bearer,
) -> Vec<tonic::Streaming<pb::WatchContextResponse>> {
    let per = settings.streams_per_connection.max(1);
    let mut clients = Vec::new();
    for _ in 0..settings.watches.div_ceil(per) {
        clients.push(ContextServiceClient::new(connect(url, bearer).await));
    }
    let limit = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut opening = Vec::with_capacity(settings.watches);
    for n in 0..settings.watches {
        let mut client = clients[n / per].clone();
        let limit = Arc::clone(&limit);
        opening.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await.expect("semaphore");
            client
                .watch_context(pb::WatchContextRequest {
                    tenant_id: tenant(n, settings),
                    customer_id: customer(n),
                    after_version: 0,
                    ..Default::default()
                })
                .await
                .expect("watch opens")
                .into_inner()
        }));
    }
    let mut streams = Vec::with_capacity(settings.watches);
    for task in opening {
        streams.push(task.await.expect("opened"));
    }
    streams
}

/// Appends one event to every watched customer and waits until each watch has delivered it.
async fn one_event_each(
    settings: Settings,
    url: &str,
    bearer: &Bearer,
    streams: &mut [tonic::Streaming<pb::WatchContextResponse>],
) {
    let client = ContextServiceClient::new(connect(url, bearer).await);
    let limit = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut appends = Vec::with_capacity(settings.watches);
    for n in 0..settings.watches {
        let mut client = client.clone();
        let limit = Arc::clone(&limit);
        appends.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await.expect("semaphore");
            client
                .append_event(pb::AppendEventRequest {
                    tenant_id: tenant(n, settings),
                    customer_id: customer(n),
                    idempotency_key: format!("streams-{n}"),
                    event: Some(pb::Event {
                        contact_id: format!("contact-{n}"),
                        channel: pb::Channel::Chat as i32,
                        payload: Some(pb::event::Payload::ContactStarted(pb::ContactStarted {
                            utterance: "where is my parcel".into(),
                            ..Default::default()
                        })),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await
                .expect("append")
        }));
    }
    for task in appends {
        task.await.expect("appended");
    }
    for (n, stream) in streams.iter_mut().enumerate() {
        let event = stream
            .message()
            .await
            .expect("no stream error")
            .and_then(|r| r.event)
            .expect("the watch delivers the event");
        assert_eq!(
            event.customer_id,
            customer(n),
            "each watch hears its own customer"
        );
    }
}

/// Routes `settings.contacts` contacts into one queue that no agent serves: each waits.
async fn queue_contacts(settings: Settings, url: &str, bearer: &Bearer) {
    let client = RoutingServiceClient::new(connect(url, bearer).await);
    let limit = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut starts = Vec::with_capacity(settings.contacts);
    for n in 0..settings.contacts {
        let mut client = client.clone();
        let limit = Arc::clone(&limit);
        starts.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await.expect("semaphore");
            client
                .start_contact(pb::StartContactRequest {
                    tenant_id: tenant(n, settings),
                    channel: pb::Channel::Chat as i32,
                    identifiers: vec![baton_tests::ident(
                        pb::IdentifierKind::Email,
                        &format!("queued-{n}@bench.example"),
                        pb::IdentifierAssurance::Verified,
                    )],
                    utterance: "I want to talk to someone".into(),
                    queue_id: "nobody-serves-this".into(),
                    idempotency_key: format!("queued-{n}"),
                    ..Default::default()
                })
                .await
                .expect("start contact")
        }));
    }
    for task in starts {
        task.await.expect("started");
    }
}

/// Starts the child and reads where it listens: `(child, context url, routing url, token)`.
fn spawn_child(redis: bool) -> (Child, String, String, String) {
    let exe = std::env::current_exe().expect("own path");
    let mut command = Command::new(exe);
    command.arg("--child");
    if redis {
        command.arg("--redis");
    }
    let mut child = command
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("child starts");
    let stdout = child.stdout.take().expect("child stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("child says where it listens");
    let value = |key: &str| {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key))
            .unwrap_or_else(|| panic!("the child named no {key} in {line:?}"))
            .to_owned()
    };
    let (context, routing, token) = (value("context="), value("routing="), value("token="));
    (child, context, routing, token)
}

/// Mebibytes from kibibytes.
fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// One line of the table: `reading` absolute, against `idle`, and per `unit` of `count`.
fn row(name: &str, reading: Reading, idle: Reading, count: usize, unit: &str) {
    let grown_kib = reading.rss_kib.saturating_sub(idle.rss_kib);
    let per = if count == 0 {
        String::new()
    } else {
        format!(
            "{:>8.2} KiB/{unit}  {:>6.3} threads/{unit}",
            grown_kib as f64 / count as f64,
            (reading.threads as f64 - idle.threads as f64) / count as f64
        )
    };
    println!(
        "{name:<36} {:>8.1} MiB  {:>5.2}x idle  {:>5} threads  {per}",
        mib(reading.rss_kib),
        reading.rss_kib as f64 / idle.rss_kib.max(1) as f64,
        reading.threads,
    );
}

/// Ends the child (closing its stdin) and says whether it stopped cleanly.
fn stop(mut child: Child) -> bool {
    drop(child.stdin.take());
    let status = child.wait().expect("child ends");
    if !status.success() {
        eprintln!("the child failed: {status}");
    }
    status.success()
}

/// The watches, in a child of their own.
async fn watches(settings: Settings) -> bool {
    let (child, context_url, _, token) = spawn_child(settings.redis);
    let pid = child.id();
    let bearer = Bearer(format!("Bearer {token}").parse().expect("token header"));
    tokio::time::sleep(PAUSE).await;
    let idle = read_status(pid);
    row("idle", idle, idle, 0, "");

    let began = Instant::now();
    let mut streams = open_watches(settings, &context_url, &bearer).await;
    let opened_in = began.elapsed();
    tokio::time::sleep(PAUSE).await;
    row(
        "watches open, at once",
        read_status(pid),
        idle,
        settings.watches,
        "watch",
    );
    tokio::time::sleep(SETTLE).await;
    row(
        "watches open, settled",
        read_status(pid),
        idle,
        settings.watches,
        "watch",
    );

    one_event_each(settings, &context_url, &bearer, &mut streams).await;
    tokio::time::sleep(SETTLE).await;
    row(
        "after one live event each, settled",
        read_status(pid),
        idle,
        settings.watches,
        "watch",
    );

    drop(streams);
    tokio::time::sleep(SETTLE).await;
    row("watches closed, settled", read_status(pid), idle, 0, "");
    println!(
        "({} watches opened in {:.2} s)",
        settings.watches,
        opened_in.as_secs_f64()
    );
    stop(child)
}

/// Agent sessions, in a fresh child: each agent is made available (not measured), then
/// every session is opened and its welcome read, over connections of at most
/// `streams_per_connection` sessions.
async fn sessions(settings: Settings) -> bool {
    let (child, _, routing_url, token) = spawn_child(settings.redis);
    let pid = child.id();
    let bearer = Bearer(format!("Bearer {token}").parse().expect("token header"));
    let agent = |n: usize| format!("agent-{n}");
    tokio::time::sleep(PAUSE).await;
    let fresh = read_status(pid);
    row("idle (a fresh child)", fresh, fresh, 0, "");
    let setup = RoutingServiceClient::new(connect(&routing_url, &bearer).await);
    let limit = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut made = Vec::with_capacity(settings.sessions);
    for n in 0..settings.sessions {
        let mut client = setup.clone();
        let limit = Arc::clone(&limit);
        made.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await.expect("semaphore");
            client
                .set_agent_state(pb::SetAgentStateRequest {
                    tenant_id: tenant(n, settings),
                    agent_id: agent(n),
                    presence: pb::Presence::Available as i32,
                    capacities: Some(pb::CapacitySet {
                        capacities: vec![pb::ChannelCapacity {
                            channel: pb::Channel::Chat as i32,
                            max_contacts: 1,
                            exclusive: false,
                        }],
                    }),
                    idempotency_key: format!("agent-{n}"),
                    ..Default::default()
                })
                .await
                .expect("agent made available")
        }));
    }
    for task in made {
        task.await.expect("agent made");
    }
    tokio::time::sleep(SETTLE).await;
    let idle = read_status(pid);
    row(
        "agents made available, no session",
        idle,
        fresh,
        settings.sessions,
        "agent",
    );

    let token = baton_auth::reload::Watched::fixed(token);
    let per = settings.streams_per_connection.max(1);
    let mut clients = Vec::new();
    for _ in 0..settings.sessions.div_ceil(per) {
        let channel = Channel::from_shared(routing_url.clone())
            .expect("url")
            .connect()
            .await
            .expect("connect");
        clients.push(RoutingServiceClient::new(
            baton_runtime::client::with_credentials(
                channel,
                Some(token.clone()),
                Duration::from_secs(3600),
            ),
        ));
    }
    let mut opening = Vec::with_capacity(settings.sessions);
    for n in 0..settings.sessions {
        let mut client = clients[n / per].clone();
        let limit = Arc::clone(&limit);
        opening.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await.expect("semaphore");
            baton::desk::Desk::open(
                &mut client,
                &tenant(n, settings),
                &agent(n),
                Duration::from_secs(30),
            )
            .await
            .expect("session opens")
        }));
    }
    let mut desks = Vec::with_capacity(settings.sessions);
    for task in opening {
        desks.push(task.await.expect("opened"));
    }
    tokio::time::sleep(SETTLE).await;
    row(
        "agent sessions open, settled",
        read_status(pid),
        idle,
        settings.sessions,
        "session",
    );
    drop(desks);
    stop(child)
}

/// The waiting contacts, in a fresh child, so that nothing the watches left behind counts.
async fn contacts(settings: Settings) -> bool {
    let (child, _, routing_url, token) = spawn_child(settings.redis);
    let pid = child.id();
    let bearer = Bearer(format!("Bearer {token}").parse().expect("token header"));
    tokio::time::sleep(PAUSE).await;
    let idle = read_status(pid);
    row("idle (a fresh child)", idle, idle, 0, "");
    queue_contacts(settings, &routing_url, &bearer).await;
    tokio::time::sleep(SETTLE).await;
    row(
        "contacts waiting, nobody serving",
        read_status(pid),
        idle,
        settings.contacts,
        "contact",
    );
    stop(child)
}

async fn parent(settings: Settings) -> ExitCode {
    let store = if settings.redis { "Redis" } else { "embedded" };
    println!(
        "baton bench-streams: the mesh in a child process on the {store} store; {} watches \
         over {} tenants, {} streams per connection; {} contacts waiting in a queue nobody \
         serves; {} agent sessions\n",
        settings.watches,
        settings.tenants,
        settings.streams_per_connection,
        settings.contacts,
        settings.sessions
    );
    let mut ok = true;
    if settings.watches > 0 {
        ok &= watches(settings).await;
    }
    if settings.contacts > 0 {
        println!();
        ok &= contacts(settings).await;
    }
    if settings.sessions > 0 {
        println!();
        ok &= sessions(settings).await;
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: usize| baton_tests::number_arg(&args, name, default);
    let redis = args.iter().any(|a| a == "--redis");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if args.iter().any(|a| a == "--child") {
        return runtime.block_on(child(redis));
    }
    let settings = Settings {
        watches: arg("--watches", 10_000),
        tenants: arg("--tenants", 10),
        streams_per_connection: arg("--streams-per-connection", 100),
        contacts: arg("--contacts", 5_000),
        sessions: arg("--sessions", 5_000),
        redis,
    };
    runtime.block_on(parent(settings))
}
