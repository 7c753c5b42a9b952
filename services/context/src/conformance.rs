//! The behaviour every [`ContextStore`] backend must show, as async functions generic over
//! the trait. A backend's tests call [`run_all`] (or the functions one by one) with a way to
//! open it; each function uses its own tenant, so they can share one store.
//!
//! These are test helpers: they panic with a message on the first broken promise.

use std::{future::Future, sync::Arc};

use baton_auth::{Principal, digest};
use baton_proto::v1::{
    AppendEventRequest, CaseOpened, Channel, ContactStarted, Event, NoteAdded, event::Payload,
};
use baton_runtime::time;
use baton_store::StoreError;

use crate::{
    Error,
    store::{Appended, ContextStore, NewEvent},
};

/// Runs every check. `open` opens the same backend each time it is called (the same data
/// directory or the same Redis database), so durability across reopening can be checked; the
/// previous handle is dropped first. It is async because opening a networked backend
/// connects; a synchronous opener returns [`std::future::ready`].
pub async fn run_all<S: ContextStore, F: Future<Output = S>>(open: impl Fn() -> F) {
    let store = open().await;
    sequences_are_ordered_and_gap_free(&store).await;
    retries_replay_the_first_answer(&store).await;
    a_key_reused_for_another_request_is_refused(&store).await;
    keys_of_different_callers_are_independent(&store).await;
    an_idempotency_key_is_not_reused_across_customers(&store).await;
    expected_version_conflicts(&store).await;
    tenants_are_isolated(&store).await;
    events_page_in_order(&store).await;
    several_views_are_read_in_order(&store).await;
    erasure_removes_everything(&store).await;
    let store = Arc::new(store);
    concurrent_appends_stay_gap_free(&store).await;
    drop(store);
    merged_histories_are_listed_and_watched_together(open().await).await;
    data_survives_reopening(open).await;
}

/// A new event for `customer` in `tenant` with the service-assigned fields filled, bound to
/// the digest of the request that asked for it: the same arguments make the same request.
pub fn new_event(
    tenant: &str,
    customer: &str,
    key: &str,
    expected: u64,
    payload: Payload,
) -> NewEvent {
    let sent = Event {
        contact_id: "contact-1".into(),
        channel: Channel::Chat as i32,
        payload: Some(payload),
        ..Event::default()
    };
    let request_digest = digest::of(&AppendEventRequest {
        tenant_id: tenant.into(),
        customer_id: customer.into(),
        event: Some(sent.clone()),
        idempotency_key: key.into(),
        expected_version: expected,
    });
    let now = time::now();
    NewEvent {
        tenant_id: tenant.into(),
        customer_id: customer.into(),
        idempotency_key: key.into(),
        request_digest,
        expected_version: expected,
        event: Event {
            event_id: format!("evt_{key}"),
            occurred_at: Some(now),
            recorded_at: Some(now),
            ..sent
        },
    }
}

/// A contact start, the most common event.
pub fn started(utterance: &str) -> Payload {
    Payload::ContactStarted(ContactStarted {
        utterance: utterance.into(),
        ..ContactStarted::default()
    })
}

async fn append<S: ContextStore>(store: &S, new: NewEvent) -> Appended {
    match store.append(new).await {
        Ok(appended) => appended,
        Err(err) => panic!("append failed: {err}"),
    }
}

async fn events<S: ContextStore>(store: &S, tenant: &str, customer: &str) -> Vec<Event> {
    match store.events_after(tenant, customer, 0, 10_000).await {
        Ok(events) => events,
        Err(err) => panic!("events_after failed: {err}"),
    }
}

fn sequences(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.sequence).collect()
}

/// Each customer's events are numbered 1, 2, 3, ... and read back in that order, and the
/// view's version follows.
pub async fn sequences_are_ordered_and_gap_free<S: ContextStore>(store: &S) {
    let t = "conf-seq";
    for n in 1..=12u64 {
        let a = append(
            store,
            new_event(t, "alice", &format!("a{n}"), 0, started("x")),
        )
        .await;
        assert_eq!((a.event.sequence, a.version, a.duplicate), (n, n, false));
        assert_eq!(
            a.event.customer_id, "alice",
            "the store writes the customer id"
        );
    }
    let b = append(store, new_event(t, "bob", "b1", 0, started("x"))).await;
    assert_eq!(b.version, 1, "each customer has its own sequence");
    let stored = events(store, t, "alice").await;
    assert_eq!(sequences(&stored), (1..=12).collect::<Vec<_>>());
    assert_eq!(stored[0].event_id, "evt_a1");
    let view = store.view(t, "alice").await.ok().flatten();
    assert_eq!(view.map(|v| v.version()), Some(12));
}

/// A retry (same key, same request) returns the stored event, flagged duplicate, and appends
/// nothing, whatever the service assigned the retry.
pub async fn retries_replay_the_first_answer<S: ContextStore>(store: &S) {
    let t = "conf-idem";
    let first = append(store, new_event(t, "alice", "k1", 0, started("first"))).await;
    let mut retry = new_event(t, "alice", "k1", 0, started("first"));
    retry.event.event_id = "evt_other".into();
    retry.event.recorded_at = None;
    let again = append(store, retry).await;
    assert!(again.duplicate);
    assert_eq!(again.event, first.event);
    assert_eq!(again.version, first.version);
    assert_eq!(events(store, t, "alice").await.len(), 1);
    // A retry still succeeds when the caller's expected version has since moved on.
    let second = append(store, new_event(t, "alice", "k2", 1, started("x"))).await;
    let replay = append(store, new_event(t, "alice", "k2", 1, started("x"))).await;
    assert_eq!((replay.duplicate, replay.version), (true, second.version));
}

/// The same key with a different request is refused and changes nothing: the first request
/// still gets its first answer.
pub async fn a_key_reused_for_another_request_is_refused<S: ContextStore>(store: &S) {
    let t = "conf-idem-reused";
    let first = append(store, new_event(t, "alice", "k1", 0, started("first"))).await;
    for other in [
        new_event(t, "alice", "k1", 0, started("something else")),
        new_event(t, "alice", "k1", 1, started("first")),
    ] {
        let refused = store.append(other).await;
        assert!(
            matches!(&refused, Err(Error::Store(StoreError::KeyReused { .. }))),
            "{refused:?}"
        );
    }
    assert_eq!(
        sequences(&events(store, t, "alice").await),
        [1],
        "a refused request appended"
    );
    let again = append(store, new_event(t, "alice", "k1", 0, started("first"))).await;
    assert!(again.duplicate);
    assert_eq!(again.event, first.event, "the first answer changed");
}

/// Keys are scoped to their caller: two callers sending the same key with the same request
/// make two appends, and each retry gets its own caller's answer.
pub async fn keys_of_different_callers_are_independent<S: ContextStore>(store: &S) {
    let t = "conf-idem-callers";
    let [ann, bob] = ["desk-ann", "desk-bob"].map(|subject| Principal {
        subject: subject.into(),
        ..Principal::for_tests()
    });
    let send = |caller: &Principal| {
        new_event(
            t,
            "alice",
            &caller.scoped_key("k1"),
            0,
            started("same request"),
        )
    };
    let from_ann = append(store, send(&ann)).await;
    let from_bob = append(store, send(&bob)).await;
    assert!(!from_bob.duplicate, "another caller's key answered");
    assert_eq!((from_ann.version, from_bob.version), (1, 2));
    for (caller, first) in [(&ann, &from_ann), (&bob, &from_bob)] {
        let retry = append(store, send(caller)).await;
        assert!(retry.duplicate);
        assert_eq!(&retry.event, &first.event, "{}", caller.subject);
    }
}

/// A key that acknowledged an append for one customer is refused for another.
pub async fn an_idempotency_key_is_not_reused_across_customers<S: ContextStore>(store: &S) {
    let t = "conf-idem-other";
    append(store, new_event(t, "alice", "shared", 0, started("x"))).await;
    let other = store
        .append(new_event(t, "bob", "shared", 0, started("x")))
        .await;
    assert!(
        matches!(other, Err(Error::IdempotencyKeyReused)),
        "{other:?}"
    );
    assert!(events(store, t, "bob").await.is_empty());
}

/// `expected_version` other than the current one is refused and changes nothing.
pub async fn expected_version_conflicts<S: ContextStore>(store: &S) {
    let t = "conf-occ";
    append(store, new_event(t, "alice", "k1", 0, started("x"))).await;
    append(store, new_event(t, "alice", "k2", 1, started("x"))).await;
    let stale = store
        .append(new_event(t, "alice", "k3", 1, started("x")))
        .await;
    assert!(
        matches!(
            stale,
            Err(Error::VersionConflict {
                current: 2,
                expected: 1
            })
        ),
        "{stale:?}"
    );
    let ahead = store
        .append(new_event(t, "alice", "k4", 7, started("x")))
        .await;
    assert!(matches!(
        ahead,
        Err(Error::VersionConflict {
            current: 2,
            expected: 7
        })
    ));
    assert_eq!(events(store, t, "alice").await.len(), 2);
    // The refused key was not remembered: with the right version it goes through.
    let ok = append(store, new_event(t, "alice", "k3", 2, started("x"))).await;
    assert_eq!((ok.version, ok.duplicate), (3, false));
}

/// One tenant never sees another's events, views or idempotency answers.
pub async fn tenants_are_isolated<S: ContextStore>(store: &S) {
    let (a, b) = ("conf-tenant-a", "conf-tenant-b");
    append(store, new_event(a, "alice", "k1", 0, started("x"))).await;
    assert!(events(store, b, "alice").await.is_empty());
    assert!(store.view(b, "alice").await.ok().flatten().is_none());
    let other = append(store, new_event(b, "alice", "k1", 0, started("x"))).await;
    assert!(!other.duplicate, "idempotency keys are per tenant");
    assert_eq!(other.version, 1);
    assert_eq!(store.forget(b, "alice").await.ok(), Some(2));
    assert_eq!(
        events(store, a, "alice").await.len(),
        1,
        "erasure stays in its tenant"
    );
}

/// `events_after` pages by sequence with a limit, and ids that extend one another
/// (`c1`, `c10`) never mix.
pub async fn events_page_in_order<S: ContextStore>(store: &S) {
    let t = "conf-page";
    for n in 1..=7 {
        append(
            store,
            new_event(t, "c1", &format!("c1-{n}"), 0, started("x")),
        )
        .await;
    }
    append(store, new_event(t, "c10", "c10-1", 0, started("x"))).await;
    let mut after = 0;
    let mut pages = Vec::new();
    loop {
        let page = match store.events_after(t, "c1", after, 3).await {
            Ok(page) => page,
            Err(err) => panic!("events_after failed: {err}"),
        };
        if page.is_empty() {
            break;
        }
        after = page.last().map_or(after, |e| e.sequence);
        pages.push(sequences(&page));
    }
    assert_eq!(pages, [vec![1, 2, 3], vec![4, 5, 6], vec![7]]);
    let tail = store.events_after(t, "c1", u64::MAX, 3).await.ok();
    assert_eq!(tail.map(|e| e.len()), Some(0));
}

/// `views` answers for each customer asked, in the order asked, `None` for one without
/// history, and only from the tenant asked; ids that extend one another (`c1`, `c10`) never mix.
pub async fn several_views_are_read_in_order<S: ContextStore>(store: &S) {
    let t = "conf-views";
    append(store, new_event(t, "c1", "c1-1", 0, started("x"))).await;
    append(store, new_event(t, "c1", "c1-2", 0, started("x"))).await;
    append(store, new_event(t, "c10", "c10-1", 0, started("x"))).await;
    append(
        store,
        new_event("conf-views-other", "c2", "c2-1", 0, started("x")),
    )
    .await;
    let ids = ["c10", "c2", "c1"].map(String::from);
    let views = match store.views(t, &ids).await {
        Ok(views) => views,
        Err(err) => panic!("views failed: {err}"),
    };
    let found: Vec<Option<(String, u64)>> = views
        .iter()
        .map(|v| {
            v.as_ref()
                .map(|v| (v.as_stored().customer_id.clone(), v.version()))
        })
        .collect();
    assert_eq!(
        found,
        [
            Some(("c10".to_owned(), 1)),
            None,
            Some(("c1".to_owned(), 2))
        ],
        "another tenant's c2 is not read"
    );
    let one = store.view(t, "c1").await.ok().flatten();
    assert_eq!(
        one.as_ref(),
        views[2].as_ref(),
        "views reads what view reads"
    );
    assert_eq!(store.views(t, &[]).await.ok(), Some(Vec::new()));
}

/// Erasure removes events, view and remembered answers; the history restarts at 1, and
/// erasing again finds nothing.
pub async fn erasure_removes_everything<S: ContextStore>(store: &S) {
    let t = "conf-forget";
    append(store, new_event(t, "alice", "k1", 0, started("x"))).await;
    let case = Payload::CaseOpened(CaseOpened {
        case_id: "case-1".into(),
        ..CaseOpened::default()
    });
    append(store, new_event(t, "alice", "k2", 0, case)).await;
    let note = Payload::Note(NoteAdded {
        case_id: "case-1".into(),
        text: "private detail".into(),
    });
    append(store, new_event(t, "alice", "k3", 0, note)).await;
    append(store, new_event(t, "bob", "kb", 0, started("x"))).await;

    assert_eq!(
        store.forget(t, "alice").await.ok(),
        Some(4),
        "3 events and the view"
    );
    assert!(events(store, t, "alice").await.is_empty());
    assert!(store.view(t, "alice").await.ok().flatten().is_none());
    assert_eq!(store.forget(t, "alice").await.ok(), Some(0));
    // The remembered answer went too: the same key now appends afresh, from sequence 1.
    let again = append(store, new_event(t, "alice", "k1", 0, started("x"))).await;
    assert_eq!((again.version, again.duplicate), (1, false));
    assert_eq!(
        events(store, t, "bob").await.len(),
        1,
        "other customers stay"
    );
}

/// Appends racing for one customer all succeed with distinct, gap-free sequences.
pub async fn concurrent_appends_stay_gap_free<S: ContextStore>(store: &Arc<S>) {
    let t = "conf-race";
    let tasks: Vec<_> = (0..16)
        .map(|n| {
            let store = Arc::clone(store);
            tokio::spawn(async move {
                store
                    .append(new_event(t, "alice", &format!("r{n}"), 0, started("x")))
                    .await
                    .map(|a| a.version)
            })
        })
        .collect();
    let mut versions = Vec::new();
    for task in tasks {
        match task.await {
            Ok(Ok(version)) => versions.push(version),
            other => panic!("racing append failed: {other:?}"),
        }
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=16).collect::<Vec<_>>());
    assert_eq!(sequences(&events(&**store, t, "alice").await), versions);
}

/// `(customer, sequence)` of each event, for comparing interleaved histories.
fn positions(events: &[Event]) -> Vec<(String, u64)> {
    events
        .iter()
        .map(|e| (e.customer_id.clone(), e.sequence))
        .collect()
}

/// The next event a watch sends, as `(customer, sequence)`; panics when it ends or fails,
/// or sends nothing for ten seconds (a stuck watch, not a slow one).
async fn next_of(watch: &mut crate::Events) -> (String, u64) {
    use futures::StreamExt as _;
    match tokio::time::timeout(std::time::Duration::from_secs(10), watch.next()).await {
        Ok(Some(Ok(event))) => (event.customer_id, event.sequence),
        Ok(Some(Err(err))) => panic!("the watch failed: {err}"),
        Ok(None) => panic!("the watch ended"),
        Err(_) => panic!("the watch sent nothing"),
    }
}

/// Through [`History`](crate::History) on this store: `ListEvents` and `WatchContext` with
/// merged ids serve every named history, each event under the id and sequence it was
/// recorded with, in the order the store recorded them, across pages; a page token is bound
/// to the ids it was issued for; the watch then wakes for appends under any of the ids, and
/// resumes each history from its own position.
pub async fn merged_histories_are_listed_and_watched_together<S: ContextStore>(store: S) {
    let t = "conf-merged";
    let history = crate::History::new(store, baton_runtime::shutdown::Shutdown::new());
    let append = |customer: &str, key: &str| {
        let append = crate::history::Append {
            tenant_id: t.into(),
            customer_id: customer.into(),
            event: Event {
                payload: Some(started("merged")),
                ..Event::default()
            },
            idempotency_key: format!("merged-{key}"),
            request_digest: digest::of(&AppendEventRequest {
                idempotency_key: key.into(),
                ..AppendEventRequest::default()
            }),
            expected_version: 0,
        };
        let history = history.clone();
        async move {
            match history.append(append).await {
                Ok(appended) => appended.event,
                Err(err) => panic!("append failed: {err}"),
            }
        }
    };
    let order = [
        ("survivor", 1),
        ("retired-a", 1),
        ("survivor", 2),
        ("retired-b", 1),
        ("retired-a", 2),
        ("survivor", 3),
    ];
    for (n, (customer, _)) in order.iter().enumerate() {
        append(customer, &format!("k{n}")).await;
    }
    let expected: Vec<(String, u64)> = order.iter().map(|(c, s)| ((*c).into(), *s)).collect();
    let merged: Vec<String> = vec!["retired-a".into(), "retired-b".into()];

    let mut listed = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = match history.list_events(t, "survivor", &merged, 4, &token).await {
            Ok(page) => page,
            Err(err) => panic!("list_events failed: {err}"),
        };
        pages += 1;
        listed.extend(positions(&page.events));
        match page.next_page_token {
            Some(next) => token = next,
            None => break,
        }
        assert!(pages < 10, "the pages never end");
    }
    assert_eq!(listed, expected, "every history, in the order recorded");
    assert_eq!(pages, 2, "a page of 4, then the last 2");

    let first = history
        .list_events(t, "survivor", &merged, 2, "")
        .await
        .ok()
        .and_then(|page| page.next_page_token);
    let Some(first) = first else {
        panic!("a first page of 2 of 6 has a next page");
    };
    for other in [
        &merged[..1],
        &["retired-b".into(), "retired-a".into()][..],
        &[],
    ] {
        assert!(
            matches!(
                history.list_events(t, "survivor", other, 2, &first).await,
                Err(Error::MalformedPageToken)
            ),
            "a token of another listing: {other:?}"
        );
    }
    let own = history.list_events(t, "survivor", &[], 0, "").await;
    assert_eq!(
        own.map(|page| positions(&page.events)).ok(),
        Some(vec![
            ("survivor".into(), 1),
            ("survivor".into(), 2),
            ("survivor".into(), 3)
        ]),
        "without merged ids, the customer's own history only"
    );

    let mut watch = history.watch_merged(t, "survivor", 0, &merged, &[]);
    for want in &expected {
        assert_eq!(
            &next_of(&mut watch).await,
            want,
            "stored, in recorded order"
        );
    }
    append("retired-b", "live-b").await;
    assert_eq!(next_of(&mut watch).await, ("retired-b".into(), 2));
    append("survivor", "live-s").await;
    assert_eq!(next_of(&mut watch).await, ("survivor".into(), 4));

    // Resumed from each history's own position: what came after it, nothing before.
    let mut resumed = history.watch_merged(t, "survivor", 3, &merged, &[2, 1]);
    assert_eq!(next_of(&mut resumed).await, ("retired-b".into(), 2));
    assert_eq!(next_of(&mut resumed).await, ("survivor".into(), 4));
    append("retired-a", "live-a").await;
    assert_eq!(next_of(&mut resumed).await, ("retired-a".into(), 3));
    assert_eq!(next_of(&mut watch).await, ("retired-a".into(), 3));
}

/// Acknowledged appends are still there after the store is closed and opened again, and
/// sequences continue from where they were.
pub async fn data_survives_reopening<S: ContextStore, F: Future<Output = S>>(open: impl Fn() -> F) {
    let t = "conf-reopen";
    {
        let store = open().await;
        append(
            &store,
            new_event(t, "alice", "k1", 0, started("before restart")),
        )
        .await;
        append(&store, new_event(t, "alice", "k2", 0, started("x"))).await;
    }
    let store = open().await;
    let stored = events(&store, t, "alice").await;
    assert_eq!(sequences(&stored), [1, 2]);
    let replay = append(
        &store,
        new_event(t, "alice", "k1", 0, started("before restart")),
    )
    .await;
    assert!(replay.duplicate, "remembered answers survive too");
    let next = append(&store, new_event(t, "alice", "k3", 2, started("x"))).await;
    assert_eq!(next.version, 3);
    let view = store.view(t, "alice").await.ok().flatten();
    assert_eq!(view.map(|v| v.version()), Some(3));
}
