//! IdentityService's request validators on arbitrary protobuf bytes (the first byte picks
//! the request type): never a panic, a refusal names its fields, and every identifier a
//! request carries is accepted only in a form whose stored form normalizes to itself.

#![no_main]

use baton_fuzz::identifier::assert_stored_form_matches;
use baton_fuzz::requests::identity::*;
use baton_fuzz::status::accepted;
use baton_fuzz::{pick, with_decoded};
use baton_identity::grpc::validate;
use baton_proto::v1::{
    ForgetCustomerRequest, GetProfileRequest, LinkIdentifierRequest, MergeProfilesRequest,
    ResolveRequest, UnmergeProfileRequest, UpsertProfileRequest,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((which, bytes)) = pick(data, COUNT) else {
        return;
    };
    match which {
        RESOLVE => with_decoded(bytes, |req: ResolveRequest| {
            if let Some(cmd) = accepted(validate::resolve(req.clone(), "")) {
                assert_eq!(cmd.tenant, req.tenant_id);
                assert_eq!(cmd.identifiers.len(), req.identifiers.len());
                cmd.identifiers.iter().for_each(assert_stored_form_matches);
            }
        }),
        UPSERT_PROFILE => with_decoded(bytes, |req: UpsertProfileRequest| {
            if let Some(split) = accepted(validate::upsert(req.clone(), "")) {
                // Every record is either passed on or refused on its own, in request order.
                let refused: Vec<usize> = split.refused.iter().map(|r| r.index).collect();
                assert!(refused.windows(2).all(|w| w[0] < w[1]), "{refused:?}");
                assert_eq!(
                    split.command.records.len() + refused.len(),
                    req.records.len()
                );
            }
        }),
        GET_PROFILE => with_decoded(bytes, |req: GetProfileRequest| {
            accepted(validate::get_profile(&req.tenant_id, &req.customer_id));
        }),
        LINK_IDENTIFIER => with_decoded(bytes, |req: LinkIdentifierRequest| {
            if let Some(cmd) = accepted(validate::link(req, "")) {
                assert_stored_form_matches(&cmd.identifier);
            }
        }),
        MERGE_PROFILES => with_decoded(bytes, |req: MergeProfilesRequest| {
            if let Some(cmd) = accepted(validate::merge(req)) {
                assert_ne!(cmd.survivor_id, cmd.merged_id);
            }
        }),
        UNMERGE_PROFILE => with_decoded(bytes, |req: UnmergeProfileRequest| {
            accepted(validate::unmerge(req));
        }),
        FORGET_CUSTOMER => with_decoded(bytes, |req: ForgetCustomerRequest| {
            accepted(validate::forget(req));
        }),
        _ => unreachable!("pick returns a number below COUNT"),
    }
});
