//! The greeting an agent can say or a bot can show: it tells the customer they are known.
//!
//! Pure: built from the tenure, the last finished contact and the likely reasons, at the time
//! the caller passes in. It quotes no free text beyond [`MAX_QUOTED_CHARS`] characters, and
//! `facts` lists every fact it used, so an agent can check the sentence before saying it.

use baton_proto::v1::{ContactReason, ContextSnapshot, Disposition, Greeting, Interaction};
use baton_runtime::time;

use super::calendar::{count_of, date_of, whole_months};
use super::channels::{channel_name, spoke_on};
use super::keywords;
use super::reason_code::ReasonCode;
use super::text::{clip, words};

/// Free text (a summary, an intent, a name) is cut to this many characters.
pub const MAX_QUOTED_CHARS: usize = 60;

/// What the greeting is built from.
#[derive(Clone, Copy, Debug)]
pub struct GreetingInput<'a> {
    /// The customer's given name; empty to greet without one.
    pub given_name: &'a str,
    /// Whether the contact's customer is known at all.
    pub identified: bool,
    /// The customer's history.
    pub snapshot: &'a ContextSnapshot,
    /// The likely reasons, most likely first.
    pub reasons: &'a [ContactReason],
    /// The current time, seconds since the epoch.
    pub now: i64,
}

/// The greeting for this contact.
pub fn greet(input: &GreetingInput<'_>) -> Greeting {
    let name = clip(input.given_name.trim(), MAX_QUOTED_CHARS);
    let since = input
        .snapshot
        .tenure
        .as_ref()
        .and_then(|t| t.customer_since.as_ref())
        .map(|t| t.seconds)
        .filter(|since| input.identified && *since <= input.now);
    let last = if input.identified {
        last_finished_contact(input.snapshot)
    } else {
        None
    };

    if since.is_none() && last.is_none() {
        let text = if name.is_empty() {
            "Welcome! How can we help today?".to_owned()
        } else {
            format!("Welcome, {name}! How can we help today?")
        };
        return Greeting {
            text,
            facts: Vec::new(),
        };
    }

    let mut sentences = vec![if name.is_empty() {
        "Welcome back.".to_owned()
    } else {
        format!("Welcome back, {name}.")
    }];
    let mut facts = Vec::new();

    if let Some(tenure) = since.and_then(|since| tenure(since, input.now)) {
        sentences.push(format!("Thank you for being with us for {tenure}."));
        facts.push(format!("customer for {tenure}"));
    }

    if let Some(last) = last {
        let on = spoke_on(last.channel());
        let topic = topic(last, input.reasons);
        match (on.is_empty(), &topic) {
            (false, Some(topic)) => {
                sentences.push(format!("Last time we spoke {on} about {topic}."))
            }
            (false, None) => sentences.push(format!("Last time we spoke {on}.")),
            (true, Some(topic)) => sentences.push(format!("Last time we spoke about {topic}.")),
            (true, None) => {}
        }
        let when = last
            .started_at
            .as_ref()
            .or(last.ended_at.as_ref())
            .map(|t| date_of(t.seconds).to_string());
        let channel = channel_name(last.channel());
        let contact = [channel.to_owned(), when.unwrap_or_default()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
        if !contact.is_empty() {
            facts.push(format!("last contact: {contact}"));
        }
        if let Some(topic) = topic {
            facts.push(format!("last topic: {topic}"));
        }
    }

    Greeting {
        text: sentences.join(" "),
        facts,
    }
}

/// "10 years", "1 year", "8 months"; `None` under a month (nothing worth thanking for yet).
fn tenure(since: i64, now: i64) -> Option<String> {
    let months = whole_months(since, now);
    match months {
        0 => None,
        1..=11 => Some(count_of(months, "month")),
        _ => Some(count_of(months / 12, "year")),
    }
}

/// The most recent contact that has ended (an unended one is most likely this contact).
/// Compared to the nanosecond; on a tie the one listed first wins, since the snapshot lists
/// interactions newest first (`max_by_key` keeps the last of equals, hence the `rev`).
fn last_finished_contact(snapshot: &ContextSnapshot) -> Option<&Interaction> {
    snapshot
        .recent_interactions
        .iter()
        .rev()
        .filter(|i| i.ended_at.is_some())
        .max_by_key(|i| {
            i.started_at
                .as_ref()
                .or(i.ended_at.as_ref())
                .map_or((i64::MIN, i32::MIN), time::sort_key)
        })
}

/// What the last contact was about. While it is unresolved, the top likely reason says it best
/// (it is what the customer is most likely back for); else the contact's own intent, the
/// keywords of what the customer said, and last the summary, quoted short.
fn topic(last: &Interaction, reasons: &[ContactReason]) -> Option<String> {
    if last.disposition() != Disposition::Resolved {
        let top = reasons
            .iter()
            .filter_map(|r| ReasonCode::from_code(&r.code))
            .find(|r| *r != ReasonCode::RepeatContact);
        if let Some(reason) = top {
            return Some(reason.topic().to_owned());
        }
    }
    if let Some(reason) = keywords::reason_for_intent(&last.intent) {
        return Some(reason.topic().to_owned());
    }
    let intent = last.intent.trim();
    if !intent.is_empty() {
        return Some(clip(&intent.replace('_', " "), MAX_QUOTED_CHARS));
    }
    if let Some(found) = keywords::find(&words(&last.utterance)).first() {
        return Some(found.reason.topic().to_owned());
    }
    let summary = last.summary.trim();
    if !summary.is_empty() {
        return Some(format!("\"{}\"", clip(summary, MAX_QUOTED_CHARS)));
    }
    None
}

#[cfg(test)]
#[path = "greeting_tests.rs"]
mod tests;
