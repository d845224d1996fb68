//! Risk-language detection (SPEC §9): does a patient's text suggest they
//! may be at risk of suicide or self-harm?
//!
//! The detector is a pure function of the text, with no dependencies and
//! no state beyond tables compiled once. It runs in four steps:
//!
//! 1. **Normalise** ([`text`]): lower-case; read leetspeak ("k1ll",
//!    "5uicide"), stretched words ("dieeee"), spelled-out words ("k i l
//!    l"), one-letter slips ("sucide", "myslef") and text-speak ("kms",
//!    "wanna"); expand contractions so every negation is "not" and every
//!    first-person subject is "i". Emoji and symbols only separate words.
//! 2. **Split** the words into sentences and clauses at punctuation, quote
//!    marks and conjunctions ("and", "but", "because"). Quotations of
//!    somebody else's words (a song, "she said") are marked.
//! 3. **Match** the phrase tables ([`rules`]) at every word, and judge each
//!    match in its context ([`context`]): quoted or someone else's words
//!    count for nothing; a negator shortly before ("I would never kill
//!    myself") denies the phrase unless the writer goes on to voice
//!    ambivalence ("...but I think about it"), which makes it moderate;
//!    doubt ("I don't think I want to die") makes it moderate; the past
//!    ("I used to...") makes it moderate; "but I'd never act on it" lowers
//!    thoughts of suicide or a wish to die to moderate. Phrases that carry
//!    their own negation ("I don't want to live anymore", "I can't go on")
//!    are risk as written. Some phrases count only next to a companion
//!    word: "all my pills" with "tonight" or "going to", "I'm going to
//!    jump" with a roof or a bridge; and unstated intent ("I'm going to do
//!    it tonight") counts only when the text already holds risk language.
//! 4. **Highest level wins** across the whole text; a phrase inside a
//!    longer one ("killing myself" in "thinking about killing myself") is
//!    judged as part of the longer one.
//!
//! TODO: the tables are hand-written and miss wording they have not seen:
//! on the last fresh set of messages, measured before any rule was changed
//! for it, about 70% of high-risk messages were found (precision 96%).
//! Measure on real, consented, de-identified messages before relying on
//! the level alone, and keep the clinician review of moderate alerts.
//!
//! The whole text is always read, whatever its length or shape: nothing is
//! truncated or skipped. Every step looks at a bounded window around each
//! word, so the cost is linear in the length of the text.
//!
//! The reason returned is the name of the rule that decided the level (see
//! [`reason`]), never any of the patient's words.

mod context;
mod lexicon;
mod pattern;
mod rules;
mod text;

/// How worrying a text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    None,
    Moderate,
    High,
}

/// The verdict on one text: a level and the name of the rule that set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screening {
    pub level: Level,
    pub reason: &'static str,
}

/// The stable rule names a [`Screening`] may carry.
pub mod reason {
    /// Nothing of concern was found.
    pub const NONE: &str = "none";
    /// High: the writer states an intent to kill themselves.
    pub const FIRST_PERSON_INTENT: &str = "first_person_intent";
    /// High: the writer wishes to be dead or not alive.
    pub const WISH_TO_DIE: &str = "wish_to_die";
    /// High: the writer thinks about suicide.
    pub const SUICIDAL_IDEATION: &str = "suicidal_ideation";
    /// High: a method, plan or means.
    pub const METHOD_OR_PLAN: &str = "method_or_plan";
    /// High: goodbyes, notes, giving things away.
    pub const PREPARATION_OR_GOODBYE: &str = "preparation_or_goodbye";
    /// High: an attempt just now.
    pub const RECENT_ATTEMPT: &str = "recent_attempt";
    /// Moderate: an attempt in the past.
    pub const PAST_ATTEMPT: &str = "past_attempt";
    /// Moderate: no hope, no point.
    pub const HOPELESSNESS: &str = "hopelessness";
    /// Moderate: wishing to disappear, feeling a burden, unable to go on.
    pub const PASSIVE_IDEATION: &str = "passive_ideation";
    /// Moderate: self-harm urges or acts.
    pub const SELF_HARM: &str = "self_harm";
    /// Moderate: a denial followed by ambivalence ("...but I think about it").
    pub const NEGATED_WITH_DISTRESS: &str = "negated_with_distress";
    /// Moderate: doubt rather than denial ("I don't think I want to die").
    pub const UNCERTAIN: &str = "uncertain";
    /// Moderate: risk language about the past.
    pub const PAST_RISK: &str = "past_risk";
    /// Moderate: thoughts of suicide or a wish to die, with a stated lack
    /// of intent ("...but I would never act on it").
    pub const IDEATION_WITHOUT_INTENT: &str = "ideation_without_intent";
    /// None: risk language about someone else.
    pub const THIRD_PERSON: &str = "third_person";
    /// None: risk language inside somebody else's quoted words.
    pub const QUOTED: &str = "quoted";
    /// None: risk language clearly denied.
    pub const NEGATED: &str = "negated";
    /// None: risk long past, with recovery described.
    pub const PAST_RECOVERED: &str = "past_recovered";

    /// Every reason, for checks that a reason is one of these.
    pub const ALL: &[&str] = &[
        NONE,
        FIRST_PERSON_INTENT,
        WISH_TO_DIE,
        SUICIDAL_IDEATION,
        METHOD_OR_PLAN,
        PREPARATION_OR_GOODBYE,
        RECENT_ATTEMPT,
        PAST_ATTEMPT,
        HOPELESSNESS,
        PASSIVE_IDEATION,
        SELF_HARM,
        NEGATED_WITH_DISTRESS,
        UNCERTAIN,
        PAST_RISK,
        IDEATION_WITHOUT_INTENT,
        THIRD_PERSON,
        QUOTED,
        NEGATED,
        PAST_RECOVERED,
    ];
}

/// Screens `text` for risk language. Reads all of it, in linear time.
pub fn screen(text: &str) -> Screening {
    let engine = rules::engine();
    let text = fold_disguises(text);
    let toks = text::tokenise(&text, &engine.vocab);
    let hits = outermost(engine.rule_hits(&toks));
    let markers = engine.marker_hits(&toks);
    let ctx = context::Context::new(&toks, &markers);
    let mut best = Screening {
        level: Level::None,
        reason: reason::NONE,
    };
    let is_referent = |h: &rules::Hit| engine.rules[h.rule].rule.kind == rules::Kind::Referent;
    // Unstated intent ("I'm going to do it tonight") is judged last, and
    // only when the rest of the text already holds risk language.
    for referents in [false, true] {
        if referents && best.level == Level::None {
            break;
        }
        for hit in hits.iter().filter(|h| is_referent(h) == referents) {
            let Some((level, why)) = ctx.judge(engine, hit) else {
                continue;
            };
            // The first phrase of the highest level decides; among phrases
            // that found nothing, the first says why (e.g. "third_person").
            if level > best.level || (level == Level::None && best.reason == reason::NONE) {
                best = Screening { level, reason: why };
            }
        }
    }
    best
}

/// Drops phrases inside a longer phrase: in "thinking about killing
/// myself", "killing myself" is part of the thought, not a separate
/// statement of intent. When two rules match the same words, the earlier
/// table wins (the sort is stable).
/// Undoes the disguises that hide a word from the rules but not from a
/// reader: invisible characters inside words (zero-width spaces, soft
/// hyphens, joiners, direction marks), combining accents, full-width and
/// mathematical letters, Latin look-alikes from Cyrillic and Greek, and
/// letters spelled out with dots or stars ("k.i.l.l"). One pass, linear.
pub fn fold_disguises(text: &str) -> String {
    let mut out: Vec<char> = Vec::with_capacity(text.len());
    for c in text.chars() {
        let cp = c as u32;
        let mapped = match c {
            '\u{00AD}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}' => None,
            '\u{0300}'..='\u{036F}' => None,
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(cp - 0xFEE0),
            '\u{1D400}'..='\u{1D6A3}' => {
                let i = (cp - 0x1D400) % 52;
                char::from_u32(if i < 26 {
                    'A' as u32 + i
                } else {
                    'a' as u32 + i - 26
                })
            }
            _ => Some(lookalike(c).unwrap_or(c)),
        };
        if let Some(m) = mapped {
            out.push(m);
        }
    }
    // "k.i.l.l" → "k i l l": a separator between two single letters.
    for i in 1..out.len().saturating_sub(1) {
        if matches!(out[i], '.' | '*' | '_' | '-' | '·')
            && out[i - 1].is_alphabetic()
            && out[i + 1].is_alphabetic()
            && (i < 2 || !out[i - 2].is_alphanumeric())
            && (i + 2 >= out.len() || !out[i + 2].is_alphanumeric())
        {
            out[i] = ' ';
        }
    }
    out.into_iter().collect()
}

/// Cyrillic and Greek letters that look like Latin ones.
fn lookalike(c: char) -> Option<char> {
    Some(match c {
        'а' | 'α' | 'А' | 'Α' => 'a',
        'в' | 'В' | 'Β' => 'b',
        'с' | 'С' | 'ϲ' => 'c',
        'ԁ' => 'd',
        'е' | 'Е' | 'ε' | 'Ε' => 'e',
        'һ' | 'Н' | 'Η' => 'h',
        'і' | 'І' | 'ι' | 'Ι' | 'ӏ' => 'i',
        'ј' | 'Ј' => 'j',
        'к' | 'К' | 'κ' | 'Κ' => 'k',
        'м' | 'М' | 'Μ' => 'm',
        'о' | 'О' | 'ο' | 'Ο' => 'o',
        'р' | 'Р' | 'ρ' | 'Ρ' => 'p',
        'ѕ' | 'Ѕ' => 's',
        'т' | 'Т' | 'Τ' => 't',
        'у' | 'У' => 'y',
        'х' | 'Х' | 'χ' | 'Χ' => 'x',
        _ => return None,
    })
}

fn outermost(mut hits: Vec<rules::Hit>) -> Vec<rules::Hit> {
    hits.sort_by_key(|h| (h.start, std::cmp::Reverse(h.end)));
    let mut reach = 0;
    hits.retain(|h| {
        let keep = h.end > reach;
        reach = reach.max(h.end);
        keep
    });
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(text: &str) -> Level {
        screen(text).level
    }

    #[track_caller]
    fn assert_levels(expected: Level, texts: &[&str]) {
        for t in texts {
            let got = screen(t);
            assert_eq!(got.level, expected, "{t:?} screened as {got:?}");
        }
    }

    #[test]
    fn first_person_intent_plans_and_euphemisms_are_high() {
        assert_levels(
            Level::High,
            &[
                "I'm going to kill myself",
                "I want to die",
                "I'm going to unalive myself",
                "honestly kms",
                "I'm going to end it all",
                "ready to ctb",
                "I think it's time to catch the bus.",
                "I just want to go to sleep and not wake up",
                "Everyone would be better off without me",
                "I want to say goodbye for good",
                "I wrote my note",
                "I don't want to live anymore",
                "I don't want to be here anymore",
                "I've been stockpiling my pills",
                "I'm going to jump off the bridge",
            ],
        );
    }

    #[test]
    fn passive_ideation_and_self_harm_are_moderate() {
        assert_levels(
            Level::Moderate,
            &[
                "what's the point of anything",
                "I can't go on like this",
                "I wish I could disappear",
                "I cut myself again last night",
                "I can't see a way out",
                "I'm not going to kill myself but I think about it",
                "I used to want to kill myself",
                "I don't think I want to be alive",
            ],
        );
    }

    #[test]
    fn idioms_are_none() {
        assert_levels(
            Level::None,
            &[
                "this week is killing me",
                "I could kill for a coffee",
                "dying to see you",
                "I died laughing",
                "killing it at work",
                "dead tired",
                "bored to death",
                "I'm so embarrassed I want to die of shame",
                "I've been killing myself at the gym",
                "I cut myself shaving",
                "I'm going to catch the bus to work",
                "I finally ended it with him",
                "I don't want to live with my parents forever",
            ],
        );
    }

    #[test]
    fn negation_has_a_scope() {
        assert_levels(
            Level::None,
            &[
                "I would never kill myself, I love my kids",
                "I'm not suicidal, just tired",
                "I would never, ever kill myself",
                "I have no intention of hurting myself",
            ],
        );
        // A negation elsewhere does not reach the phrase.
        assert_levels(
            Level::High,
            &[
                "I'm not okay. I want to die",
                "not going to lie, I want to kill myself",
                "I'm not even joking I want to die",
                "I can't stop thinking about killing myself",
                "why don't I just kill myself",
                "No one cares so I'm going to kill myself",
            ],
        );
    }

    #[test]
    fn quotes_and_other_people_are_none() {
        let friend = screen("my friend said she wanted to kill herself");
        assert_eq!(friend.level, Level::None);
        assert_eq!(friend.reason, reason::THIRD_PERSON);
        assert_levels(
            Level::None,
            &[
                "the song goes \"I want to die\" and it's stuck in my head",
                "she said \"I'm going to kill myself\" and laughed",
                "the character says 'I want to end it all'",
                "she said, I'm going to kill myself, then laughed",
                "he wants to die and I'm scared for him",
                "my sister is suicidal",
                "that ref should kys",
            ],
        );
        // The writer's own words, quoted, still count.
        assert_levels(
            Level::High,
            &[
                "I told my mum \"I want to die\"",
                "\"I want to die\"",
                "I keep thinking 'I want to die'",
            ],
        );
    }

    #[test]
    fn misspellings_and_text_speak() {
        assert_levels(
            Level::High,
            &[
                "i wana kil myslef",
                "thinking about sucide",
                "suicde is the answer",
                "I want to k1ll myself",
                "5uicide is the only way",
                "k i l l myself",
                "i wanna dieeee",
                "I'M GOING TO KILL MYSELF",
                "😭😭 i want to die 💀",
                "I want to k*ll myself",
            ],
        );
    }

    #[test]
    fn clinical_mentions_are_none() {
        assert_levels(
            Level::None,
            &[
                "we talked about suicide prevention at work",
                "the GP asked if I'd had thoughts of harming myself and I said no",
                "the PHQ-9 question about being better off dead is hard",
            ],
        );
        assert_eq!(
            level("my therapist asked if I'm suicidal and honestly yes I am"),
            Level::High
        );
    }

    #[test]
    fn risk_in_the_middle_of_a_long_text_is_found() {
        let filler = "Today I went for a walk, made some tea and tidied the kitchen. ";
        let mut text = filler.repeat(25_000 / filler.len() + 1);
        text.push_str("I have decided to kill myself on Friday. ");
        text.push_str(&filler.repeat(25_000 / filler.len() + 1));
        assert!(text.len() > 50_000);
        assert_eq!(level(&text), Level::High);
    }

    #[test]
    fn pathological_input_finishes() {
        let mb = 1 << 20;
        // Negators with nothing to negate, letters to join, unclosed quotes,
        // a phrase on every word, emoji only.
        for unit in ["not ", "k i l l ", "\"", "not kill myself but ", "💀"] {
            let text = unit.repeat(mb / unit.len());
            let _ = screen(&text);
        }
        // One huge word.
        let _ = screen(&"x".repeat(mb));
    }

    #[test]
    fn reasons_are_rule_names() {
        for text in [
            "I want to die",
            "I cut myself",
            "hello",
            "my dad killed himself",
            "she said \"kms\"",
        ] {
            assert!(reason::ALL.contains(&screen(text).reason), "{text:?}");
        }
    }

    /// The labelled messages in `tests/data/risk_messages.tsv`: one
    /// `label<TAB>split<TAB>text` per line; lines starting with `#` are
    /// comments.
    const DATA: &str = include_str!("../../tests/data/risk_messages.tsv");

    #[derive(Default)]
    struct Tally {
        labelled_high: usize,
        screened_high: usize,
        true_high: usize,
        labelled_risk: usize,
        screened_risk: usize,
        true_risk: usize,
        exact: usize,
        total: usize,
    }

    impl Tally {
        fn add(&mut self, label: Level, got: Level) {
            self.total += 1;
            self.exact += usize::from(label == got);
            self.labelled_high += usize::from(label == Level::High);
            self.screened_high += usize::from(got == Level::High);
            self.true_high += usize::from(label == Level::High && got == Level::High);
            self.labelled_risk += usize::from(label > Level::None);
            self.screened_risk += usize::from(got > Level::None);
            self.true_risk += usize::from(label > Level::None && got > Level::None);
        }

        fn ratio(a: usize, b: usize) -> f64 {
            if b == 0 { 1.0 } else { a as f64 / b as f64 }
        }

        fn high_recall(&self) -> f64 {
            Self::ratio(self.true_high, self.labelled_high)
        }

        fn high_precision(&self) -> f64 {
            Self::ratio(self.true_high, self.screened_high)
        }

        fn report(&self, name: &str) {
            println!(
                "{name:>8}: n={:3} exact={:.3} | high recall={:.3} precision={:.3} | any-risk recall={:.3} precision={:.3}",
                self.total,
                Self::ratio(self.exact, self.total),
                self.high_recall(),
                self.high_precision(),
                Self::ratio(self.true_risk, self.labelled_risk),
                Self::ratio(self.true_risk, self.screened_risk),
            );
        }
    }

    fn parse_label(s: &str) -> Level {
        match s {
            "high" => Level::High,
            "moderate" => Level::Moderate,
            "none" => Level::None,
            other => panic!("unknown label {other:?}"),
        }
    }

    #[test]
    fn labelled_messages_meet_the_bar() {
        let (mut dev, mut holdout, mut all) =
            (Tally::default(), Tally::default(), Tally::default());
        for (n, line) in DATA
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let mut fields = line.splitn(3, '\t');
            let (Some(label), Some(split), Some(text)) =
                (fields.next(), fields.next(), fields.next())
            else {
                panic!("line {} is not label<TAB>split<TAB>text", n + 1);
            };
            let label = parse_label(label);
            let got = screen(text);
            match split {
                "dev" => dev.add(label, got.level),
                "holdout" => holdout.add(label, got.level),
                other => panic!("line {}: unknown split {other:?}", n + 1),
            }
            all.add(label, got.level);
            if got.level != label {
                println!(
                    "MISS {split} line {}: labelled {label:?}, screened {got:?}: {text}",
                    n + 1
                );
            }
        }
        dev.report("dev");
        holdout.report("holdout");
        all.report("all");
        assert!(
            all.total >= 240,
            "the data set must hold at least 240 messages"
        );
        assert!(
            all.high_recall() >= 0.95,
            "high recall {:.3} < 0.95",
            all.high_recall()
        );
        assert!(
            all.high_precision() >= 0.8,
            "high precision {:.3} < 0.8",
            all.high_precision()
        );
    }

    #[test]
    fn disguised_words_are_still_read() {
        for text in [
            "I am going to ki\u{200b}ll myself tonight",
            "I want to d\u{00ad}ie, I am going to kill myself",
            "I am going to k\u{0456}ll myself tonight",
            "I am going to \u{ff4b}\u{ff49}\u{ff4c}\u{ff4c} myself tonight",
            "I am going to \u{1d424}\u{1d422}\u{1d425}\u{1d425} myself tonight",
            "I am going to k.i.l.l myself tonight",
            "I am going to k*i*l*l myself tonight",
        ] {
            assert_eq!(screen(text).level, Level::High, "{text:?}");
        }
        assert_eq!(fold_disguises("self-harm e.g. ok"), "self-harm e g. ok");
        assert_eq!(fold_disguises("k*ll"), "k*ll");
    }

    #[test]
    fn slang_and_named_methods() {
        for text in [
            "I'm going to top myself",
            "gonna neck myself tonight",
            "thinking about sewerslide again",
            "I want to self-delete",
            "I'm going to set myself on fire",
            "I'm going to crash my car on purpose",
            "I'm going to drive my car into a wall on purpose",
        ] {
            assert_eq!(screen(text).level, Level::High, "{text:?}");
        }
        for text in [
            "my boss topped up my hours",
            "we set the campfire alight",
            "I crashed my car last year, nobody was hurt",
        ] {
            assert_eq!(screen(text).level, Level::None, "{text:?}");
        }
    }
}
