//! Text corruptions as data entry, speech-to-text and scanning produce them. Each function
//! returns the corrupted text, or `None` when it cannot change this text (no doubled letter
//! to collapse, no OCR-prone character), so the caller can pick another corruption.

use super::Rng;

const ALPHABET: &[char] = &[
    'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's',
    't', 'u', 'v', 'w', 'x', 'y', 'z',
];

/// One edit: insert, delete, substitute or transpose a character (a letter keeps its case).
pub fn typo(rng: &mut Rng, text: &str) -> Option<String> {
    let mut chars: Vec<char> = text.chars().collect();
    if chars.len() < 2 {
        return None;
    }
    let at = rng.below(chars.len());
    let letter = *rng.pick(ALPHABET);
    match rng.below(4) {
        0 => chars.insert(at, letter),
        1 => {
            chars.remove(at);
        }
        2 => chars[at] = same_case(chars[at], letter),
        _ => {
            let at = at.min(chars.len() - 2);
            chars.swap(at, at + 1);
        }
    }
    changed(text, chars.into_iter().collect())
}

/// The keys next to each letter on a QWERTY keyboard.
fn neighbours(c: char) -> &'static str {
    match c {
        'q' => "wa",
        'w' => "qes",
        'e' => "wrd",
        'r' => "etf",
        't' => "ryg",
        'y' => "tuh",
        'u' => "yij",
        'i' => "uok",
        'o' => "ipl",
        'p' => "ol",
        'a' => "qsz",
        's' => "adwx",
        'd' => "sfec",
        'f' => "dgrv",
        'g' => "fhtb",
        'h' => "gjyn",
        'j' => "hkum",
        'k' => "jli",
        'l' => "ko",
        'z' => "asx",
        'x' => "zsc",
        'c' => "xdv",
        'v' => "cfb",
        'b' => "vgn",
        'n' => "bhm",
        'm' => "nj",
        '0' => "9",
        '1' => "2",
        '2' => "13",
        '3' => "24",
        '4' => "35",
        '5' => "46",
        '6' => "57",
        '7' => "68",
        '8' => "79",
        '9' => "80",
        _ => "",
    }
}

/// A character replaced by a key next to it.
pub fn keyboard(rng: &mut Rng, text: &str) -> Option<String> {
    let mut chars: Vec<char> = text.chars().collect();
    let typeable: Vec<usize> = (0..chars.len())
        .filter(|&i| !neighbours(chars[i].to_ascii_lowercase()).is_empty())
        .collect();
    if typeable.is_empty() {
        return None;
    }
    let at = *rng.pick(&typeable);
    let near: Vec<char> = neighbours(chars[at].to_ascii_lowercase()).chars().collect();
    chars[at] = same_case(chars[at], *rng.pick(&near));
    changed(text, chars.into_iter().collect())
}

/// Confusions of optical character recognition, both ways.
const OCR: &[(&str, &str)] = &[
    ("rn", "m"),
    ("m", "rn"),
    ("o", "0"),
    ("O", "0"),
    ("l", "1"),
    ("I", "1"),
    ("i", "1"),
    ("s", "5"),
    ("S", "5"),
    ("b", "6"),
    ("g", "9"),
    ("cl", "d"),
    ("e", "c"),
    ("0", "O"),
    ("1", "l"),
    ("5", "S"),
    ("8", "B"),
];

/// One OCR confusion (rn/m, o/0, l/1, s/5, ...).
pub fn ocr(rng: &mut Rng, text: &str) -> Option<String> {
    replace_one(rng, text, OCR)
}

/// Spellings that sound alike, in lower case; both directions are listed where both occur.
const PHONETIC: &[(&str, &str)] = &[
    ("ph", "f"),
    ("f", "ph"),
    ("ck", "k"),
    ("c", "k"),
    ("k", "c"),
    ("ie", "y"),
    ("y", "ie"),
    ("ey", "y"),
    ("ee", "i"),
    ("ei", "ie"),
    ("ou", "ow"),
    ("th", "t"),
    ("sch", "sh"),
    ("z", "s"),
    ("s", "z"),
    ("x", "ks"),
    ("gh", "g"),
    ("ae", "e"),
    ("v", "w"),
    ("w", "v"),
    ("j", "y"),
    ("an", "en"),
    ("son", "sen"),
];

/// A phonetic misspelling: a sound spelled another way, or a letter doubled or undoubled.
pub fn phonetic(rng: &mut Rng, text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    let corrupted = match rng.below(3) {
        0 => double_letters(rng, &lower)?,
        _ => replace_one(rng, &lower, PHONETIC).or_else(|| double_letters(rng, &lower))?,
    };
    changed(text, like_case(text, &corrupted))
}

/// Collapses a doubled letter ("Russell" to "Rusell") or doubles a single consonant.
fn double_letters(rng: &mut Rng, lower: &str) -> Option<String> {
    let chars: Vec<char> = lower.chars().collect();
    let doubled: Vec<usize> = (1..chars.len())
        .filter(|&i| chars[i] == chars[i - 1] && chars[i].is_alphabetic())
        .collect();
    let mut out = chars.clone();
    if !doubled.is_empty() && rng.chance(0.7) {
        out.remove(*rng.pick(&doubled));
    } else {
        let single: Vec<usize> = (1..chars.len())
            .filter(|&i| "lnrstmpdgfc".contains(chars[i]) && chars[i - 1] != chars[i])
            .collect();
        if single.is_empty() {
            return None;
        }
        let at = *rng.pick(&single);
        out.insert(at, chars[at]);
    }
    Some(out.into_iter().collect())
}

/// Diacritics removed, as systems that keep only ASCII write names ("Müller" to "Muller").
pub fn fold_ascii(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' | 'ạ' | 'ả' => 'a',
            'Á' | 'À' | 'Â' | 'Ä' | 'Ã' | 'Å' => 'A',
            'é' | 'è' | 'ê' | 'ë' | 'ế' | 'ệ' => 'e',
            'É' | 'È' | 'Ê' | 'Ë' => 'E',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'Í' | 'Ì' | 'Î' | 'Ï' => 'I',
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' | 'ơ' | 'ộ' | 'ổ' => 'o',
            'Ó' | 'Ò' | 'Ô' | 'Ö' | 'Õ' | 'Ø' => 'O',
            'ú' | 'ù' | 'û' | 'ü' | 'ư' | 'ũ' => 'u',
            'Ú' | 'Ù' | 'Û' | 'Ü' => 'U',
            'ñ' | 'ń' => 'n',
            'Ñ' => 'N',
            'ç' | 'ć' => 'c',
            'ł' => 'l',
            'Ł' => 'L',
            'ś' => 's',
            'ź' | 'ż' => 'z',
            'đ' => 'd',
            'Đ' => 'D',
            'ậ' | 'ấ' | 'ầ' => 'a',
            'ễ' | 'ề' => 'e',
            'ồ' | 'ố' => 'o',
            'ỳ' | 'ý' => 'y',
            other => other,
        })
        .collect()
}

/// `fresh` in the case style of `model`: all capitals, all lower case, or each word
/// capitalised.
pub fn like_case(model: &str, fresh: &str) -> String {
    let letters: Vec<char> = model.chars().filter(|c| c.is_alphabetic()).collect();
    if letters.len() > 1 && letters.iter().all(|c| c.is_uppercase()) {
        return fresh.to_uppercase();
    }
    if letters.iter().all(|c| c.is_lowercase()) {
        return fresh.to_lowercase();
    }
    title_case(fresh)
}

/// Each word (after a space, hyphen or apostrophe) starts with a capital.
pub fn title_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut start = true;
    for c in text.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = matches!(c, ' ' | '-' | '\'');
    }
    out
}

/// `letter` with the case of `like`.
fn same_case(like: char, letter: char) -> char {
    if like.is_uppercase() {
        letter.to_ascii_uppercase()
    } else {
        letter
    }
}

/// One occurrence of one applicable pattern replaced, chosen at random.
fn replace_one(rng: &mut Rng, text: &str, table: &[(&str, &str)]) -> Option<String> {
    let applicable: Vec<(usize, &str, &str)> = table
        .iter()
        .flat_map(|(from, to)| {
            text.match_indices(from)
                .map(move |(at, _)| (at, *from, *to))
        })
        .collect();
    if applicable.is_empty() {
        return None;
    }
    let (at, from, to) = *rng.pick(&applicable);
    let out = format!("{}{}{}", &text[..at], to, &text[at + from.len()..]);
    changed(text, out)
}

fn changed(before: &str, after: String) -> Option<String> {
    (after != before && !after.trim().is_empty()).then_some(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_corruption_changes_the_text() {
        let mut rng = Rng::new(7);
        for word in ["Russell", "Simmons", "Phillips", "Jørgensen", "Catherine"] {
            for _ in 0..50 {
                for out in [
                    typo(&mut rng, word),
                    keyboard(&mut rng, word),
                    ocr(&mut rng, word),
                    phonetic(&mut rng, word),
                ]
                .into_iter()
                .flatten()
                {
                    assert_ne!(out, word);
                }
            }
        }
    }

    #[test]
    fn cases_and_diacritics() {
        assert_eq!(fold_ascii("Müller Sánchez Łukasz"), "Muller Sanchez Lukasz");
        assert_eq!(like_case("SMITH", "smyth"), "SMYTH");
        assert_eq!(like_case("van der berg", "Van Der Burg"), "van der burg");
        assert_eq!(like_case("O'Brien", "o'brian"), "O'Brian");
    }
}
