//! A merge of two customers shows up in the next contact's context, and an unmerge takes it
//! back exactly: history stays under the id it was recorded for, and routing reads a
//! customer's context together with the ids merged into it (its profile's `retired_ids`).

use baton::config::ServiceName;
use baton_auth::{Role, Tenants};
use baton_proto::v1::{
    self as pb, IdentifierAssurance as Assurance, IdentifierKind as Kind,
    identity_service_client::IdentityServiceClient,
};
use baton_runtime::client::ClientChannel;
use baton_tests::{Stores, TestMesh, ident, key, tenant};

baton_tests::on_every_store!(a_merge_shows_the_merged_history_and_an_unmerge_takes_it_back);

const ANNA: &str = "anna.berg@example.com";
const BEN: &str = "ben.holt@example.com";

/// An identity client for an administrator of `t`, who alone may merge and unmerge.
fn admin(m: &TestMesh, t: &str) -> IdentityServiceClient<ClientChannel> {
    let token = m.token_for("admin-ops", &Tenants::one(t), &[Role::Admin], None);
    IdentityServiceClient::new(m.channel_as(ServiceName::Identity, Some(token)))
}

/// A new self-service e-mail contact from `email`: its customer, its id, and the context its
/// token carries (as the e-mail channel opens it).
async fn contact(m: &mut TestMesh, t: &str, email: &str, said: &str) -> Seen {
    let started = m
        .routing
        .start_contact(pb::StartContactRequest {
            tenant_id: t.to_owned(),
            channel: pb::Channel::Email as i32,
            identifiers: vec![ident(Kind::Email, email, Assurance::Verified)],
            utterance: said.to_owned(),
            self_service: true,
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect("contact starts")
        .into_inner();
    let c = started.contact.expect("contact");
    let token = m
        .routing
        .open_token(pb::OpenTokenRequest {
            tenant_id: t.to_owned(),
            token: started.token,
            opener: Some(pb::open_token_request::Opener::Channel(
                pb::Channel::Email as i32,
            )),
        })
        .await
        .expect("the e-mail channel opens its token")
        .into_inner()
        .token
        .expect("token");
    assert!(
        token.partial_reasons.is_empty(),
        "{:?}",
        token.partial_reasons
    );
    let context = token.context.expect("context");
    Seen {
        customer_id: c.customer_id,
        contact_id: c.contact_id,
        history: context
            .recent_interactions
            .into_iter()
            .map(|i| i.contact_id)
            .collect(),
    }
}

/// What one contact showed.
struct Seen {
    customer_id: String,
    contact_id: String,
    /// The contacts in its token's history, newest first.
    history: Vec<String>,
}

async fn a_merge_shows_the_merged_history_and_an_unmerge_takes_it_back(stores: Stores) {
    let mut m = TestMesh::start_with(stores.config()).await;
    let t = tenant();
    let anna = contact(&mut m, &t, ANNA, "my card is blocked").await;
    let ben = contact(&mut m, &t, BEN, "a question about my loan").await;
    assert_ne!(anna.customer_id, ben.customer_id, "two customers");
    assert_eq!(ben.history, std::slice::from_ref(&ben.contact_id));

    // The same person after all: Ben's profile goes into Anna's.
    let mut identity = admin(&m, &t);
    let merged = identity
        .merge_profiles(pb::MergeProfilesRequest {
            tenant_id: t.clone(),
            survivor_id: anna.customer_id.clone(),
            merged_id: ben.customer_id.clone(),
            reason: "one person, two e-mail addresses".into(),
            actor_id: "admin-ops".into(),
            idempotency_key: key(),
        })
        .await
        .expect("merge")
        .into_inner();
    let survivor = merged.survivor.expect("survivor");
    assert_eq!(survivor.retired_ids, std::slice::from_ref(&ben.customer_id));

    let after_merge = contact(&mut m, &t, ANNA, "still blocked").await;
    assert_eq!(after_merge.customer_id, anna.customer_id);
    assert_eq!(
        after_merge.history,
        [
            after_merge.contact_id.clone(),
            ben.contact_id.clone(),
            anna.contact_id.clone()
        ],
        "Ben's contact is part of the survivor's history"
    );
    let by_ben = contact(&mut m, &t, BEN, "the loan again").await;
    assert_eq!(
        by_ben.customer_id, anna.customer_id,
        "Ben's e-mail is Anna's now"
    );
    assert!(by_ben.history.contains(&ben.contact_id));

    // A mistake after all: the unmerge gives each their own history back.
    identity
        .unmerge_profile(pb::UnmergeProfileRequest {
            tenant_id: t.clone(),
            merge_id: merged.merge_id,
            reason: "two people after all".into(),
            actor_id: "admin-ops".into(),
            idempotency_key: key(),
        })
        .await
        .expect("unmerge");

    let anna_again = contact(&mut m, &t, ANNA, "one more thing").await;
    assert_eq!(anna_again.customer_id, anna.customer_id);
    assert!(
        !anna_again.history.contains(&ben.contact_id),
        "Ben's contact left with Ben: {:?}",
        anna_again.history
    );
    assert!(anna_again.history.contains(&anna.contact_id));
    // The contact made through Ben's e-mail while merged was Anna's and stays in her history.
    assert!(anna_again.history.contains(&by_ben.contact_id));

    let ben_again = contact(&mut m, &t, BEN, "and the loan").await;
    assert_eq!(ben_again.customer_id, ben.customer_id, "Ben is Ben again");
    assert_eq!(
        ben_again.history,
        [ben_again.contact_id.clone(), ben.contact_id.clone()],
        "only Ben's own contacts"
    );
    m.stop().await;
}
