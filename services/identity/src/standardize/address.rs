//! Postal addresses: house number, unit, street and place tokens.
//!
//! The street line is found (the first line with a house number, else the first line),
//! its house number and unit taken out ("4/12 Smith St" is unit 4, number 12), and its words
//! spelled out ("st" is "street", "n" is "north"), so "12 Smith St" and "12 smith street"
//! agree. Words of the other lines (a building or property name) are kept apart. A post
//! office box is never read as a house number.

use baton_proto::v1::PostalAddress;

use super::name::fold;

/// An address in comparable form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    /// The house (street) number as written, folded ("12", "12a"); empty when none.
    pub number: String,
    /// The unit, flat or apartment number; empty when none.
    pub unit: String,
    /// The street's words with abbreviations spelled out ("stanley street").
    pub street: Vec<String>,
    /// Words of the other lines (a building or property name).
    pub other: Vec<String>,
    /// City or town, folded.
    pub locality: String,
    /// Postal code: letters and digits only, upper-case.
    pub postal_code: String,
    /// State or region, folded.
    pub region: String,
    /// ISO country code, upper-case.
    pub country: String,
}

impl Address {
    /// Whether nothing was given.
    pub fn is_empty(&self) -> bool {
        self.number.is_empty()
            && self.unit.is_empty()
            && self.street.is_empty()
            && self.other.is_empty()
            && self.locality.is_empty()
            && self.postal_code.is_empty()
            && self.region.is_empty()
    }
}

/// The comparable form of `address`.
pub fn standardize(address: &PostalAddress) -> Address {
    let mut out = Address {
        locality: fold(&address.locality),
        postal_code: fold(&address.postal_code)
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_uppercase(),
        region: fold(&address.region),
        country: address.country_code.trim().to_ascii_uppercase(),
        ..Default::default()
    };
    let lines: Vec<Line> = address.lines.iter().map(|l| read_line(l)).collect();
    let street_line = lines.iter().position(|l| !l.number.is_empty()).or_else(|| {
        lines
            .iter()
            .position(|l| !l.post_box && !l.words.is_empty())
    });
    for (i, line) in lines.into_iter().enumerate() {
        if out.unit.is_empty() {
            out.unit = line.unit;
        } else if !line.unit.is_empty() {
            // A second unit designator: keep its value so nothing given is lost, spelled out
            // as the other words are ("u e" keeps "east"), so reading it back gives it again.
            out.other.push(full_spelling(&line.unit).to_owned());
        }
        if Some(i) == street_line {
            out.number = line.number;
            out.street = line.words;
        } else {
            out.other.extend(line.words);
        }
    }
    out
}

/// An address as lines that [`standardize`] reads back to the same [`Address`]: the unit,
/// house number and street on the first line, the other words on the second.
pub fn render(address: &Address) -> PostalAddress {
    let mut first = Vec::new();
    if !address.unit.is_empty() {
        first.push(format!("unit {}", address.unit));
    }
    if !address.number.is_empty() {
        first.push(address.number.clone());
    }
    first.extend(address.street.iter().cloned());
    let mut lines = vec![first.join(" ")];
    if !address.other.is_empty() {
        lines.push(address.other.join(" "));
    }
    PostalAddress {
        lines,
        locality: address.locality.clone(),
        region: address.region.clone(),
        postal_code: address.postal_code.clone(),
        country_code: address.country.clone(),
    }
}

/// What one address line holds.
#[derive(Debug, Default)]
struct Line {
    /// The house number, when the line has one.
    number: String,
    /// The unit, when the line names one.
    unit: String,
    /// The remaining words, spelled out.
    words: Vec<String>,
    /// Whether the line is a post office box or locked bag.
    post_box: bool,
}

/// Words that introduce a unit, flat or apartment number.
const UNIT_WORDS: &[&str] = &[
    "apartment",
    "apt",
    "flat",
    "shop",
    "ste",
    "suite",
    "u",
    "unit",
];

/// Reads one line: unit, house number and the other words with abbreviations spelled out.
fn read_line(text: &str) -> Line {
    let tokens = tokens(text);
    let mut line = Line {
        post_box: is_post_box(&tokens),
        ..Default::default()
    };
    let mut words: Vec<String> = Vec::new();
    let mut i = 0;
    while let Some(token) = tokens.get(i) {
        i += 1;
        if line.post_box {
            words.push(token.text.clone());
            continue;
        }
        // "4/12": unit 4 at number 12.
        if let Some((unit, number)) = token.text.split_once('/')
            && line.number.is_empty()
            && is_house_number(number)
            && is_unit_value(unit)
        {
            if line.unit.is_empty() {
                line.unit = unit.to_owned();
            }
            line.number = number.to_owned();
            continue;
        }
        // "12-14": a building spanning numbers 12 to 14 is found at 12.
        if let Some((low, high)) = token.text.split_once('-')
            && line.number.is_empty()
            && is_house_number(low)
            && is_house_number(high)
        {
            line.number = low.to_owned();
            continue;
        }
        if token.text.contains(['/', '-']) {
            words.extend(
                token
                    .text
                    .split(['/', '-'])
                    .filter(|w| !w.is_empty())
                    .map(str::to_owned),
            );
            continue;
        }
        let unit_word = token.hash || UNIT_WORDS.contains(&token.text.as_str());
        if unit_word && line.unit.is_empty() {
            let value = if token.hash {
                Some(token.text.as_str())
            } else {
                tokens.get(i).map(|t| t.text.as_str())
            };
            if let Some(value) = value.filter(|v| is_unit_value(v)) {
                line.unit = value.to_owned();
                if !token.hash {
                    i += 1;
                }
                continue;
            }
        }
        if line.number.is_empty() && is_house_number(&token.text) {
            line.number = token.text.clone();
            continue;
        }
        words.push(token.text.clone());
    }
    line.words = if line.post_box {
        words
    } else {
        spell_out(&words)
    };
    line
}

/// A piece of a line between spaces.
#[derive(Debug)]
struct Token {
    /// Folded letters and digits, with `/` and `-` kept where they join two parts.
    text: String,
    /// Whether it was written after `#` ("#4").
    hash: bool,
}

/// Splits `text` at spaces and commas, folds each piece, and keeps `/` and `-` inside a
/// piece so "4/12" and "12-14" can be read.
fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    for raw in text.split(|c: char| c.is_whitespace() || c == ',') {
        let hash = raw.starts_with('#');
        let mut parts: Vec<String> = Vec::new();
        let mut joiners: Vec<char> = Vec::new();
        let mut current = String::new();
        for c in raw.chars() {
            if c == '/' || c == '-' {
                parts.push(std::mem::take(&mut current));
                joiners.push(c);
            } else {
                current.push(c);
            }
        }
        parts.push(current);
        let folded: Vec<String> = parts.iter().map(|p| fold(p)).collect();
        let mut first_of_piece = true;
        // A part that folds to several words ("4.b") splits the token there.
        let mut text = String::new();
        for (k, part) in folded.iter().enumerate() {
            let mut words = part.split(' ').filter(|w| !w.is_empty());
            let Some(first) = words.next() else {
                continue;
            };
            if !text.is_empty() {
                text.push(joiners.get(k.wrapping_sub(1)).copied().unwrap_or('-'));
            }
            text.push_str(first);
            for word in words {
                out.push(Token {
                    text: std::mem::take(&mut text),
                    hash: hash && first_of_piece,
                });
                first_of_piece = false;
                text.push_str(word);
            }
        }
        if !text.is_empty() {
            out.push(Token {
                text,
                hash: hash && first_of_piece,
            });
        }
    }
    out
}

/// Whether the line is a post office box or a locked bag ("PO Box 12", "GPO Box 1",
/// "Locked Bag 3"), whose number is not a house number.
fn is_post_box(tokens: &[Token]) -> bool {
    let words: Vec<&str> = tokens.iter().take(3).map(|t| t.text.as_str()).collect();
    matches!(
        words.as_slice(),
        ["po" | "gpo" | "pob", "box", ..]
            | ["p", "o", "box"]
            | ["locked", "bag", ..]
            | ["pobox", ..]
    ) || words.first().is_some_and(|w| *w == "box")
}

/// Whether `text` is a house number: digits, optionally followed by one letter ("12a").
fn is_house_number(text: &str) -> bool {
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    let rest = &text[digits..];
    digits > 0
        && digits <= 6
        && (rest.is_empty() || (rest.len() == 1 && rest.chars().all(|c| c.is_ascii_lowercase())))
}

/// Whether `text` can be a unit: a house-number-like value ("4", "4b") or one letter.
fn is_unit_value(text: &str) -> bool {
    is_house_number(text)
        || (text.chars().count() == 1 && text.chars().all(|c| c.is_ascii_lowercase()))
        || (text.len() <= 3
            && text.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && text.chars().skip(1).all(|c| c.is_ascii_digit())
            && text.len() > 1)
}

/// Street types, directions and other words written short, with their full spelling.
/// Sorted by abbreviation.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("al", "alley"),
    ("arc", "arcade"),
    ("av", "avenue"),
    ("ave", "avenue"),
    ("bch", "beach"),
    ("blvd", "boulevard"),
    ("bvd", "boulevard"),
    ("cct", "circuit"),
    ("ch", "chase"),
    ("cir", "circuit"),
    ("cl", "close"),
    ("cnr", "corner"),
    ("cr", "crescent"),
    ("cres", "crescent"),
    ("crst", "crest"),
    ("crt", "court"),
    ("ct", "court"),
    ("cv", "cove"),
    ("dr", "drive"),
    ("drv", "drive"),
    ("e", "east"),
    ("esp", "esplanade"),
    ("est", "estate"),
    ("fwy", "freeway"),
    ("gdns", "gardens"),
    ("gln", "glen"),
    ("gr", "grove"),
    ("gra", "grange"),
    ("grn", "green"),
    ("gv", "grove"),
    ("hts", "heights"),
    ("hwy", "highway"),
    ("jn", "junction"),
    ("ln", "lane"),
    ("mt", "mount"),
    ("mwy", "motorway"),
    ("n", "north"),
    ("ne", "northeast"),
    ("nth", "north"),
    ("nw", "northwest"),
    ("pde", "parade"),
    ("pk", "park"),
    ("pkwy", "parkway"),
    ("pl", "place"),
    ("plz", "plaza"),
    ("prom", "promenade"),
    ("pt", "point"),
    ("rd", "road"),
    ("rdg", "ridge"),
    ("s", "south"),
    ("se", "southeast"),
    ("sq", "square"),
    ("st", "street"),
    ("sth", "south"),
    ("str", "street"),
    ("sw", "southwest"),
    ("tce", "terrace"),
    ("ter", "terrace"),
    ("terr", "terrace"),
    ("tpke", "turnpike"),
    ("trl", "trail"),
    ("w", "west"),
    ("wk", "walk"),
    ("wy", "way"),
];

/// Directions: "st" before one is still "street" ("Smith St N").
const DIRECTIONS: &[&str] = &["east", "north", "south", "west"];

/// Words that say what kind of street it is or which part of it, rather than which
/// street, sorted.
const STREET_TYPES: &[&str] = &[
    "alley",
    "arcade",
    "avenue",
    "boulevard",
    "chase",
    "circuit",
    "close",
    "corner",
    "court",
    "cove",
    "crescent",
    "crest",
    "drive",
    "east",
    "esplanade",
    "freeway",
    "gardens",
    "glen",
    "grange",
    "green",
    "grove",
    "heights",
    "highway",
    "junction",
    "lane",
    "motorway",
    "north",
    "northeast",
    "northwest",
    "parade",
    "parkway",
    "place",
    "plaza",
    "promenade",
    "ridge",
    "road",
    "south",
    "southeast",
    "southwest",
    "square",
    "street",
    "terrace",
    "trail",
    "turnpike",
    "walk",
    "way",
    "west",
];

/// Whether `word` (spelled out) names a kind of street or a direction ("street",
/// "crescent", "north") rather than the street: such words say little when two streets are
/// compared, since so many streets share them.
pub fn is_street_type(word: &str) -> bool {
    STREET_TYPES.binary_search(&word).is_ok()
}

/// `words` with abbreviations spelled out. "st" and "mt" are read as "saint" and "mount"
/// when a name follows ("st kilda road"), "street" otherwise.
fn spell_out(words: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(words.len());
    for (i, word) in words.iter().enumerate() {
        let next = words.get(i + 1).map(|w| full_spelling(w));
        let spelled = match word.as_str() {
            "st" if next.is_some_and(|n| !DIRECTIONS.contains(&n)) => "saint",
            other => full_spelling(other),
        };
        out.push(spelled.to_owned());
    }
    out
}

/// The full spelling of one word.
fn full_spelling(word: &str) -> &str {
    ABBREVIATIONS
        .binary_search_by(|(short, _)| short.cmp(&word))
        .map_or(word, |i| ABBREVIATIONS[i].1)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn lines(lines: &[&str]) -> Address {
        standardize(&PostalAddress {
            lines: lines.iter().map(|l| (*l).to_owned()).collect(),
            locality: "Sydney".to_owned(),
            region: "N.S.W.".to_owned(),
            postal_code: " 2000 ".to_owned(),
            country_code: "au".to_owned(),
        })
    }

    fn words(text: &str) -> Vec<String> {
        text.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn tables_are_sorted_for_binary_search() {
        assert!(ABBREVIATIONS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(STREET_TYPES.windows(2).all(|w| w[0] < w[1]));
        assert!(is_street_type("street") && is_street_type("north"));
        assert!(!is_street_type("smith") && !is_street_type("saint"));
    }

    #[test]
    fn abbreviations_are_spelled_out() {
        let a = lines(&["12 Smith St"]);
        assert_eq!(a.number, "12");
        assert_eq!(a.street, words("smith street"));
        assert_eq!(lines(&["3 Oak Ave"]).street, words("oak avenue"));
        assert_eq!(lines(&["3 Oak Av"]).street, words("oak avenue"));
        assert_eq!(lines(&["3 Mulga Cres"]).street, words("mulga crescent"));
        assert_eq!(lines(&["3 Mulga Cr."]).street, words("mulga crescent"));
        assert_eq!(
            lines(&["9 Pacific Hwy N"]).street,
            words("pacific highway north")
        );
        assert_eq!(lines(&["1 St Kilda Rd"]).street, words("saint kilda road"));
        assert_eq!(
            lines(&["1 Mt Ousley Rd"]).street,
            words("mount ousley road")
        );
        assert_eq!(lines(&["1 Smith St W"]).street, words("smith street west"));
        for (short, full) in [
            ("Dr", "drive"),
            ("Ct", "court"),
            ("Pl", "place"),
            ("Ln", "lane"),
            ("Blvd", "boulevard"),
            ("Pde", "parade"),
            ("Cct", "circuit"),
            ("Cir", "circuit"),
            ("Tce", "terrace"),
        ] {
            assert_eq!(
                lines(&[&format!("5 Main {short}")]).street,
                words(&format!("main {full}"))
            );
        }
    }

    #[test]
    fn house_and_unit_numbers_are_taken_out() {
        let a = lines(&["4/12 Smith St"]);
        assert_eq!((a.unit.as_str(), a.number.as_str()), ("4", "12"));
        assert_eq!(a.street, words("smith street"));
        let a = lines(&["Unit 4", "12 Smith Street"]);
        assert_eq!((a.unit.as_str(), a.number.as_str()), ("4", "12"));
        assert_eq!(a.street, words("smith street"));
        assert!(a.other.is_empty());
        let a = lines(&["Apt 4B, 12a Smith Street"]);
        assert_eq!((a.unit.as_str(), a.number.as_str()), ("4b", "12a"));
        let a = lines(&["Flat 2 12-14 Smith Street"]);
        assert_eq!((a.unit.as_str(), a.number.as_str()), ("2", "12"));
        let a = lines(&["#7 300 Main St"]);
        assert_eq!((a.unit.as_str(), a.number.as_str()), ("7", "300"));
        let a = lines(&["Rose Cottage", "12 Smith St"]);
        assert_eq!(a.other, words("rose cottage"));
        assert_eq!(a.street, words("smith street"));
        let a = lines(&["12 1st Avenue"]);
        assert_eq!(a.number, "12");
        assert_eq!(a.street, words("1st avenue"));
    }

    #[test]
    fn a_post_office_box_is_not_a_house_number() {
        let a = lines(&["PO Box 123"]);
        assert_eq!(a.number, "");
        assert_eq!(a.other, words("po box 123"));
        let a = lines(&["P.O. Box 123", "12 Smith St"]);
        assert_eq!(a.number, "12");
    }

    #[test]
    fn place_parts_are_folded() {
        let a = lines(&["12 Smith St"]);
        assert_eq!(a.locality, "sydney");
        assert_eq!(a.region, "n s w");
        assert_eq!(a.postal_code, "2000");
        assert_eq!(a.country, "AU");
        let a = standardize(&PostalAddress {
            postal_code: "sw1a 1aa".to_owned(),
            region: "NSW".to_owned(),
            ..Default::default()
        });
        assert_eq!(a.postal_code, "SW1A1AA");
        assert_eq!(a.region, "nsw");
    }

    /// Plausible street lines: an optional unit, a number, street words and abbreviations.
    fn street_line() -> impl Strategy<Value = String> {
        let unit = prop::option::of(prop_oneof![
            "[1-9][0-9]?[a-c]?".prop_map(|u| format!("unit {u} ")),
            "[1-9][0-9]?".prop_map(|u| format!("Flat {u}, ")),
            "[1-9]".prop_map(|u| format!("{u}/")),
        ]);
        let number = prop::option::of("[1-9][0-9]{0,3}[a-b]?");
        let word = prop_oneof![
            Just("St".to_owned()),
            Just("Rd".to_owned()),
            Just("N".to_owned()),
            Just("Mt".to_owned()),
            Just("Kilda".to_owned()),
            Just("O'Connell".to_owned()),
            Just("Jean-Paul".to_owned()),
            "[A-Za-zé]{1,9}",
        ];
        (unit, number, prop::collection::vec(word, 1..5)).prop_map(|(u, n, w)| {
            let mut line = String::new();
            if let (Some(u), Some(_)) = (&u, &n) {
                line.push_str(u);
            }
            if let Some(n) = n {
                line.push_str(&n);
                line.push(' ');
            }
            line + &w.join(" ")
        })
    }

    proptest! {
        #[test]
        fn standardizing_its_own_rendering_gives_it_back(
            first in street_line(),
            second in "[A-Za-z ]{0,20}",
            locality in "\\PC{0,12}",
            postal in "[A-Za-z0-9 -]{0,8}",
        ) {
            let address = PostalAddress {
                lines: vec![first, second],
                locality,
                region: "Vic".to_owned(),
                postal_code: postal,
                country_code: "AU".to_owned(),
            };
            let once = standardize(&address);
            let twice = standardize(&render(&once));
            prop_assert_eq!(twice, once);
        }

        #[test]
        fn standardizing_never_panics(lines in prop::collection::vec(any::<String>(), 0..4), other in any::<String>()) {
            let address = PostalAddress {
                lines,
                locality: other.clone(),
                region: other.clone(),
                postal_code: other,
                country_code: String::new(),
            };
            let a = standardize(&address);
            prop_assert!(a.postal_code.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
        }
    }
}
