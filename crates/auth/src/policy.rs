//! The authorization table: which roles may call each RPC. This file is the one place it is
//! written; the README prints it, the auth layer enforces it, and a test fails when an RPC of
//! the contract has no row.
//!
//! A row admits roles to a method. What a role may do *within* a method (an agent only as
//! itself, only the contacts it holds, only tokens addressed to it; a tenant only from the
//! caller's own set) is checked by the handler against the principal, because it depends on
//! the request and the state it names.
//!
//! A row with an [`Audit`] is a privileged RPC: every call of it is written to the audit log
//! (see [`audit`](crate::audit)), with the ids its request names.

pub use crate::audit::Audit;
use crate::{
    audit::{AuditTarget, targets},
    principal::{Role, Roles},
};

use Role::{Admin, Agent, Gateway, Service, Supervisor};

/// One RPC's rule.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// `/baton.v1.RoutingService/StartContact`.
    pub path: &'static str,
    /// The permission a denial names, `contacts.start`.
    pub permission: &'static str,
    /// Who holds the permission.
    pub roles: &'static [Role],
    /// A long-lived stream: counted against the caller's cap on open streams.
    pub stream: bool,
    /// A privileged RPC: how its calls are written to the audit log. Only unary RPCs are.
    pub audit: Option<Audit>,
}

const fn rule(path: &'static str, permission: &'static str, roles: &'static [Role]) -> Rule {
    Rule {
        path,
        permission,
        roles,
        stream: false,
        audit: None,
    }
}

const fn stream(path: &'static str, permission: &'static str, roles: &'static [Role]) -> Rule {
    Rule {
        path,
        permission,
        roles,
        stream: true,
        audit: None,
    }
}

impl Rule {
    /// The rule, with every call audited; `target` reads the ids out of the request.
    const fn audited(self, target: fn(&[u8]) -> Option<AuditTarget>) -> Rule {
        self.audited_by(&[], target)
    }

    /// The rule, with calls by principals holding one of `by` audited.
    const fn audited_by(
        self,
        by: &'static [Role],
        target: fn(&[u8]) -> Option<AuditTarget>,
    ) -> Rule {
        Rule {
            audit: Some(Audit { target, by }),
            ..self
        }
    }
}

/// Every RPC of `baton.v1`, and who may call it.
pub const TABLE: &[Rule] = &[
    // Routing: the front door.
    rule(
        "/baton.v1.RoutingService/StartContact",
        "contacts.start",
        &[Gateway],
    ),
    rule(
        "/baton.v1.RoutingService/Transfer",
        "contacts.transfer",
        &[Gateway, Agent, Supervisor],
    ),
    rule(
        "/baton.v1.RoutingService/EndContact",
        "contacts.end",
        &[Gateway, Agent, Supervisor],
    ),
    rule(
        "/baton.v1.RoutingService/AddNote",
        "contacts.note",
        &[Agent, Supervisor],
    ),
    rule(
        "/baton.v1.RoutingService/GetContact",
        "contacts.read",
        &[Gateway, Agent, Supervisor, Admin],
    ),
    // An agent setting its own presence is routine; a supervisor or admin changing an agent is
    // audited.
    rule(
        "/baton.v1.RoutingService/SetAgentState",
        "agents.set_state",
        &[Agent, Supervisor, Admin],
    )
    .audited_by(&[Supervisor, Admin], targets::set_agent_state),
    rule(
        "/baton.v1.RoutingService/UpsertQueue",
        "queues.write",
        &[Supervisor, Admin],
    )
    .audited(targets::upsert_queue),
    stream(
        "/baton.v1.RoutingService/AgentSession",
        "agents.session",
        &[Agent],
    ),
    rule(
        "/baton.v1.RoutingService/OpenToken",
        "tokens.open",
        &[Gateway, Agent, Supervisor],
    )
    .audited(targets::open_token),
    // One erasure across the mesh, for a tenant's administrators; routing then calls the
    // three services' own ForgetCustomer as itself.
    rule(
        "/baton.v1.RoutingService/ForgetCustomer",
        "customers.forget",
        &[Admin],
    )
    .audited(targets::forget_customer),
    // What a supervisor watches: queues and agents as they are now. Reads of live figures,
    // no personal data, so not audited.
    rule(
        "/baton.v1.RoutingService/ListQueues",
        "queues.read",
        &[Supervisor, Admin],
    ),
    rule(
        "/baton.v1.RoutingService/GetQueueStats",
        "queues.read",
        &[Supervisor, Admin],
    ),
    rule(
        "/baton.v1.RoutingService/ListAgents",
        "agents.read",
        &[Supervisor, Admin],
    ),
    stream(
        "/baton.v1.RoutingService/WatchRouting",
        "routing.watch",
        &[Supervisor, Admin],
    ),
    // Identity: routing resolves; administrators curate.
    rule(
        "/baton.v1.IdentityService/Resolve",
        "identity.resolve",
        &[Service],
    ),
    rule(
        "/baton.v1.IdentityService/UpsertProfile",
        "identity.import",
        &[Admin, Service],
    )
    .audited(targets::upsert_profile),
    stream(
        "/baton.v1.IdentityService/ImportProfiles",
        "identity.import",
        &[Admin, Service],
    ),
    rule(
        "/baton.v1.IdentityService/TrainMatcher",
        "identity.train",
        &[Admin],
    ),
    // Derived data only (blocking keys, name counts): nothing to audit.
    stream(
        "/baton.v1.IdentityService/RebuildIndex",
        "identity.reindex",
        &[Admin],
    ),
    rule(
        "/baton.v1.IdentityService/GetProfile",
        "identity.read",
        &[Admin, Service],
    ),
    rule(
        "/baton.v1.IdentityService/LinkIdentifier",
        "identity.link",
        &[Admin, Service],
    ),
    rule(
        "/baton.v1.IdentityService/MergeProfiles",
        "identity.merge",
        &[Admin],
    )
    .audited(targets::merge_profiles),
    rule(
        "/baton.v1.IdentityService/UnmergeProfile",
        "identity.unmerge",
        &[Admin],
    )
    .audited(targets::unmerge_profile),
    rule(
        "/baton.v1.IdentityService/ForgetCustomer",
        "customers.forget",
        &[Admin, Service],
    )
    .audited(targets::forget_customer),
    // Context: routing writes and reads; supervisors may watch.
    rule(
        "/baton.v1.ContextService/AppendEvent",
        "context.append",
        &[Service],
    ),
    rule(
        "/baton.v1.ContextService/GetContext",
        "context.read",
        &[Admin, Service],
    ),
    rule(
        "/baton.v1.ContextService/ListEvents",
        "context.read",
        &[Admin, Service],
    ),
    stream(
        "/baton.v1.ContextService/WatchContext",
        "context.watch",
        &[Supervisor, Admin, Service],
    ),
    rule(
        "/baton.v1.ContextService/ForgetCustomer",
        "customers.forget",
        &[Admin, Service],
    )
    .audited(targets::forget_customer),
    // Recommendation: routing asks; administrators load catalogs and articles.
    rule(
        "/baton.v1.RecommendationService/Recommend",
        "recommendations.read",
        &[Service],
    ),
    rule(
        "/baton.v1.RecommendationService/RecordOutcome",
        "recommendations.outcome",
        &[Service],
    ),
    rule(
        "/baton.v1.RecommendationService/UpsertCatalog",
        "catalog.write",
        &[Admin, Service],
    ),
    rule(
        "/baton.v1.RecommendationService/UpsertArticles",
        "articles.write",
        &[Admin, Service],
    ),
    rule(
        "/baton.v1.RecommendationService/SetSynonyms",
        "articles.write",
        &[Admin, Service],
    ),
    rule(
        "/baton.v1.RecommendationService/SetActionRules",
        "actions.write",
        &[Admin, Service],
    ),
    rule(
        "/baton.v1.RecommendationService/ForgetCustomer",
        "customers.forget",
        &[Admin, Service],
    )
    .audited(targets::forget_customer),
    // Audit: served on every port; a tenant's administrators read its log.
    rule(
        "/baton.v1.AuditService/ListAuditRecords",
        "audit.read",
        &[Admin],
    ),
];

/// Services every caller reaches without credentials: health is what Kubernetes probes ask,
/// and it says nothing about anyone.
pub const ANONYMOUS_SERVICES: &[&str] = &["/grpc.health.v1.Health/"];

/// Services any authenticated caller reaches: reflection describes the public contract.
pub const AUTHENTICATED_SERVICES: &[&str] = &[
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// What the table says about a request path.
#[derive(Clone, Copy, Debug)]
pub enum Decision {
    /// No credentials needed.
    Anonymous,
    /// Any authenticated caller.
    AnyCaller,
    /// Callers holding one of the rule's roles.
    Rule(&'static Rule),
    /// Not in the table: refused, whoever asks (an RPC added without a row is closed).
    Unknown,
}

/// Looks `path` up.
pub fn decide(path: &str) -> Decision {
    if ANONYMOUS_SERVICES.iter().any(|p| path.starts_with(p)) {
        return Decision::Anonymous;
    }
    if AUTHENTICATED_SERVICES.iter().any(|p| path.starts_with(p)) {
        return Decision::AnyCaller;
    }
    TABLE
        .iter()
        .find(|r| r.path == path)
        .map_or(Decision::Unknown, Decision::Rule)
}

impl Rule {
    /// The roles as a set.
    pub fn roles(&self) -> Roles {
        Roles::of(self.roles)
    }
}

/// The table as Markdown, one row per RPC: what the README prints.
pub fn markdown() -> String {
    let mut out = String::from("| RPC | permission | ");
    out.push_str(
        &Role::ALL
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(" | "),
    );
    out.push_str(" |\n|---|---|");
    out.push_str(&"---|".repeat(Role::ALL.len()));
    out.push('\n');
    for rule in TABLE {
        let name = rule.path.trim_start_matches("/baton.v1.");
        out.push_str(&format!("| `{name}` | `{}` |", rule.permission));
        for role in Role::ALL {
            out.push_str(if rule.roles().contains(role) {
                " yes |"
            } else {
                " |"
            });
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    /// Every method of every `baton.v1` service, from the descriptor set the servers publish.
    fn contract_methods() -> Vec<String> {
        let set = prost_types::FileDescriptorSet::decode(baton_proto::FILE_DESCRIPTOR_SET)
            .expect("descriptor set decodes");
        let mut out = Vec::new();
        for file in set.file {
            if file.package() != "baton.v1" {
                continue;
            }
            for service in &file.service {
                for method in &service.method {
                    out.push(format!("/baton.v1.{}/{}", service.name(), method.name()));
                }
            }
        }
        out
    }

    #[test]
    fn every_rpc_of_the_contract_has_exactly_one_rule() {
        let methods = contract_methods();
        assert!(methods.len() > 20, "found {methods:?}");
        for m in &methods {
            let n = TABLE.iter().filter(|r| r.path == m).count();
            assert_eq!(n, 1, "{m} has {n} rules");
        }
        for r in TABLE {
            assert!(
                methods.iter().any(|m| m == r.path),
                "{} is not an RPC",
                r.path
            );
            assert!(!r.roles.is_empty(), "{} admits nobody", r.path);
        }
    }

    #[test]
    fn only_administrators_merge_unmerge_and_forget_on_behalf_of_people() {
        for path in [
            "/baton.v1.IdentityService/MergeProfiles",
            "/baton.v1.IdentityService/UnmergeProfile",
            "/baton.v1.RoutingService/ForgetCustomer",
        ] {
            let Decision::Rule(rule) = decide(path) else {
                panic!("{path} has a rule")
            };
            assert_eq!(rule.roles(), Roles::of(&[Role::Admin]), "{path}");
        }
        for rule in TABLE.iter().filter(|r| r.path.ends_with("/ForgetCustomer")) {
            assert!(!rule.roles().contains(Role::Agent), "{}", rule.path);
            assert!(!rule.roles().contains(Role::Gateway), "{}", rule.path);
        }
    }

    #[test]
    fn the_privileged_rpcs_and_only_they_are_audited_and_all_are_unary() {
        let audited: Vec<&str> = TABLE
            .iter()
            .filter(|r| r.audit.is_some())
            .map(|r| r.path.trim_start_matches("/baton.v1."))
            .collect();
        assert_eq!(
            audited,
            [
                "RoutingService/SetAgentState",
                "RoutingService/UpsertQueue",
                "RoutingService/OpenToken",
                "RoutingService/ForgetCustomer",
                "IdentityService/UpsertProfile",
                "IdentityService/MergeProfiles",
                "IdentityService/UnmergeProfile",
                "IdentityService/ForgetCustomer",
                "ContextService/ForgetCustomer",
                "RecommendationService/ForgetCustomer",
            ]
        );
        for rule in TABLE.iter().filter(|r| r.audit.is_some()) {
            assert!(!rule.stream, "{} is a stream", rule.path);
        }
        let Decision::Rule(read) = decide("/baton.v1.AuditService/ListAuditRecords") else {
            panic!("the audit log has a rule")
        };
        assert_eq!(read.roles(), Roles::of(&[Role::Admin]));
        assert_eq!(read.permission, "audit.read");
    }

    #[test]
    fn an_agent_setting_state_is_not_audited_a_supervisor_is() {
        let Decision::Rule(rule) = decide("/baton.v1.RoutingService/SetAgentState") else {
            panic!("SetAgentState has a rule")
        };
        let audit = rule.audit.expect("audited");
        let mut p = crate::Principal::for_tests();
        p.roles = Roles::of(&[Role::Agent]);
        assert!(!audit.records(&p));
        p.roles = Roles::of(&[Role::Agent, Role::Supervisor]);
        assert!(audit.records(&p));
    }

    #[test]
    fn health_is_open_reflection_needs_a_caller_and_the_unknown_is_closed() {
        assert!(matches!(
            decide("/grpc.health.v1.Health/Check"),
            Decision::Anonymous
        ));
        assert!(matches!(
            decide("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
            Decision::AnyCaller
        ));
        assert!(matches!(
            decide("/baton.v1.RoutingService/Nope"),
            Decision::Unknown
        ));
    }

    #[test]
    fn the_markdown_table_has_a_row_per_rpc() {
        let md = markdown();
        assert_eq!(md.lines().count(), TABLE.len() + 2);
        assert!(md.contains("| `RoutingService/StartContact` | `contacts.start` | yes |"));
    }
}
