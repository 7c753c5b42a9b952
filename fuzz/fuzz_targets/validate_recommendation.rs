//! RecommendationService's request validators on arbitrary protobuf bytes (the first byte
//! picks the request type): never a panic, a refusal names its fields, and an accepted
//! outcome is the one the request carries.

#![no_main]

use baton_fuzz::requests::recommendation::*;
use baton_fuzz::status::accepted;
use baton_fuzz::{pick, with_decoded};
use baton_proto::v1::{
    ForgetCustomerRequest, RecommendRequest, RecordOutcomeRequest, UpsertArticlesRequest,
    UpsertCatalogRequest,
};
use baton_recommendation::validate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((which, bytes)) = pick(data, COUNT) else {
        return;
    };
    match which {
        RECOMMEND => with_decoded(bytes, |r: RecommendRequest| {
            accepted(validate::recommend(&r));
        }),
        RECORD_OUTCOME => with_decoded(bytes, |r: RecordOutcomeRequest| {
            if let Some(outcome) = accepted(validate::record_outcome(&r)) {
                assert_eq!(Some(outcome), r.outcome);
            }
        }),
        UPSERT_CATALOG => with_decoded(bytes, |r: UpsertCatalogRequest| {
            accepted(validate::upsert_catalog(&r));
        }),
        UPSERT_ARTICLES => with_decoded(bytes, |r: UpsertArticlesRequest| {
            accepted(validate::upsert_articles(&r));
        }),
        FORGET_CUSTOMER => with_decoded(bytes, |r: ForgetCustomerRequest| {
            accepted(validate::forget_customer(&r));
        }),
        _ => unreachable!("pick returns a number below COUNT"),
    }
});
