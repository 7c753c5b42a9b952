//! One conformance test for both audit logs: records come back in time order, replaced not
//! repeated, page by page, and tenants never mix.

use baton_auth::{
    AuditSink,
    audit::{AuditCursor, AuditQuery, new_record_id, timestamp},
};
use baton_proto::v1::{AuditRecord, AuditStage};

use super::{EmbeddedAuditLog, RedisAuditLog};
use crate::redis_db::{RedisDb, RedisServer};

const BASE: u64 = 1_700_000_000_000_000;

fn record(tenant: &str, micros: u64) -> AuditRecord {
    AuditRecord {
        record_id: new_record_id(),
        tenant_id: tenant.into(),
        time: Some(timestamp(micros)),
        rpc: "/baton.v1.IdentityService/MergeProfiles".into(),
        stage: AuditStage::Attempted as i32,
        ..AuditRecord::default()
    }
}

fn query(tenant: &str, limit: usize) -> AuditQuery {
    AuditQuery {
        tenant_id: tenant.into(),
        start_micros: 0,
        end_micros: u64::MAX,
        after: None,
        limit,
    }
}

fn ids(records: &[AuditRecord]) -> Vec<String> {
    records.iter().map(|r| r.record_id.clone()).collect()
}

/// Every page of `query`, one after the other.
async fn all_pages(log: &dyn AuditSink, mut query: AuditQuery) -> Vec<AuditRecord> {
    let mut out = Vec::new();
    for _ in 0..100 {
        let page = log.list(query.clone()).await.expect("list");
        assert!(page.records.len() <= query.limit);
        out.extend(page.records);
        match page.next {
            Some(next) => query.after = Some(next),
            None => return out,
        }
    }
    panic!("pages never ended")
}

async fn conformance(log: &dyn AuditSink) {
    // Written out of order; two at the same time.
    let late = record("t1", BASE + 3);
    let first = record("t1", BASE + 1);
    let (mut same_a, mut same_b) = (record("t1", BASE + 2), record("t1", BASE + 2));
    if same_a.record_id > same_b.record_id {
        std::mem::swap(&mut same_a, &mut same_b);
    }
    // A tenant whose id starts with the other's, and another one.
    let neighbour = record("t1.x", BASE + 2);
    let other = record("t2", BASE + 1);
    for r in [&late, &first, &same_b, &same_a, &neighbour, &other] {
        log.put(r.clone()).await.expect("put");
    }
    // Written again, answered: replaced, not repeated.
    let mut answered = first.clone();
    answered.set_stage(AuditStage::Answered);
    answered.code = 7;
    log.put(answered.clone()).await.expect("put again");

    let page = log.list(query("t1", 100)).await.expect("list");
    let in_order = vec![
        answered.clone(),
        same_a.clone(),
        same_b.clone(),
        late.clone(),
    ];
    assert_eq!(page.records, in_order, "time order, then id");
    assert_eq!(page.next, None);

    // Pages of two, then of one: the same records, each once.
    let page = log.list(query("t1", 2)).await.expect("list");
    assert_eq!(ids(&page.records), ids(&in_order[..2]));
    assert_eq!(page.next, Some(AuditCursor::of(&same_a)));
    assert_eq!(all_pages(log, query("t1", 2)).await, in_order);
    assert_eq!(all_pages(log, query("t1", 1)).await, in_order);

    // A time range: start included, end not.
    let range = AuditQuery {
        start_micros: BASE + 2,
        end_micros: BASE + 3,
        ..query("t1", 100)
    };
    assert_eq!(
        ids(&log.list(range.clone()).await.expect("list").records),
        ids(&[same_a.clone(), same_b.clone()])
    );
    // A cursor from before the range starts at the range.
    let before = AuditQuery {
        after: Some(AuditCursor::of(&first)),
        ..range.clone()
    };
    assert_eq!(log.list(before).await.expect("list").records.len(), 2);
    let empty = AuditQuery {
        start_micros: BASE + 3,
        end_micros: BASE + 3,
        ..query("t1", 100)
    };
    assert!(log.list(empty).await.expect("list").records.is_empty());

    // Tenants never mix.
    assert_eq!(
        log.list(query("t1.x", 100)).await.expect("list").records,
        [neighbour]
    );
    assert_eq!(
        log.list(query("t2", 100)).await.expect("list").records,
        [other]
    );
    assert!(
        log.list(query("t3", 100))
            .await
            .expect("list")
            .records
            .is_empty()
    );
}

#[tokio::test]
async fn the_embedded_audit_log_conforms_and_keeps_its_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kept = record("t1", BASE);
    {
        let log = EmbeddedAuditLog::open(dir.path()).expect("open");
        assert!(
            log.list(query("t1", 10))
                .await
                .expect("empty")
                .records
                .is_empty()
        );
        conformance(&log).await;
        log.put(kept.clone()).await.expect("put");
    }
    let log = EmbeddedAuditLog::open(dir.path()).expect("reopen");
    let page = log.list(query("t1", 1)).await.expect("list");
    assert_eq!(page.records, [kept]);
}

#[tokio::test]
async fn the_redis_audit_log_conforms() {
    let server = RedisServer::start();
    let db = RedisDb::connect(&server.url(), "audit")
        .await
        .expect("connect");
    assert_eq!(
        db.key("t1", &["index"]),
        "baton:audit:{t1}:index",
        "the tenant is the hash tag"
    );
    conformance(&RedisAuditLog::new(db)).await;
}
