//! The conformance suite on the embedded store, and what survives reopening it.

use std::time::Duration;

use baton_proto::v1::{Agent, Channel, Contact, ContactState, audience::Target};
use baton_routing::domain::record::{ContactRecord, audience};
use baton_routing::domain::state::RoutingState;
use baton_routing::store::{RoutingStore, Write};
use baton_routing::{conformance, open_embedded};

#[tokio::test]
async fn embedded_store_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_embedded(dir.path()).expect("open");
    conformance::run_all(&store).await;
}

fn record(id: &str, state: ContactState, agent: &str) -> ContactRecord {
    ContactRecord {
        contact: Contact {
            contact_id: id.into(),
            tenant_id: "acme".into(),
            channel: Channel::Voice as i32,
            state: state as i32,
            agent_id: agent.into(),
            ..Contact::default()
        },
        target: Some(audience(Target::Tier(1))),
        ..ContactRecord::default()
    }
}

#[tokio::test]
async fn contacts_survive_reopening_and_an_offered_one_comes_back_queued() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open_embedded(dir.path()).expect("open");
        store
            .apply(vec![
                Write::Agent {
                    tenant_id: "acme".into(),
                    agent: Agent {
                        agent_id: "a".into(),
                        tier: 1,
                        ..Agent::default()
                    },
                },
                Write::Contact(Box::new(record("offered", ContactState::Offered, "a"))),
                Write::Contact(Box::new(record("connected", ContactState::Connected, "a"))),
                Write::Contact(Box::new(record("ended", ContactState::Ended, "a"))),
            ])
            .await
            .expect("apply");
    }
    let store = open_embedded(dir.path()).expect("reopen");
    let loaded = store.load().await.expect("load");
    let mut ids: Vec<&str> = loaded.contacts.iter().map(|c| c.contact_id()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["connected", "offered"]);
    assert!(
        store
            .contact("acme", "ended")
            .await
            .expect("read")
            .is_some_and(|c| c.state() == ContactState::Ended)
    );

    let mut state = RoutingState::new(Duration::from_secs(60));
    state.load(loaded.agents, loaded.queues, loaded.contacts);
    let offered = state.contact("acme", "offered").expect("kept");
    assert_eq!(offered.record.state(), ContactState::Queued);
    assert_eq!(offered.record.contact.agent_id, "");
    let connected = state.contact("acme", "connected").expect("kept");
    assert_eq!(connected.record.state(), ContactState::Connected);
    assert!(
        state
            .agent("acme", "a")
            .is_some_and(|a| a.active.contains_key("connected") && a.session.is_none())
    );
}
