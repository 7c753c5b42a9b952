//! Who is opening a token, and whether they are in its audience.

use baton_proto::v1::audience::Target;
use baton_proto::v1::{Audience, Channel};

use crate::error::OpenError;

/// What the caller of [`KeyRing::open`](crate::KeyRing::open) vouches for: the tenant it acts
/// for and who it is. Both come from the caller's own authentication, never from the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectations {
    /// The tenant the opener acts for; the token must belong to it. Empty never matches.
    pub tenant_id: String,
    /// Who is opening.
    pub opener: Opener,
}

/// Who is opening a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opener {
    /// A human agent, through a desktop.
    Agent {
        /// The agent's id; matches an audience naming this agent.
        agent_id: String,
        /// The agent's tier; matches an audience naming this tier.
        tier: u32,
        /// Queues the agent serves; an audience naming one of them matches.
        queue_ids: Vec<String>,
        /// Channels the agent serves; an audience naming one of them matches.
        channels: Vec<Channel>,
    },
    /// An automated channel system (an IVR, a bot) serving one channel.
    ChannelSystem {
        /// The channel it serves; matches an audience naming this channel.
        channel: Channel,
    },
    /// A supervisor of the token's tenant: in every audience the token can name (the caller
    /// checked the supervisor's role; the tenant is still checked).
    Supervisor,
}

/// Checks that `opener` is in `audience`. Fails closed: no audience, or an audience naming an
/// empty id, tier 0 or an unspecified channel, matches nobody.
pub(crate) fn check_audience(
    audience: Option<&Audience>,
    opener: &Opener,
) -> Result<(), OpenError> {
    let denied = |reason| Err(OpenError::WrongAudience { reason });
    let Some(target) = audience.and_then(|a| a.target.as_ref()) else {
        return denied("token names no audience");
    };
    match (target, opener) {
        (_, Opener::Supervisor) => Ok(()),
        (Target::Channel(channel), opener) => {
            let named = *channel != Channel::Unspecified as i32;
            let serves = match opener {
                Opener::Agent { channels, .. } => channels.iter().any(|c| *c as i32 == *channel),
                Opener::ChannelSystem { channel: own } => *own as i32 == *channel,
                Opener::Supervisor => true,
            };
            if named && serves {
                Ok(())
            } else {
                denied("token is for a channel this opener does not serve")
            }
        }
        (_, Opener::ChannelSystem { .. }) => {
            denied("token is for an agent, tier or queue, not a channel system")
        }
        (Target::AgentId(id), Opener::Agent { agent_id, .. }) => {
            if !id.is_empty() && id == agent_id {
                Ok(())
            } else {
                denied("token is for another agent")
            }
        }
        (Target::Tier(tier), Opener::Agent { tier: own, .. }) => {
            if *tier != 0 && tier == own {
                Ok(())
            } else {
                denied("token is for another tier")
            }
        }
        (Target::QueueId(queue), Opener::Agent { queue_ids, .. }) => {
            if !queue.is_empty() && queue_ids.iter().any(|q| q == queue) {
                Ok(())
            } else {
                denied("token is for a queue this agent does not serve")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent() -> Opener {
        Opener::Agent {
            agent_id: "a-1".into(),
            tier: 2,
            queue_ids: vec!["billing".into()],
            channels: vec![Channel::Chat],
        }
    }

    fn check(target: Target, opener: &Opener) -> Result<(), OpenError> {
        check_audience(
            Some(&Audience {
                target: Some(target),
            }),
            opener,
        )
    }

    #[test]
    fn agent_matches_each_kind_of_audience() {
        let a = agent();
        assert_eq!(check(Target::AgentId("a-1".into()), &a), Ok(()));
        assert_eq!(check(Target::Tier(2), &a), Ok(()));
        assert_eq!(check(Target::QueueId("billing".into()), &a), Ok(()));
        assert_eq!(check(Target::Channel(Channel::Chat as i32), &a), Ok(()));
    }

    #[test]
    fn unset_values_match_nobody() {
        let blank = Opener::Agent {
            agent_id: String::new(),
            tier: 0,
            queue_ids: vec![String::new()],
            channels: vec![Channel::Unspecified],
        };
        for target in [
            Target::AgentId(String::new()),
            Target::Tier(0),
            Target::QueueId(String::new()),
            Target::Channel(Channel::Unspecified as i32),
        ] {
            assert!(check(target.clone(), &blank).is_err(), "{target:?}");
        }
        assert!(check_audience(None, &agent()).is_err());
        assert!(check_audience(Some(&Audience { target: None }), &agent()).is_err());
    }

    #[test]
    fn channel_system_opens_only_its_channel() {
        let ivr = Opener::ChannelSystem {
            channel: Channel::Voice,
        };
        assert_eq!(check(Target::Channel(Channel::Voice as i32), &ivr), Ok(()));
        assert!(check(Target::Channel(Channel::Chat as i32), &ivr).is_err());
        assert!(check(Target::Tier(1), &ivr).is_err());
        assert!(check(Target::AgentId("a-1".into()), &ivr).is_err());
        assert!(check(Target::QueueId("billing".into()), &ivr).is_err());
    }

    #[test]
    fn a_supervisor_is_in_every_audience_but_none() {
        for target in [
            Target::AgentId("a-1".into()),
            Target::Tier(2),
            Target::QueueId("billing".into()),
            Target::Channel(Channel::Chat as i32),
        ] {
            assert_eq!(check(target, &Opener::Supervisor), Ok(()));
        }
        assert!(check_audience(None, &Opener::Supervisor).is_err());
    }
}
