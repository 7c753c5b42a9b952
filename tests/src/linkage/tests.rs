use super::*;

fn t(entity: u64, group: Option<u64>) -> Truth {
    Truth { entity, group }
}

#[test]
fn a_perfect_clustering_scores_one() {
    let truth = [t(1, None), t(1, None), t(2, None), t(3, None), t(3, None)];
    let s = score_dedup(&truth, &[10, 10, 20, 30, 30]);
    assert_eq!(
        s.pairs,
        Pairs {
            truth: 2,
            predicted: 2,
            correct: 2
        }
    );
    assert_eq!(
        (s.pairs.precision(), s.pairs.recall(), s.pairs.f1()),
        (1.0, 1.0, 1.0)
    );
}

#[test]
fn singletons_find_nothing_and_claim_nothing() {
    // Three records of one person, each on its own customer: 3 true pairs, none predicted.
    let truth = [t(1, None), t(1, None), t(1, None)];
    let s = score_dedup(&truth, &[1, 2, 3]);
    assert_eq!(s.pairs.truth, 3);
    assert_eq!(s.pairs.predicted, 0);
    assert_eq!(s.pairs.precision(), 1.0);
    assert_eq!(s.pairs.recall(), 0.0);
    assert_eq!(s.pairs.f1(), 0.0);
}

#[test]
fn one_big_cluster_finds_everything_and_is_mostly_wrong() {
    // Entities {1,1}, {2,2}: 2 true pairs; all four on one customer: 6 predicted.
    let truth = [t(1, None), t(1, None), t(2, None), t(2, None)];
    let s = score_dedup(&truth, &[7, 7, 7, 7]);
    assert_eq!(
        s.pairs,
        Pairs {
            truth: 2,
            predicted: 6,
            correct: 2
        }
    );
    assert!((s.pairs.precision() - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(s.pairs.recall(), 1.0);
    assert!((s.pairs.f1() - 0.5).abs() < 1e-12);
}

#[test]
fn a_partial_clustering_by_hand() {
    // Person 1 has records a b c, person 2 has d e. Clusters {a b}, {c d}, {e}.
    // True pairs: ab ac bc de = 4. Predicted: ab cd = 2. Correct: ab = 1.
    let truth = [t(1, None), t(1, None), t(1, None), t(2, None), t(2, None)];
    let s = score_dedup(&truth, &[1, 1, 2, 2, 3]);
    assert_eq!(
        s.pairs,
        Pairs {
            truth: 4,
            predicted: 2,
            correct: 1
        }
    );
    assert!((s.pairs.f1() - 2.0 / 6.0).abs() < 1e-12);
}

#[test]
fn false_merges_count_only_different_people_of_one_group() {
    // Group 9: twins 1 (two records) and 2 (one record); person 3 is in no group.
    // Hard-negative pairs: (1a,2) (1b,2) = 2. Customer 5 holds 1a, 1b, 2 and 3: the merges
    // 1a-2 and 1b-2 are false merges; 3 is a plain wrong pair, not a hard negative.
    let truth = [t(1, Some(9)), t(1, Some(9)), t(2, Some(9)), t(3, None)];
    let s = score_dedup(&truth, &[5, 5, 5, 5]);
    assert_eq!(s.hard_negative_pairs, 2);
    assert_eq!(s.false_merges, 2);
    assert_eq!(s.pairs.predicted, 6);
    assert_eq!(s.pairs.correct, 1);
    // Apart, nothing is falsely merged.
    let apart = score_dedup(&truth, &[5, 5, 6, 7]);
    assert_eq!((apart.hard_negative_pairs, apart.false_merges), (2, 0));
    // Two groups on one customer: only pairs within a group count.
    let truth = [t(1, Some(1)), t(2, Some(1)), t(3, Some(2)), t(4, Some(2))];
    let s = score_dedup(&truth, &[1, 2, 1, 2]);
    assert_eq!((s.hard_negative_pairs, s.false_merges), (2, 0));
}

#[test]
fn link_scores_pairs_across_the_sets() {
    // A: person 1 on customer 10, person 2 on 20, person 3 (twin of 2, group 4) on 30.
    let a = [t(1, None), t(2, Some(4)), t(3, Some(4))];
    let a_clusters = [10, 20, 30];
    // B: 1 found, 2 matched to its twin 3, 3 not matched, 5 (absent from A) not matched.
    let b = [t(1, None), t(2, Some(4)), t(3, Some(4)), t(5, None)];
    let b_matched = [Some(10), Some(30), None, None];
    let s = score_link(&a, &a_clusters, &b, &b_matched);
    assert_eq!(
        s.pairs,
        Pairs {
            truth: 3,
            predicted: 2,
            correct: 1
        }
    );
    assert_eq!(s.hard_negative_pairs, 2);
    assert_eq!(s.false_merges, 1);
    assert!((s.pairs.f1() - 2.0 / 5.0).abs() < 1e-12);
}

#[test]
fn link_counts_every_a_record_on_the_matched_customer() {
    // A deduplicated itself: persons 1 and 2 ended on customer 10. B's 1 matched there:
    // one correct pair, one wrong.
    let a = [t(1, None), t(2, None)];
    let s = score_link(&a, &[10, 10], &[t(1, None)], &[Some(10)]);
    assert_eq!(
        s.pairs,
        Pairs {
            truth: 1,
            predicted: 2,
            correct: 1
        }
    );
}

#[test]
fn febrl_rows_become_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sample.csv");
    std::fs::write(
        &path,
        "rec_id, given_name, surname, street_number, address_1, address_2, suburb, postcode, \
         state, date_of_birth, soc_sec_id\n\
         rec-1496-org, mitchell, green, 7, wallaby place, delmar, cleveland, 2119, sa, \
         19560409, 1804974\n\
         rec-561-dup-0, elton, , , light setreet, , windermere, 3212, vic, 19651350, \n",
    )
    .expect("write");
    let records = read_febrl(&path).expect("reads");
    assert_eq!(records.len(), 2);
    let r = &records[0];
    assert_eq!((r.entity, r.copy, r.id.as_str()), (1496, 0, "rec-1496-org"));
    assert_eq!(
        (r.given_name.as_str(), r.family_name.as_str()),
        ("mitchell", "green")
    );
    assert_eq!(r.date_of_birth, Date::new(1956, 4, 9));
    assert_eq!(r.national_id.as_deref(), Some("1804974"));
    let a = r.address.as_ref().expect("address");
    assert_eq!(a.lines, ["7 wallaby place", "delmar"]);
    assert_eq!(
        (
            a.locality.as_str(),
            a.postal_code.as_str(),
            a.region.as_str()
        ),
        ("cleveland", "2119", "sa")
    );
    let d = &records[1];
    assert_eq!((d.entity, d.copy), (561, 1));
    assert_eq!(d.family_name, "");
    assert_eq!(d.date_of_birth, None, "month 13 is no date");
    assert_eq!(d.national_id, None);
    assert_eq!(
        d.address.as_ref().map(|a| a.lines.clone()),
        Some(vec!["light setreet".to_owned()])
    );
}

#[test]
fn identifiers_follow_the_chosen_set() {
    let records = crate::people::generate(
        3,
        &crate::people::Config {
            records: 5,
            ..Default::default()
        },
    );
    let r = &records[0];
    assert!(identifiers(r, Ids::None).is_empty());
    assert_eq!(identifiers(r, Ids::NationalId).len(), 1);
    assert_eq!(identifiers(r, Ids::All).len(), 3);
    assert!(valid_for_import(
        "acme",
        &profile_record(r, "gen", Ids::All)
    ));
}
