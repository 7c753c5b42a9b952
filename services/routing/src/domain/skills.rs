//! Skill names: one spelling per skill, so an agent with "Billing" takes contacts needing
//! "billing".
//!
//! The contract (`Skill.name` in common.proto) says how a name is written: [`normalize`]
//! trims it, lower-cases it and joins its words with `-`; what is left must be
//! [`check`]ed against the grammar, letters `a-z` and digits `0-9` in words joined by single
//! `-`, `_` or `.`. Validation refuses names that break it; the state machine normalizes
//! every name it is given or reloads, so names compare as plain strings everywhere else.

use std::fmt;

use baton_proto::v1::{Skill, SkillRequirement};

use crate::domain::matching::merge_requirements;

/// Longest skill name, in bytes, as sent.
pub const MAX_LEN: usize = 64;

/// The rule a normalized skill name breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broken {
    /// Nothing is left after trimming.
    Empty,
    /// A character other than `a-z`, `0-9`, `-`, `_` and `.`.
    Character(char),
    /// A separator (`-`, `_`, `.`) at the start or the end, or next to another one.
    Separator,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("is required"),
            Self::Character(c) => write!(
                f,
                "must be a-z, 0-9, '-', '_' or '.' once trimmed and lower-cased, not {c:?}"
            ),
            Self::Separator => f.write_str(
                "must start and end with a-z or 0-9, with one '-', '_' or '.' at a time between",
            ),
        }
    }
}

/// A skill name as the contract spells it: surrounding whitespace removed, letters
/// lower-cased, each run of inner whitespace replaced by one `-`. Applying it twice changes
/// nothing more. The result may still break the grammar ([`check`]).
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, word) in name.split_whitespace().enumerate() {
        if i > 0 {
            out.push('-');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

/// Whether a normalized name keeps the grammar: words of `a-z` and `0-9` joined by single
/// `-`, `_` or `.`.
pub fn check(name: &str) -> Result<(), Broken> {
    if name.is_empty() {
        return Err(Broken::Empty);
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || is_separator(*c)))
    {
        return Err(Broken::Character(c));
    }
    let bytes = name.as_bytes();
    let doubled = bytes
        .windows(2)
        .any(|w| is_separator(char::from(w[0])) && is_separator(char::from(w[1])));
    let at_edge = [bytes.first(), bytes.last()]
        .into_iter()
        .flatten()
        .any(|b| is_separator(char::from(*b)));
    if doubled || at_edge {
        return Err(Broken::Separator);
    }
    Ok(())
}

fn is_separator(c: char) -> bool {
    matches!(c, '-' | '_' | '.')
}

/// `skills` with every name normalized.
pub fn normalize_skills(skills: &mut [Skill]) {
    for s in skills {
        s.name = normalize(&s.name);
    }
}

/// `requirements` with every name normalized, merged by name (the higher minimum wins, 0
/// read as 1) and sorted by name.
pub fn requirements(mut requirements: Vec<SkillRequirement>) -> Vec<SkillRequirement> {
    for r in &mut requirements {
        r.name = normalize(&r.name);
    }
    merge_requirements(&requirements, &[])
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn case_and_whitespace_give_one_spelling() {
        assert_eq!(normalize("Billing"), "billing");
        assert_eq!(normalize("  BILLING\t"), "billing");
        assert_eq!(normalize("Billing   Dept"), "billing-dept");
        assert_eq!(normalize(" mortgages\n uk "), "mortgages-uk");
        assert_eq!(check("billing-dept"), Ok(()));
        assert_eq!(check("fr.wine_2"), Ok(()));
    }

    #[test]
    fn what_normalizing_cannot_mend_is_named() {
        assert_eq!(
            check(&normalize("Billing Dept!")),
            Err(Broken::Character('!'))
        );
        assert_eq!(check(&normalize("   ")), Err(Broken::Empty));
        assert_eq!(check("español"), Err(Broken::Character('ñ')));
        assert_eq!(check("-billing"), Err(Broken::Separator));
        assert_eq!(check("billing."), Err(Broken::Separator));
        assert_eq!(check(&normalize("billing - dept")), Err(Broken::Separator));
        // A violation's description is cut at 96 bytes: every rule fits whole.
        for broken in [
            Broken::Empty,
            Broken::Character('\u{1f600}'),
            Broken::Separator,
        ] {
            let message = broken.to_string();
            assert!(message.len() <= 96, "{message}");
        }
        assert!(Broken::Character('!').to_string().ends_with("not '!'"));
    }

    /// A name that keeps the grammar.
    fn valid_name() -> impl Strategy<Value = String> {
        "[a-z0-9]{1,8}([-_.][a-z0-9]{1,8}){0,3}"
    }

    /// `name` with random letters upper-cased, whitespace around it and every `-` turned
    /// into a run of whitespace (which normalizing turns back).
    fn respelled() -> impl Strategy<Value = (String, String)> {
        (
            valid_name(),
            prop::collection::vec(any::<bool>(), 64),
            "[ \t\n]{0,3}",
            "[ \t\n]{0,3}",
            "[ \t]{1,3}",
        )
            .prop_map(|(name, upper, before, after, gap)| {
                let body: String = name
                    .chars()
                    .zip(upper.iter().cycle())
                    .map(|(c, up)| match c {
                        '-' => gap.clone(),
                        c if *up => c.to_ascii_uppercase().to_string(),
                        c => c.to_string(),
                    })
                    .collect();
                (name, format!("{before}{body}{after}"))
            })
    }

    proptest! {
        #[test]
        fn normalizing_is_idempotent_and_leaves_no_capitals_or_whitespace(raw in any::<String>()) {
            let once = normalize(&raw);
            prop_assert_eq!(normalize(&once), once.clone());
            prop_assert!(!once.chars().any(char::is_whitespace));
            prop_assert!(once.chars().all(|c| c.to_lowercase().eq([c])), "{:?}", once);
        }

        #[test]
        fn every_spelling_of_a_valid_name_normalizes_to_it((name, spelled) in respelled()) {
            prop_assert_eq!(check(&name), Ok(()));
            prop_assert_eq!(normalize(&spelled), name);
        }

        #[test]
        fn a_name_that_passes_the_check_is_its_own_spelling(raw in "[ a-zA-Z0-9._!-]{0,20}") {
            if check(&raw).is_ok() {
                prop_assert_eq!(normalize(&raw), raw);
            }
        }
    }
}
