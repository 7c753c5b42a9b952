//! What a caller may do within a call. The auth layer already decided which roles may call each
//! RPC; this decides, against the request and the contact it names, what the caller may do in
//! it: the tenant it acts for, the agent it may act as, and which contacts an agent may touch.
//!
//! Three kinds of caller, by the broadest role held:
//!
//! - supervisors, admins and services act for any agent of their tenants;
//! - an agent desk (the agent role and none of those) acts only as its own agent, and only on
//!   the contacts that are with it;
//! - anyone else (a gateway) never acts as an agent.

use baton_auth::{Principal, Role};
use baton_proto::v1::SetAgentStateRequest;
use baton_proto::v1::open_token_request::Opener;
use tonic::Status;

use crate::domain::record::ContactRecord;
use crate::error::Error;

/// How far a caller may act for agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Acting<'a> {
    /// For any agent of its tenants: a supervisor, an admin, another baton service.
    AnyAgent,
    /// Only as this agent: an agent desk.
    Agent(&'a str),
    /// As no agent: a gateway.
    NoAgent,
}

/// How far `caller` may act for agents.
pub(super) fn acting(caller: &Principal) -> Acting<'_> {
    if caller.has(Role::Supervisor) || caller.has(Role::Admin) || caller.has(Role::Service) {
        return Acting::AnyAgent;
    }
    match &caller.agent_id {
        Some(own) if caller.has(Role::Agent) && !own.is_empty() => Acting::Agent(own),
        _ => Acting::NoAgent,
    }
}

/// Whether `caller` is an agent desk, whose requests are limited to its own contacts.
pub(super) fn is_desk(caller: &Principal) -> bool {
    matches!(acting(caller), Acting::Agent(_))
}

/// Checks the agent a request acts as (`agent_id`, `from_agent_id`), and fills in an agent
/// desk's own id when the request names none.
pub(super) fn act_as(caller: &Principal, agent_id: &mut String) -> Result<(), Status> {
    match acting(caller) {
        Acting::AnyAgent => Ok(()),
        Acting::Agent(own) if agent_id.is_empty() => {
            own.clone_into(agent_id);
            Ok(())
        }
        Acting::Agent(_) => caller.acts_as_agent(agent_id),
        Acting::NoAgent if agent_id.is_empty() => Ok(()),
        Acting::NoAgent => Err(Status::permission_denied(format!(
            "caller {} is not an agent and may not act as agent {agent_id}",
            caller.subject
        ))),
    }
}

/// Checks who a caller opens a token as, and fills in an agent desk's own id when the request
/// names nobody: an agent desk opens only as itself; a gateway only as a channel system, never
/// as an agent; supervisors, admins and services as any agent or channel of their tenants.
pub(super) fn opener_of(caller: &Principal, opener: &mut Option<Opener>) -> Result<(), Status> {
    // Opening as a supervisor, whatever the audience, takes the role itself; a supervisor who
    // names nobody opens as one.
    match &*opener {
        Some(Opener::Supervisor(_)) if !caller.has(Role::Supervisor) => {
            return Err(Status::permission_denied(format!(
                "caller {} is not a supervisor and may not open tokens as one",
                caller.subject
            )));
        }
        None if caller.has(Role::Supervisor) && !is_desk(caller) => {
            *opener = Some(Opener::Supervisor(true));
            return Ok(());
        }
        _ => {}
    }
    match (acting(caller), &*opener) {
        (Acting::AnyAgent, _) => Ok(()),
        (Acting::Agent(own), None) => {
            *opener = Some(Opener::AgentId(own.to_owned()));
            Ok(())
        }
        (Acting::Agent(own), Some(Opener::AgentId(named))) if named == own => Ok(()),
        (Acting::Agent(own), Some(Opener::AgentId(named))) => Err(Status::permission_denied(
            format!("agent {own} opens tokens only as itself, not as agent {named}"),
        )),
        (Acting::Agent(own), Some(Opener::Channel(_) | Opener::Supervisor(_))) => {
            Err(Status::permission_denied(format!(
                "agent {own} opens tokens only as itself, not as a channel system or supervisor"
            )))
        }
        (Acting::NoAgent, Some(Opener::AgentId(named))) => Err(Status::permission_denied(format!(
            "caller {} is not an agent and may not open tokens as agent {named}",
            caller.subject
        ))),
        (Acting::NoAgent, _) => Ok(()),
    }
}

/// What an agent desk may change about itself: its presence, nothing else. Names the fields
/// of the request that need a supervisor or admin.
pub(super) fn may_set_agent(caller: &Principal, r: &SetAgentStateRequest) -> Result<(), Error> {
    let Acting::Agent(own) = acting(caller) else {
        return Ok(());
    };
    let changed: Vec<&str> = [
        ("display name", r.display_name.is_some()),
        ("skills", r.skills.is_some()),
        ("tier", r.tier.is_some()),
        ("capacities", r.capacities.is_some()),
        ("queues", r.queues.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    if changed.is_empty() {
        return Ok(());
    }
    Err(Error::PermissionDenied(format!(
        "agent {own} may change only its own presence: changing {} needs supervisor or admin",
        changed.join(", ")
    )))
}

/// An agent desk may transfer only a contact offered or connected to it or held by it.
pub(super) fn may_transfer(caller: &Principal, record: &ContactRecord) -> Result<(), Error> {
    match acting(caller) {
        Acting::Agent(own) if !record.is_with(own) => Err(Error::PermissionDenied(format!(
            "agent {own} may transfer only contacts offered to, connected to or held by it, \
             and contact {} is not",
            record.contact_id()
        ))),
        _ => Ok(()),
    }
}

/// An agent desk may end, and write notes on, only a contact it holds (connected to it, or
/// held by it during a warm transfer).
pub(super) fn may_handle(caller: &Principal, record: &ContactRecord) -> Result<(), Error> {
    match acting(caller) {
        Acting::Agent(own) if !record.is_held_by(own) => Err(Error::PermissionDenied(format!(
            "agent {own} does not hold contact {}",
            record.contact_id()
        ))),
        _ => Ok(()),
    }
}

/// An agent desk may read only its own contacts: with it now, or ended while with it.
pub(super) fn may_read(caller: &Principal, record: &ContactRecord) -> Result<(), Error> {
    match acting(caller) {
        Acting::Agent(own) if !record.belongs_to(own) => Err(Error::PermissionDenied(format!(
            "contact {} is not agent {own}'s",
            record.contact_id()
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use baton_auth::{AuthMethod, Roles, Tenants};
    use baton_proto::v1::{Contact, ContactState};
    use tonic::Code;

    use super::*;

    fn principal(roles: &[Role], agent_id: Option<&str>) -> Principal {
        Principal {
            subject: "p".into(),
            tenants: Tenants::one("acme"),
            roles: Roles::of(roles),
            agent_id: agent_id.map(str::to_owned),
            method: AuthMethod::Jwt,
        }
    }

    #[test]
    fn the_broadest_role_decides_who_a_caller_may_act_as() {
        let ann = principal(&[Role::Agent], Some("ann"));
        let gateway = principal(&[Role::Gateway], None);
        let supervisor = principal(&[Role::Supervisor, Role::Agent], Some("sue"));
        assert_eq!(acting(&ann), Acting::Agent("ann"));
        assert_eq!(acting(&gateway), Acting::NoAgent);
        assert_eq!(acting(&supervisor), Acting::AnyAgent);
        assert_eq!(acting(&principal(&[Role::Agent], None)), Acting::NoAgent);
        assert_eq!(
            acting(&principal(&[Role::Gateway, Role::Agent], Some("ann"))),
            Acting::Agent("ann")
        );
    }

    #[test]
    fn an_agent_acts_as_itself_a_gateway_as_nobody_a_supervisor_as_anyone() {
        let ann = principal(&[Role::Agent], Some("ann"));
        let mut named = String::new();
        act_as(&ann, &mut named).expect("filled in");
        assert_eq!(named, "ann");
        act_as(&ann, &mut "ann".to_owned()).expect("itself");
        let err = act_as(&ann, &mut "bob".to_owned()).expect_err("another agent");
        assert_eq!(err.code(), Code::PermissionDenied);

        let gateway = principal(&[Role::Gateway], None);
        let mut none = String::new();
        act_as(&gateway, &mut none).expect("as nobody");
        assert_eq!(none, "");
        let err = act_as(&gateway, &mut "ann".to_owned()).expect_err("as an agent");
        assert_eq!(err.code(), Code::PermissionDenied);
        assert!(err.message().contains("not an agent"), "{}", err.message());

        let supervisor = principal(&[Role::Supervisor], None);
        act_as(&supervisor, &mut "bob".to_owned()).expect("for any agent");
    }

    #[test]
    fn an_agent_opens_tokens_as_itself_and_a_gateway_never_as_an_agent() {
        let ann = principal(&[Role::Agent], Some("ann"));
        let mut opener = None;
        opener_of(&ann, &mut opener).expect("filled in");
        assert_eq!(opener, Some(Opener::AgentId("ann".into())));
        for other in [Opener::AgentId("bob".into()), Opener::Channel(1)] {
            let err = opener_of(&ann, &mut Some(other)).expect_err("not itself");
            assert_eq!(err.code(), Code::PermissionDenied);
        }
        let gateway = principal(&[Role::Gateway], None);
        opener_of(&gateway, &mut Some(Opener::Channel(1))).expect("its channel");
        let err =
            opener_of(&gateway, &mut Some(Opener::AgentId("ann".into()))).expect_err("as an agent");
        assert_eq!(err.code(), Code::PermissionDenied);
        let supervisor = principal(&[Role::Supervisor], None);
        opener_of(&supervisor, &mut Some(Opener::AgentId("ann".into()))).expect("any agent");
    }

    #[test]
    fn an_agent_changes_only_its_presence() {
        let ann = principal(&[Role::Agent], Some("ann"));
        let presence = SetAgentStateRequest {
            agent_id: "ann".into(),
            presence: 2,
            ..SetAgentStateRequest::default()
        };
        may_set_agent(&ann, &presence).expect("presence");
        let promoted = SetAgentStateRequest {
            tier: Some(3),
            skills: Some(Default::default()),
            ..presence.clone()
        };
        let Err(Error::PermissionDenied(message)) = may_set_agent(&ann, &promoted) else {
            panic!("skills and tier need a supervisor");
        };
        assert!(message.contains("skills, tier"), "{message}");
        assert!(message.contains("supervisor or admin"), "{message}");
        let supervisor = principal(&[Role::Supervisor], None);
        may_set_agent(&supervisor, &promoted).expect("a supervisor may");
    }

    #[test]
    fn an_agent_touches_only_the_contacts_that_are_with_it() {
        let ann = principal(&[Role::Agent], Some("ann"));
        let record = |state: ContactState, agent: &str| ContactRecord {
            contact: Contact {
                contact_id: "con_1".into(),
                state: state as i32,
                agent_id: agent.into(),
                ..Contact::default()
            },
            ..ContactRecord::default()
        };
        let offered = record(ContactState::Offered, "ann");
        may_transfer(&ann, &offered).expect("offered to ann");
        assert!(may_handle(&ann, &offered).is_err(), "not held yet");
        let connected = record(ContactState::Connected, "ann");
        may_handle(&ann, &connected).expect("held");
        may_read(&ann, &connected).expect("hers");
        let bobs = record(ContactState::Connected, "bob");
        for refused in [
            may_transfer(&ann, &bobs),
            may_handle(&ann, &bobs),
            may_read(&ann, &bobs),
        ] {
            assert!(matches!(refused, Err(Error::PermissionDenied(_))));
        }
        let gateway = principal(&[Role::Gateway], None);
        may_transfer(&gateway, &bobs).expect("gateways move any contact");
        may_read(&gateway, &bobs).expect("and read it");
    }
}
