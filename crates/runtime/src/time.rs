//! Conversions between `SystemTime` and protobuf timestamps.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost_types::Timestamp;

/// The current time as a protobuf timestamp.
pub fn now() -> Timestamp {
    to_timestamp(SystemTime::now())
}

/// A `SystemTime` as a protobuf timestamp (times before 1970 clamp to the epoch).
pub fn to_timestamp(t: SystemTime) -> Timestamp {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: d.subsec_nanos() as i32,
    }
}

/// A protobuf timestamp as a `SystemTime` (negative or malformed values clamp to the epoch).
pub fn from_timestamp(ts: &Timestamp) -> SystemTime {
    let secs = u64::try_from(ts.seconds).unwrap_or(0);
    let nanos = u32::try_from(ts.nanos).unwrap_or(0).min(999_999_999);
    UNIX_EPOCH + Duration::new(secs, nanos)
}

/// A key that orders timestamps by time (prost's `Timestamp` has no ordering of its own).
pub fn sort_key(ts: &Timestamp) -> (i64, i32) {
    (ts.seconds, ts.nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_to_the_nanosecond() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        assert_eq!(from_timestamp(&to_timestamp(t)), t);
    }

    #[test]
    fn sort_key_orders_by_seconds_then_nanos() {
        let at = |seconds, nanos| Timestamp { seconds, nanos };
        assert!(sort_key(&at(1, 999)) < sort_key(&at(2, 0)));
        assert!(sort_key(&at(2, 1)) < sort_key(&at(2, 2)));
    }
}
