//! What a replica keeps per tenant in memory (article indexes, reason models, action rules),
//! bounded: past its capacity, the tenant least recently asked for is dropped, to be read or
//! built again from the store when next asked for.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Values by tenant, at most `capacity` of them.
#[derive(Debug)]
pub struct PerTenant<T> {
    /// Each tenant's value and the tick it was last asked for at.
    held: Mutex<BTreeMap<String, (u64, T)>>,
    ticks: AtomicU64,
    capacity: usize,
}

impl<T: Clone> PerTenant<T> {
    /// Empty, holding at most `capacity` tenants (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            held: Mutex::new(BTreeMap::new()),
            ticks: AtomicU64::new(0),
            capacity: capacity.max(1),
        }
    }

    fn tick(&self) -> u64 {
        self.ticks.fetch_add(1, Ordering::Relaxed)
    }

    /// The lock, even if a holder panicked: a cache holds nothing a panic could leave half
    /// written (each value is replaced whole).
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (u64, T)>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The tenant's value, marked as just used.
    pub fn get(&self, tenant: &str) -> Option<T> {
        let tick = self.tick();
        let mut held = self.lock();
        let (used, value) = held.get_mut(tenant)?;
        *used = tick;
        Some(value.clone())
    }

    /// The tenant's value, made by `make` and kept when there is none.
    pub fn get_or_insert_with(&self, tenant: &str, make: impl FnOnce() -> T) -> T {
        if let Some(value) = self.get(tenant) {
            return value;
        }
        let value = make();
        self.put(tenant, value.clone());
        value
    }

    /// Keeps `value` for the tenant, dropping the least recently used tenant when full.
    pub fn put(&self, tenant: &str, value: T) {
        let tick = self.tick();
        let mut held = self.lock();
        if held.len() >= self.capacity && !held.contains_key(tenant) {
            let oldest = held
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(t, _)| t.clone());
            if let Some(oldest) = oldest {
                held.remove(&oldest);
            }
        }
        held.insert(tenant.to_owned(), (tick, value));
    }

    /// Drops the tenant's value.
    pub fn remove(&self, tenant: &str) {
        self.lock().remove(tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_tenant_goes_first() {
        let cache = PerTenant::new(2);
        cache.put("a", 1);
        cache.put("b", 2);
        assert_eq!(cache.get("a"), Some(1));
        cache.put("c", 3);
        assert_eq!(cache.get("b"), None, "b was used least recently");
        assert_eq!((cache.get("a"), cache.get("c")), (Some(1), Some(3)));
        // Replacing a held tenant drops no one.
        cache.put("a", 10);
        assert_eq!((cache.get("a"), cache.get("c")), (Some(10), Some(3)));
        assert_eq!(cache.get_or_insert_with("d", || 4), 4);
        assert_eq!(cache.get_or_insert_with("d", || 5), 4);
        cache.remove("d");
        assert_eq!(cache.get("d"), None);
    }
}
