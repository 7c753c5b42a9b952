//! Routing decisions at contact-centre scale, in process: the state machine the router runs,
//! without the network or the disk, so what is measured is the decision alone.
//!
//! The large floor: 7,500 agents signed in on 500 queues (each agent serves 4 queues, with a
//! skill of its queues at proficiency 1 to 10; voice capacity 1, chat 3), every agent busy,
//! and 10,000 contacts waiting. Two decisions are timed there, many times each:
//!
//! - **arrive**: a contact arrives for a random queue while nobody is free, so it must be
//!   placed and nobody offered it (it then leaves, untimed, so the floor stays as it was);
//! - **free**: an agent's contact ends, so the router picks the best waiting contact that
//!   agent may take, offers it, and the agent accepts (the floor stays busy).
//!
//! The same two decisions on a small floor (10 agents, 5 queues, 20 waiting) are the baseline
//! of the same run; the report gives p50 and p99 of each and the ratio of large to small.
//! Seeded: every run places the same contacts with the same agents.
//!
//! `--agents N --queues N --waiting N --samples N` change the large floor.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use baton_proto::v1::{
    Channel, ChannelCapacity, Contact, Hop, HopKind, Presence, Queue, Skill, SkillRequirement,
    audience::Target,
};
use baton_routing::domain::record::{ContactRecord, audience};
use baton_routing::domain::state::{AgentUpdate, Effect, RoutingState};
use baton_runtime::time::to_timestamp;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TENANT: &str = "bench";

/// A small deterministic generator (xorshift64*), so every run builds the same floor.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The size of a floor.
#[derive(Debug, Clone, Copy)]
struct Floor {
    agents: usize,
    queues: usize,
    waiting: usize,
}

/// A floor built and busy, with what the decisions need.
struct Built {
    state: RoutingState,
    rng: Rng,
    /// Connected contacts: `(contact, agent, session)`, ended one at a time by "free".
    connected: Vec<(String, String, u64)>,
    queues: usize,
    /// The clock the state machine is given; moves forward a millisecond per decision.
    now: SystemTime,
    serial: u64,
}

fn queue_id(q: usize) -> String {
    format!("q{q:04}")
}

/// The skill queue `q` needs: 50 skills shared among the queues.
fn skill_of(q: usize) -> String {
    format!("skill-{}", q % 50)
}

fn contact(id: &str, queue: usize, channel: Channel, now: SystemTime) -> ContactRecord {
    ContactRecord {
        contact: Contact {
            contact_id: id.to_owned(),
            tenant_id: TENANT.to_owned(),
            channel: channel as i32,
            tier: 1,
            queue_id: queue_id(queue),
            requested_at: Some(to_timestamp(now)),
            path: vec![Hop {
                index: 0,
                kind: HopKind::Start as i32,
                at: Some(to_timestamp(now)),
                token_id: format!("tok-{id}"),
                ..Hop::default()
            }],
            ..Contact::default()
        },
        token: Vec::new(),
        target: Some(audience(Target::QueueId(queue_id(queue)))),
        ..ContactRecord::default()
    }
}

fn offers(effects: &[Effect]) -> Vec<(String, String, String)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Offer {
                agent_id,
                offer_id,
                contact,
                ..
            } => Some((
                contact.contact_id.clone(),
                agent_id.clone(),
                offer_id.clone(),
            )),
            _ => None,
        })
        .collect()
}

fn build(floor: Floor, seed: u64) -> Built {
    let mut rng = Rng(seed);
    let mut now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut state = RoutingState::new(Duration::from_secs(60));
    for q in 0..floor.queues {
        state.upsert_queue(
            TENANT,
            Queue {
                queue_id: queue_id(q),
                tier: 1,
                required_skills: vec![SkillRequirement {
                    name: skill_of(q),
                    min_proficiency: 3,
                }],
                ..Queue::default()
            },
            now,
        );
    }
    let mut sessions = Vec::with_capacity(floor.agents);
    for a in 0..floor.agents {
        let id = format!("agent-{a:05}");
        let served: Vec<usize> = (0..4).map(|_| rng.below(floor.queues)).collect();
        let mut skills: Vec<Skill> = served
            .iter()
            .map(|q| Skill {
                name: skill_of(*q),
                proficiency: 3 + rng.below(8) as u32,
            })
            .collect();
        skills.sort_by(|a, b| a.name.cmp(&b.name));
        skills.dedup_by(|a, b| a.name == b.name);
        let update = AgentUpdate {
            agent_id: id.clone(),
            presence: Some(Presence::Available),
            tier: Some(1),
            skills: Some(skills),
            capacities: Some(vec![
                ChannelCapacity {
                    channel: Channel::Voice as i32,
                    max_contacts: 1,
                    exclusive: false,
                },
                ChannelCapacity {
                    channel: Channel::Chat as i32,
                    max_contacts: 3,
                    exclusive: false,
                },
            ]),
            queue_ids: Some(served.iter().map(|q| queue_id(*q)).collect()),
            ..AgentUpdate::default()
        };
        state.set_agent(TENANT, update, now);
        sessions.push((id, served));
    }
    // Every agent opens a desk and is kept busy: each offer made is accepted at once.
    let mut connected = Vec::new();
    let mut serial = 0u64;
    for (i, (id, served)) in sessions.iter().enumerate() {
        let session = i as u64 + 1;
        let (_, effects) = state
            .open_session(TENANT, id, session, now)
            .expect("agent exists");
        accept_all(&mut state, &effects, now, &mut connected);
        // Fill the agent's places with contacts of its queues.
        for channel in [Channel::Voice, Channel::Chat, Channel::Chat, Channel::Chat] {
            serial += 1;
            let q = served[rng.below(served.len())];
            let record = contact(&format!("busy-{serial}"), q, channel, now);
            let (_, _, effects) = state.start(record, now);
            accept_all(&mut state, &effects, now, &mut connected);
        }
    }
    // Then the contacts nobody can take now.
    let mut placed = 0;
    while placed < floor.waiting {
        serial += 1;
        now += Duration::from_millis(1);
        let channel = if serial.is_multiple_of(3) {
            Channel::Voice
        } else {
            Channel::Chat
        };
        let record = contact(
            &format!("wait-{serial}"),
            rng.below(floor.queues),
            channel,
            now,
        );
        let (_, _, effects) = state.start(record, now);
        accept_all(&mut state, &effects, now, &mut connected);
        if offers(&effects).is_empty() {
            placed += 1;
        }
    }
    Built {
        state,
        rng,
        connected,
        queues: floor.queues,
        now,
        serial,
    }
}

/// Accepts every offer among `effects`, as the agent's desk would at once.
fn accept_all(
    state: &mut RoutingState,
    effects: &[Effect],
    now: SystemTime,
    connected: &mut Vec<(String, String, u64)>,
) {
    for effect in effects {
        if let Effect::Offer {
            agent_id,
            session,
            offer_id,
            contact,
            ..
        } = effect
            && state
                .accept(TENANT, agent_id, *session, offer_id, now)
                .is_ok()
        {
            connected.push((contact.contact_id.clone(), agent_id.clone(), *session));
        }
    }
}

/// Microseconds of `samples` "arrive" decisions, then of `samples` "free" decisions.
fn measure(built: &mut Built, samples: usize) -> (Vec<f64>, Vec<f64>) {
    let mut arrive = Vec::with_capacity(samples);
    for _ in 0..samples {
        built.serial += 1;
        built.now += Duration::from_millis(1);
        let q = built.rng.below(built.queues);
        let record = contact(
            &format!("arrive-{}", built.serial),
            q,
            Channel::Chat,
            built.now,
        );
        let id = record.contact.contact_id.clone();
        let started = Instant::now();
        let (_, _, effects) = built.state.start(record, built.now);
        arrive.push(started.elapsed().as_secs_f64() * 1e6);
        assert!(offers(&effects).is_empty(), "nobody is free to take it");
        // It leaves again untimed, so every decision sees the same floor.
        built
            .state
            .end(TENANT, &id, "", built.now)
            .expect("the contact placed ends");
    }
    let mut free = Vec::with_capacity(samples);
    for _ in 0..samples {
        if built.connected.is_empty() {
            break;
        }
        built.now += Duration::from_millis(1);
        let i = built.rng.below(built.connected.len());
        let (contact_id, agent_id, _) = built.connected.swap_remove(i);
        let started = Instant::now();
        let (_, effects) = built
            .state
            .end(TENANT, &contact_id, &agent_id, built.now)
            .expect("a connected contact ends");
        free.push(started.elapsed().as_secs_f64() * 1e6);
        let mut connected = std::mem::take(&mut built.connected);
        accept_all(&mut built.state, &effects, built.now, &mut connected);
        built.connected = connected;
    }
    (arrive, free)
}

fn percentile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let i = ((values.len() as f64 - 1.0) * q).round() as usize;
    values.get(i).copied().unwrap_or(f64::NAN)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: usize| baton_tests::number_arg(&args, name, default);
    let large = Floor {
        agents: arg("--agents", 7_500),
        queues: arg("--queues", 500),
        waiting: arg("--waiting", 10_000),
    };
    let small = Floor {
        agents: 10,
        queues: 5,
        waiting: 20,
    };
    let samples = arg("--samples", 2_000);
    println!(
        "routing decisions in process: {} agents busy on {} queues with {} waiting, against \
         {} agents on {} queues with {} waiting; {samples} decisions of each kind",
        large.agents, large.queues, large.waiting, small.agents, small.queues, small.waiting
    );
    let build_started = Instant::now();
    let mut big = build(large, 7);
    println!(
        "  built the large floor in {:.1} s",
        build_started.elapsed().as_secs_f64()
    );
    let mut little = build(small, 7);
    let (mut big_arrive, mut big_free) = measure(&mut big, samples);
    let (mut small_arrive, mut small_free) = measure(&mut little, samples);
    for (name, large, small) in [
        (
            "arrive (placed, nobody free)",
            &mut big_arrive,
            &mut small_arrive,
        ),
        (
            "free (an agent picks the next)",
            &mut big_free,
            &mut small_free,
        ),
    ] {
        let (l50, l99) = (percentile(large, 0.5), percentile(large, 0.99));
        let (s50, s99) = (percentile(small, 0.5), percentile(small, 0.99));
        println!(
            "  {name:<32} large p50 {l50:>9.1} us p99 {l99:>9.1} us | small p50 {s50:>6.1} us \
             p99 {s99:>6.1} us | p99 {:.1}x",
            l99 / s99
        );
    }
}
