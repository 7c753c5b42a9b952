//! One snapshot from several histories: a customer's own and those of the ids merged into it.
//!
//! History is never copied between customers; a merge is a way of reading. Each history is
//! cut to the snapshot bounds first (nothing past a history's own bound can be among the
//! newest of all of them), then the lists are put together, ordered by time and cut again.

use baton_proto::v1::{ContextSnapshot, Tenure};
use prost_types::Timestamp;

use super::{View, earlier};
use baton_runtime::time;

/// The snapshot of `customer_id` showing the histories of `views` as one: the customer's own
/// and those of the ids merged into it, in any order (views of ids with no history are simply
/// left out). Lists are ordered newest first by when their records happened (interactions by
/// start, cases by last update, purchases by purchase, offers and automated steps by when
/// they last changed), at most `max_interactions` interactions and every other list cut to
/// the bound of a single history's snapshot; `truncated` is set when anything of any history
/// was left out.
///
/// The version is the sum of the histories' versions. Each history's version grows by one
/// with each append, so an append to any of them raises the sum, which keeps a "changed since
/// version N" check right for the same set of ids. (The largest of the versions would not: an
/// append to a shorter history leaves it unchanged.)
pub fn snapshot_of_merged(
    customer_id: &str,
    views: Vec<View>,
    max_interactions: usize,
) -> ContextSnapshot {
    let mut all = ContextSnapshot {
        customer_id: customer_id.to_owned(),
        ..ContextSnapshot::default()
    };
    let mut tenures = Vec::with_capacity(views.len());
    for view in views {
        let s = view.snapshot(max_interactions);
        all.version = all.version.saturating_add(s.version);
        all.truncated |= s.truncated;
        tenures.extend(s.tenure);
        all.recent_interactions.extend(s.recent_interactions);
        all.open_cases.extend(s.open_cases);
        all.purchases.extend(s.purchases);
        all.offers.extend(s.offers);
        all.resolved_cases.extend(s.resolved_cases);
        all.automated_steps.extend(s.automated_steps);
    }
    all.tenure = combined_tenure(tenures);
    newest_first(&mut all.recent_interactions, |i| i.started_at);
    newest_first(&mut all.open_cases, |c| c.updated_at);
    newest_first(&mut all.purchases, |p| p.purchased_at);
    newest_first(&mut all.offers, |o| o.at);
    newest_first(&mut all.resolved_cases, |c| c.updated_at);
    newest_first(&mut all.automated_steps, |s| s.at);
    View::from_stored(all).snapshot(max_interactions)
}

/// Orders `list` newest first by `at`. Records without a time (steps stored before steps were
/// dated) go last; the sort is stable, so they keep their history's order there, and records
/// of the same time keep the order of the histories given.
fn newest_first<T>(list: &mut [T], at: impl Fn(&T) -> Option<Timestamp>) {
    list.sort_by_key(|item| std::cmp::Reverse(at(item).map(|t| time::sort_key(&t))));
}

/// The tenure of several histories: since the earliest, every contact counted, the last
/// contact of any. `None` when no history has one.
fn combined_tenure(tenures: Vec<Tenure>) -> Option<Tenure> {
    tenures.into_iter().reduce(|mut all, t| {
        all.contact_count = all.contact_count.saturating_add(t.contact_count);
        if let Some(since) = t.customer_since
            && all.customer_since.is_none_or(|s| earlier(&since, &s))
        {
            all.customer_since = Some(since);
        }
        if let Some(last) = t.last_contact_at
            && all.last_contact_at.is_none_or(|l| earlier(&l, &last))
        {
            all.last_contact_at = Some(last);
            all.last_channel = t.last_channel;
        }
        all
    })
}

#[cfg(test)]
mod tests {
    use baton_proto::v1::{
        AutomatedStep, CaseOpened, Channel, ContactStarted, Event, OfferPresented, PurchaseMade,
        event::Payload,
    };

    use super::*;
    use crate::view::{DEFAULT_SNAPSHOT_INTERACTIONS, apply};

    /// A history built from `(second, contact or record id, payload kind)`, numbered in order.
    fn history(customer: &str, entries: &[(i64, &str, &str)]) -> View {
        let mut view = View::empty(customer);
        for (n, (second, id, kind)) in entries.iter().enumerate() {
            let payload = match *kind {
                "contact" => Payload::ContactStarted(ContactStarted::default()),
                "case" => Payload::CaseOpened(CaseOpened {
                    case_id: (*id).to_owned(),
                    ..CaseOpened::default()
                }),
                "purchase" => Payload::Purchase(PurchaseMade {
                    order_id: (*id).to_owned(),
                    ..PurchaseMade::default()
                }),
                "offer" => Payload::OfferPresented(OfferPresented {
                    offer_id: (*id).to_owned(),
                    ..OfferPresented::default()
                }),
                _ => Payload::AutomatedStep(AutomatedStep {
                    system: "ivr".into(),
                    step: (*id).to_owned(),
                    ..AutomatedStep::default()
                }),
            };
            let channel = if customer == "b" {
                Channel::Voice
            } else {
                Channel::Chat
            };
            apply(
                &mut view,
                &Event {
                    customer_id: customer.to_owned(),
                    sequence: n as u64 + 1,
                    occurred_at: Some(at(*second)),
                    contact_id: (*id).to_owned(),
                    channel: channel as i32,
                    payload: Some(payload),
                    ..Event::default()
                },
            );
        }
        view
    }

    fn at(second: i64) -> Timestamp {
        Timestamp {
            seconds: 1_700_000_000 + second,
            nanos: 0,
        }
    }

    #[test]
    fn histories_interleave_newest_first_with_one_tenure_and_the_sum_of_versions() {
        let a = history(
            "a",
            &[
                (10, "a1", "contact"),
                (11, "ka", "case"),
                (12, "oa", "purchase"),
                (13, "fa", "offer"),
                (14, "sa", "step"),
                (30, "a2", "contact"),
            ],
        );
        let b = history(
            "b",
            &[
                (5, "kb", "case"),
                (20, "b1", "contact"),
                (21, "ob", "purchase"),
                (22, "fb", "offer"),
                (23, "sb", "step"),
                (40, "b2", "contact"),
            ],
        );
        let s = snapshot_of_merged("a", vec![a, b], DEFAULT_SNAPSHOT_INTERACTIONS);

        assert_eq!(s.customer_id, "a");
        assert_eq!(s.version, 12);
        let contacts: Vec<&str> = s
            .recent_interactions
            .iter()
            .map(|i| i.contact_id.as_str())
            .collect();
        assert_eq!(contacts, ["b2", "a2", "b1", "a1"]);
        let cases: Vec<&str> = s.open_cases.iter().map(|c| c.case_id.as_str()).collect();
        assert_eq!(cases, ["ka", "kb"]);
        let orders: Vec<&str> = s.purchases.iter().map(|p| p.order_id.as_str()).collect();
        assert_eq!(orders, ["ob", "oa"]);
        let offers: Vec<&str> = s.offers.iter().map(|o| o.offer_id.as_str()).collect();
        assert_eq!(offers, ["fb", "fa"]);
        let steps: Vec<&str> = s.automated_steps.iter().map(|s| s.step.as_str()).collect();
        assert_eq!(steps, ["sb", "sa"]);
        assert_eq!(s.automated_steps[0].at, Some(at(23)), "steps are dated");

        let tenure = s.tenure.expect("tenure");
        assert_eq!(
            tenure.customer_since,
            Some(at(5)),
            "the earliest start of any"
        );
        assert_eq!(tenure.contact_count, 4);
        assert_eq!(tenure.last_contact_at, Some(at(40)));
        assert_eq!(tenure.last_channel, Channel::Voice as i32);
        assert!(!s.truncated);
    }

    #[test]
    fn the_merged_lists_keep_the_bounds_and_say_when_they_cut() {
        // Eight contacts each, alternating in time: a0 at 0, b0 at 1, a1 at 2, ...
        let ids = |prefix: &str| (0..8).map(|n| format!("{prefix}{n}")).collect::<Vec<_>>();
        let (a_ids, b_ids) = (ids("a"), ids("b"));
        let contacts = |ids: &[String], offset: i64| {
            let entries: Vec<(i64, &str, &str)> = (0..)
                .zip(ids)
                .map(|(n, id)| (offset + 2 * n, id.as_str(), "contact"))
                .collect();
            history(&ids[0][..1], &entries)
        };
        let a = contacts(&a_ids, 0);
        let b = contacts(&b_ids, 1);
        assert!(!a.clone().snapshot(10).truncated, "each alone fits");

        let s = snapshot_of_merged("a", vec![a, b], 10);
        assert_eq!(s.recent_interactions.len(), 10);
        assert!(s.truncated);
        assert_eq!(s.recent_interactions[0].contact_id, "b7");
        assert_eq!(s.recent_interactions[9].contact_id, "a3");
        assert_eq!(
            s.tenure.map(|t| t.contact_count),
            Some(16),
            "all are counted"
        );
    }

    #[test]
    fn an_append_to_any_history_raises_the_version() {
        let a = history("a", &[(1, "a1", "contact"), (3, "a2", "contact")]);
        let b = history("b", &[(2, "b1", "contact")]);
        let before = snapshot_of_merged("a", vec![a.clone(), b], 10).version;
        // The shorter history grows; its version stays below the other's, so the largest of
        // the versions would not have moved.
        let b = history("b", &[(2, "b1", "contact"), (4, "b2", "contact")]);
        let after = snapshot_of_merged("a", vec![a, b], 10).version;
        assert_eq!((before, after), (3, 4));
    }

    #[test]
    fn no_history_at_all_is_an_empty_snapshot_at_version_zero() {
        let s = snapshot_of_merged("a", Vec::new(), 10);
        assert_eq!(s.customer_id, "a");
        assert_eq!(s.version, 0);
        assert!(s.tenure.is_none() && s.recent_interactions.is_empty() && !s.truncated);
    }
}
