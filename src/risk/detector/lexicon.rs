//! Word lists the normaliser and the context checks share.
//!
//! Everything here is lower case and without apostrophes, because the
//! normaliser lower-cases the text and joins "don't" into "dont" before it
//! expands contractions.

use std::collections::{HashMap, HashSet};

/// Text-speak, contractions and common misspellings, mapped to the words the
/// rules are written in. The right side may be several words.
pub(super) const SPELLINGS: &[(&str, &str)] = &[
    // Contractions are expanded so that a negation is always the word
    // "not" and a first-person subject is always "i".
    ("im", "i am"),
    ("iam", "i am"),
    ("ive", "i have"),
    ("id", "i would"),
    ("ill", "i will"),
    ("imma", "i am going to"),
    ("ima", "i am going to"),
    ("dont", "do not"),
    ("dnt", "do not"),
    ("doesnt", "does not"),
    ("didnt", "did not"),
    ("cant", "can not"),
    ("cannot", "can not"),
    ("cnt", "can not"),
    ("wont", "will not"),
    ("wouldnt", "would not"),
    ("wudnt", "would not"),
    ("couldnt", "could not"),
    ("shouldnt", "should not"),
    ("isnt", "is not"),
    ("arent", "are not"),
    ("wasnt", "was not"),
    ("werent", "were not"),
    ("havent", "have not"),
    ("hasnt", "has not"),
    ("hadnt", "had not"),
    ("aint", "am not"),
    ("whats", "what is"),
    ("wats", "what is"),
    ("wuts", "what is"),
    ("theres", "there is"),
    ("thats", "that is"),
    ("its", "it is"),
    ("hes", "he is"),
    ("shes", "she is"),
    ("theyre", "they are"),
    ("youre", "you are"),
    // Chat spellings of "want to", "going to" and friends.
    ("wanna", "want to"),
    ("wana", "want to"),
    ("wnna", "want to"),
    ("wan2", "want to"),
    ("want2", "want to"),
    ("gonna", "going to"),
    ("gona", "going to"),
    ("gunna", "going to"),
    ("finna", "going to"),
    ("tryna", "trying to"),
    ("gotta", "got to"),
    ("lemme", "let me"),
    ("idk", "i do not know"),
    ("u", "you"),
    ("ur", "your"),
    ("ppl", "people"),
    ("bc", "because"),
    ("cos", "because"),
    ("coz", "because"),
    ("cuz", "because"),
    ("bcos", "because"),
    ("becuase", "because"),
    ("tho", "though"),
    ("rly", "really"),
    ("rlly", "really"),
    ("jus", "just"),
    ("jst", "just"),
    ("abt", "about"),
    ("thinkin", "thinking"),
    ("nothin", "nothing"),
    ("pls", "please"),
    ("plz", "please"),
    ("nomore", "no more"),
    ("anymoree", "anymore"),
    // Words run together, as in hashtags.
    ("killmyself", "kill myself"),
    ("iwanttodie", "i want to die"),
    ("wanttodie", "want to die"),
    ("endmylife", "end my life"),
    ("selfharm", "selfharm"),
    // "kill myself laughing": an idiom, not a risk.
    ("kmsl", "lol"),
    // Misspellings of the core words that the generic repairs (repeated
    // letters, one-edit fuzzy match, leetspeak) do not reach.
    ("kil", "kill"),
    ("kll", "kill"),
    ("kiil", "kill"),
    ("kiled", "killed"),
    ("kild", "killed"),
    ("kiling", "killing"),
    ("killin", "killing"),
    ("kilin", "killing"),
    ("myslf", "myself"),
    ("meself", "myself"),
    ("mysef", "myself"),
    ("slef", "self"),
    ("suicid", "suicide"),
    ("sewercide", "suicide"),
    ("suiscide", "suicide"),
    ("suicidial", "suicidal"),
    ("dieing", "dying"),
    ("dyin", "dying"),
    ("ded", "dead"),
    ("deth", "death"),
    ("od", "overdose"),
    ("oding", "overdosing"),
    ("unalving", "unaliving"),
];

/// Two words that are one word to the rules.
pub(super) const JOINS: &[(&str, &str, &str)] = &[
    ("my", "self", "myself"),
    ("your", "self", "yourself"),
    ("self", "harm", "selfharm"),
    ("self", "harming", "selfharming"),
    ("self", "harmed", "selfharmed"),
    ("self", "harms", "selfharm"),
    ("self", "injury", "selfharm"),
    ("self", "injure", "selfharm"),
    ("self", "injuring", "selfharming"),
    ("self", "injured", "selfharmed"),
    ("un", "alive", "unalive"),
    ("un", "aliving", "unaliving"),
    ("un", "alived", "unalived"),
    ("no", "one", "noone"),
    ("no", "body", "nobody"),
    ("any", "more", "anymore"),
    ("good", "bye", "goodbye"),
    ("every", "one", "everyone"),
    ("some", "one", "someone"),
    ("over", "dose", "overdose"),
    ("over", "dosed", "overdosed"),
];

/// Words long and distinctive enough that one typing slip (a missing,
/// extra, changed or swapped letter) still names them. Short words such as
/// "kill" are left out: one slip from "kill" is "will", "fill" or "bill".
pub(super) const FUZZY_TARGETS: &[&str] = &["suicide", "suicidal", "myself", "unalive"];

/// Words people stretch for emphasis ("dieeee", "myselff", "kiiill"). A
/// token whose letters, with every run collapsed to one, spell one of these
/// collapsed, is read as that word. The list is short on purpose: the same
/// repair applied to any word would turn "soon" into "son".
pub(super) const STRETCHABLE: &[&str] = &[
    "die",
    "dying",
    "dead",
    "kill",
    "killing",
    "myself",
    "suicide",
    "suicidal",
    "want",
    "end",
    "please",
    "done",
    "hopeless",
    "pointless",
    "overdose",
    "unalive",
    "help",
    "tired",
];

/// Conjunctions that start a new clause: negation, subjects and reported
/// speech do not reach across them.
pub(super) const CONJUNCTIONS: &[&str] = &[
    "and", "but", "because", "although", "though", "however", "yet", "whereas", "while",
];

/// Words that may follow a clause-final phrase without changing its
/// meaning ("I want to end it tonight lol").
pub(super) const FILLERS: &[&str] = &[
    "lol",
    "lmao",
    "lmfao",
    "haha",
    "tbh",
    "ngl",
    "rn",
    "fr",
    "honestly",
    "tho",
    "ok",
    "okay",
    "anyway",
    "anyways",
    "x",
    "xx",
    "xxx",
    "ugh",
    "please",
    "seriously",
    "now",
    "then",
    "already",
    "again",
    "too",
    "lately",
    "really",
    "just",
    "idk",
    "sorry",
    "smh",
    "omg",
];

/// Subject pronouns: negation does not reach back past one of these,
/// because it belongs to a different clause ("I'm not okay I want to die").
pub(super) const NOMINATIVES: &[&str] = &["i", "he", "she", "they", "we", "you"];

/// Words after which a subject pronoun opens a complement clause that the
/// negation still governs ("I don't think I want to die").
pub(super) const COMPLEMENTIZERS: &[&str] = &[
    "like", "that", "think", "thought", "feel", "felt", "say", "said", "saying", "know", "knew",
    "mean", "guess", "believe", "suppose", "promise", "swear", "if", "whether", "sure",
];

/// The writer as subject.
pub(super) const SELF_WORDS: &[&str] = &["i", "me", "myself"];

/// Somebody other than the writer as subject. Possessives such as "my" are
/// left out on purpose: in "my friend wants to die" the noun decides.
pub(super) const OTHER_WORDS: &[&str] = &[
    "he",
    "she",
    "they",
    "you",
    "him",
    "her",
    "them",
    "his",
    "their",
    "someone",
    "somebody",
    "people",
    "friend",
    "friends",
    "mate",
    "mates",
    "sister",
    "brother",
    "mum",
    "mom",
    "mother",
    "dad",
    "father",
    "son",
    "daughter",
    "cousin",
    "partner",
    "boyfriend",
    "girlfriend",
    "husband",
    "wife",
    "bf",
    "gf",
    "patient",
    "patients",
    "client",
    "clients",
    "kid",
    "kids",
    "child",
    "colleague",
    "coworker",
    "character",
    "guy",
    "girl",
    "boy",
    "man",
    "woman",
    "aunt",
    "uncle",
    "nan",
    "gran",
    "grandma",
    "grandad",
    "grandpa",
    "flatmate",
    "roommate",
    "student",
    "pupil",
    "teen",
    "teenager",
    "sibling",
    "neighbour",
    "neighbor",
    "therapist",
    "counsellor",
    "counselor",
    "doctor",
    "gp",
    "nurse",
    "teacher",
    "boss",
    "manager",
    "ex",
    "mums",
    "moms",
    "dads",
    "sisters",
    "brothers",
    "cousins",
    "partners",
    "sons",
    "daughters",
    "husbands",
    "wifes",
    "friends",
    "everyone",
    "everybody",
];

/// Verbs of speech that turn what follows into someone's reported words.
pub(super) const SPEECH_VERBS: &[&str] = &[
    "said", "says", "say", "saying", "told", "tells", "tell", "telling", "texted", "messaged",
    "wrote", "writes", "posted", "shouted", "screamed", "yelled", "replied",
];

/// Words that mark a quotation as a song, book, film or other media, so
/// its words are not the writer's whoever is "speaking".
pub(super) const MEDIA_WORDS: &[&str] = &[
    "song",
    "songs",
    "lyric",
    "lyrics",
    "line",
    "lines",
    "book",
    "film",
    "movie",
    "show",
    "series",
    "episode",
    "character",
    "poem",
    "quote",
    "quoted",
    "title",
    "titled",
    "called",
    "named",
    "tweet",
    "post",
    "meme",
    "caption",
    "album",
    "track",
    "singing",
    "sang",
    "sings",
    "humming",
    "hummed",
    "listening",
    "reading",
    "watching",
    "playing",
    "chorus",
    "verse",
    "tiktok",
    "video",
    "scene",
    "says",
];

/// Single words that negate what follows.
pub(super) const STRONG_NEGATORS: &[&str] =
    &["not", "never", "nothing", "neither", "nor", "without"];

/// Words that, right after a negator, show it is not negating the risk
/// phrase ahead: "can't stop thinking about...", "not going to lie",
/// "don't care", "not even joking".
pub(super) const NEGATION_BREAKERS: &[&str] = &[
    "stop",
    "help",
    "care",
    "lie",
    "lying",
    "joking",
    "kidding",
    "exaggerating",
    "dramatic",
    "funny",
    "only",
];

/// Nouns after "no" that make it a negator ("no intention of...", "no
/// urges to...").
pub(super) const NO_NOUNS: &[&str] = &[
    "intention",
    "intentions",
    "plan",
    "plans",
    "desire",
    "wish",
    "urge",
    "urges",
    "thought",
    "thoughts",
    "way",
    "longer",
    "more",
];

pub(super) fn is_conj(w: &str) -> bool {
    CONJUNCTIONS.contains(&w)
}

/// Shortens every run of `from` or more of the same letter to `to`
/// letters; shorter runs are kept. `collapse_runs(w, 3, 2)` turns "killll"
/// into "kill" and leaves "odd" alone.
pub(super) fn collapse_runs(word: &str, from: usize, to: usize) -> String {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::with_capacity(word.len());
    let mut i = 0;
    while i < chars.len() {
        let run = chars[i..].iter().take_while(|&&c| c == chars[i]).count();
        let keep = if run >= from { to } else { run };
        out.extend(std::iter::repeat_n(chars[i], keep));
        i += run;
    }
    out
}

/// Reads digits and symbols used as letters ("k1ll", "5uicide", "d1e").
pub(super) fn unleet(word: &str) -> String {
    word.chars()
        .map(|c| match c {
            '0' => 'o',
            '1' => 'i',
            '3' => 'e',
            '4' => 'a',
            '5' => 's',
            '7' => 't',
            '8' => 'b',
            other => other,
        })
        .collect()
}

/// True when `a` and `b` differ by at most one inserted, deleted, changed
/// or swapped (adjacent) character. Linear in the word length.
pub(super) fn within_one_edit(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[prefix..], &b[prefix..]);
    let suffix = ra
        .iter()
        .rev()
        .zip(rb.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (
        &ra[..ra.len() - suffix.min(ra.len())],
        &rb[..rb.len() - suffix.min(rb.len())],
    );
    match (ma.len(), mb.len()) {
        (0, 0) | (1, 0) | (0, 1) | (1, 1) => true,
        (2, 2) => ma[0] == mb[1] && ma[1] == mb[0],
        _ => false,
    }
}

/// The vocabulary the rules are written in, and the repairs that lead a
/// misspelt token to it.
pub(super) struct Vocab {
    known: HashSet<&'static str>,
    spellings: HashMap<&'static str, &'static str>,
    stretched: HashMap<String, &'static str>,
}

impl Vocab {
    pub(super) fn new(words: impl IntoIterator<Item = &'static str>) -> Vocab {
        let mut known: HashSet<&'static str> = words.into_iter().collect();
        for list in [
            CONJUNCTIONS,
            FILLERS,
            NOMINATIVES,
            COMPLEMENTIZERS,
            SELF_WORDS,
            OTHER_WORDS,
            SPEECH_VERBS,
            MEDIA_WORDS,
            STRONG_NEGATORS,
            NEGATION_BREAKERS,
            NO_NOUNS,
            FUZZY_TARGETS,
            STRETCHABLE,
        ] {
            known.extend(list.iter().copied());
        }
        for (_, to) in SPELLINGS {
            known.extend(to.split(' '));
        }
        for (_, _, joined) in JOINS {
            known.insert(joined);
        }
        let stretched = STRETCHABLE
            .iter()
            .map(|w| (collapse_runs(w, 2, 1), *w))
            .collect();
        Vocab {
            known,
            spellings: SPELLINGS.iter().copied().collect(),
            stretched,
        }
    }

    /// The rule-vocabulary reading of one raw lower-case token: one or more
    /// words. Unknown words come back unchanged.
    pub(super) fn canonical(&self, raw: &str) -> Vec<String> {
        if let Some(found) = self.lookup(raw) {
            return found;
        }
        let mut candidates = vec![raw.to_string()];
        if raw.chars().any(|c| c.is_ascii_digit()) && raw.chars().any(|c| c.is_alphabetic()) {
            candidates.push(unleet(raw));
        }
        for cand in &candidates {
            for to in [2, 1] {
                let shorter = collapse_runs(cand, 3, to);
                if let Some(found) = self.lookup(&shorter) {
                    return found;
                }
            }
            if let Some(w) = self.stretched.get(&collapse_runs(cand, 2, 1)) {
                return vec![w.to_string()];
            }
            let unmasked = if cand.contains('*') {
                self.unmask(cand)
            } else {
                None
            };
            if let Some(w) = unmasked {
                return vec![w.to_string()];
            }
            let len = cand.chars().count();
            let fuzzy = FUZZY_TARGETS
                .iter()
                .filter(|_| (5..=12).contains(&len))
                .find(|t| within_one_edit(cand, t));
            if let Some(w) = fuzzy {
                return vec![w.to_string()];
            }
        }
        vec![raw.to_string()]
    }

    fn lookup(&self, w: &str) -> Option<Vec<String>> {
        if let Some(to) = self.spellings.get(w) {
            return Some(to.split(' ').map(str::to_string).collect());
        }
        self.known.contains(w).then(|| vec![w.to_string()])
    }

    /// Reads a censored word such as "k*ll" or "su*cide": the one known
    /// word of the same length that agrees on every letter shown.
    fn unmask(&self, masked: &str) -> Option<&'static str> {
        let shape: Vec<char> = masked.chars().collect();
        let mut found = None;
        for w in FUZZY_TARGETS.iter().chain(STRETCHABLE) {
            let fits = w.chars().count() == shape.len()
                && w.chars().zip(&shape).all(|(c, s)| *s == '*' || c == *s);
            if fits {
                if found.is_some_and(|f| f != *w) {
                    return None;
                }
                found = Some(*w);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_edit() {
        assert!(within_one_edit("sucide", "suicide"));
        assert!(within_one_edit("suicde", "suicide"));
        assert!(within_one_edit("suiside", "suicide"));
        assert!(within_one_edit("myslef", "myself"));
        assert!(!within_one_edit("mystery", "myself"));
        assert!(!within_one_edit("suicides", "suicidal"));
    }

    #[test]
    fn repairs() {
        let v = Vocab::new(["kill", "die", "myself", "suicide"]);
        assert_eq!(v.canonical("dieeee"), ["die"]);
        assert_eq!(v.canonical("kiiill"), ["kill"]);
        assert_eq!(v.canonical("k1ll"), ["kill"]);
        assert_eq!(v.canonical("5uicide"), ["suicide"]);
        assert_eq!(v.canonical("myslef"), ["myself"]);
        assert_eq!(v.canonical("k*ll"), ["kill"]);
        assert_eq!(v.canonical("wanna"), ["want", "to"]);
        assert_eq!(v.canonical("soon"), ["soon"]);
        assert_eq!(v.canonical("odd"), ["odd"]);
        assert_eq!(v.canonical("myselff"), ["myself"]);
        assert_eq!(v.canonical("diee"), ["die"]);
        assert_eq!(v.canonical("60th"), ["60th"]);
    }
}
