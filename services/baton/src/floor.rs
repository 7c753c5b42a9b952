//! `baton queues` and `baton contact`: the floor as a supervisor sees it, from a terminal.

use std::{io::Write, time::Duration};

use baton_auth::Role;
use baton_proto::v1::{
    Channel, Contact, ContactState, GetContactRequest, HopKind, ListQueuesRequest, QueueStats,
    VerificationLevel, audience::Target,
};
use clap::Args;

use crate::client::{self, RoutingClientArgs};

/// What `queues` lists.
#[derive(Args, Debug)]
pub struct QueuesArgs {
    /// The tenant.
    #[arg(long)]
    pub tenant: String,
    /// Where routing is.
    #[command(flatten)]
    pub client: RoutingClientArgs,
}

/// Which contact `contact` shows.
#[derive(Args, Debug)]
pub struct ContactArgs {
    /// The tenant.
    #[arg(long)]
    pub tenant: String,
    /// The contact.
    pub contact_id: String,
    /// Where routing is.
    #[command(flatten)]
    pub client: RoutingClientArgs,
}

/// Reads of live figures: a few seconds at most.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Prints every queue of the tenant with its live figures, one line each.
pub async fn queues(args: &QueuesArgs, out: &mut dyn Write) -> Result<(), String> {
    let mut routing =
        client::routing(&args.client, &args.tenant, Role::Supervisor, TIMEOUT).await?;
    let mut queues = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = routing
            .list_queues(ListQueuesRequest {
                tenant_id: args.tenant.clone(),
                page_size: 500,
                page_token,
            })
            .await
            .map_err(|s| format!("listing queues refused: {} ({:?})", s.message(), s.code()))?
            .into_inner();
        queues.extend(page.queues);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    print_queues(&queues, out).map_err(|e| format!("output: {e}"))
}

/// The queues as a table.
pub fn print_queues(queues: &[QueueStats], out: &mut dyn Write) -> std::io::Result<()> {
    if queues.is_empty() {
        return writeln!(out, "no queues");
    }
    writeln!(
        out,
        "{:<24} {:>4} {:>7} {:>7} {:>11} {:>9}  {:<14} channels",
        "queue", "tier", "waiting", "offered", "oldest wait", "agents", "service level"
    )?;
    for q in queues {
        let queue = q.queue.clone().unwrap_or_default();
        let level = match &q.service_level {
            Some(sl) => format!(
                "{:.0}% of {}% {}",
                sl.achieved * 100.0,
                sl.target_percent,
                if sl.met { "met" } else { "missed" }
            ),
            None => "-".to_owned(),
        };
        let channels: Vec<String> = q.channels.iter().map(|c| channel_name(*c)).collect();
        writeln!(
            out,
            "{:<24} {:>4} {:>7} {:>7} {:>11} {:>9}  {:<14} {}",
            queue.queue_id,
            queue.tier,
            q.depth,
            q.offered,
            wait(q.oldest_wait_ms),
            format!("{}/{}", q.agents_available, q.agents_logged_in),
            level,
            channels.join(",")
        )?;
    }
    writeln!(
        out,
        "agents: available / with a desk open; oldest wait: the longest-waiting contact's"
    )
}

/// Prints one contact: where it is, who has it, how the customer was verified, and its path.
pub async fn contact(args: &ContactArgs, out: &mut dyn Write) -> Result<(), String> {
    let mut routing =
        client::routing(&args.client, &args.tenant, Role::Supervisor, TIMEOUT).await?;
    let contact = routing
        .get_contact(GetContactRequest {
            tenant_id: args.tenant.clone(),
            contact_id: args.contact_id.clone(),
        })
        .await
        .map_err(|s| format!("{} ({:?})", s.message(), s.code()))?
        .into_inner()
        .contact
        .ok_or("the service answered without the contact")?;
    print_contact(&contact, out).map_err(|e| format!("output: {e}"))
}

/// One contact, field by field, then its hops.
pub fn print_contact(c: &Contact, out: &mut dyn Write) -> std::io::Result<()> {
    let or_none = |s: &str| {
        if s.is_empty() {
            "-".to_owned()
        } else {
            s.to_owned()
        }
    };
    let state = ContactState::try_from(c.state).unwrap_or(ContactState::Unspecified);
    writeln!(out, "contact   {}", c.contact_id)?;
    writeln!(
        out,
        "state     {}",
        state
            .as_str_name()
            .trim_start_matches("CONTACT_STATE_")
            .to_lowercase()
    )?;
    writeln!(out, "channel   {}", channel_name(c.channel))?;
    writeln!(out, "customer  {}", or_none(&c.customer_id))?;
    let verification = c.verification.as_ref().map_or("-".to_owned(), |v| {
        let level = VerificationLevel::try_from(v.level).unwrap_or(VerificationLevel::Unspecified);
        let level = level
            .as_str_name()
            .trim_start_matches("VERIFICATION_LEVEL_")
            .to_lowercase();
        format!("{level} on {}", channel_name(v.channel))
    });
    writeln!(out, "verified  {verification}")?;
    writeln!(out, "queue     {} (tier {})", or_none(&c.queue_id), c.tier)?;
    writeln!(out, "agent     {}", or_none(&c.agent_id))?;
    if !c.holding_agent_id.is_empty() {
        writeln!(out, "holding   {}", c.holding_agent_id)?;
    }
    if let Some(at) = &c.requested_at {
        writeln!(out, "asked at  {at}")?;
    }
    if !c.intent.is_empty() || !c.utterance.is_empty() {
        writeln!(out, "said      {} {}", c.utterance, bracketed(&c.intent))?;
    }
    if let Some(h) = c.handover.as_ref().filter(|h| !h.summary.is_empty()) {
        writeln!(out, "handover  {}", h.summary)?;
    }
    writeln!(out, "path")?;
    for hop in &c.path {
        let kind = HopKind::try_from(hop.kind).unwrap_or(HopKind::Unspecified);
        let kind = kind
            .as_str_name()
            .trim_start_matches("HOP_KIND_")
            .to_lowercase();
        let to = match hop.to.as_ref().and_then(|a| a.target.as_ref()) {
            Some(Target::AgentId(a)) => format!("agent {a}"),
            Some(Target::Tier(t)) => format!("tier {t}"),
            Some(Target::QueueId(q)) => format!("queue {q}"),
            Some(Target::Channel(ch)) => format!("channel {}", channel_name(*ch)),
            None => "-".to_owned(),
        };
        let from = if hop.from_agent_id.is_empty() {
            String::new()
        } else {
            format!(" from {}", hop.from_agent_id)
        };
        let at = hop.at.as_ref().map(ToString::to_string).unwrap_or_default();
        writeln!(
            out,
            "  {:>2}. {kind:<15} {} to {to}{from}  {at}",
            hop.index,
            channel_name(hop.channel)
        )?;
    }
    Ok(())
}

fn bracketed(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!("[{s}]")
    }
}

/// A channel's name as the contract spells it, in lower case (`voice`, `chat`, ...).
fn channel_name(channel: i32) -> String {
    match Channel::try_from(channel).unwrap_or(Channel::Unspecified) {
        Channel::Unspecified => "-".to_owned(),
        known => known
            .as_str_name()
            .trim_start_matches("CHANNEL_")
            .to_lowercase(),
    }
}

/// A wait in milliseconds, as a person reads it.
fn wait(ms: u64) -> String {
    match ms {
        0 => "-".to_owned(),
        ms if ms < 60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        ms if ms < 3_600_000 => format!("{}m{:02}s", ms / 60_000, ms / 1000 % 60),
        ms => format!("{}h{:02}m", ms / 3_600_000, ms / 60_000 % 60),
    }
}

#[cfg(test)]
mod tests {
    use baton_proto::v1::{Audience, Hop, Queue, ServiceLevel, Verification};

    use super::*;

    #[test]
    fn waits_read_as_seconds_minutes_or_hours() {
        assert_eq!(wait(0), "-");
        assert_eq!(wait(1_500), "1.5 s");
        assert_eq!(wait(125_000), "2m05s");
        assert_eq!(wait(3_900_000), "1h05m");
    }

    #[test]
    fn a_queue_line_shows_its_figures() {
        let q = QueueStats {
            queue: Some(Queue {
                queue_id: "billing".into(),
                tier: 1,
                ..Default::default()
            }),
            channels: vec![Channel::Voice as i32, Channel::Chat as i32],
            depth: 4,
            offered: 1,
            oldest_wait_ms: 95_000,
            agents_logged_in: 3,
            agents_available: 1,
            service_level: Some(ServiceLevel {
                target_percent: 80,
                achieved: 0.75,
                met: false,
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut out = Vec::new();
        print_queues(&[q], &mut out).expect("printed");
        let text = String::from_utf8(out).expect("utf-8");
        let line = text.lines().nth(1).expect("a line per queue");
        for part in [
            "billing",
            " 4 ",
            "1m35s",
            "1/3",
            "75% of 80% missed",
            "voice,chat",
        ] {
            assert!(line.contains(part), "{part:?} in {line:?}");
        }
    }

    #[test]
    fn a_contact_shows_its_state_verification_and_path() {
        let c = Contact {
            contact_id: "con_1".into(),
            customer_id: "cus_1".into(),
            channel: Channel::Chat as i32,
            state: ContactState::Connected as i32,
            agent_id: "ann".into(),
            tier: 2,
            verification: Some(Verification {
                level: VerificationLevel::Verified as i32,
                channel: Channel::Voice as i32,
                ..Default::default()
            }),
            path: vec![Hop {
                index: 0,
                kind: HopKind::Start as i32,
                channel: Channel::Voice as i32,
                to: Some(Audience {
                    target: Some(Target::Tier(1)),
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut out = Vec::new();
        print_contact(&c, &mut out).expect("printed");
        let text = String::from_utf8(out).expect("utf-8");
        for part in [
            "state     connected",
            "verified  verified on voice",
            "agent     ann",
            "0. start",
            "to tier 1",
        ] {
            assert!(text.contains(part), "{part:?} in {text}");
        }
    }
}
