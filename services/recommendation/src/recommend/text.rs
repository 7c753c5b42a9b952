//! Words out of free text, and free text cut down to what may be shown.
//!
//! Matching is deliberately plain (lower case, split on anything that is not a letter or a
//! digit, no stemming): it is explainable to an agent ("the customer said \"invoice\"").
//! Article search has its own analysis (see [`super::articles`]) and shares only the
//! stopwords.

/// Longest word kept; longer runs of letters are cut (they are ids or noise, not words).
pub const MAX_WORD_CHARS: usize = 64;

/// Words that carry no topic; dropped from search terms (never from keyword phrases, where
/// "where is" matters).
pub const STOPWORDS: &[&str] = &[
    "a", "about", "am", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by", "can",
    "could", "did", "do", "does", "for", "from", "get", "got", "had", "has", "have", "hello",
    "help", "hi", "how", "i", "if", "in", "into", "is", "it", "its", "just", "me", "my", "no",
    "not", "of", "on", "or", "our", "please", "so", "some", "that", "the", "their", "them", "then",
    "there", "this", "to", "up", "was", "we", "were", "what", "when", "where", "which", "who",
    "why", "will", "with", "would", "you", "your",
];

/// Every word of `text`, lower-cased, in order (duplicates kept).
pub fn words(text: &str) -> Vec<String> {
    // Lower-case first: lower-casing can add characters (a combining dot), which the split
    // then treats like any other separator.
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().take(MAX_WORD_CHARS).collect())
        .collect()
}

/// Whether `word` carries no topic.
pub fn is_stopword(word: &str) -> bool {
    STOPWORDS.binary_search(&word).is_ok()
}

/// The distinct topic-bearing words of `text`, in order of first appearance: no stopwords and
/// no single characters.
pub fn terms(text: &str) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    words(text)
        .into_iter()
        .filter(|w| w.chars().count() > 1 && !is_stopword(w))
        .filter(|w| seen.insert(w.clone()))
        .collect()
}

/// `text` with its whitespace collapsed, cut to at most `max_chars` characters at a word
/// boundary, with "…" when something was cut. For free text shown to an agent, which must
/// never be quoted at length.
pub fn clip(text: &str, max_chars: usize) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= max_chars {
        return collapsed;
    }
    let cut: String = collapsed
        .chars()
        .take(max_chars.saturating_sub(1))
        .collect();
    let at_word = match cut.rfind(' ') {
        Some(space) if space > 0 => &cut[..space],
        _ => cut.as_str(),
    };
    format!("{}…", at_word.trim_end())
}

/// The first `max_chars` characters of `text`, cut on a character boundary.
pub fn prefix_chars(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn stopwords_are_sorted_for_binary_search() {
        assert!(STOPWORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn words_split_on_punctuation_and_lower_case() {
        assert_eq!(
            words("Where is my PARCEL? (order #123)"),
            ["where", "is", "my", "parcel", "order", "123"]
        );
    }

    #[test]
    fn terms_drop_stopwords_and_duplicates() {
        assert_eq!(
            terms("Where is my parcel, my PARCEL is late"),
            ["parcel", "late"]
        );
    }

    #[test]
    fn clip_cuts_at_a_word_and_marks_the_cut() {
        assert_eq!(clip("short  text", 60), "short text");
        assert_eq!(
            clip("replace the broken handle of the kettle", 20),
            "replace the broken…"
        );
    }

    proptest! {
        #[test]
        fn clip_never_exceeds_its_bound(text in ".{0,200}", max in 1usize..80) {
            prop_assert!(clip(&text, max).chars().count() <= max);
        }

        #[test]
        fn terms_are_lower_case_words_without_stopwords(text in ".{0,200}") {
            for term in terms(&text) {
                prop_assert!(!is_stopword(&term));
                prop_assert!(term.chars().all(char::is_alphanumeric));
                prop_assert_eq!(term.to_lowercase(), term.clone());
            }
        }
    }
}
