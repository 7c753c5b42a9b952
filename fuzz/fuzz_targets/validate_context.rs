//! ContextService's request validators on arbitrary protobuf bytes (the first byte picks the
//! request type): never a panic, and a refusal names its fields, as the handlers send it.

#![no_main]

use baton_context::validate;
use baton_fuzz::requests::context::*;
use baton_fuzz::status::accepted;
use baton_fuzz::{pick, with_decoded};
use baton_proto::v1::{
    AppendEventRequest, ForgetCustomerRequest, GetContextRequest, ListEventsRequest,
    WatchContextRequest,
};
use baton_runtime::validate::Violations;
use libfuzzer_sys::fuzz_target;

/// Decodes `bytes` as an `M`, validates it and answers as a handler does, checking that "no
/// violations" and "accepted" agree.
fn check<M: prost::Message + Default>(bytes: &[u8], validate: fn(&M) -> Violations) {
    with_decoded(bytes, |request: M| {
        let violations = validate(&request);
        let empty = violations.is_empty();
        assert_eq!(accepted(violations.check()).is_some(), empty);
    });
}

fuzz_target!(|data: &[u8]| {
    let Some((which, bytes)) = pick(data, COUNT) else {
        return;
    };
    match which {
        APPEND_EVENT => check::<AppendEventRequest>(bytes, validate::append),
        GET_CONTEXT => check::<GetContextRequest>(bytes, validate::get_context),
        LIST_EVENTS => check::<ListEventsRequest>(bytes, validate::list_events),
        WATCH_CONTEXT => check::<WatchContextRequest>(bytes, validate::watch),
        FORGET_CUSTOMER => check::<ForgetCustomerRequest>(bytes, validate::forget),
        _ => unreachable!("pick returns a number below COUNT"),
    }
});
