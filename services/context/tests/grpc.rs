//! The context service over real gRPC: an in-process server on 127.0.0.1:0, the generated
//! client, an embedded store in a temporary directory. The server installs a test principal in
//! front of the service (every role, every tenant) unless a test says otherwise.

use std::{sync::Arc, time::Duration};

use baton_auth::{AssumeLayer, Principal, Tenants};
use baton_proto::v1::{
    AppendEventRequest, AppendEventResponse, CaseOpened, CaseResolved, CaseStatus, CaseUpdated,
    Channel, ContactStarted, ContextSnapshot, Event, ForgetCustomerRequest, GetContextRequest,
    ListEventsRequest, ListEventsResponse, NoteAdded, WatchContextRequest, WatchContextResponse,
    context_service_client::ContextServiceClient, event::Payload,
};
use baton_runtime::{shutdown::Shutdown, validate::field_violations};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Code, Status, Streaming, transport};

/// How long a test waits for something that should happen at once.
const PATIENCE: Duration = Duration::from_secs(10);

struct Harness {
    client: ContextServiceClient<transport::Channel>,
    shutdown: Shutdown,
    /// Keeps the data directory until the test ends.
    _dir: tempfile::TempDir,
}

async fn start() -> Harness {
    start_as(Some(Principal::for_tests())).await
}

/// A server whose every call comes from `principal`; with `None`, a server without any auth
/// layer, whose calls carry no principal at all.
async fn start_as(principal: Option<Principal>) -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = baton_context::open_embedded(dir.path()).expect("open store");
    let shutdown = Shutdown::new();
    let service = baton_context::grpc_service(store, shutdown.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let incoming = TcpListenerStream::new(listener);
    let stop = shutdown.clone();
    let stopped = async move { stop.triggered().await };
    match principal {
        Some(principal) => tokio::spawn(
            transport::Server::builder()
                .layer(AssumeLayer(Arc::new(principal)))
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, stopped),
        ),
        None => tokio::spawn(
            transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, stopped),
        ),
    };
    let client = ContextServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");
    Harness {
        client,
        shutdown,
        _dir: dir,
    }
}

fn event(contact_id: &str, channel: Channel, payload: Payload) -> Event {
    Event {
        contact_id: contact_id.into(),
        channel: channel as i32,
        payload: Some(payload),
        ..Event::default()
    }
}

/// A contact start on chat, the event most tests only need to exist.
fn chat(contact_id: &str) -> Event {
    event(contact_id, Channel::Chat, started("x"))
}

fn started(utterance: &str) -> Payload {
    Payload::ContactStarted(ContactStarted {
        utterance: utterance.into(),
        intent: "order_status".into(),
        ..ContactStarted::default()
    })
}

fn request(tenant: &str, customer: &str, key: &str, event: Event) -> AppendEventRequest {
    AppendEventRequest {
        tenant_id: tenant.into(),
        customer_id: customer.into(),
        event: Some(event),
        idempotency_key: key.into(),
        expected_version: 0,
    }
}

impl Harness {
    async fn append(
        &mut self,
        tenant: &str,
        customer: &str,
        key: &str,
        event: Event,
    ) -> AppendEventResponse {
        self.client
            .append_event(request(tenant, customer, key, event))
            .await
            .expect("append")
            .into_inner()
    }

    async fn context(&mut self, tenant: &str, customer: &str) -> ContextSnapshot {
        self.client
            .get_context(GetContextRequest {
                tenant_id: tenant.into(),
                customer_id: customer.into(),
                max_interactions: 0,
                merged_ids: Vec::new(),
            })
            .await
            .expect("get context")
            .into_inner()
            .snapshot
            .expect("snapshot")
    }

    async fn list(
        &mut self,
        tenant: &str,
        customer: &str,
        page_size: u32,
        page_token: &str,
    ) -> Result<ListEventsResponse, Status> {
        self.client
            .list_events(ListEventsRequest {
                tenant_id: tenant.into(),
                customer_id: customer.into(),
                page_size,
                page_token: page_token.into(),
                merged_ids: Vec::new(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    async fn watch(
        &mut self,
        tenant: &str,
        customer: &str,
        after: u64,
    ) -> Streaming<WatchContextResponse> {
        self.client
            .watch_context(WatchContextRequest {
                tenant_id: tenant.into(),
                customer_id: customer.into(),
                after_version: after,
                ..Default::default()
            })
            .await
            .expect("watch")
            .into_inner()
    }
}

/// The next watched event's sequence, or `None` when the stream ended.
async fn next_sequence(stream: &mut Streaming<WatchContextResponse>) -> Option<u64> {
    tokio::time::timeout(PATIENCE, stream.message())
        .await
        .expect("the watch answers in time")
        .expect("no stream error")
        .map(|r| r.event.expect("event").sequence)
}

fn fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    field_violations(status)
        .into_iter()
        .map(|(f, _)| f)
        .collect()
}

#[tokio::test]
async fn contacts_on_chat_and_voice_show_newest_first_with_tenure() {
    let mut h = start().await;
    let first = h
        .append(
            "t1",
            "cust-1",
            "k1",
            event("c1", Channel::Chat, started("where is my parcel")),
        )
        .await;
    assert_eq!((first.version, first.duplicate), (1, false));
    let stored = first.event.expect("event");
    assert!(stored.event_id.starts_with("evt_"), "{}", stored.event_id);
    assert_eq!(stored.customer_id, "cust-1");
    assert_eq!(
        stored.occurred_at, stored.recorded_at,
        "occurred_at defaults to recorded_at"
    );
    h.append(
        "t1",
        "cust-1",
        "k2",
        event("c2", Channel::Voice, started("still no parcel")),
    )
    .await;

    let s = h.context("t1", "cust-1").await;
    assert_eq!(s.customer_id, "cust-1");
    assert_eq!(s.version, 2);
    let contacts: Vec<(&str, i32)> = s
        .recent_interactions
        .iter()
        .map(|i| (i.contact_id.as_str(), i.channel))
        .collect();
    assert_eq!(
        contacts,
        [("c2", Channel::Voice as i32), ("c1", Channel::Chat as i32)]
    );
    assert_eq!(s.recent_interactions[1].utterance, "where is my parcel");
    let tenure = s.tenure.expect("tenure");
    assert_eq!(tenure.contact_count, 2);
    assert_eq!(tenure.last_channel, Channel::Voice as i32);
}

#[tokio::test]
async fn a_read_naming_merged_ids_shows_their_history_and_one_without_them_does_not() {
    let mut h = start().await;
    h.append(
        "t1",
        "cust-a",
        "a1",
        event("a1", Channel::Chat, started("card")),
    )
    .await;
    h.append(
        "t1",
        "cust-b",
        "b1",
        event("b1", Channel::Voice, started("loan")),
    )
    .await;
    h.append("t1", "cust-b", "b2", chat("b2")).await;
    let merged = |ids: &[&str]| GetContextRequest {
        tenant_id: "t1".into(),
        customer_id: "cust-a".into(),
        max_interactions: 0,
        merged_ids: ids.iter().map(|id| (*id).to_owned()).collect(),
    };
    let contacts = |s: &ContextSnapshot| -> Vec<String> {
        s.recent_interactions
            .iter()
            .map(|i| i.contact_id.clone())
            .collect()
    };

    let s = h
        .client
        .get_context(merged(&["cust-b", "cust-unknown"]))
        .await
        .expect("merged read")
        .into_inner()
        .snapshot
        .expect("snapshot");
    assert_eq!(s.customer_id, "cust-a");
    assert_eq!(contacts(&s), ["b2", "b1", "a1"]);
    assert_eq!(s.version, 3, "the sum of the histories' versions");
    assert_eq!(s.tenure.map(|t| t.contact_count), Some(3));

    // Nothing moved: without the merged id each history is its own again.
    assert_eq!(contacts(&h.context("t1", "cust-a").await), ["a1"]);
    let b = h.context("t1", "cust-b").await;
    assert_eq!(
        (contacts(&b), b.version),
        (vec!["b2".into(), "b1".into()], 2)
    );

    let status = h
        .client
        .get_context(merged(&["cust-b", "cust-b", "cust-a"]))
        .await
        .expect_err("a repeated id and the customer itself");
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<String> = field_violations(&status)
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    assert_eq!(fields, ["merged_ids[1]", "merged_ids[2]"]);
}

#[tokio::test]
async fn an_unknown_customer_has_an_empty_context_at_version_0() {
    let mut h = start().await;
    let s = h.context("t1", "nobody").await;
    assert_eq!(s.customer_id, "nobody");
    assert_eq!(s.version, 0);
    assert!(s.recent_interactions.is_empty() && s.open_cases.is_empty());
}

#[tokio::test]
async fn case_progress_notes_are_visible_and_resolution_moves_the_case() {
    let mut h = start().await;
    let opened = Payload::CaseOpened(CaseOpened {
        case_id: "case-1".into(),
        subject: "refund".into(),
        ..CaseOpened::default()
    });
    h.append("t1", "cust-1", "k1", event("c1", Channel::Chat, opened))
        .await;
    let note = Payload::Note(NoteAdded {
        case_id: "case-1".into(),
        text: "receipt requested".into(),
    });
    h.append("t1", "cust-1", "k2", event("c1", Channel::Chat, note))
        .await;
    let update = Payload::CaseUpdated(CaseUpdated {
        case_id: "case-1".into(),
        status: CaseStatus::InProgress as i32,
        progress_note: "refund sent to finance".into(),
    });
    h.append("t1", "cust-1", "k3", event("c2", Channel::Voice, update))
        .await;

    let s = h.context("t1", "cust-1").await;
    assert_eq!(s.open_cases.len(), 1);
    let case = &s.open_cases[0];
    assert_eq!(case.status, CaseStatus::InProgress as i32);
    let notes: Vec<&str> = case.notes.iter().map(|n| n.text.as_str()).collect();
    assert_eq!(notes, ["receipt requested", "refund sent to finance"]);

    let resolved = Payload::CaseResolved(CaseResolved {
        case_id: "case-1".into(),
        resolution: "refunded".into(),
    });
    h.append("t1", "cust-1", "k4", event("c2", Channel::Voice, resolved))
        .await;
    let s = h.context("t1", "cust-1").await;
    assert!(s.open_cases.is_empty());
    assert_eq!(s.resolved_cases.len(), 1);
    assert_eq!(s.resolved_cases[0].status, CaseStatus::Resolved as i32);
    assert_eq!(s.resolved_cases[0].notes.len(), 3);
}

#[tokio::test]
async fn a_retry_returns_the_first_answer_and_the_version_does_not_move() {
    let mut h = start().await;
    let first = h
        .append(
            "t1",
            "cust-1",
            "same-key",
            event("c1", Channel::Chat, started("a")),
        )
        .await;
    let retry = h
        .append(
            "t1",
            "cust-1",
            "same-key",
            event("c1", Channel::Chat, started("a")),
        )
        .await;
    assert!(retry.duplicate);
    assert_eq!(retry.version, first.version);
    assert_eq!(retry.event, first.event);
    assert_eq!(h.context("t1", "cust-1").await.version, 1);
}

#[tokio::test]
async fn a_stale_expected_version_is_aborted() {
    let mut h = start().await;
    h.append(
        "t1",
        "cust-1",
        "k1",
        event("c1", Channel::Chat, started("a")),
    )
    .await;
    let mut req = request(
        "t1",
        "cust-1",
        "k2",
        event("c1", Channel::Chat, started("b")),
    );
    req.expected_version = 5;
    let status = h
        .client
        .append_event(req.clone())
        .await
        .expect_err("conflict");
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(status.message(), "context version is 1, expected 5");
    req.expected_version = 1;
    let ok = h
        .client
        .append_event(req)
        .await
        .expect("right version")
        .into_inner();
    assert_eq!(ok.version, 2);
}

#[tokio::test]
async fn watch_sends_stored_events_then_live_ones_in_order() {
    let mut h = start().await;
    for n in 1..=3 {
        h.append("t1", "cust-1", &format!("k{n}"), chat("c1")).await;
    }
    let mut watch = h.watch("t1", "cust-1", 1).await;
    assert_eq!(next_sequence(&mut watch).await, Some(2));
    assert_eq!(next_sequence(&mut watch).await, Some(3));
    // Appended after the watch caught up: arrives live.
    for n in 4..=6 {
        h.append("t1", "cust-1", &format!("k{n}"), chat("c1")).await;
    }
    for expected in 4..=6 {
        assert_eq!(next_sequence(&mut watch).await, Some(expected));
    }
    // Another customer's events do not show up; the next one for this customer does.
    h.append("t1", "cust-2", "other", chat("c9")).await;
    h.append("t1", "cust-1", "k7", chat("c1")).await;
    assert_eq!(next_sequence(&mut watch).await, Some(7));
}

#[tokio::test]
async fn a_watch_from_the_start_of_an_unknown_customer_gets_the_first_event_live() {
    let mut h = start().await;
    let mut watch = h.watch("t1", "new-cust", 0).await;
    h.append(
        "t1",
        "new-cust",
        "k1",
        event("c1", Channel::Sms, started("x")),
    )
    .await;
    assert_eq!(next_sequence(&mut watch).await, Some(1));
}

#[tokio::test]
async fn watches_end_on_shutdown_and_on_erasure() {
    let mut h = start().await;
    h.append("t1", "cust-1", "k1", chat("c1")).await;
    let mut erased = h.watch("t1", "cust-1", 0).await;
    assert_eq!(next_sequence(&mut erased).await, Some(1));
    h.client
        .forget_customer(ForgetCustomerRequest {
            tenant_id: "t1".into(),
            customer_id: "cust-1".into(),
            reason: "erasure request".into(),
            idempotency_key: "forget-1".into(),
        })
        .await
        .expect("forget");
    assert_eq!(next_sequence(&mut erased).await, None);

    let mut stopped = h.watch("t1", "cust-2", 0).await;
    h.append("t1", "cust-2", "k1", chat("c1")).await;
    assert_eq!(next_sequence(&mut stopped).await, Some(1));
    h.shutdown.trigger();
    let end = tokio::time::timeout(PATIENCE, stopped.message())
        .await
        .expect("the watch ends in time");
    assert!(matches!(end, Ok(None) | Err(_)), "{end:?}");
}

#[tokio::test]
async fn list_events_pages_oldest_first() {
    let mut h = start().await;
    for n in 1..=5 {
        h.append("t1", "cust-1", &format!("k{n}"), chat("c1")).await;
    }
    let mut token = String::new();
    let mut pages = Vec::new();
    loop {
        let page = h.list("t1", "cust-1", 2, &token).await.expect("list");
        pages.push(page.events.iter().map(|e| e.sequence).collect::<Vec<_>>());
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, [vec![1, 2], vec![3, 4], vec![5]]);

    let status = h
        .list("t1", "cust-1", 2, "not-a-token!")
        .await
        .expect_err("malformed token");
    assert_eq!(fields(&status), ["page_token"]);
}

#[tokio::test]
async fn forget_customer_erases_the_history() {
    let mut h = start().await;
    h.append("t1", "cust-1", "k1", chat("c1")).await;
    h.append(
        "t1",
        "cust-1",
        "k2",
        event("c2", Channel::Voice, started("y")),
    )
    .await;
    h.append(
        "t1",
        "cust-2",
        "k3",
        event("c3", Channel::Voice, started("z")),
    )
    .await;
    let forget = ForgetCustomerRequest {
        tenant_id: "t1".into(),
        customer_id: "cust-1".into(),
        reason: "gdpr".into(),
        idempotency_key: "forget-1".into(),
    };
    let answer = h
        .client
        .forget_customer(forget.clone())
        .await
        .expect("forget")
        .into_inner();
    assert!(answer.found);
    assert_eq!(answer.records_removed, 3, "two events and the view");

    let s = h.context("t1", "cust-1").await;
    assert_eq!(s.version, 0);
    assert!(s.recent_interactions.is_empty());
    let page = h.list("t1", "cust-1", 0, "").await.expect("list");
    assert!(page.events.is_empty());
    assert_eq!(h.context("t1", "cust-2").await.version, 1, "others stay");

    let again = h
        .client
        .forget_customer(forget)
        .await
        .expect("forget again")
        .into_inner();
    assert!(!again.found);
    // The erased customer's idempotency keys are gone with them.
    let fresh = h.append("t1", "cust-1", "k1", chat("c1")).await;
    assert_eq!((fresh.version, fresh.duplicate), (1, false));
}

#[tokio::test]
async fn tenants_cannot_see_each_other() {
    let mut h = start().await;
    h.append("tenant-a", "cust-1", "k1", chat("c1")).await;
    assert_eq!(h.context("tenant-b", "cust-1").await.version, 0);
    let page = h.list("tenant-b", "cust-1", 0, "").await.expect("list");
    assert!(page.events.is_empty());
    let other = h.append("tenant-b", "cust-1", "k1", chat("c1")).await;
    assert!(!other.duplicate, "idempotency keys do not cross tenants");
    assert_eq!(h.context("tenant-a", "cust-1").await.version, 1);
}

#[tokio::test]
async fn malformed_requests_name_their_fields() {
    let mut h = start().await;

    let mut no_payload = chat("c1");
    no_payload.payload = None;
    let status = h
        .client
        .append_event(request("t1", "cust-1", "k1", no_payload))
        .await
        .expect_err("no payload");
    assert_eq!(fields(&status), ["event.payload"]);

    let status = h
        .client
        .append_event(request("t1", "cust-1", "", chat("c1")))
        .await
        .expect_err("no key");
    assert_eq!(fields(&status), ["idempotency_key"]);

    let long = event("c1", Channel::Chat, started(&"x".repeat(5000)));
    let status = h
        .client
        .append_event(request("t1", "cust-1", "k1", long))
        .await
        .expect_err("long utterance");
    assert_eq!(fields(&status), ["event.contact_started.utterance"]);

    let mut unknown = chat("c1");
    unknown.channel = 99;
    let status = h
        .client
        .append_event(request("t1", "cust-1", "k1", unknown))
        .await
        .expect_err("unknown enum");
    assert_eq!(fields(&status), ["event.channel"]);
    assert!(
        status.message().contains("unknown value 99"),
        "{}",
        status.message()
    );

    let status = h
        .client
        .append_event(AppendEventRequest {
            tenant_id: "t1".into(),
            ..AppendEventRequest::default()
        })
        .await
        .expect_err("empty");
    assert_eq!(fields(&status), ["customer_id", "idempotency_key", "event"]);

    // A caller of many tenants must say which one.
    let status = h
        .client
        .append_event(AppendEventRequest::default())
        .await
        .expect_err("no tenant");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("tenant_id"), "{status:?}");

    let status = h
        .client
        .get_context(GetContextRequest {
            tenant_id: "t1".into(),
            customer_id: "cust-1".into(),
            max_interactions: 51,
            merged_ids: Vec::new(),
        })
        .await
        .expect_err("too many interactions");
    assert_eq!(fields(&status), ["max_interactions"]);

    let status = h
        .client
        .watch_context(WatchContextRequest {
            tenant_id: "t1".into(),
            ..WatchContextRequest::default()
        })
        .await
        .expect_err("no customer");
    assert_eq!(fields(&status), ["customer_id"]);

    // Merged ids are checked on pages and watches as on snapshots.
    let merged = |ids: &[&str]| -> Vec<String> { ids.iter().map(|id| (*id).into()).collect() };
    let status = h
        .client
        .list_events(ListEventsRequest {
            tenant_id: "t1".into(),
            customer_id: "cust-1".into(),
            merged_ids: merged(&["cust-2", "cust-1", "", "cust-2"]),
            ..ListEventsRequest::default()
        })
        .await
        .expect_err("bad merged ids");
    assert_eq!(
        fields(&status),
        ["merged_ids[1]", "merged_ids[2]", "merged_ids[3]"]
    );
    let status = h
        .client
        .watch_context(WatchContextRequest {
            tenant_id: "t1".into(),
            customer_id: "cust-1".into(),
            merged_ids: (0..=32).map(|n| format!("cust-m{n}")).collect(),
            ..WatchContextRequest::default()
        })
        .await
        .expect_err("too many merged ids");
    assert_eq!(fields(&status), ["merged_ids"]);
    let status = h
        .client
        .watch_context(WatchContextRequest {
            tenant_id: "t1".into(),
            customer_id: "cust-1".into(),
            merged_ids: merged(&["cust-2"]),
            merged_after_versions: vec![1, 2],
            ..WatchContextRequest::default()
        })
        .await
        .expect_err("more positions than merged ids");
    assert_eq!(fields(&status), ["merged_after_versions"]);

    // Nothing malformed was stored.
    assert_eq!(h.context("t1", "cust-1").await.version, 0);
}

#[tokio::test]
async fn a_caller_of_one_tenant_is_refused_every_other_tenant() {
    let mut h = start_as(Some(Principal {
        tenants: Tenants::one("acme"),
        ..Principal::for_tests()
    }))
    .await;
    let denied = h
        .client
        .append_event(request("globex", "cust-1", "k1", chat("c1")))
        .await
        .expect_err("another tenant's append");
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert!(denied.message().contains("globex"), "{}", denied.message());
    for (what, status) in [
        (
            "context",
            h.client
                .get_context(GetContextRequest {
                    tenant_id: "globex".into(),
                    customer_id: "cust-1".into(),
                    max_interactions: 0,
                    merged_ids: Vec::new(),
                })
                .await
                .map(drop),
        ),
        ("events", h.list("globex", "cust-1", 0, "").await.map(drop)),
        (
            "watch",
            h.client
                .watch_context(WatchContextRequest {
                    tenant_id: "globex".into(),
                    customer_id: "cust-1".into(),
                    after_version: 0,
                    ..Default::default()
                })
                .await
                .map(drop),
        ),
        (
            "forget",
            h.client
                .forget_customer(ForgetCustomerRequest {
                    tenant_id: "globex".into(),
                    customer_id: "cust-1".into(),
                    reason: String::new(),
                    idempotency_key: "f1".into(),
                })
                .await
                .map(drop),
        ),
    ] {
        let code = status.expect_err(what).code();
        assert_eq!(code, Code::PermissionDenied, "{what}");
    }

    // Naming no tenant means the caller's only one.
    let appended = h.append("", "cust-1", "k1", chat("c1")).await;
    assert_eq!(appended.version, 1);
    assert_eq!(h.context("acme", "cust-1").await.version, 1);
}

#[tokio::test]
async fn a_key_used_again_for_a_different_request_is_refused() {
    let mut h = start().await;
    let first = h
        .append(
            "t1",
            "cust-1",
            "same-key",
            event("c1", Channel::Chat, started("a")),
        )
        .await;
    let status = h
        .client
        .append_event(request(
            "t1",
            "cust-1",
            "same-key",
            event("c1", Channel::Chat, started("b")),
        ))
        .await
        .expect_err("a different request");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        field_violations(&status),
        [(
            "idempotency_key".to_owned(),
            "was already used for a different request".to_owned()
        )]
    );
    let status = h
        .client
        .append_event(request(
            "t1",
            "cust-2",
            "same-key",
            event("c1", Channel::Chat, started("a")),
        ))
        .await
        .expect_err("another customer");
    assert_eq!(
        field_violations(&status),
        [(
            "idempotency_key".to_owned(),
            "was already used for another customer".to_owned()
        )]
    );
    let retry = h
        .append(
            "t1",
            "cust-1",
            "same-key",
            event("c1", Channel::Chat, started("a")),
        )
        .await;
    assert!(retry.duplicate);
    assert_eq!(retry.event, first.event, "the first answer is untouched");
    assert_eq!(h.context("t1", "cust-1").await.version, 1);
}

#[tokio::test]
async fn a_retry_stamped_later_is_the_same_request() {
    let mut h = start().await;
    let at = |seconds| prost_types::Timestamp { seconds, nanos: 0 };
    let first = h
        .append(
            "t1",
            "cust-1",
            "stamped",
            Event {
                occurred_at: Some(at(1_700_000_000)),
                ..chat("c1")
            },
        )
        .await;
    let retry = h
        .append(
            "t1",
            "cust-1",
            "stamped",
            Event {
                occurred_at: Some(at(1_700_000_042)),
                ..chat("c1")
            },
        )
        .await;
    assert!(
        retry.duplicate,
        "a sender's retry after a crash carries a later time"
    );
    assert_eq!(retry.event, first.event);
    assert_eq!(h.context("t1", "cust-1").await.version, 1);
}

#[tokio::test]
async fn a_call_that_reached_the_service_without_a_principal_is_unauthenticated() {
    let mut h = start_as(None).await;
    let status = h
        .client
        .append_event(request("t1", "cust-1", "k1", chat("c1")))
        .await
        .expect_err("no principal");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = h
        .client
        .get_context(GetContextRequest {
            tenant_id: "t1".into(),
            customer_id: "cust-1".into(),
            max_interactions: 0,
            merged_ids: Vec::new(),
        })
        .await
        .expect_err("no principal");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = h
        .client
        .watch_context(WatchContextRequest {
            tenant_id: "t1".into(),
            customer_id: "cust-1".into(),
            after_version: 0,
            ..Default::default()
        })
        .await
        .expect_err("no principal");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
}
