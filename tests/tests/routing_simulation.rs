//! A seeded simulation of a contact centre on two routing replicas sharing one Redis (and one
//! Redis Cluster), and on one router over the embedded store.
//!
//! Several tenants (so their shards spread over both replicas), agents of two tiers whose
//! desks connect to either replica and sometimes drop their stream, contacts on voice and chat
//! started through either replica, desks that accept, reject or let offers lapse, hold a
//! contact for a moment and then end it, transfer it cold or warm to the other tier or switch
//! it to the other channel; one replica is killed mid-run (its runtime dropped: no drain, no lease handed
//! back) and started again at the same address later. Afterwards:
//!
//! - no contact is lost: every contact whose start was acknowledged ends, and reads as ended
//!   through either replica;
//! - no contact is ever connected to two agents at once, and no agent ever holds more than its
//!   capacity on a channel (checked on every connection a desk is told of);
//! - every token a connected desk receives opens, for that agent, to the contact's customer;
//! - a desk that reconnects picks up the contacts its welcome says it holds (a connection
//!   accepted as its stream ended is never heard of on the stream);
//! - no warm transfer stalls: each is taken by another agent (the one holding it lets go as
//!   that agent is connected) or comes back to its agent after the escalation timeout.
//!
//! `make test` runs a short version. `BATON_SIM_AGENTS`, `BATON_SIM_CONTACTS`,
//! `BATON_SIM_TENANTS` and `BATON_SIM_SEED` size and seed it (`make sim`: 200 agents and 5,000
//! contacts); `BATON_SIM_REBALANCE=1` (or `0`) turns the replicas' rebalancing on (or off)
//! whatever routing's default.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton::config::{MeshConfig, ServiceName};
use baton::desk::{Desk, DeskError};
use baton::mesh::Mesh;
use baton_auth::reload::Watched;
use baton_auth::{Role, Tenants};
use baton_proto::v1::{
    self as pb, IdentifierAssurance as Assurance, IdentifierKind as Kind,
    agent_session_response::Event, routing_service_client::RoutingServiceClient,
};
use baton_runtime::client::{ClientChannel, ClientConfig, connect_lazy};
use baton_runtime::shutdown::Shutdown;
use baton_tests::{Stores, TestMesh, agent, free_port, handover, ident, key};
use tonic::Code;

/// How long any one step may keep failing (a replica restarting, a shard moving) before the
/// simulation counts it as a failure.
const RETRY_FOR: Duration = Duration::from_secs(30);

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small, seeded generator (xorshift64*), so a run can be repeated.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The second replica, on a runtime of its own so that it can be killed as SIGKILL would kill
/// it, and started again at the same address.
struct Killable {
    kill: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Killable {
    fn start(config: &MeshConfig) -> Killable {
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (kill, killed) = std::sync::mpsc::channel::<()>();
        let config = config.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            let mesh = runtime
                .block_on(Mesh::start(
                    &[ServiceName::Routing],
                    &config,
                    Shutdown::new(),
                ))
                .expect("the second replica starts");
            started_tx.send(()).expect("started");
            let _ = killed.recv();
            runtime.shutdown_background();
            drop(mesh);
        });
        started_rx.recv().expect("the second replica started");
        Killable {
            kill: Some(kill),
            thread: Some(thread),
        }
    }

    fn kill(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the replica's thread ends");
        }
    }
}

/// What the desks saw, checked as they see it.
#[derive(Debug, Default)]
struct Floor {
    /// Contact id to the agent it is connected to now.
    holder: HashMap<String, String>,
    /// (agent, channel) to the contacts it holds on that channel, each with when routing
    /// connected it.
    load: HashMap<(String, i32), Vec<Held>>,
    double_assignments: Vec<String>,
    capacity_violations: Vec<String>,
    token_failures: Vec<String>,
    /// Contact id to the agent holding it through a warm transfer not yet taken or returned,
    /// and the channel it holds it on.
    warm: HashMap<String, (String, i32)>,
    /// Connections that put an agent over capacity unless some of the warm transfers it
    /// holds were taken first, judged once those are taken or come back.
    unsure: Vec<Unsure>,
    connections: u64,
    transfers: u64,
    warm_taken: u64,
    warm_returned: u64,
    /// Contacts a reconnected desk picked up from its welcome (their connection was never
    /// heard of on the stream that ended).
    resumed: u64,
    rejects: u64,
    lapses: u64,
    drops: u64,
    ended: u64,
}

/// A contact an agent holds: its id, and when routing connected it.
type Held = (String, (i64, i32));

/// A connection over capacity while the agent held warm transfers: the agent holding a
/// warm transfer lets go as another is connected to it, which that agent's desk may hear of
/// after this one heard of its next contact. Routing's clock says which came first.
#[derive(Debug)]
struct Unsure {
    /// What the violation would be.
    violation: String,
    /// When routing connected the contact (its `state_since`).
    at: (i64, i32),
    /// How many contacts over capacity the agent was, counting the warm transfers.
    over: usize,
    /// The warm transfers it held, not yet taken or returned.
    pending: Vec<String>,
    /// How many of them another agent took before `at`.
    taken_before: usize,
}

/// When routing put a contact in its current state.
fn since(contact: &pb::Contact) -> (i64, i32) {
    contact
        .state_since
        .as_ref()
        .map_or((0, 0), |t| (t.seconds, t.nanos))
}

impl Floor {
    fn connected(&mut self, agent_id: &str, contact: &pb::Contact, capacity: u32) {
        self.connections += 1;
        // The agent holding a warm transfer lets go as the next one is connected.
        if let Some((holding, channel)) = self.warm.remove(&contact.contact_id) {
            self.warm_taken += 1;
            self.released(&holding, &contact.contact_id, channel);
            self.warm_ended(&contact.contact_id, Some(since(contact)));
        }
        if let Some(other) = self.holder.get(&contact.contact_id)
            && other != agent_id
        {
            self.double_assignments.push(format!(
                "{} connected to {agent_id} while held by {other}",
                contact.contact_id
            ));
        }
        self.holder
            .insert(contact.contact_id.clone(), agent_id.to_owned());
        let held = self
            .load
            .entry((agent_id.to_owned(), contact.channel))
            .or_default();
        if held.iter().any(|(id, _)| *id == contact.contact_id) {
            // The same connection told twice is not a second contact.
            self.double_assignments.push(format!(
                "{} connected to {agent_id} again while it held it",
                contact.contact_id
            ));
            return;
        }
        held.push((contact.contact_id.clone(), since(contact)));
        let load = u32::try_from(held.len()).unwrap_or(u32::MAX);
        if load > capacity {
            let violation = format!(
                "{agent_id} holds {load} contacts on channel {} (capacity {capacity}): {:?}",
                contact.channel, held
            );
            let pending: Vec<String> = self
                .warm
                .iter()
                .filter(|(_, (holding, channel))| {
                    holding == agent_id && *channel == contact.channel
                })
                .map(|(contact_id, _)| contact_id.clone())
                .collect();
            let over = (load - capacity) as usize;
            if pending.len() < over {
                self.capacity_violations.push(violation);
            } else {
                self.unsure.push(Unsure {
                    violation,
                    at: since(contact),
                    over,
                    pending,
                    taken_before: 0,
                });
            }
        }
    }

    /// A warm transfer was taken (by a connection at `taken`, routing's clock) or came back
    /// (`None`): the connections that were unsure because of it are judged once they know
    /// about every warm transfer they waited for.
    fn warm_ended(&mut self, contact_id: &str, taken: Option<(i64, i32)>) {
        for unsure in &mut self.unsure {
            if let Some(i) = unsure.pending.iter().position(|c| c == contact_id) {
                unsure.pending.swap_remove(i);
                if taken.is_some_and(|at| at <= unsure.at) {
                    unsure.taken_before += 1;
                }
            }
        }
        let (judged, still): (Vec<Unsure>, Vec<Unsure>) = std::mem::take(&mut self.unsure)
            .into_iter()
            .partition(|u| u.pending.is_empty());
        self.unsure = still;
        for unsure in judged {
            if unsure.taken_before < unsure.over {
                self.capacity_violations.push(unsure.violation);
            }
        }
    }

    /// The agent lets go of a contact (before telling routing, so routing may hand it on at
    /// once without the check seeing two holders).
    fn released(&mut self, agent_id: &str, contact_id: &str, channel: i32) {
        if self.holder.get(contact_id).map(String::as_str) == Some(agent_id) {
            self.holder.remove(contact_id);
        }
        if let Some(held) = self.load.get_mut(&(agent_id.to_owned(), channel)) {
            held.retain(|(id, _)| id != contact_id);
        }
    }
}

type Client = RoutingServiceClient<ClientChannel>;

/// Calls routing through `replicas` in turn, moving on to the next while one answers what a
/// replica stopping, dead or handing a shard over answers (as a balancer in front of them
/// would); panics on any other answer, or when that goes on for too long.
async fn retrying<T, F, Fut>(what: &str, replicas: &[Client], call: F) -> T
where
    F: FnMut(Client) -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    match retried(replicas, call).await {
        Ok(value) => value,
        Err(status) => panic!("{what}: {status:?}"),
    }
}

/// Calls routing through `replicas` in turn while the call fails as a replica stopping, dead
/// or handing a shard over fails it (its own connection breaking included), backing off as a
/// client does: 50 ms after the first failure, doubling up to a second, for [`RETRY_FOR`].
async fn retried<T, F, Fut>(replicas: &[Client], mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut(Client) -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    let deadline = tokio::time::Instant::now() + RETRY_FOR;
    let mut attempt = 0;
    let mut back_off = Duration::from_millis(50);
    loop {
        let client = replicas[attempt % replicas.len()].clone();
        attempt += 1;
        match call(client).await {
            Err(status)
                if matches!(
                    status.code(),
                    Code::Unavailable | Code::Cancelled | Code::Unknown | Code::DeadlineExceeded
                ) && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(back_off).await;
                back_off = (back_off * 2).min(Duration::from_secs(1));
            }
            answered => return answered,
        }
    }
}

/// One agent, from its own seed: connects its desk to a replica, answers offers, works and
/// hands on contacts, sometimes drops its stream and reconnects, until `done`.
#[allow(clippy::too_many_arguments)]
async fn agent_life(
    tenant: String,
    agent_id: String,
    tier: u32,
    replicas: Vec<Client>,
    floor: Arc<Mutex<Floor>>,
    mut rng: Rng,
    done: Shutdown,
) {
    let capacity = |channel: i32| {
        if channel == pb::Channel::Voice as i32 {
            1
        } else {
            2
        }
    };
    // The contacts this agent is working on (or handing on), across reconnects.
    let working: Arc<Mutex<HashSet<String>>> = Arc::default();
    while !done.is_triggered() {
        let mut routing = replicas[rng.below(replicas.len() as u64) as usize].clone();
        let desk = tokio::select! {
            desk = Desk::open(&mut routing, &tenant, &agent_id, Duration::from_secs(3600)) => desk,
            () = done.triggered() => return,
        };
        let mut desk = match desk {
            Ok(desk) => desk,
            Err(DeskError::Status(status))
                if !matches!(
                    status.code(),
                    Code::Unavailable | Code::Cancelled | Code::Unknown | Code::AlreadyExists
                ) =>
            {
                panic!("{agent_id}'s desk was refused: {status:?}")
            }
            // The replica is down or its tenant moving, or the session this desk dropped is
            // not closed yet: another try, perhaps elsewhere.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // A desk that reconnects is told the contacts the agent holds: one whose connection
        // it never heard of (the stream ended as it was accepted) is picked up here.
        for contact_id in std::mem::take(&mut desk.welcome.active_contact_ids) {
            if lock_set(&working).contains(&contact_id) {
                continue;
            }
            let request = pb::GetContactRequest {
                tenant_id: tenant.clone(),
                contact_id: contact_id.clone(),
            };
            // Read through the replicas in turn, as a desk retries: a contact skipped here
            // would be held by this agent with nobody working on it.
            let through: Vec<Client> = std::iter::once(routing.clone())
                .chain(replicas.iter().cloned())
                .collect();
            let read = retried(&through, |mut routing| {
                let request = request.clone();
                async move { routing.get_contact(request).await }
            })
            .await;
            let Ok(answer) = read else {
                continue;
            };
            let Some(contact) = answer.into_inner().contact else {
                continue;
            };
            if contact.state != pb::ContactState::Connected as i32
                || contact.agent_id != agent_id
                || !contact.holding_agent_id.is_empty()
            {
                continue;
            }
            {
                let mut floor = floor.lock().expect("floor");
                floor.resumed += 1;
                floor.connected(&agent_id, &contact, capacity(contact.channel));
            }
            work_on(
                &routing,
                &replicas,
                tenant.clone(),
                agent_id.clone(),
                tier,
                contact,
                (rng.below(250) + 20, rng.below(100)),
                floor.clone(),
                working.clone(),
            );
        }
        let mut tokens: HashMap<String, Vec<u8>> = HashMap::new();
        loop {
            let event = tokio::select! {
                event = desk.next() => event,
                () = done.triggered() => return,
            };
            let Ok(event) = event else {
                // The replica went away or the shard moved: reconnect.
                break;
            };
            match event {
                Event::Offer(offer) => {
                    tokens.insert(offer.offer_id.clone(), offer.token.clone());
                    let roll = rng.below(100);
                    if roll < 75 {
                        let _ = desk_accept(&desk, &offer).await;
                    } else if roll < 90 {
                        floor.lock().expect("floor").rejects += 1;
                        let _ = desk.reject(&offer, "busy with something else").await;
                    } else {
                        floor.lock().expect("floor").lapses += 1;
                    }
                }
                Event::Connected(connected) => {
                    let Some(contact) = connected.contact else {
                        continue;
                    };
                    // Recorded before the token is read, which may take a while (a replica
                    // restarting): the floor sees connections in the order routing made them.
                    floor.lock().expect("floor").connected(
                        &agent_id,
                        &contact,
                        capacity(contact.channel),
                    );
                    let token = tokens.remove(&connected.offer_id).unwrap_or_default();
                    let through: Vec<Client> = std::iter::once(routing.clone())
                        .chain(replicas.iter().cloned())
                        .collect();
                    check_token(&through, &tenant, &agent_id, &contact, &token, &floor).await;
                    let work = rng.below(250) + 20;
                    let what = rng.below(100);
                    work_on(
                        &routing,
                        &replicas,
                        tenant.clone(),
                        agent_id.clone(),
                        tier,
                        contact,
                        (work, what),
                        floor.clone(),
                        working.clone(),
                    );
                }
                _ => {}
            }
            if rng.chance(2) {
                floor.lock().expect("floor").drops += 1;
                break;
            }
        }
        drop(desk);
        tokio::time::sleep(Duration::from_millis(rng.below(200))).await;
    }
}

fn lock_set(set: &Mutex<HashSet<String>>) -> std::sync::MutexGuard<'_, HashSet<String>> {
    set.lock().expect("working set")
}

/// Works on a contact for `work` ms, then hands it on (`what` decides how), in the
/// background; the contact is in `working` until then.
#[allow(clippy::too_many_arguments)]
fn work_on(
    desk: &Client,
    replicas: &[Client],
    tenant: String,
    agent_id: String,
    tier: u32,
    contact: pb::Contact,
    (work, what): (u64, u64),
    floor: Arc<Mutex<Floor>>,
    working: Arc<Mutex<HashSet<String>>>,
) {
    // Through the replica the desk is on first, then the others.
    let mut through = vec![desk.clone()];
    through.extend(replicas.iter().cloned());
    lock_set(&working).insert(contact.contact_id.clone());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(work)).await;
        let contact_id = contact.contact_id.clone();
        hand_on(&through, &tenant, &agent_id, tier, contact, what, &floor).await;
        lock_set(&working).remove(&contact_id);
    });
}

/// Accepts without waiting for the connection (it comes as an event the loop handles).
async fn desk_accept(desk: &Desk, offer: &pb::ContactOffer) -> Result<(), ()> {
    desk.send_accept(offer).await.map_err(|_| ())
}

/// Opens the token a desk was given, as that agent, through `replicas` in turn (retrying as
/// a desk would); it must name the contact's customer.
async fn check_token(
    replicas: &[Client],
    tenant: &str,
    agent_id: &str,
    contact: &pb::Contact,
    token: &[u8],
    floor: &Mutex<Floor>,
) {
    let request = pb::OpenTokenRequest {
        tenant_id: tenant.to_owned(),
        token: token.to_vec(),
        opener: Some(pb::open_token_request::Opener::AgentId(agent_id.to_owned())),
    };
    let opened = retried(replicas, |mut routing| {
        let request = request.clone();
        async move { routing.open_token(request).await }
    })
    .await;
    match opened {
        Ok(answer) => {
            let token = answer.into_inner().token.unwrap_or_default();
            if token.customer_id != contact.customer_id
                || token.contact_id != contact.contact_id
                || token.path.len() != contact.path.len()
            {
                floor.lock().expect("floor").token_failures.push(format!(
                    "the token {agent_id} got for {} names {} and {} with {} hops (the contact \
                     has {})",
                    contact.contact_id,
                    token.customer_id,
                    token.contact_id,
                    token.path.len(),
                    contact.path.len()
                ));
            }
        }
        Err(status) => floor.lock().expect("floor").token_failures.push(format!(
            "the token {agent_id} got for {} did not open: {status:?}",
            contact.contact_id
        )),
    }
}

/// After working on a contact: ends it, or transfers it cold or warm to the other tier, or
/// switches it to the other channel, retrying through restarts with the same key. Through a
/// warm transfer the agent keeps the contact until another accepts it; when nobody does in
/// time it comes back, and the agent ends it.
async fn hand_on(
    replicas: &[Client],
    tenant: &str,
    agent_id: &str,
    tier: u32,
    contact: pb::Contact,
    what: u64,
    floor: &Mutex<Floor>,
) {
    let warm = (86..93).contains(&what) && contact.path.len() < 4;
    if warm {
        floor.lock().expect("floor").warm.insert(
            contact.contact_id.clone(),
            (agent_id.to_owned(), contact.channel),
        );
    } else {
        floor
            .lock()
            .expect("floor")
            .released(agent_id, &contact.contact_id, contact.channel);
    }
    let idempotency_key = key();
    if what < 80 || contact.path.len() >= 4 {
        let request = pb::EndContactRequest {
            tenant_id: tenant.to_owned(),
            contact_id: contact.contact_id.clone(),
            agent_id: agent_id.to_owned(),
            idempotency_key,
            ..Default::default()
        };
        retrying("end a contact", replicas, |mut routing| {
            let request = request.clone();
            async move { routing.end_contact(request).await }
        })
        .await;
        floor.lock().expect("floor").ended += 1;
        return;
    }
    let target = if what < 93 {
        pb::transfer_target::Target::Tier(if tier == 1 { 2 } else { 1 })
    } else if contact.channel == pb::Channel::Voice as i32 {
        pb::transfer_target::Target::Channel(pb::Channel::Chat as i32)
    } else {
        pb::transfer_target::Target::Channel(pb::Channel::Voice as i32)
    };
    let request = pb::TransferRequest {
        tenant_id: tenant.to_owned(),
        contact_id: contact.contact_id.clone(),
        from_agent_id: agent_id.to_owned(),
        target: Some(pb::TransferTarget {
            target: Some(target),
            required_skills: vec![],
        }),
        mode: if warm {
            pb::TransferMode::Warm
        } else {
            pb::TransferMode::Cold
        } as i32,
        handover: handover("customer asked for more help", "needs the other desk"),
        idempotency_key,
    };
    retrying("transfer a contact", replicas, |mut routing| {
        let request = request.clone();
        async move { routing.transfer(request).await }
    })
    .await;
    floor.lock().expect("floor").transfers += 1;
    if warm {
        wait_for_warm_transfer(replicas, tenant, agent_id, tier, contact, floor).await;
    }
}

/// Follows a warm transfer `agent_id` started until another agent took the contact (that
/// agent's desk handles it from there) or it came back, and then ends it. Never stalls: the
/// escalation timeout brings it back.
async fn wait_for_warm_transfer(
    replicas: &[Client],
    tenant: &str,
    agent_id: &str,
    tier: u32,
    contact: pb::Contact,
    floor: &Mutex<Floor>,
) {
    let request = pb::GetContactRequest {
        tenant_id: tenant.to_owned(),
        contact_id: contact.contact_id.clone(),
    };
    let deadline = tokio::time::Instant::now() + RETRY_FOR;
    let mut attempt = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        attempt += 1;
        let mut routing = replicas[attempt % replicas.len()].clone();
        let now = match routing.get_contact(request.clone()).await {
            Ok(answer) => answer.into_inner().contact.expect("contact"),
            // Another agent has it now, and this desk may no longer read it.
            Err(status) if status.code() == Code::PermissionDenied => return,
            Err(status)
                if matches!(
                    status.code(),
                    Code::Unavailable | Code::Cancelled | Code::Unknown | Code::DeadlineExceeded
                ) && tokio::time::Instant::now() < deadline =>
            {
                continue;
            }
            Err(status) => panic!("follow a warm transfer: {status:?}"),
        };
        // A return puts the contact back as it was before the transfer, hops included. With
        // the transfer's hop and nobody holding it, an agent took it; with more hops, it moved
        // on since (perhaps back to this agent, whose desk then has it as a new connection,
        // which is not a return).
        let hops = contact.path.len();
        let taken = now.path.len() > hops + 1
            || (now.path.len() > hops && now.holding_agent_id != agent_id);
        if now.state == pb::ContactState::Ended as i32 || taken {
            return;
        }
        let connected = now.state == pb::ContactState::Connected as i32;
        if connected && now.holding_agent_id.is_empty() && now.path.len() == hops {
            // Back with this agent, as before the transfer.
            {
                let mut floor = floor.lock().expect("floor");
                if floor.warm.remove(&contact.contact_id).is_some() {
                    floor.warm_returned += 1;
                    floor.warm_ended(&contact.contact_id, None);
                }
            }
            Box::pin(hand_on(replicas, tenant, agent_id, tier, now, 0, floor)).await;
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a warm transfer of {} neither taken nor returned: {now:?}",
            contact.contact_id
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_lose_nothing_and_never_double_assign_through_rejects_drops_and_a_kill() {
    simulate(Stores::redis(), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_redis_cluster_two_replicas_lose_nothing_and_never_double_assign() {
    simulate(Stores::redis_cluster(), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_store_one_router_loses_nothing_and_never_double_assigns() {
    simulate(Stores::embedded(), false).await;
}

/// The simulation on `stores`, with a second replica (killed and restarted) when `replicated`.
async fn simulate(stores: Stores, replicated: bool) {
    let agents = setting("BATON_SIM_AGENTS", 24);
    let contacts = setting("BATON_SIM_CONTACTS", 240);
    let tenants = setting("BATON_SIM_TENANTS", 3).max(1);
    let seed = setting("BATON_SIM_SEED", 7);
    let mut rng = Rng::new(seed);

    let mut config = stores.config();
    config.routing_port = free_port();
    config.routing_advertise_url = format!("http://127.0.0.1:{}", config.routing_port);
    config.routing_lease_secs = 1;
    config.offer_timeout_secs = 1;
    config.offer_cooldown_secs = 1;
    config.warm_transfer_timeout_secs = 2;
    config.routing_rebalance =
        setting("BATON_SIM_REBALANCE", u64::from(config.routing_rebalance)) != 0;
    let first = TestMesh::start_with(config).await;
    let mut second = first.config.clone();
    second.routing_port = free_port();
    second.routing_advertise_url = format!("http://127.0.0.1:{}", second.routing_port);
    second.identity_url = Some(first.url(ServiceName::Identity));
    second.context_url = Some(first.url(ServiceName::Context));
    second.recommendation_url = Some(first.url(ServiceName::Recommendation));
    let mut replica = replicated.then(|| Killable::start(&second));
    let ports = if replicated {
        vec![first.config.routing_port, second.routing_port]
    } else {
        vec![first.config.routing_port]
    };
    // A client per replica calling as `token`.
    let connect = |token: String| -> Vec<Client> {
        let clients = ClientConfig {
            credentials: Some(Watched::fixed(token)),
            request_timeout_ms: 30_000,
            ..ClientConfig::default()
        };
        ports
            .iter()
            .map(|port| {
                RoutingServiceClient::new(
                    connect_lazy(&format!("http://127.0.0.1:{port}"), &clients).expect("url"),
                )
            })
            .collect()
    };
    // The harness plays the gateway and the supervisor; each desk calls as its own agent.
    let replicas = connect(first.token.get().to_string());

    // Agents: a fifth of each tenant's tier 2 (the second of every five, so every tenant
    // with two agents or more has one whatever the number of tenants), voice 1 and chat 2
    // each.
    let tenant_ids: Vec<String> = (0..tenants)
        .map(|i| format!("sim-{seed}-{i}-{}", uuid::Uuid::new_v4().simple()))
        .collect();
    let floor = Arc::new(Mutex::new(Floor::default()));
    let done = Shutdown::new();
    let mut lives = Vec::new();
    for i in 0..agents {
        let tenant = tenant_ids[(i % tenants) as usize].clone();
        let agent_id = format!("agent-{i}");
        let tier = if (i / tenants) % 5 == 1 { 2 } else { 1 };
        let mut routing = replicas[rng.below(replicas.len() as u64) as usize].clone();
        agent(
            &mut routing,
            &tenant,
            &agent_id,
            tier,
            &[],
            &[(pb::Channel::Voice, 1), (pb::Channel::Chat, 2)],
            pb::Presence::Available,
        )
        .await;
        let desk = connect(first.token_for(
            &format!("desk-{agent_id}"),
            &Tenants::one(&tenant),
            &[Role::Agent],
            Some(&agent_id),
        ));
        lives.push(tokio::spawn(agent_life(
            tenant,
            agent_id,
            tier,
            desk,
            floor.clone(),
            Rng::new(seed ^ (i + 1).wrapping_mul(0xA24B_AED4_963E_E407)),
            done.clone(),
        )));
    }

    // Contacts, through either replica; the second replica is killed a third of the way in
    // and started again at two thirds.
    let mut started = Vec::new();
    for n in 0..contacts {
        if n == contacts / 3
            && let Some(replica) = &mut replica
        {
            replica.kill();
        }
        if n == 2 * contacts / 3 && replicated {
            replica = Some(Killable::start(&second));
        }
        let tenant = tenant_ids[rng.below(tenants) as usize].clone();
        let channel = if rng.chance(50) {
            pb::Channel::Voice
        } else {
            pb::Channel::Chat
        };
        let request = pb::StartContactRequest {
            tenant_id: tenant.clone(),
            channel: channel as i32,
            identifiers: vec![ident(
                Kind::Email,
                &format!("caller-{}@example.net", rng.below(contacts / 2 + 1)),
                Assurance::Verified,
            )],
            utterance: "my card was declined".into(),
            idempotency_key: key(),
            ..Default::default()
        };
        let mut through = replicas.clone();
        through.rotate_left(rng.below(replicas.len() as u64) as usize);
        let answer = retrying("start a contact", &through, |mut routing| {
            let request = request.clone();
            async move { routing.start_contact(request).await }
        })
        .await
        .into_inner();
        started.push((tenant, answer.contact.expect("contact").contact_id));
        tokio::time::sleep(Duration::from_millis(rng.below(20))).await;
    }

    // Every contact ends: the desks keep working until none is left.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120 + contacts / 20);
    let mut open = started.clone();
    let mut last_seen: HashMap<String, pb::Contact> = HashMap::new();
    while !open.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} contacts never ended, e.g. {:?}, last seen as {:?}; floor: {:?}",
            open.len(),
            open.first(),
            open.first().and_then(|(_, id)| last_seen.get(id)),
            floor.lock().expect("floor")
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut still = Vec::new();
        for (tenant, contact_id) in open {
            let mut through = replicas.clone();
            through.rotate_left(rng.below(replicas.len() as u64) as usize);
            let request = pb::GetContactRequest {
                tenant_id: tenant.clone(),
                contact_id: contact_id.clone(),
            };
            let contact = retrying("read a contact", &through, |mut routing| {
                let request = request.clone();
                async move { routing.get_contact(request).await }
            })
            .await
            .into_inner()
            .contact
            .expect("contact");
            if contact.state != pb::ContactState::Ended as i32 {
                last_seen.insert(contact_id.clone(), contact);
                still.push((tenant, contact_id));
            }
        }
        open = still;
    }
    done.trigger();
    for life in lives {
        life.await.expect("an agent's desk failed");
    }

    let floor = floor.lock().expect("floor");
    eprintln!(
        "simulation: seed {seed}, {agents} agents, {contacts} contacts, {tenants} tenants, \
         rebalancing {}: {} \
         connections, {} transfers ({} warm taken, {} warm returned), {} ended by desks, {} \
         rejects, {} lapses, {} dropped streams, {} contacts picked up on reconnecting",
        if first.config.routing_rebalance {
            "on"
        } else {
            "off"
        },
        floor.connections,
        floor.transfers,
        floor.warm_taken,
        floor.warm_returned,
        floor.ended,
        floor.rejects,
        floor.lapses,
        floor.drops,
        floor.resumed
    );
    assert!(
        floor.warm.is_empty(),
        "warm transfers neither taken nor returned: {:?}",
        floor.warm
    );
    assert!(
        floor.double_assignments.is_empty(),
        "double assignments: {:?}",
        floor.double_assignments
    );
    assert!(
        floor.capacity_violations.is_empty() && floor.unsure.is_empty(),
        "capacity exceeded: {:?}, perhaps: {:?}",
        floor.capacity_violations,
        floor.unsure
    );
    assert!(
        floor.token_failures.is_empty(),
        "tokens: {:?}",
        floor.token_failures
    );
    assert!(
        floor.connections >= contacts,
        "every contact was connected at least once"
    );
    assert!(floor.transfers > 0 && floor.rejects > 0 && floor.drops > 0);
    assert!(floor.warm_taken > 0, "some warm transfer was taken");
    if let Some(mut replica) = replica {
        replica.kill();
    }
}
