//! The request type each validator target's first input byte picks, shared by the targets
//! and the seeds. Past the last number, the byte wraps around.

/// IdentityService requests.
pub mod identity {
    /// `ResolveRequest`.
    pub const RESOLVE: u8 = 0;
    /// `UpsertProfileRequest`.
    pub const UPSERT_PROFILE: u8 = 1;
    /// `GetProfileRequest`.
    pub const GET_PROFILE: u8 = 2;
    /// `LinkIdentifierRequest`.
    pub const LINK_IDENTIFIER: u8 = 3;
    /// `MergeProfilesRequest`.
    pub const MERGE_PROFILES: u8 = 4;
    /// `UnmergeProfileRequest`.
    pub const UNMERGE_PROFILE: u8 = 5;
    /// `ForgetCustomerRequest`.
    pub const FORGET_CUSTOMER: u8 = 6;
    /// How many there are.
    pub const COUNT: u8 = 7;
}

/// ContextService requests.
pub mod context {
    /// `AppendEventRequest`.
    pub const APPEND_EVENT: u8 = 0;
    /// `GetContextRequest`.
    pub const GET_CONTEXT: u8 = 1;
    /// `ListEventsRequest`.
    pub const LIST_EVENTS: u8 = 2;
    /// `WatchContextRequest`.
    pub const WATCH_CONTEXT: u8 = 3;
    /// `ForgetCustomerRequest`.
    pub const FORGET_CUSTOMER: u8 = 4;
    /// How many there are.
    pub const COUNT: u8 = 5;
}

/// RoutingService requests, and the hello that opens an agent session.
pub mod routing {
    /// `StartContactRequest`.
    pub const START_CONTACT: u8 = 0;
    /// `TransferRequest`.
    pub const TRANSFER: u8 = 1;
    /// `EndContactRequest`.
    pub const END_CONTACT: u8 = 2;
    /// `GetContactRequest`.
    pub const GET_CONTACT: u8 = 3;
    /// `AddNoteRequest`.
    pub const ADD_NOTE: u8 = 4;
    /// `SetAgentStateRequest`.
    pub const SET_AGENT_STATE: u8 = 5;
    /// `UpsertQueueRequest`.
    pub const UPSERT_QUEUE: u8 = 6;
    /// `OpenTokenRequest`.
    pub const OPEN_TOKEN: u8 = 7;
    /// `AgentHello`.
    pub const AGENT_HELLO: u8 = 8;
    /// `AcceptOffer`, in an agent session.
    pub const ACCEPT_OFFER: u8 = 9;
    /// `RejectOffer`, in an agent session.
    pub const REJECT_OFFER: u8 = 10;
    /// `ForgetCustomerRequest`.
    pub const FORGET_CUSTOMER: u8 = 11;
    /// `CancelTransfer`, in an agent session.
    pub const CANCEL_TRANSFER: u8 = 12;
    /// `ListQueuesRequest`.
    pub const LIST_QUEUES: u8 = 13;
    /// `GetQueueStatsRequest`.
    pub const GET_QUEUE_STATS: u8 = 14;
    /// `ListAgentsRequest`.
    pub const LIST_AGENTS: u8 = 15;
    /// `WatchRoutingRequest`.
    pub const WATCH_ROUTING: u8 = 16;
    /// How many there are.
    pub const COUNT: u8 = 17;
}

/// RecommendationService requests.
pub mod recommendation {
    /// `RecommendRequest`.
    pub const RECOMMEND: u8 = 0;
    /// `RecordOutcomeRequest`.
    pub const RECORD_OUTCOME: u8 = 1;
    /// `UpsertCatalogRequest`.
    pub const UPSERT_CATALOG: u8 = 2;
    /// `UpsertArticlesRequest`.
    pub const UPSERT_ARTICLES: u8 = 3;
    /// `ForgetCustomerRequest`.
    pub const FORGET_CUSTOMER: u8 = 4;
    /// How many there are.
    pub const COUNT: u8 = 5;
}
