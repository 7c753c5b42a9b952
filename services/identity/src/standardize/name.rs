//! Person names: folding, nicknames, phonetic codes.
//!
//! A name is folded to plain lower-case letters and digits (diacritics, apostrophes and
//! punctuation gone, words separated by one space), honorifics and generational suffixes
//! are dropped, given names are resolved from a nickname to the formal name it stands for,
//! and a Double Metaphone code is kept so names that sound alike can meet.

use rphonetic::{DoubleMetaphone, Encoder as _};
use unicode_normalization::{UnicodeNormalization as _, char::is_combining_mark};

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

/// Folds text: lower-case, diacritics removed (NFKD, then combining marks dropped, then
/// letters NFKD leaves whole such as `ß`, `æ`, `ø` and `ł` spelled in plain Latin letters),
/// apostrophes removed inside words ("O'Neil" is "oneil"), anything else but letters and
/// digits a space, words separated by one space.
///
/// A fixed point: folding folded text gives it back.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    let decomposed = text
        .chars()
        .filter(|c| !is_apostrophe(*c))
        .flat_map(char::to_lowercase)
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        // NFKD of a compatibility character can give capitals ("℡" is "TEL").
        .flat_map(char::to_lowercase);
    for c in decomposed {
        let plain = latin_spelling(c);
        for p in plain.chars() {
            if p.is_alphanumeric() && !is_combining_mark(p) {
                if pending_space && !out.is_empty() {
                    out.push(' ');
                }
                pending_space = false;
                out.push(p);
            } else {
                pending_space = true;
            }
        }
    }
    out
}

/// Apostrophes and the marks people type for them; removed rather than made spaces so that
/// "O'Neil" and "ONeil" agree.
fn is_apostrophe(c: char) -> bool {
    matches!(
        c,
        '\'' | '\u{2019}' | '\u{2018}' | '\u{02BC}' | '\u{02BB}' | '`' | '\u{00B4}'
    )
}

/// The plain Latin spelling of a letter NFKD does not decompose; the letter itself otherwise.
fn latin_spelling(c: char) -> std::borrow::Cow<'static, str> {
    let spelled = match c {
        'ß' => "ss",
        'æ' => "ae",
        'œ' => "oe",
        'ø' => "o",
        'ł' => "l",
        'đ' | 'ð' => "d",
        'þ' => "th",
        'ı' => "i",
        'ħ' => "h",
        'ŧ' => "t",
        'ŋ' => "n",
        'ĸ' => "k",
        'ſ' => "s",
        _ => return std::borrow::Cow::Owned(c.to_string()),
    };
    std::borrow::Cow::Borrowed(spelled)
}

/// Words that are titles or generational suffixes rather than part of a name.
const HONORIFICS: &[&str] = &[
    "dame", "dr", "esq", "fr", "ii", "iii", "iv", "jnr", "jr", "junior", "lady", "lord", "md",
    "miss", "mr", "mrs", "ms", "mstr", "mx", "phd", "prof", "rev", "senior", "sir", "snr", "sr",
];

/// The folded words of `text` without honorifics and suffixes; when every word is one of
/// them ("Miss" given as a name), the words are kept, since they were all there was.
fn folded_without_honorifics(text: &str) -> String {
    let folded = fold(text);
    let kept: Vec<&str> = folded
        .split(' ')
        .filter(|w| !w.is_empty() && HONORIFICS.binary_search(w).is_err())
        .collect();
    if kept.is_empty() {
        folded
    } else {
        kept.join(" ")
    }
}

/// Nicknames and hypocorisms of English given names, with the formal name each stands for,
/// sorted by nickname. Names that shorten several formal names about equally often ("al",
/// "sam", "pat", "chris" for a woman) are left out: a wrong resolution would make two
/// different people's names look like one. A few spelling variants of one formal name
/// ("kathryn", "steven") are resolved to the same spelling.
const NICKNAMES: &[(&str, &str)] = &[
    ("abbie", "abigail"),
    ("abby", "abigail"),
    ("abe", "abraham"),
    ("addie", "adelaide"),
    ("aggie", "agnes"),
    ("alex", "alexander"),
    ("alf", "alfred"),
    ("alfie", "alfred"),
    ("andy", "andrew"),
    ("annie", "anne"),
    ("archie", "archibald"),
    ("art", "arthur"),
    ("artie", "arthur"),
    ("babs", "barbara"),
    ("barb", "barbara"),
    ("barney", "bernard"),
    ("bart", "bartholomew"),
    ("bea", "beatrice"),
    ("becca", "rebecca"),
    ("becky", "rebecca"),
    ("bella", "isabella"),
    ("ben", "benjamin"),
    ("benji", "benjamin"),
    ("benny", "benjamin"),
    ("bernie", "bernard"),
    ("beth", "elizabeth"),
    ("betsy", "elizabeth"),
    ("bette", "elizabeth"),
    ("betty", "elizabeth"),
    ("biddy", "bridget"),
    ("bill", "william"),
    ("billy", "william"),
    ("bob", "robert"),
    ("bobby", "robert"),
    ("bridie", "bridget"),
    ("cassie", "cassandra"),
    ("cath", "catherine"),
    ("cathy", "catherine"),
    ("charlie", "charles"),
    ("chas", "charles"),
    ("chaz", "charles"),
    ("chet", "chester"),
    ("chrissy", "christine"),
    ("chuck", "charles"),
    ("cindy", "cynthia"),
    ("clem", "clement"),
    ("cliff", "clifford"),
    ("connie", "constance"),
    ("curt", "curtis"),
    ("dan", "daniel"),
    ("danny", "daniel"),
    ("dave", "david"),
    ("davey", "david"),
    ("davy", "david"),
    ("deb", "deborah"),
    ("debbie", "deborah"),
    ("debby", "deborah"),
    ("debra", "deborah"),
    ("di", "diana"),
    ("dick", "richard"),
    ("dom", "dominic"),
    ("don", "donald"),
    ("donny", "donald"),
    ("dot", "dorothy"),
    ("dottie", "dorothy"),
    ("doug", "douglas"),
    ("drew", "andrew"),
    ("ed", "edward"),
    ("eddie", "edward"),
    ("eddy", "edward"),
    ("eliza", "elizabeth"),
    ("ellie", "eleanor"),
    ("elsie", "elizabeth"),
    ("ernie", "ernest"),
    ("fanny", "frances"),
    ("flo", "florence"),
    ("flossie", "florence"),
    ("fred", "frederick"),
    ("freddie", "frederick"),
    ("freddy", "frederick"),
    ("gabe", "gabriel"),
    ("gene", "eugene"),
    ("geoff", "geoffrey"),
    ("gerry", "gerald"),
    ("gil", "gilbert"),
    ("ginny", "virginia"),
    ("greg", "gregory"),
    ("gwen", "gwendolyn"),
    ("hank", "henry"),
    ("harry", "henry"),
    ("hattie", "harriet"),
    ("herb", "herbert"),
    ("ike", "isaac"),
    ("jack", "john"),
    ("jake", "jacob"),
    ("jamie", "james"),
    ("jeff", "jeffrey"),
    ("jen", "jennifer"),
    ("jenn", "jennifer"),
    ("jenny", "jennifer"),
    ("jerry", "gerald"),
    ("jess", "jessica"),
    ("jim", "james"),
    ("jimmy", "james"),
    ("joe", "joseph"),
    ("joey", "joseph"),
    ("johnny", "john"),
    ("josh", "joshua"),
    ("judy", "judith"),
    ("kate", "catherine"),
    ("kath", "catherine"),
    ("katherine", "catherine"),
    ("kathryn", "catherine"),
    ("kathy", "catherine"),
    ("katie", "catherine"),
    ("katy", "catherine"),
    ("ken", "kenneth"),
    ("kenny", "kenneth"),
    ("kitty", "catherine"),
    ("larry", "lawrence"),
    ("len", "leonard"),
    ("lenny", "leonard"),
    ("libby", "elizabeth"),
    ("livvy", "olivia"),
    ("liz", "elizabeth"),
    ("lizzie", "elizabeth"),
    ("lizzy", "elizabeth"),
    ("lottie", "charlotte"),
    ("maddie", "madeline"),
    ("maddy", "madeline"),
    ("madge", "margaret"),
    ("maggie", "margaret"),
    ("mandy", "amanda"),
    ("manny", "emmanuel"),
    ("marge", "margaret"),
    ("margie", "margaret"),
    ("marty", "martin"),
    ("matt", "matthew"),
    ("matty", "matthew"),
    ("meg", "margaret"),
    ("mick", "michael"),
    ("mickey", "michael"),
    ("mike", "michael"),
    ("mikey", "michael"),
    ("mitch", "mitchell"),
    ("molly", "mary"),
    ("monty", "montgomery"),
    ("ned", "edward"),
    ("nell", "eleanor"),
    ("nellie", "eleanor"),
    ("nick", "nicholas"),
    ("norm", "norman"),
    ("ollie", "oliver"),
    ("olly", "oliver"),
    ("pam", "pamela"),
    ("patty", "patricia"),
    ("peggy", "margaret"),
    ("penny", "penelope"),
    ("pete", "peter"),
    ("phil", "philip"),
    ("phillip", "philip"),
    ("polly", "mary"),
    ("randy", "randall"),
    ("ray", "raymond"),
    ("reg", "reginald"),
    ("reggie", "reginald"),
    ("rich", "richard"),
    ("richie", "richard"),
    ("rick", "richard"),
    ("ricky", "richard"),
    ("rob", "robert"),
    ("robbie", "robert"),
    ("robby", "robert"),
    ("ron", "ronald"),
    ("ronnie", "ronald"),
    ("russ", "russell"),
    ("sadie", "sarah"),
    ("sally", "sarah"),
    ("sara", "sarah"),
    ("sid", "sidney"),
    ("stan", "stanley"),
    ("steph", "stephanie"),
    ("steve", "stephen"),
    ("steven", "stephen"),
    ("stevie", "stephen"),
    ("stu", "stuart"),
    ("sue", "susan"),
    ("susie", "susan"),
    ("suzy", "susan"),
    ("ted", "edward"),
    ("teddy", "edward"),
    ("tess", "theresa"),
    ("tessa", "theresa"),
    ("theo", "theodore"),
    ("tim", "timothy"),
    ("timmy", "timothy"),
    ("tom", "thomas"),
    ("tommy", "thomas"),
    ("tony", "anthony"),
    ("tricia", "patricia"),
    ("trish", "patricia"),
    ("trixie", "beatrice"),
    ("trudy", "gertrude"),
    ("vic", "victor"),
    ("vicky", "victoria"),
    ("vince", "vincent"),
    ("wally", "walter"),
    ("walt", "walter"),
    ("wes", "wesley"),
    ("wilf", "wilfred"),
    ("will", "william"),
    ("willie", "william"),
    ("willy", "william"),
    ("winnie", "winifred"),
    ("zach", "zachary"),
    ("zack", "zachary"),
    ("zeke", "ezekiel"),
];

/// The formal name `word` (one folded word) stands for, or `word` itself.
pub fn formal(word: &str) -> &str {
    NICKNAMES
        .binary_search_by(|(nick, _)| nick.cmp(&word))
        .map_or(word, |i| NICKNAMES[i].1)
}

/// The primary Double Metaphone code of the ASCII letters of `canonical`; empty when it
/// has none (a name written only in another script has no code rather than a wrong one).
fn phonetic(canonical: &str) -> String {
    let letters: String = canonical
        .chars()
        .filter(char::is_ascii_alphabetic)
        .collect();
    if letters.is_empty() {
        return String::new();
    }
    DoubleMetaphone::default().encode(&letters)
}

/// A given name: folded, each word resolved from a nickname to its formal name.
pub fn given(text: &str) -> Name {
    let folded = folded_without_honorifics(text);
    let canonical: String = folded.split(' ').map(formal).collect();
    // The code of the name as written: a nickname's formal name is its own comparison level,
    // and coding it would make "Jack" (John) sound like "Juan".
    Name {
        phonetic: phonetic(&folded.replace(' ', "")),
        canonical,
        folded,
    }
}

/// A family name: folded; its canonical form is the folded words joined, so "Mac Donald"
/// and "MacDonald" agree.
pub fn family(text: &str) -> Name {
    let folded = folded_without_honorifics(text);
    let canonical = folded.replace(' ', "");
    Name {
        phonetic: phonetic(&canonical),
        canonical,
        folded,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn tables_are_sorted_and_unique_so_binary_search_finds_every_entry() {
        assert!(NICKNAMES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(HONORIFICS.windows(2).all(|w| w[0] < w[1]));
        // A formal name is never itself a nickname, so resolving is done in one step.
        for (_, formal_name) in NICKNAMES {
            assert_eq!(formal(formal_name), *formal_name, "{formal_name}");
        }
    }

    #[test]
    fn folding_removes_diacritics_punctuation_and_case() {
        assert_eq!(fold("José-María O'Neil"), "jose maria oneil");
        assert_eq!(fold("Jean-Luc"), "jean luc");
        assert_eq!(fold("O’Brien"), "obrien");
        assert_eq!(fold("Straße"), "strasse");
        assert_eq!(fold("Ærøskøbing"), "aeroskobing");
        assert_eq!(fold("Łódź"), "lodz");
        assert_eq!(fold("  ÅSA   Öberg "), "asa oberg");
        assert_eq!(fold("Nguyễn Thị Minh Khai"), "nguyen thi minh khai");
        assert_eq!(fold("ﬁnn"), "finn");
        assert_eq!(fold("..."), "");
    }

    #[test]
    fn honorifics_and_suffixes_are_dropped_unless_they_are_all_there_is() {
        assert_eq!(given("Dr. Robert").folded, "robert");
        assert_eq!(family("Smith Jr.").folded, "smith");
        assert_eq!(family("Kennedy III").folded, "kennedy");
        assert_eq!(given("Mrs").folded, "mrs");
    }

    #[test]
    fn nicknames_resolve_to_the_formal_name() {
        for nick in ["bob", "Bobby", "rob", "Robbie", "robert"] {
            assert_eq!(given(nick).canonical, "robert", "{nick}");
        }
        for nick in ["liz", "beth", "Betty", "lizzie"] {
            assert_eq!(given(nick).canonical, "elizabeth", "{nick}");
        }
        for nick in ["bill", "will", "billy"] {
            assert_eq!(given(nick).canonical, "william", "{nick}");
        }
        assert_eq!(given("Peggy").canonical, "margaret");
        assert_eq!(given("Peggy").folded, "peggy");
        assert_eq!(given("Jean-Luc").canonical, "jeanluc");
        // Family names are never resolved: "Bill" as a surname stays.
        assert_eq!(family("Bill").canonical, "bill");
    }

    #[test]
    fn phonetic_codes_bring_spellings_that_sound_alike_together() {
        assert_eq!(family("Smith").phonetic, family("Smyth").phonetic);
        assert_eq!(family("Catherine").phonetic, family("Kathryn").phonetic);
        // A nickname meets its formal name through `canonical`; the code is of the name as
        // written, so a nickname's formal name never makes two names sound alike.
        assert_eq!(given("bob").canonical, given("robert").canonical);
        assert_eq!(given("Jon").phonetic, given("John").phonetic);
        assert_ne!(given("jack").phonetic, given("juan").phonetic);
        assert_eq!(family("张伟").phonetic, "");
        assert_eq!(family("").phonetic, "");
    }

    proptest! {
        #[test]
        fn folding_is_a_fixed_point(text in any::<String>()) {
            let once = fold(&text);
            prop_assert_eq!(fold(&once), once.clone());
            prop_assert!(!once.starts_with(' ') && !once.ends_with(' ') && !once.contains("  "));
        }

        #[test]
        fn given_and_family_are_fixed_points(text in any::<String>()) {
            let g = given(&text);
            prop_assert_eq!(&given(&g.folded), &g);
            let f = family(&text);
            prop_assert_eq!(&family(&f.folded), &f);
        }

        #[test]
        fn folding_leaves_no_combining_marks_or_capitals_with_a_lower_case(text in "\\PC{0,24}") {
            let folded = fold(&text);
            prop_assert!(folded.chars().all(|c| c == ' ' || (c.is_alphanumeric() && !is_combining_mark(c))));
            // Lower-case wherever the character has a lower case ("🅐" has none).
            prop_assert!(folded.chars().all(|c| c.to_lowercase().eq(std::iter::once(c))));
        }

        #[test]
        fn accented_latin_folds_to_plain_ascii(text in "[a-zA-ZàáâãäåçèéêëìíîïñòóôõöùúûüýÿÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝ -]{0,24}") {
            let folded = fold(&text);
            prop_assert!(folded.chars().all(|c| c == ' ' || c.is_ascii_lowercase()));
        }
    }
}
