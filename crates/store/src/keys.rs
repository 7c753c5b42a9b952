//! Tenant-scoped keys.
//!
//! A key is its parts joined by the ASCII unit separator (0x1F), tenant first. Callers
//! validate ids at the API boundary (no control characters), so parts can never run into each
//! other and a prefix scan over `scoped(tenant, &[kind])` sees one tenant only.

/// The separator between key parts.
pub const SEP: char = '\u{1f}';

/// Joins a tenant and further parts into one key.
pub fn scoped(tenant: &str, parts: &[&str]) -> String {
    let mut key =
        String::with_capacity(tenant.len() + parts.iter().map(|p| p.len() + 1).sum::<usize>());
    key.push_str(tenant);
    for part in parts {
        key.push(SEP);
        key.push_str(part);
    }
    key
}

/// The key range holding every key that starts with `prefix` followed by a separator:
/// use as `table.range(lo.as_str()..hi.as_str())`.
pub fn prefix_range(prefix: &str) -> (String, String) {
    let mut lo = String::with_capacity(prefix.len() + 1);
    lo.push_str(prefix);
    lo.push(SEP);
    let mut hi = String::with_capacity(prefix.len() + 1);
    hi.push_str(prefix);
    hi.push(char::from_u32(SEP as u32 + 1).unwrap_or(SEP));
    (lo, hi)
}

/// Formats a sequence number so that keys sort in numeric order.
pub fn seq(n: u64) -> String {
    format!("{n:020}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_range_holds_own_keys_and_excludes_longer_ids() {
        let (lo, hi) = prefix_range(&scoped("t1", &["cust", "c1"]));
        let inside = scoped("t1", &["cust", "c1", "x"]);
        let other = scoped("t1", &["cust", "c10", "x"]);
        assert!(lo.as_str() <= inside.as_str() && inside.as_str() < hi.as_str());
        assert!(!(lo.as_str() <= other.as_str() && other.as_str() < hi.as_str()));
    }

    #[test]
    fn sequence_keys_sort_numerically() {
        assert!(seq(9) < seq(10));
        assert!(seq(99) < seq(100_000));
    }
}
