//! Assignments per second on Redis with one routing replica and with two, in one run.
//!
//! Each round starts a fresh `redis-server`, the whole mesh on it (the first replica), and for
//! the second round a second routing replica beside it. Several tenants (so their shards
//! spread over the replicas), agents whose desks connect to the replicas in turn and accept
//! every offer and end every contact at once, and callers starting contacts through the
//! replicas in turn as fast as they are answered (closed loop). An assignment is a contact
//! connected to an agent; the rate is assignments over the measured seconds, after a warm-up.
//!
//! `--secs N` (10), `--warmup-secs N` (2), `--tenants N` (8), `--agents N` per tenant (4),
//! `--callers N` (16).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use baton::config::{MeshConfig, ServiceName, StoreKind};
use baton::desk::Desk;
use baton::mesh::Mesh;
use baton_auth::reload::Watched;
use baton_auth::{Role, Tenants};
use baton_proto::v1::{
    self as pb, IdentifierAssurance as Assurance, IdentifierKind as Kind,
    agent_session_response::Event, routing_service_client::RoutingServiceClient,
};
use baton_runtime::client::{ClientChannel, ClientConfig, connect_lazy};
use baton_runtime::shutdown::Shutdown;
use baton_store::redis_db::RedisServer;
use baton_tests::{TestMesh, agent, free_port, ident, key};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Clone, Copy)]
struct Settings {
    secs: u64,
    warmup_secs: u64,
    tenants: usize,
    agents: usize,
    callers: usize,
}

fn settings() -> Settings {
    let mut s = Settings {
        secs: 10,
        warmup_secs: 2,
        tenants: 8,
        agents: 4,
        callers: 16,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = || -> u64 {
            pair.get(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{} takes a number", pair[0]))
        };
        match pair[0].as_str() {
            "--secs" => s.secs = value(),
            "--warmup-secs" => s.warmup_secs = value(),
            "--tenants" => s.tenants = value() as usize,
            "--agents" => s.agents = value() as usize,
            "--callers" => s.callers = value() as usize,
            other => panic!("unknown argument {other}"),
        }
    }
    s
}

/// The routing configuration of a replica on `redis` listening on `port`.
fn on_redis(config: &mut MeshConfig, redis: &RedisServer, port: u16) {
    config.store = StoreKind::Redis;
    config.redis_url = redis.url();
    config.routing_port = port;
    config.routing_advertise_url = format!("http://127.0.0.1:{port}");
}

/// One round with `replicas` routing replicas: assignments and starts per second.
async fn round(replicas: usize, s: Settings) -> (f64, f64) {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = MeshConfig::for_tests(dir.path().to_path_buf());
    on_redis(&mut config, &redis, free_port());
    let first = TestMesh::start_with(config).await;
    let mut others = Vec::new();
    let mut ports = vec![first.config.routing_port];
    for _ in 1..replicas {
        let mut config = first.config.clone();
        on_redis(&mut config, &redis, free_port());
        config.identity_url = Some(first.url(ServiceName::Identity));
        config.context_url = Some(first.url(ServiceName::Context));
        config.recommendation_url = Some(first.url(ServiceName::Recommendation));
        ports.push(config.routing_port);
        others.push(
            Mesh::start(&[ServiceName::Routing], &config, Shutdown::new())
                .await
                .expect("replica starts"),
        );
    }
    let clients = ClientConfig {
        credentials: Some(Watched::fixed(first.token.get().to_string())),
        request_timeout_ms: 30_000,
        ..ClientConfig::default()
    };
    let routers: Vec<RoutingServiceClient<ClientChannel>> = ports
        .iter()
        .map(|port| {
            RoutingServiceClient::new(
                connect_lazy(&format!("http://127.0.0.1:{port}"), &clients).expect("url"),
            )
        })
        .collect();

    let tenants: Vec<String> = (0..s.tenants)
        .map(|i| format!("bench-{i}-{}", uuid::Uuid::new_v4().simple()))
        .collect();
    let assigned = Arc::new(AtomicU64::new(0));
    let counting = Arc::new(AtomicBool::new(false));
    let stop = Shutdown::new();
    let mut n = 0;
    for tenant in &tenants {
        for a in 0..s.agents {
            let port = ports[n % ports.len()];
            n += 1;
            let agent_id = format!("agent-{a}");
            let desk_token = first.token_for(
                &format!("desk-{agent_id}"),
                &Tenants::one(tenant),
                &[Role::Agent],
                Some(&agent_id),
            );
            let mut routing = routers[n % routers.len()].clone();
            agent(
                &mut routing,
                tenant,
                &agent_id,
                1,
                &[],
                &[(pb::Channel::Chat, 4)],
                pb::Presence::Available,
            )
            .await;
            let mut routing = RoutingServiceClient::new(
                connect_lazy(
                    &format!("http://127.0.0.1:{port}"),
                    &ClientConfig {
                        credentials: Some(Watched::fixed(desk_token)),
                        ..clients.clone()
                    },
                )
                .expect("url"),
            );
            let mut desk = Desk::open(&mut routing, tenant, &agent_id, Duration::from_secs(600))
                .await
                .expect("desk opens");
            let (tenant, assigned, counting, stop) = (
                tenant.clone(),
                assigned.clone(),
                counting.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let event = tokio::select! {
                        event = desk.next() => event,
                        () = stop.triggered() => return,
                    };
                    match event {
                        Ok(Event::Offer(offer)) => {
                            let _ = desk.send_accept(&offer).await;
                        }
                        Ok(Event::Connected(connected)) => {
                            if counting.load(Ordering::Relaxed) {
                                assigned.fetch_add(1, Ordering::Relaxed);
                            }
                            let contact = connected.contact.unwrap_or_default();
                            let _ = routing
                                .end_contact(pb::EndContactRequest {
                                    tenant_id: tenant.clone(),
                                    contact_id: contact.contact_id,
                                    agent_id: agent_id.clone(),
                                    idempotency_key: key(),
                                    ..Default::default()
                                })
                                .await;
                        }
                        Ok(_) => {}
                        Err(_) => return,
                    }
                }
            });
        }
    }

    let started = Arc::new(AtomicU64::new(0));
    let mut callers = Vec::new();
    for c in 0..s.callers {
        let mut routing = routers[c % routers.len()].clone();
        let tenant = tenants[c % tenants.len()].clone();
        let (started, counting, stop) = (started.clone(), counting.clone(), stop.clone());
        callers.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.is_triggered() {
                i += 1;
                let request = pb::StartContactRequest {
                    tenant_id: tenant.clone(),
                    channel: pb::Channel::Chat as i32,
                    identifiers: vec![ident(
                        Kind::Email,
                        &format!("caller-{c}-{}@example.net", i % 50),
                        Assurance::Verified,
                    )],
                    utterance: "where is my order".into(),
                    idempotency_key: key(),
                    ..Default::default()
                };
                if routing.start_contact(request).await.is_ok() && counting.load(Ordering::Relaxed)
                {
                    started.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(s.warmup_secs)).await;
    counting.store(true, Ordering::Relaxed);
    let at = Instant::now();
    tokio::time::sleep(Duration::from_secs(s.secs)).await;
    counting.store(false, Ordering::Relaxed);
    let elapsed = at.elapsed().as_secs_f64();
    stop.trigger();
    for caller in callers {
        let _ = caller.await;
    }
    for other in others {
        let _ = other.stop().await;
    }
    first.stop().await;
    (
        assigned.load(Ordering::Relaxed) as f64 / elapsed,
        started.load(Ordering::Relaxed) as f64 / elapsed,
    )
}

#[tokio::main]
async fn main() {
    let s = settings();
    println!(
        "routing replicas on Redis: {} tenants, {} agents each (chat 4), {} callers, closed \
         loop, {} s after {} s of warm-up",
        s.tenants, s.agents, s.callers, s.secs, s.warmup_secs
    );
    let (one, one_starts) = round(1, s).await;
    let (two, two_starts) = round(2, s).await;
    println!();
    println!("| replicas | assignments/s | StartContact/s |");
    println!("|---|---|---|");
    println!("| 1 | {one:.0} | {one_starts:.0} |");
    println!("| 2 | {two:.0} | {two_starts:.0} |");
    println!();
    println!(
        "two replicas / one: {:.2}x assignments",
        two / one.max(1e-9)
    );
}
