//! RoutingService's request validators, and those of an agent session's messages, on
//! arbitrary protobuf bytes (the first byte picks the request type): never a panic, and a
//! refusal names its fields.

#![no_main]

use baton_fuzz::requests::routing::*;
use baton_fuzz::status::accepted;
use baton_fuzz::{pick, with_decoded};
use baton_proto::v1::{
    AcceptOffer, AddNoteRequest, AgentHello, CancelTransfer, EndContactRequest,
    ForgetCustomerRequest, GetContactRequest, GetQueueStatsRequest, ListAgentsRequest,
    ListQueuesRequest, OpenTokenRequest, RejectOffer, SetAgentStateRequest, StartContactRequest,
    TransferRequest, UpsertQueueRequest, WatchRoutingRequest,
};
use baton_routing::grpc::validate;
use libfuzzer_sys::fuzz_target;
use tonic::Status;

/// Decodes `bytes` as an `M` and checks what `validate` answers for it.
fn check<M: prost::Message + Default>(bytes: &[u8], validate: fn(&M) -> Result<(), Status>) {
    with_decoded(bytes, |request: M| {
        accepted(validate(&request));
    });
}

fuzz_target!(|data: &[u8]| {
    let Some((which, bytes)) = pick(data, COUNT) else {
        return;
    };
    match which {
        START_CONTACT => check::<StartContactRequest>(bytes, validate::start),
        TRANSFER => check::<TransferRequest>(bytes, validate::transfer),
        END_CONTACT => check::<EndContactRequest>(bytes, validate::end),
        GET_CONTACT => check::<GetContactRequest>(bytes, validate::get_contact),
        ADD_NOTE => check::<AddNoteRequest>(bytes, validate::add_note),
        SET_AGENT_STATE => check::<SetAgentStateRequest>(bytes, validate::set_agent),
        UPSERT_QUEUE => check::<UpsertQueueRequest>(bytes, validate::upsert_queue),
        OPEN_TOKEN => check::<OpenTokenRequest>(bytes, validate::open_token),
        AGENT_HELLO => check::<AgentHello>(bytes, validate::hello),
        ACCEPT_OFFER => check::<AcceptOffer>(bytes, validate::accept),
        REJECT_OFFER => check::<RejectOffer>(bytes, validate::reject),
        FORGET_CUSTOMER => check::<ForgetCustomerRequest>(bytes, validate::forget),
        CANCEL_TRANSFER => check::<CancelTransfer>(bytes, validate::cancel_transfer),
        LIST_QUEUES => check::<ListQueuesRequest>(bytes, validate::list_queues),
        GET_QUEUE_STATS => check::<GetQueueStatsRequest>(bytes, validate::get_queue_stats),
        LIST_AGENTS => check::<ListAgentsRequest>(bytes, validate::list_agents),
        WATCH_ROUTING => check::<WatchRoutingRequest>(bytes, validate::watch_routing),
        _ => unreachable!("pick returns a number below COUNT"),
    }
});
