//! Who a call is from: the principal every handler sees.

use std::{collections::BTreeSet, fmt, sync::Arc};

use tonic::{Request, Status};

/// What a caller may do, by the kind of caller it is. One caller may hold several.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// A channel gateway, IVR or bot: starts, transfers and ends contacts, opens the tokens
    /// addressed to its channel, tier or queue.
    Gateway,
    /// An agent desk: holds its own agent session, opens the tokens addressed to it, writes
    /// notes on and transfers the contacts it holds. Always has an agent id.
    Agent,
    /// A supervisor: sets any agent's state, shapes queues, reads contacts and tokens of its
    /// tenants.
    Supervisor,
    /// A tenant's administrator: merges, unmerges and forgets customers, imports profiles and
    /// catalogs, reads the audit log.
    Admin,
    /// Another baton service (routing calling identity, context and recommendation).
    Service,
}

impl Role {
    /// Every role, in the order the README's table lists them.
    pub const ALL: [Role; 5] = [
        Role::Gateway,
        Role::Agent,
        Role::Supervisor,
        Role::Admin,
        Role::Service,
    ];

    /// The name used in JWT claims, certificate SANs and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
            Role::Service => "service",
        }
    }

    /// The role named `name`, if there is one.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of roles.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Roles(u8);

impl Roles {
    /// No role at all.
    pub const NONE: Roles = Roles(0);

    /// The set holding `roles`.
    pub fn of(roles: &[Role]) -> Roles {
        Roles(roles.iter().fold(0, |bits, r| bits | r.bit()))
    }

    /// Whether `role` is in the set.
    pub fn contains(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    /// Whether the two sets share a role.
    pub fn intersects(self, other: Roles) -> bool {
        self.0 & other.0 != 0
    }

    /// The roles, in [`Role::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.contains(*r))
    }

    /// `gateway, agent`: for messages.
    pub fn names(self) -> String {
        self.iter().map(Role::as_str).collect::<Vec<_>>().join(", ")
    }
}

impl fmt::Debug for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// The tenants a caller may act for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tenants {
    /// Every tenant: only other baton services and platform operators are given this.
    Any,
    /// These tenants and no other.
    Only(BTreeSet<String>),
}

impl Tenants {
    /// Exactly one tenant.
    pub fn one(tenant: &str) -> Tenants {
        Tenants::Only(BTreeSet::from([tenant.to_owned()]))
    }

    /// Whether `tenant` is among them.
    pub fn admits(&self, tenant: &str) -> bool {
        match self {
            Tenants::Any => true,
            Tenants::Only(set) => set.contains(tenant),
        }
    }
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Who it is, unique within its issuer: the JWT `sub`, or the id part of a certificate's
    /// SAN. Idempotency keys are scoped to it, audit records name it.
    pub subject: String,
    /// The tenants it may act for.
    pub tenants: Tenants,
    /// What it may do.
    pub roles: Roles,
    /// The agent it is, for an agent desk: the only agent whose session it may hold and whose
    /// tokens it may open.
    pub agent_id: Option<String>,
    /// How it proved who it is, for audit records and logs.
    pub method: AuthMethod,
}

/// How a caller proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// A bearer JWT verified against a configured key.
    Jwt,
    /// A client certificate verified against the configured CA during the TLS handshake.
    Certificate,
    /// Nobody: the explicit development switch for anonymous callers on loopback.
    AnonymousDevelopment,
    /// Installed by a test harness in front of a service (never by the server stack).
    Assumed,
}

impl AuthMethod {
    /// `jwt`, `certificate`, ...: for logs and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Jwt => "jwt",
            AuthMethod::Certificate => "certificate",
            AuthMethod::AnonymousDevelopment => "anonymous-development",
            AuthMethod::Assumed => "assumed",
        }
    }
}

impl Principal {
    /// Whether the principal holds `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(role)
    }

    /// The tenant a request is for: the one it names, if the principal may act for it, or the
    /// principal's only tenant when the request names none. A request never widens what the
    /// principal was given.
    pub fn tenant(&self, requested: &str) -> Result<String, Status> {
        if requested.is_empty() {
            return match &self.tenants {
                Tenants::Only(set) if set.len() == 1 => {
                    Ok(set.iter().next().cloned().unwrap_or_default())
                }
                _ => Err(<Status as tonic_types::StatusExt>::with_error_details(
                    tonic::Code::InvalidArgument,
                    "tenant_id is required: the caller may act for more than one tenant",
                    tonic_types::ErrorDetails::with_bad_request_violation(
                        "tenant_id",
                        "is required when the caller may act for more than one tenant",
                    ),
                )),
            };
        }
        if self.tenants.admits(requested) {
            Ok(requested.to_owned())
        } else {
            // Tenant ids are at most 64 bytes; a longer one is echoed cut, so a refusal stays
            // small whatever was sent (it is decided before the request is validated).
            Err(Status::permission_denied(format!(
                "caller {} may not act for tenant {}",
                self.subject,
                crate::jwt::truncate(requested, 64)
            )))
        }
    }

    /// Checks that an agent-only principal acts as itself: `agent_id` must be its own agent
    /// id. Supervisors, admins and services may act for any agent of their tenants; other
    /// principals for none.
    pub fn acts_as_agent(&self, agent_id: &str) -> Result<(), Status> {
        if self.has(Role::Supervisor) || self.has(Role::Admin) || self.has(Role::Service) {
            return Ok(());
        }
        match &self.agent_id {
            Some(own) if self.has(Role::Agent) && own == agent_id => Ok(()),
            Some(own) if self.has(Role::Agent) => Err(Status::permission_denied(format!(
                "agent {own} may not act as agent {agent_id}"
            ))),
            _ => Err(Status::permission_denied(format!(
                "caller {} is not agent {agent_id}",
                self.subject
            ))),
        }
    }

    /// The idempotency key as stored: scoped to the caller, so one caller can never replay
    /// another's answer by guessing its key.
    pub fn scoped_key(&self, idempotency_key: &str) -> String {
        format!("{}\u{1f}{idempotency_key}", self.subject)
    }

    /// A principal a test harness installs in front of a service: every role, every tenant.
    pub fn for_tests() -> Principal {
        Principal {
            subject: "test-harness".to_owned(),
            tenants: Tenants::Any,
            roles: Roles::of(&Role::ALL),
            agent_id: None,
            method: AuthMethod::Assumed,
        }
    }
}

/// The authenticated caller of `request`, as the server stack's auth layer left it. A request
/// that never passed that layer has none and is refused: handlers fail closed.
pub fn caller<T>(request: &Request<T>) -> Result<Arc<Principal>, Status> {
    request
        .extensions()
        .get::<Arc<Principal>>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("no authenticated caller"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(tenants: Tenants) -> Principal {
        Principal {
            subject: "desk-ann".into(),
            tenants,
            roles: Roles::of(&[Role::Agent]),
            agent_id: Some("ann".into()),
            method: AuthMethod::Jwt,
        }
    }

    #[test]
    fn a_request_never_widens_the_tenants_of_its_caller() {
        let p = agent(Tenants::one("acme"));
        assert_eq!(p.tenant("acme").expect("own tenant"), "acme");
        assert_eq!(p.tenant("").expect("the only tenant"), "acme");
        let err = p.tenant("globex").expect_err("another tenant");
        assert_eq!(err.code(), tonic::Code::PermissionDenied);
        assert!(err.message().contains("globex"), "{}", err.message());
        let err = p.tenant(&"x".repeat(100_000)).expect_err("a huge tenant");
        assert_eq!(err.code(), tonic::Code::PermissionDenied);
        assert!(err.message().len() < 256, "{} bytes", err.message().len());

        let two = agent(Tenants::Only(["a".into(), "b".into()].into()));
        assert_eq!(
            two.tenant("").expect_err("ambiguous").code(),
            tonic::Code::InvalidArgument
        );
        assert_eq!(Principal::for_tests().tenant("any").expect("any"), "any");
    }

    #[test]
    fn an_agent_acts_only_as_itself() {
        let p = agent(Tenants::one("acme"));
        p.acts_as_agent("ann").expect("itself");
        let err = p.acts_as_agent("bob").expect_err("another agent");
        assert_eq!(err.code(), tonic::Code::PermissionDenied);
        let mut sup = agent(Tenants::one("acme"));
        sup.roles = Roles::of(&[Role::Supervisor]);
        sup.acts_as_agent("bob")
            .expect("supervisors act for agents");
        let mut gw = agent(Tenants::one("acme"));
        gw.roles = Roles::of(&[Role::Gateway]);
        gw.agent_id = None;
        assert!(gw.acts_as_agent("ann").is_err());
    }

    #[test]
    fn keys_of_different_callers_never_collide() {
        let a = agent(Tenants::Any);
        let mut b = a.clone();
        b.subject = "desk-bob".into();
        assert_ne!(a.scoped_key("k"), b.scoped_key("k"));
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
        let set = Roles::of(&[Role::Admin, Role::Gateway]);
        assert_eq!(set.names(), "gateway, admin");
        assert!(set.intersects(Roles::of(&[Role::Admin])));
        assert!(!set.intersects(Roles::of(&[Role::Agent])));
    }
}
