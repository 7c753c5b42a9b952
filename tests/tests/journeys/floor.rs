//! `baton queues` and `baton contact` against a running mesh: a supervisor at a terminal sees
//! a queue's waiting contact with its wait, and that contact's state and path.

use baton::{
    client::RoutingClientArgs,
    config::ServiceName,
    floor::{self, ContactArgs, QueuesArgs},
};
use baton_proto::v1 as pb;
use baton_tests::{Stores, TestMesh, key, tenant};

#[tokio::test]
async fn a_supervisor_sees_a_waiting_contact_in_its_queue_and_follows_its_path() {
    let stores = Stores::embedded();
    let mut m = TestMesh::start_with(stores.config()).await;
    let t = tenant();
    m.routing
        .upsert_queue(pb::UpsertQueueRequest {
            tenant_id: t.clone(),
            queue: Some(pb::Queue {
                queue_id: "billing".into(),
                name: "Billing".into(),
                tier: 1,
                service_level_percent: 80,
                service_level_answer_secs: 20,
                ..Default::default()
            }),
            idempotency_key: key(),
        })
        .await
        .expect("queue");
    let started = m
        .routing
        .start_contact(pb::StartContactRequest {
            tenant_id: t.clone(),
            channel: pb::Channel::Chat as i32,
            queue_id: "billing".into(),
            utterance: "my bill doubled".into(),
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect("starts")
        .into_inner();
    let contact_id = started.contact.expect("contact").contact_id;

    let client = RoutingClientArgs {
        address: m.url(ServiceName::Routing),
        access: m.cli_access(),
    };
    let mut out = Vec::new();
    floor::queues(
        &QueuesArgs {
            tenant: t.clone(),
            client: client.clone(),
        },
        &mut out,
    )
    .await
    .expect("queues listed");
    let table = String::from_utf8(out).expect("utf-8");
    let line = table
        .lines()
        .find(|l| l.starts_with("billing"))
        .unwrap_or_else(|| panic!("billing listed: {table}"));
    let columns: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(columns.get(2), Some(&"1"), "one contact waiting: {table}");
    assert_eq!(columns.get(3), Some(&"0"), "none offered: {table}");
    assert!(line.contains("0/0"), "no agent: {table}");

    let mut out = Vec::new();
    floor::contact(
        &ContactArgs {
            tenant: t.clone(),
            contact_id: contact_id.clone(),
            client: client.clone(),
        },
        &mut out,
    )
    .await
    .expect("contact shown");
    let shown = String::from_utf8(out).expect("utf-8");
    for part in [
        format!("contact   {contact_id}"),
        "state     queued".to_owned(),
        "channel   chat".to_owned(),
        "queue     billing (tier 1)".to_owned(),
        "said      my bill doubled".to_owned(),
        "0. start".to_owned(),
        "to queue billing".to_owned(),
    ] {
        assert!(shown.contains(&part), "{part:?} in\n{shown}");
    }

    let missing = floor::contact(
        &ContactArgs {
            tenant: t,
            contact_id: "con_nobody".into(),
            client,
        },
        &mut Vec::new(),
    )
    .await
    .expect_err("no such contact");
    assert!(missing.contains("NotFound"), "{missing}");
    m.stop().await;
}
