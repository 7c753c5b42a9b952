//! The audit log of privileged calls: what the auth layer records, how, and where to.
//!
//! # What is recorded
//!
//! A row of the authorization table with an [`Audit`] is audited: merges, unmerges and
//! erasures, token openings, agent state changes by supervisors and administrators, queue
//! changes, profile imports. For each such call the layer writes an [`AuditRecord`]: the
//! principal (subject, roles, how it authenticated), the time, the tenant, the RPC, the ids the
//! request names (read by the rule's [target](Audit::target) function) and how the call ended.
//! Records hold ids only: the target functions copy ids out of the request and nothing else, so
//! no name, phone number, e-mail address, free text or token byte ever reaches the log.
//!
//! # The guarantee: no privileged action without a durable record
//!
//! One record per call, written twice. Before the call reaches the service the layer writes it
//! as `ATTEMPTED` and waits for the [`AuditSink`] to acknowledge it durably; if the sink
//! fails, the call is refused with `UNAVAILABLE` and never reaches the service. When the
//! answer is known (in the response headers of an error, else in the trailers at the end of
//! the body) the same record is written again as `ANSWERED` with the status code, before the
//! answer reaches the caller. If that second write fails the answer still goes out (the
//! action has happened, and the `ATTEMPTED` record names it); the failure is logged and
//! counted, as is every failed write. A call dropped before it answered (the caller went
//! away, the request timeout fired) is written as `ABANDONED` by a task of its own; a record
//! left `ATTEMPTED` means the process stopped before the call answered. One record rather than
//! an attempt and an outcome: a reader sees each call once, with its latest state.
//!
//! Calls the layer refuses for lack of permission are recorded as `REFUSED`
//! (`PERMISSION_DENIED`), with the authenticated principal; so is an admitted call for a tenant
//! its principal may not act for, which the layer refuses as the handler would. Calls nobody
//! authenticated, calls over a rate limit, and calls whose tenant cannot be told (an invalid
//! tenant id, or an unreadable request from a caller of several tenants; refused with
//! `INVALID_ARGUMENT`) are not recorded: none reaches a service.
//!
//! # Layout
//!
//! - [`AuditSink`]: where records go; `baton-store` has the embedded and Redis ones.
//! - [`targets`]: the target function of each audited RPC.
//! - [`frame`]: the gRPC frame around a request message.
//! - `record`: the layer's side: buffering the request, writing, watching the answer.
//! - [`service`]: `AuditService`, the query administrators call.

use std::{fmt, future::Future, pin::Pin};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use baton_proto::v1::{AuditRecord, AuditTargetId};

use crate::principal::{Principal, Role};

pub mod frame;
pub(crate) mod record;
pub mod service;
pub mod targets;

pub use service::AuditLogService;

/// Most ids one record names; a request naming more is recorded with the first ones and
/// `targets_truncated`. A profile import names at most 500 records.
pub const MAX_TARGETS: usize = 500;

/// Longest id a record keeps, in bytes; a longer one is cut (the service refuses it anyway).
pub const MAX_TARGET_ID_LEN: usize = 256;

/// How an RPC is audited: a field of its [`Rule`](crate::policy::Rule).
#[derive(Clone, Copy, Debug)]
pub struct Audit {
    /// Reads the target out of the request message's bytes: the tenant the request names and
    /// the ids it acts on. `None` when the bytes are not a valid request.
    pub target: fn(&[u8]) -> Option<AuditTarget>,
    /// Only calls by principals holding one of these roles are recorded; empty: every
    /// caller's. Refusals are recorded whoever the caller is.
    pub by: &'static [Role],
}

impl Audit {
    /// Whether an admitted call by `principal` is recorded.
    pub fn records(&self, principal: &Principal) -> bool {
        self.by.is_empty() || self.by.iter().any(|r| principal.has(*r))
    }
}

/// What a request acts on, as its target function read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditTarget {
    /// The tenant the request names (possibly empty: the caller's only tenant).
    pub tenant_id: String,
    /// The ids, in the request's order, at most [`MAX_TARGETS`].
    pub ids: Vec<AuditTargetId>,
    /// Whether ids were left out past [`MAX_TARGETS`].
    pub truncated: bool,
}

impl AuditTarget {
    /// A target in `tenant_id` naming nothing yet.
    pub fn new(tenant_id: String) -> Self {
        Self {
            tenant_id,
            ..Self::default()
        }
    }

    /// Adds `id` as a `kind`; an empty id is left out, a long one cut to
    /// [`MAX_TARGET_ID_LEN`] bytes.
    pub fn id(mut self, kind: &str, id: &str) -> Self {
        if id.is_empty() {
            return self;
        }
        if self.ids.len() >= MAX_TARGETS {
            self.truncated = true;
            return self;
        }
        self.ids.push(AuditTargetId {
            kind: kind.to_owned(),
            id: cut(id, MAX_TARGET_ID_LEN).to_owned(),
        });
        self
    }
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Why the audit log could not be written or read. The message is for logs, never for
/// callers.
#[derive(Debug, thiserror::Error)]
#[error("audit log: {0}")]
pub struct AuditError(pub String);

/// What [`AuditSink`] methods return: `'static`, so the layer can hold one in a response body.
pub type AuditFuture<T> = Pin<Box<dyn Future<Output = Result<T, AuditError>> + Send + 'static>>;

/// Where audit records are kept. Records of a tenant are ordered by time, then record id.
pub trait AuditSink: Send + Sync + fmt::Debug + 'static {
    /// Writes `record`, replacing the one with the same tenant, time and record id. Resolves
    /// `Ok` only once the record is durable.
    fn put(&self, record: AuditRecord) -> AuditFuture<()>;

    /// One page of `query`: the tenant's records with `start_micros <= time < end_micros`
    /// that come after `query.after`, oldest first, at most `query.limit`; `next` names the
    /// last one when more follow.
    fn list(&self, query: AuditQuery) -> AuditFuture<AuditPage>;
}

/// A request for one page of a tenant's records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditQuery {
    /// The tenant (a valid tenant id).
    pub tenant_id: String,
    /// Microseconds since the epoch: the earliest time listed.
    pub start_micros: u64,
    /// Microseconds since the epoch: the first time no longer listed (`u64::MAX`: no end).
    pub end_micros: u64,
    /// The last record of the previous page.
    pub after: Option<AuditCursor>,
    /// Most records on the page (at least 1).
    pub limit: usize,
}

/// One page of records.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditPage {
    /// Oldest first.
    pub records: Vec<AuditRecord>,
    /// Where the next page starts, when there is one.
    pub next: Option<AuditCursor>,
}

/// A position in a tenant's records: the time and id of a record.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AuditCursor {
    /// The record's time, in microseconds since the epoch.
    pub micros: u64,
    /// The record's id.
    pub record_id: String,
}

impl AuditCursor {
    /// The position of `record`.
    pub fn of(record: &AuditRecord) -> AuditCursor {
        AuditCursor {
            micros: record_micros(record),
            record_id: record.record_id.clone(),
        }
    }

    /// As a page token: the time and the id's bytes, base64.
    pub fn to_page_token(&self) -> String {
        let mut bytes = self.micros.to_be_bytes().to_vec();
        bytes.extend_from_slice(self.record_id.as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The cursor a page token names; `None` for anything no response produced.
    pub fn from_page_token(token: &str) -> Option<AuditCursor> {
        if token.len() > 64 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        let (micros, id) = bytes.split_at_checked(8)?;
        let record_id = std::str::from_utf8(id).ok()?;
        uuid::Uuid::try_parse(record_id).ok()?;
        Some(AuditCursor {
            micros: u64::from_be_bytes(micros.try_into().ok()?),
            record_id: record_id.to_owned(),
        })
    }
}

/// A new record id: a UUID whose first bits are the time, so ids of one moment stay close.
pub fn new_record_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A record's time in microseconds since the epoch (0 when unset or before the epoch).
pub fn record_micros(record: &AuditRecord) -> u64 {
    record.time.as_ref().map_or(0, micros)
}

/// A timestamp in microseconds since the epoch (0 before the epoch).
pub fn micros(ts: &prost_types::Timestamp) -> u64 {
    let seconds = u64::try_from(ts.seconds).unwrap_or(0);
    let nanos = u64::try_from(ts.nanos).unwrap_or(0);
    seconds
        .saturating_mul(1_000_000)
        .saturating_add(nanos / 1000)
}

/// The timestamp `micros` microseconds after the epoch.
pub fn timestamp(micros: u64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: i64::try_from(micros / 1_000_000).unwrap_or(i64::MAX),
        // Below 1e9, so it fits.
        nanos: ((micros % 1_000_000) * 1000) as i32,
    }
}

/// Microseconds since the epoch, now.
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Whether `tenant` can name a tenant in storage keys: 1 to 64 letters, digits, `.`, `_` and
/// `-` (the contract's rule, which `baton_runtime::validate` enforces on requests; checked
/// here too because the layer records a request before its handler validates it, and a tenant
/// id is part of every audit key).
pub fn valid_tenant(tenant: &str) -> bool {
    !tenant.is_empty()
        && tenant.len() <= 64
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_nothing_else_decodes() {
        let cursor = AuditCursor {
            micros: 1_700_000_000_123_456,
            record_id: new_record_id(),
        };
        let token = cursor.to_page_token();
        assert!(token.len() <= 64, "{token}");
        assert_eq!(AuditCursor::from_page_token(&token), Some(cursor));
        for bad in [
            "",
            "!!",
            "AAAA",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAA",
            &"A".repeat(65),
        ] {
            assert_eq!(AuditCursor::from_page_token(bad), None, "{bad}");
        }
        let not_a_uuid = URL_SAFE_NO_PAD.encode([&[0u8; 8][..], b"tenant\x1fkey"].concat());
        assert_eq!(AuditCursor::from_page_token(&not_a_uuid), None);
    }

    #[test]
    fn timestamps_and_micros_convert_both_ways() {
        for m in [0, 1, 999_999, 1_000_000, 1_700_000_000_123_456] {
            assert_eq!(micros(&timestamp(m)), m);
        }
        let before_epoch = prost_types::Timestamp {
            seconds: -5,
            nanos: 0,
        };
        assert_eq!(micros(&before_epoch), 0);
    }

    #[test]
    fn targets_keep_ids_only_up_to_their_bounds() {
        let mut t = AuditTarget::new("acme".into()).id("customer", "");
        assert!(t.ids.is_empty(), "empty ids are left out");
        t = t.id("customer", &"é".repeat(200));
        assert_eq!(t.ids[0].id.len(), MAX_TARGET_ID_LEN);
        for i in 0..MAX_TARGETS {
            t = t.id("crm_record", &i.to_string());
        }
        assert_eq!(t.ids.len(), MAX_TARGETS);
        assert!(t.truncated);
    }

    #[test]
    fn tenant_ids_that_could_break_a_key_are_not_valid() {
        assert!(valid_tenant("acme-1.eu_west"));
        for bad in ["", "a}b", "a{b", "a\u{1f}b", "a b", "ä", &"a".repeat(65)] {
            assert!(!valid_tenant(bad), "{bad:?}");
        }
    }
}
