//! Routing's tenants split into shards, each decided by one replica at a time.
//!
//! A tenant's routing decisions need one consistent view of its agents, queues and waiting
//! contacts, and they are fast because one task holds that view in memory. So replicas share
//! the work by tenant: a tenant belongs to one of `count` shards (a stable hash of its id), a
//! replica runs one dispatcher per shard it holds, and it holds a shard through a lease in the
//! store (see [`RoutingStore::claim`]). Every commit of that dispatcher is fenced by the lease,
//! so a replica that lost its shard (paused past its lease, cut off from the store) writes
//! nothing more for it, and two replicas never both decide for one tenant.
//!
//! A call may arrive at any replica. When another holds the tenant's shard, the call is sent
//! there with the caller's own credentials ([`Route::There`]), streams included, so agent
//! sessions and supervisors may be connected anywhere. When nobody holds it (never taken, or
//! its holder let it lapse), the replica the call reached takes it: it loads the shard's
//! tenants from the store and carries on, timers and waiting contacts included.
//!
//! Every `lease / 3`, on a task of its own so that nothing slow delays it, a replica renews its
//! leases. It answers for a shard only while the lease is surely still its own: until four
//! fifths of a lease after the renewal was *sent* (the store counts from when it ran it,
//! later). A shard it failed to renew, or whose commit the fence refused, is given up at once:
//! its sessions end and desks reconnect, reaching the new holder. Also every `lease / 3`, it
//! takes the shards whose holder let them lapse, which is how the contacts of a replica that
//! died are taken over. With rebalancing on ([`ShardConfig::rebalance`], experimental and off
//! by default) replicas announce themselves in the store, and a replica holding two or more
//! shards beyond the one holding the fewest hands it half the difference, passing each lease on
//! itself (see [`RoutingStore::hand_over`]): how a replica that joins gets its share. Calls
//! that arrive during a hand-over wait for it and are sent to the receiver. On the stop signal
//! a replica withdraws its announcement, ends its shards' sessions, waits for calls in flight,
//! and releases its leases so another takes over without waiting for them to lapse.
//!
//! On the embedded store one process holds every shard and there is one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton_proto::v1::routing_service_client::RoutingServiceClient;
use baton_runtime::client::{ClientChannel, ClientConfig, connect_lazy};
use baton_runtime::shutdown::Shutdown;
use baton_token::KeyRing;

use crate::RoutingConfig;
use crate::dispatcher::{Dispatcher, DispatcherHandle};
use crate::domain::state::RoutingState;
use crate::error::Error;
use crate::metrics::RoutingMetrics;
use crate::persist::Persister;
use crate::store::{Claim, Holder, Lease, Loaded, Member, RoutingStore};

/// The metadata a replica puts on a call it sends on to the holder of its tenant's shard: the
/// holder never sends it on again.
pub const FORWARDED: &str = "baton-routing-forwarded";

/// How a replica takes part in sharing routing.
#[derive(Debug, Clone)]
pub struct ShardConfig {
    /// How many shards the tenants are split into; every replica must agree.
    pub count: u32,
    /// How long a lease lasts unless renewed: how long a dead replica's tenants wait before
    /// another takes them.
    pub lease: Duration,
    /// The url other replicas reach this one at (`http://10.1.2.3:50054`); empty when it
    /// cannot be reached, and then calls for its tenants that reach another replica fail with
    /// UNAVAILABLE.
    pub address: String,
    /// How this replica calls others (TLS; its own credentials are never sent: a call sent on
    /// carries its caller's).
    pub peers: ClientConfig,
    /// True on a store only this process opens (embedded): it takes every shard at start.
    pub exclusive: bool,
    /// How long, at the stop signal, calls in flight have before the shards are handed back.
    pub drain: Duration,
    /// Whether replicas even out their shares (see [`Shards::run`]); off, a shard moves only
    /// when its holder stops or dies.
    pub rebalance: bool,
}

impl ShardConfig {
    /// One shard held by the only process: the embedded store.
    pub fn single() -> Self {
        Self {
            count: 1,
            lease: Duration::from_secs(10),
            address: String::new(),
            peers: ClientConfig::default(),
            exclusive: true,
            drain: Duration::from_secs(20),
            rebalance: false,
        }
    }
}

/// Where a call for a tenant is decided.
#[derive(Debug)]
pub enum Route {
    /// Here, by this dispatcher.
    Here(DispatcherHandle),
    /// By the replica this client reaches.
    There(Box<RoutingServiceClient<ClientChannel>>),
}

/// One shard this replica holds.
#[derive(Debug)]
struct Held {
    lease: Lease,
    dispatcher: DispatcherHandle,
    /// Ends the shard's sessions when the shard is given up.
    stop: Shutdown,
    /// Fired by the writer when a commit found the lease taken, and here when the shard is
    /// given up; the writer commits nothing once it has fired.
    lost: Shutdown,
    /// Until when the lease is surely still this replica's: [`Shards::sure_for`] from when
    /// the claim that took or last renewed it was sent (the store counts the lease from when
    /// it ran the claim, which is later). Past it, calls are no longer answered here.
    sure_until: tokio::time::Instant,
}

impl Held {
    /// Stops deciding for the shard: its sessions end, and its writer commits nothing more,
    /// even while the store still names this replica (a lease let go keeps its fence, so
    /// this replica may take the shard again under it, with a dispatcher of its own).
    fn retire(self) {
        self.stop.trigger();
        self.lost.trigger();
    }
}

/// The shards of one replica; see the module docs.
#[derive(Debug)]
pub struct Shards<S> {
    store: Arc<S>,
    config: ShardConfig,
    /// This process's name in the leases: new at every start.
    replica: String,
    held: Mutex<HashMap<u32, Held>>,
    /// Shards being handed to another replica: new calls for them wait for the hand-over
    /// and go to that replica, rather than take them back.
    yielding: Mutex<HashSet<u32>>,
    /// Wakes the calls waiting for a hand-over when one ends.
    handed: tokio::sync::Notify,
    /// One claim at a time, so a burst of calls for a free shard loads it once.
    claiming: tokio::sync::Mutex<()>,
    peers: Mutex<HashMap<String, RoutingServiceClient<ClientChannel>>>,
    /// Where shards held elsewhere were found, and when: trusted for a third of a lease, so a
    /// call sent on costs no claim.
    elsewhere: Mutex<HashMap<u32, (String, tokio::time::Instant)>>,
    keys: KeyRing,
    routing: RoutingConfig,
    metrics: RoutingMetrics,
    /// The process's stop signal.
    shutdown: Shutdown,
}

impl<S: RoutingStore> Shards<S> {
    /// A replica's shards on `store`, holding none yet.
    pub fn new(
        store: Arc<S>,
        config: ShardConfig,
        keys: KeyRing,
        routing: RoutingConfig,
        metrics: RoutingMetrics,
        shutdown: Shutdown,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            config: ShardConfig {
                count: config.count.max(1),
                ..config
            },
            replica: format!("rtr_{}", uuid::Uuid::now_v7()),
            held: Mutex::new(HashMap::new()),
            yielding: Mutex::new(HashSet::new()),
            handed: tokio::sync::Notify::new(),
            claiming: tokio::sync::Mutex::new(()),
            peers: Mutex::new(HashMap::new()),
            elsewhere: Mutex::new(HashMap::new()),
            keys,
            routing,
            metrics,
            shutdown,
        })
    }

    /// The shard a tenant belongs to: FNV-1a of its id, so every replica and every version
    /// agrees.
    pub fn shard_of(&self, tenant_id: &str) -> u32 {
        shard_of(tenant_id, self.config.count)
    }

    /// Whether this process is the only one on its store.
    pub fn exclusive(&self) -> bool {
        self.config.exclusive
    }

    fn lock_held(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Held>> {
        self.held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_yielding(&self) -> std::sync::MutexGuard<'_, HashSet<u32>> {
        self.yielding
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The dispatcher of a tenant whose shard this replica holds.
    pub fn local(&self, tenant_id: &str) -> Result<DispatcherHandle, Error> {
        self.serving(self.shard_of(tenant_id))
            .ok_or(Error::Busy("moving this tenant to another routing replica"))
    }

    /// The dispatcher of `shard` while its lease is surely this replica's: held, never
    /// fenced, and renewed recently enough that no other replica can have taken it (on a
    /// store only this process opens, always).
    fn serving(&self, shard: u32) -> Option<DispatcherHandle> {
        self.lock_held()
            .get(&shard)
            .filter(|h| {
                h.lease.fence.is_empty()
                    || (!h.lost.is_triggered() && tokio::time::Instant::now() < h.sure_until)
            })
            .map(|h| h.dispatcher.clone())
    }

    /// How long after a claim was sent its lease is surely still this replica's: the lease
    /// less a fifth, for the store's clock running ahead of this one.
    fn sure_for(&self) -> Duration {
        self.config.lease - self.config.lease / 5
    }

    /// Where a call for `tenant_id` is decided: here (taking the shard when nobody holds it)
    /// or at its holder. A call that was already sent on (`forwarded`) is never sent on again.
    /// A call for a shard being handed over waits for the hand-over and goes to the receiver.
    pub async fn route(&self, tenant_id: &str, forwarded: bool) -> Result<Route, Error> {
        let shard = self.shard_of(tenant_id);
        if self.lock_yielding().contains(&shard) {
            self.handed_over(shard).await?;
        }
        if let Some(here) = self.serving(shard) {
            return Ok(Route::Here(here));
        }
        if self.shutdown.is_triggered() {
            return Err(Error::Busy("shutting down"));
        }
        if !forwarded && let Some(address) = self.known_holder(shard) {
            return Ok(Route::There(Box::new(self.peer(&address)?)));
        }
        let _one = self.claiming.lock().await;
        if let Some(here) = self.serving(shard) {
            return Ok(Route::Here(here));
        }
        let sent = tokio::time::Instant::now();
        match self.claim(shard).await? {
            Claim::Held { lease, .. } => {
                if let Some(here) = self.renewed(&lease, sent) {
                    return Ok(Route::Here(here));
                }
                let loaded = self.store.load().await?;
                Ok(Route::Here(self.hold(lease, loaded, sent)))
            }
            Claim::Elsewhere { .. } if forwarded => {
                self.give_up(shard, None);
                Err(Error::Busy("moving this tenant between routing replicas"))
            }
            Claim::Elsewhere { address } if address.is_empty() => {
                self.give_up(shard, None);
                Err(Error::Busy(
                    "held for this tenant by a replica that advertises no address \
                     (BATON_ROUTING_ADVERTISE_URL)",
                ))
            }
            Claim::Elsewhere { address } => {
                self.give_up(shard, None);
                self.lock_elsewhere()
                    .insert(shard, (address.clone(), tokio::time::Instant::now()));
                Ok(Route::There(Box::new(self.peer(&address)?)))
            }
        }
    }

    /// Waits (at most a lease) for the hand-over of `shard` to finish.
    async fn handed_over(&self, shard: u32) -> Result<(), Error> {
        let deadline = tokio::time::Instant::now() + self.config.lease;
        loop {
            // Taken before looking, so a hand-over that ends in between still wakes it.
            let done = self.handed.notified();
            if !self.lock_yielding().contains(&shard) {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, done).await.is_err() {
                return Err(Error::Busy("moving this tenant to another routing replica"));
            }
        }
    }

    /// The dispatcher of a shard held here under `lease` after all, its lease renewed by a
    /// claim sent at `sent` (a call found it past [`Shards::sure_for`] since its last
    /// renewal, but nobody took it in between).
    fn renewed(&self, lease: &Lease, sent: tokio::time::Instant) -> Option<DispatcherHandle> {
        let mut held = self.lock_held();
        let h = held.get_mut(&lease.shard)?;
        if h.lease != *lease || h.lost.is_triggered() {
            return None;
        }
        h.sure_until = h.sure_until.max(sent + self.sure_for());
        Some(h.dispatcher.clone())
    }

    /// Stops deciding for `shard` (held under `lease`, or under any lease when `None`): its
    /// sessions end, so desks reconnect to its holder, and calls go elsewhere. False when it
    /// was not held here (so).
    fn give_up(&self, shard: u32, lease: Option<&Lease>) -> bool {
        let mut held = self.lock_held();
        if held
            .get(&shard)
            .is_some_and(|h| lease.is_none_or(|l| h.lease == *l))
            && let Some(gone) = held.remove(&shard)
        {
            gone.retire();
            return true;
        }
        false
    }

    fn lock_elsewhere(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<u32, (String, tokio::time::Instant)>> {
        self.elsewhere.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets where the shard of `tenant_id` was found: a call sent there failed.
    pub fn forget_holder(&self, tenant_id: &str) {
        self.lock_elsewhere().remove(&self.shard_of(tenant_id));
    }

    /// The replica found holding `shard` less than a third of a lease ago.
    fn known_holder(&self, shard: u32) -> Option<String> {
        let mut known = self.lock_elsewhere();
        match known.get(&shard) {
            Some((address, at)) if at.elapsed() < self.config.lease / 3 => Some(address.clone()),
            Some(_) => {
                known.remove(&shard);
                None
            }
            None => None,
        }
    }

    /// Starts the dispatcher of a shard just taken by a claim sent at `sent`, with the shard's
    /// tenants out of `loaded`. A dispatcher still running for it under an earlier lease
    /// stops.
    fn hold(&self, lease: Lease, loaded: Loaded, sent: tokio::time::Instant) -> DispatcherHandle {
        let shard = lease.shard;
        let mine = |tenant: &str| self.shard_of(tenant) == shard;
        let agents: Vec<_> = loaded.agents.into_iter().filter(|(t, _)| mine(t)).collect();
        let queues: Vec<_> = loaded.queues.into_iter().filter(|(t, _)| mine(t)).collect();
        let contacts: Vec<_> = loaded
            .contacts
            .into_iter()
            .filter(|c| mine(c.tenant_id()))
            .collect();
        tracing::info!(
            shard,
            agents = agents.len(),
            queues = queues.len(),
            contacts = contacts.len(),
            "routing shard taken, its state reloaded"
        );
        let mut state = RoutingState::new(self.routing.priority_aging);
        state.load(agents, queues, contacts);
        let lost = Shutdown::new();
        let fence = (!lease.fence.is_empty()).then(|| lease.clone());
        let persister = Persister::spawn(Arc::clone(&self.store), fence, lost.clone());
        let stop = Shutdown::new();
        // A commit refused by the fence means another replica decides for the shard now:
        // its sessions end at once, so desks reconnect and reach that replica.
        tokio::spawn({
            let (lost, stop) = (lost.clone(), stop.clone());
            async move {
                tokio::select! {
                    () = lost.triggered() => stop.trigger(),
                    () = stop.triggered() => {}
                }
            }
        });
        let dispatcher = Dispatcher::spawn(
            state,
            persister,
            self.keys.clone(),
            self.routing,
            stop.clone(),
            self.metrics.clone(),
        );
        let earlier = self.lock_held().insert(
            shard,
            Held {
                lease,
                dispatcher: dispatcher.clone(),
                stop,
                lost,
                sure_until: sent + self.sure_for(),
            },
        );
        if let Some(earlier) = earlier {
            earlier.retire();
        }
        dispatcher
    }

    /// Claims `shard` for this replica (see [`RoutingStore::claim`]).
    async fn claim(&self, shard: u32) -> Result<Claim, baton_store::StoreError> {
        self.store
            .claim(
                shard,
                &self.replica,
                &self.config.address,
                self.config.lease,
            )
            .await
    }

    /// A client for the replica at `address`, made once.
    fn peer(&self, address: &str) -> Result<RoutingServiceClient<ClientChannel>, Error> {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = peers.get(address) {
            return Ok(client.clone());
        }
        let channel = connect_lazy(address, &self.config.peers).map_err(|e| {
            tracing::error!(error = %e, "another routing replica advertises an address that is not a url");
            Error::Busy("held for this tenant by a replica whose advertised address is not a url")
        })?;
        let client = RoutingServiceClient::new(channel)
            .max_decoding_message_size(crate::grpc::validate::MAX_REQUEST_BYTES);
        peers.insert(address.to_owned(), client.clone());
        Ok(client)
    }

    /// Takes every shard of the embedded store's single process at start, so a damaged store
    /// fails the start rather than the first call.
    pub async fn hold_all(&self) -> Result<(), Error> {
        let loaded = self.store.load().await?;
        let mut leases = Vec::new();
        for shard in 0..self.config.count {
            let sent = tokio::time::Instant::now();
            if let Claim::Held { lease, .. } = self.claim(shard).await? {
                leases.push((lease, sent));
            }
        }
        for (lease, sent) in leases {
            self.hold(lease, loaded.clone(), sent);
        }
        Ok(())
    }

    /// Renews leases and gives up the shards it lost (on a task of its own, so that taking
    /// shards, handing them over or a slow store read never delays a renewal), takes the
    /// lapsed ones and evens out shares; at the stop signal, hands every shard back. Runs
    /// until then.
    pub async fn run(self: Arc<Self>) {
        let every = self.config.lease / 3;
        // Renewals go on through the hand-back, whose drain may outlast a lease.
        let handed_back = Shutdown::new();
        let renewing = tokio::spawn(Arc::clone(&self).renew_every(every, handed_back.clone()));
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = self.shutdown.triggered() => break,
            }
            self.take_lapsed().await;
            self.rebalance().await;
        }
        if self.rebalancing()
            && let Err(err) = self.store.leave(&self.replica).await
        {
            tracing::warn!(error = %err, "routing replica could not withdraw its announcement; it lapses instead");
        }
        self.hand_back(self.config.drain).await;
        handed_back.trigger();
        let _ = renewing.await;
    }

    /// Renews the leases held `every` so often until `until` fires.
    async fn renew_every(self: Arc<Self>, every: Duration, until: Shutdown) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = until.triggered() => return,
            }
            self.renew().await;
        }
    }

    /// Renews every lease held; a shard whose lease is gone, whose writer was fenced, or
    /// which could not be renewed while its lease was surely this replica's, is given up.
    async fn renew(&self) {
        let held: Vec<(u32, Lease, bool)> = self
            .lock_held()
            .iter()
            .map(|(shard, h)| (*shard, h.lease.clone(), h.lost.is_triggered()))
            .collect();
        for (shard, lease, lost) in held {
            let sent = tokio::time::Instant::now();
            let kept = !lost
                && match self.claim(shard).await {
                    Ok(Claim::Held { lease: now, .. }) if now == lease => {
                        self.renewed(&lease, sent);
                        true
                    }
                    Ok(_) => false,
                    Err(err) => {
                        // The store is out of reach: commits fail anyway, and the lease may
                        // still be renewed before it lapses; past that, another replica may
                        // hold the shard.
                        tracing::warn!(shard, error = %err, "routing lease not renewed");
                        self.lock_held()
                            .get(&shard)
                            .is_some_and(|h| tokio::time::Instant::now() < h.sure_until)
                    }
                };
            if !kept && self.give_up(shard, Some(&lease)) {
                tracing::warn!(shard, "routing shard lost to another replica, gave it up");
            }
        }
    }

    /// Takes the shards whose holder let them lapse.
    async fn take_lapsed(&self) {
        let lapsed = match self.store.lapsed().await {
            Ok(lapsed) => lapsed,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read which routing shards lapsed");
                return;
            }
        };
        // A replica that died leaves several at a time.
        self.take(lapsed, "its holder let it lapse").await;
    }

    /// Claims `shards` (those not held here already) together and loads their state once.
    /// `why` says, in the log, why they are taken.
    async fn take(&self, shards: Vec<u32>, why: &'static str) {
        let _one = self.claiming.lock().await;
        let mut taken = Vec::new();
        for shard in shards {
            if shard >= self.config.count || self.lock_held().contains_key(&shard) {
                continue;
            }
            let sent = tokio::time::Instant::now();
            if let Ok(Claim::Held { lease, .. }) = self.claim(shard).await {
                taken.push((lease, sent));
            }
        }
        if taken.is_empty() {
            return;
        }
        match self.store.load().await {
            Ok(loaded) => {
                for (lease, sent) in taken {
                    tracing::info!(shard = lease.shard, why, "taking a routing shard");
                    self.hold(lease, loaded.clone(), sent);
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, why, "cannot load routing shards being taken, letting them go");
                for (lease, _) in taken {
                    let _ = self.store.release(&lease).await;
                }
            }
        }
    }

    /// Whether this replica shares shards with others: on a shared store, reachable by them.
    fn sharing(&self) -> bool {
        !self.config.exclusive && !self.config.address.is_empty()
    }

    /// Whether this replica evens out shares with the others.
    fn rebalancing(&self) -> bool {
        self.config.rebalance && self.sharing()
    }

    /// Announces this replica, takes up the shards handed to it, and hands shards to the
    /// replica holding the fewest while it holds at least two more than that one, half the
    /// difference at a time: how a replica that joins gets its share, and how the shards of
    /// one that died even out again after the survivors took them.
    async fn rebalance(&self) {
        if !self.rebalancing() {
            return;
        }
        let members = match self
            .store
            .announce(&self.replica, &self.config.address, self.config.lease)
            .await
        {
            Ok(members) => members,
            Err(err) => {
                tracing::warn!(error = %err, "routing replica could not announce itself");
                return;
            }
        };
        let holders = match self.store.holders().await {
            Ok(holders) => holders,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read which replica holds which routing shard");
                return;
            }
        };
        self.take_up(&holders).await;
        let mine = self.lock_held().len();
        let Some((receiver, theirs)) = least_loaded(&members, &holders, &self.replica) else {
            return;
        };
        if theirs + 2 > mine {
            return;
        }
        for _ in 0..(mine - theirs) / 2 {
            if self.shutdown.is_triggered() || !self.give(receiver).await {
                break;
            }
        }
    }

    /// Takes up the shards another replica handed to this one (a call for one of them may
    /// have taken it up already).
    async fn take_up(&self, holders: &[Holder]) {
        let given: Vec<u32> = holders
            .iter()
            .filter(|h| h.replica == self.replica)
            .map(|h| h.shard)
            .collect();
        if given.iter().all(|s| self.lock_held().contains_key(s)) {
            return;
        }
        self.take(given, "another replica handed it to this one")
            .await;
    }

    /// Hands the held shard with the fewest calls in flight to `receiver`: its sessions end
    /// (desks reconnect, anywhere), calls in flight get a third of a lease to finish, new
    /// ones wait until it is handed over and then go to `receiver`. False when nothing was
    /// handed over.
    async fn give(&self, receiver: &Member) -> bool {
        let chosen = self
            .lock_held()
            .iter()
            .map(|(shard, h)| (h.dispatcher.callers(), std::cmp::Reverse(*shard)))
            .min()
            .map(|(_, std::cmp::Reverse(shard))| shard);
        let Some(shard) = chosen else { return false };
        let Some((lease, dispatcher, stop)) = self
            .lock_held()
            .get(&shard)
            .map(|h| (h.lease.clone(), h.dispatcher.clone(), h.stop.clone()))
        else {
            return false;
        };
        self.lock_yielding().insert(shard);
        stop.trigger();
        let deadline = tokio::time::Instant::now() + self.config.lease / 3;
        // Ours, and the one in the map.
        while dispatcher.callers() > 2 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let gone = self.lock_held().remove(&shard);
        let given = match self
            .store
            .hand_over(
                &lease,
                &receiver.replica,
                &receiver.address,
                self.config.lease,
            )
            .await
        {
            Ok(Some(_)) => {
                tracing::info!(shard, to = %receiver.address, "routing shard handed to a replica with fewer");
                self.lock_elsewhere().insert(
                    shard,
                    (receiver.address.clone(), tokio::time::Instant::now()),
                );
                true
            }
            Ok(None) => {
                tracing::warn!(
                    shard,
                    "routing shard was taken by another replica before it was handed over"
                );
                false
            }
            Err(err) => {
                // The lease is still this replica's, with nobody deciding for it: let it
                // lapse at once so any replica takes it.
                tracing::warn!(shard, error = %err, "routing shard not handed over; releasing it");
                let _ = self.store.release(&lease).await;
                false
            }
        };
        if let Some(gone) = gone {
            gone.retire();
        }
        self.lock_yielding().remove(&shard);
        self.handed.notify_waiters();
        given
    }

    /// Ends every shard's sessions, waits (at most `drain`) for the calls in flight to let go
    /// of its dispatcher, and releases its lease. Calls in flight still find their shard
    /// until then; new ones are refused.
    async fn hand_back(&self, drain: Duration) {
        let held: Vec<(Lease, DispatcherHandle)> = self
            .lock_held()
            .values()
            .map(|h| {
                h.stop.trigger();
                (h.lease.clone(), h.dispatcher.clone())
            })
            .collect();
        let deadline = tokio::time::Instant::now() + drain;
        for (lease, dispatcher) in held {
            // Ours, and the one in the map.
            while dispatcher.callers() > 2 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let gone = self.lock_held().remove(&lease.shard);
            if !lease.fence.is_empty() {
                match self.store.release(&lease).await {
                    Ok(()) => tracing::info!(shard = lease.shard, "routing shard handed back"),
                    Err(err) => {
                        tracing::warn!(shard = lease.shard, error = %err, "routing lease not released; it lapses instead")
                    }
                }
            }
            if let Some(gone) = gone {
                gone.retire();
            }
        }
    }
}

/// The live replica other than `me` holding the fewest shards (by name among equals), with
/// how many it holds; `None` when `me` is alone or the others cannot be reached.
fn least_loaded<'m>(
    members: &'m [Member],
    holders: &[Holder],
    me: &str,
) -> Option<(&'m Member, usize)> {
    let mut load: BTreeMap<&str, usize> = members
        .iter()
        .filter(|m| m.replica != me && !m.address.is_empty())
        .map(|m| (m.replica.as_str(), 0))
        .collect();
    for holder in holders {
        if let Some(n) = load.get_mut(holder.replica.as_str()) {
            *n += 1;
        }
    }
    members
        .iter()
        .filter_map(|m| load.get(m.replica.as_str()).map(|n| (m, *n)))
        .min_by(|(a, x), (b, y)| x.cmp(y).then_with(|| a.replica.cmp(&b.replica)))
}

/// FNV-1a of `tenant_id`, modulo `count`.
pub fn shard_of(tenant_id: &str, count: u32) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in tenant_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % u64::from(count.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, address: &str) -> Member {
        Member {
            replica: name.into(),
            address: address.into(),
        }
    }

    fn holder(shard: u32, name: &str) -> Holder {
        Holder {
            shard,
            replica: name.into(),
            address: format!("http://{name}"),
        }
    }

    #[test]
    fn shards_go_to_the_reachable_replica_holding_fewest() {
        let members = [
            member("a", "http://a"),
            member("b", "http://b"),
            member("c", "http://c"),
            member("d", ""),
        ];
        let holders = [
            holder(0, "a"),
            holder(1, "a"),
            holder(2, "b"),
            holder(3, "c"),
        ];
        let (to, held) = least_loaded(&members, &holders, "a").expect("someone");
        assert_eq!(
            (to.replica.as_str(), held),
            ("b", 1),
            "the first by name among equals"
        );
        // A replica that announced no address is never given a shard; one that holds
        // nothing yet is the first given one.
        let joined = [
            members[0].clone(),
            member("e", "http://e"),
            members[3].clone(),
        ];
        let (to, held) = least_loaded(&joined, &holders, "a").expect("someone");
        assert_eq!((to.replica.as_str(), held), ("e", 0));
        assert!(
            least_loaded(&members[..1], &holders, "a").is_none(),
            "alone"
        );
    }

    #[test]
    fn a_tenant_always_lands_in_the_same_shard_and_tenants_spread() {
        assert_eq!(shard_of("acme", 16), shard_of("acme", 16));
        assert_eq!(shard_of("anything", 1), 0);
        let mut seen = [0u32; 16];
        for i in 0..1600 {
            seen[shard_of(&format!("tenant-{i}"), 16) as usize] += 1;
        }
        assert!(
            seen.iter().all(|&n| (50..=150).contains(&n)),
            "tenants spread unevenly: {seen:?}"
        );
    }
}
