//! Normalising a text into a stream of words and breaks.
//!
//! One pass over the characters lower-cases them, drops apostrophes inside
//! words ("don't" becomes "dont"), reads leetspeak symbols inside words
//! ("k!ll", "$uicide"), and turns punctuation into breaks: `.`, `!`, `?`,
//! `;` and new lines end a sentence; `,`, `:`, brackets, dashes and quote
//! marks end a clause. Everything else that is not a letter or a digit
//! (spaces, emoji, symbols) only separates words.
//!
//! The words are then repaired: runs of single letters are joined ("k i l
//! l" is "kill"), each word is mapped to the rules' vocabulary (see
//! [`Vocab::canonical`]), and a few word pairs are joined ("my self").
//!
//! Quotations are found in the same pass: a span between matching quote
//! marks on one line. A span whose words are someone else's (a song, a
//! book, "she said") marks its words as another voice.

use super::lexicon::{self, JOINS, Vocab};

/// What a break ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Break {
    Clause,
    Sentence,
}

/// One word or break of the normalised text.
#[derive(Debug, Clone)]
pub(super) struct Tok {
    word: String,
    brk: Option<Break>,
    /// Which sentence the token belongs to, counted from 0.
    pub(super) sentence: u32,
    /// The quotation the token is in, if any.
    quote: Option<u32>,
    /// The token is inside a quotation of somebody else's words.
    pub(super) other_voice: bool,
}

impl Tok {
    fn word_tok(word: String, quote: Option<u32>) -> Tok {
        Tok {
            word,
            brk: None,
            sentence: 0,
            quote,
            other_voice: false,
        }
    }

    fn break_tok(kind: Break) -> Tok {
        Tok {
            word: String::new(),
            brk: Some(kind),
            sentence: 0,
            quote: None,
            other_voice: false,
        }
    }

    pub(super) fn is_word(&self) -> bool {
        self.brk.is_none()
    }

    /// The word, or "" for a break.
    pub(super) fn word(&self) -> &str {
        &self.word
    }

    /// This token is the word `w`.
    pub(super) fn is(&self, w: &str) -> bool {
        self.brk.is_none() && self.word == w
    }

    pub(super) fn is_in(&self, list: &[&str]) -> bool {
        self.brk.is_none() && list.contains(&self.word.as_str())
    }
}

/// The role a character plays as a quote mark.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Double,
    Single,
}

fn quote_family(c: char) -> Option<Family> {
    match c {
        '"' | '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{00AB}' | '\u{00BB}' => {
            Some(Family::Double)
        }
        '\'' | '\u{2018}' | '\u{2019}' => Some(Family::Single),
        _ => None,
    }
}

fn is_apostrophe(c: char) -> bool {
    matches!(
        c,
        '\'' | '\u{2019}' | '\u{2018}' | '`' | '\u{00B4}' | '\u{02BC}'
    )
}

/// Finds quotation spans as `(open, close)` character indices. A mark can
/// open when it follows a space (or starts the text) and precedes a
/// non-space; it can close when it follows a non-space and precedes a space
/// or punctuation. A span never crosses a line, and an unclosed mark opens
/// nothing, so a stray quote cannot hide the rest of a text.
fn quote_spans(chars: &[char]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut open: [Option<usize>; 2] = [None, None];
    for (i, &c) in chars.iter().enumerate() {
        if c == '\n' {
            open = [None, None];
            continue;
        }
        let Some(family) = quote_family(c) else {
            continue;
        };
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1).copied();
        if family == Family::Single
            && prev.is_some_and(char::is_alphanumeric)
            && next.is_some_and(char::is_alphabetic)
        {
            continue; // an apostrophe inside a word
        }
        let can_open = !matches!(c, '\u{201D}' | '\u{00BB}')
            && prev.is_none_or(|p| p.is_whitespace() || "([{-".contains(p))
            && next.is_some_and(|n| !n.is_whitespace());
        let can_close = !matches!(c, '\u{201C}' | '\u{201E}' | '\u{00AB}')
            && prev.is_some_and(|p| !p.is_whitespace())
            && next.is_none_or(|n| !n.is_alphanumeric());
        let slot = &mut open[family as usize];
        match *slot {
            Some(start) if can_close => {
                spans.push((start, i));
                *slot = None;
            }
            _ if can_open => *slot = Some(i),
            _ => {}
        }
    }
    spans.sort_unstable();
    spans
}

/// Splits the text into raw (not yet repaired) tokens.
fn raw_tokens(text: &str) -> Vec<Tok> {
    let chars: Vec<char> = text.chars().collect();
    let spans = quote_spans(&chars);
    let mut opens = spans.iter().enumerate().map(|(id, s)| (s.0, id)).peekable();
    let mut closes: Vec<(usize, usize)> =
        spans.iter().enumerate().map(|(id, s)| (s.1, id)).collect();
    closes.sort_unstable();
    let mut closes = closes.into_iter().peekable();
    // At most one span per quote family is open, so this stack holds two.
    let mut active: Vec<u32> = Vec::new();

    let mut out: Vec<Tok> = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<Tok>, active: &[u32]| {
        if !word.is_empty() {
            out.push(Tok::word_tok(std::mem::take(word), active.last().copied()));
        }
    };
    let push_break = |out: &mut Vec<Tok>, kind: Break| match out.last_mut() {
        Some(Tok {
            brk: Some(prev), ..
        }) => *prev = (*prev).max(kind),
        _ => out.push(Tok::break_tok(kind)),
    };

    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1).copied();
        if opens.peek().is_some_and(|&(at, _)| at == i) {
            let (_, id) = opens.next().unwrap_or((i, 0));
            flush(&mut word, &mut out, &active);
            push_break(&mut out, Break::Clause);
            active.push(id as u32);
            continue;
        }
        if closes.peek().is_some_and(|&(at, _)| at == i) {
            let (_, id) = closes.next().unwrap_or((i, 0));
            flush(&mut word, &mut out, &active);
            active.retain(|&a| a != id as u32);
            push_break(&mut out, Break::Clause);
            continue;
        }
        let letter_before = prev.is_some_and(char::is_alphanumeric);
        let letter_after = next.is_some_and(char::is_alphabetic);
        match c {
            c if c.is_alphanumeric() => word.extend(c.to_lowercase()),
            c if is_apostrophe(c) && letter_before && letter_after => {}
            // Symbols used as letters inside a word.
            '@' if letter_after => word.push('a'),
            '$' if letter_after => word.push('s'),
            '!' if letter_before && letter_after => word.push('i'),
            '*' if letter_before && next.is_some_and(char::is_alphanumeric) => word.push('*'),
            '.' if prev.is_some_and(|p| p.is_ascii_digit())
                && next.is_some_and(|n| n.is_ascii_digit()) =>
            {
                flush(&mut word, &mut out, &active);
            }
            '.' | '!' | '?' | ';' | '\n' | '\u{2026}' => {
                flush(&mut word, &mut out, &active);
                push_break(&mut out, Break::Sentence);
            }
            ',' | ':' | '(' | ')' | '[' | ']' | '{' | '}' | '\u{2013}' | '\u{2014}' => {
                flush(&mut word, &mut out, &active);
                push_break(&mut out, Break::Clause);
            }
            '-' if prev.is_none_or(char::is_whitespace) || next.is_none_or(char::is_whitespace) => {
                flush(&mut word, &mut out, &active);
                push_break(&mut out, Break::Clause);
            }
            _ => flush(&mut word, &mut out, &active),
        }
    }
    flush(&mut word, &mut out, &active);
    out
}

/// Joins runs of three or more single letters ("k i l l", "s-u-i-c-i-d-e").
fn join_spelled_out(raw: Vec<Tok>) -> Vec<Tok> {
    let single = |t: &Tok| {
        t.is_word() && t.word.chars().count() == 1 && t.word.chars().all(char::is_alphabetic)
    };
    let mut out: Vec<Tok> = Vec::with_capacity(raw.len());
    let mut run: Vec<Tok> = Vec::new();
    let end_run = |run: &mut Vec<Tok>, out: &mut Vec<Tok>| {
        if run.len() >= 3 {
            let word = run.iter().map(|t| t.word.as_str()).collect();
            out.push(Tok::word_tok(word, run[0].quote));
            run.clear();
        } else {
            out.append(run);
        }
    };
    for t in raw {
        if single(&t) && run.last().is_none_or(|r| r.quote == t.quote) {
            run.push(t);
        } else {
            end_run(&mut run, &mut out);
            if single(&t) {
                run.push(t);
            } else {
                out.push(t);
            }
        }
    }
    end_run(&mut run, &mut out);
    out
}

/// Maps every word to the rules' vocabulary and joins word pairs.
fn repair(toks: Vec<Tok>, vocab: &Vocab) -> Vec<Tok> {
    let mut out: Vec<Tok> = Vec::with_capacity(toks.len());
    for t in toks {
        if !t.is_word() {
            out.push(t);
            continue;
        }
        // "want 2 die", "going 2": a 2 after these is "to", not a count.
        let after_to_verb = out
            .last()
            .is_some_and(|p| p.is_in(&["want", "going", "need", "have", "got", "ready", "wanna"]));
        let words = if t.word == "2" && after_to_verb {
            vec!["to".to_string()]
        } else {
            vocab.canonical(&t.word)
        };
        for w in words {
            let joined = out
                .last()
                .filter(|p| p.is_word() && p.quote == t.quote)
                .and_then(|p| {
                    JOINS
                        .iter()
                        .find(|(a, b, _)| p.word == *a && w == *b)
                        .map(|(_, _, j)| *j)
                });
            match joined {
                Some(j) => {
                    if let Some(last) = out.last_mut() {
                        last.word = j.to_string();
                    }
                }
                None => out.push(Tok::word_tok(w, t.quote)),
            }
        }
    }
    out
}

/// Numbers the sentences.
fn number_sentences(toks: &mut [Tok]) {
    let mut sentence = 0;
    for t in toks {
        t.sentence = sentence;
        if t.brk == Some(Break::Sentence) {
            sentence += 1;
        }
    }
}

/// Decides, for each quotation, whether its words are somebody else's, and
/// marks them. A quotation is the writer's own when the writer introduces
/// it ("I said", "I keep thinking") or when nothing introduces it, and
/// when everything written is inside quote marks.
fn mark_other_voices(toks: &mut [Tok]) {
    let outside_words = toks
        .iter()
        .filter(|t| t.is_word() && t.quote.is_none())
        .count();
    if outside_words == 0 {
        return;
    }
    // First and last token of each quotation. Quotations of one family do
    // not nest and two families nest at most once, so marking the ranges
    // below touches each token at most twice.
    let mut ranges: Vec<Option<(usize, usize)>> = Vec::new();
    for (k, t) in toks.iter().enumerate() {
        if let Some(q) = t.quote {
            let q = q as usize;
            if ranges.len() <= q {
                ranges.resize(q + 1, None);
            }
            let r = ranges[q].get_or_insert((k, k));
            r.1 = k;
        }
    }
    for (q, range) in ranges.into_iter().enumerate() {
        let Some((first, last)) = range else {
            continue;
        };
        if attributed_to_other(toks, first, last + 1) {
            for t in &mut toks[first..=last] {
                if t.quote == Some(q as u32) {
                    t.other_voice = true;
                }
            }
        }
    }
}

/// Looks a few words before and after the quotation for who says it.
fn attributed_to_other(toks: &[Tok], start: usize, end: usize) -> bool {
    let sentence = toks[start].sentence;
    let before = (start.saturating_sub(8)..start)
        .rev()
        .filter(|&k| toks[k].is_word() && toks[k].sentence == sentence && toks[k].quote.is_none());
    for k in before {
        let t = &toks[k];
        if t.is_in(lexicon::MEDIA_WORDS) {
            return true;
        }
        if t.is_in(lexicon::SPEECH_VERBS) || t.is("asked") {
            return speaker_before(toks, k) == Speaker::Other;
        }
        if t.is_in(&[
            "think", "thinking", "thought", "feel", "felt", "wish", "myself",
        ]) {
            return false;
        }
    }
    // `"...," she said` and `"...", said my friend`.
    let after: Vec<usize> = (end..toks.len().min(end + 5))
        .filter(|&k| toks[k].is_word() && toks[k].quote.is_none())
        .take(3)
        .collect();
    if let [a, b, ..] = after[..] {
        if toks[a].is_in(lexicon::OTHER_WORDS) && toks[b].is_in(lexicon::SPEECH_VERBS) {
            return true;
        }
        if toks[a].is_in(lexicon::SPEECH_VERBS) && !toks[b].is_in(lexicon::SELF_WORDS) {
            return true;
        }
    }
    false
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Speaker {
    Writer,
    Other,
    Unknown,
}

/// Who is the subject of the verb at `verb`: the nearest pronoun or person
/// noun a few words before it, within its clause.
pub(super) fn speaker_before(toks: &[Tok], verb: usize) -> Speaker {
    for k in (verb.saturating_sub(4)..verb).rev() {
        let t = &toks[k];
        if !t.is_word() || lexicon::is_conj(t.word()) {
            break;
        }
        if t.is_in(lexicon::SELF_WORDS) {
            return Speaker::Writer;
        }
        if t.is_in(lexicon::OTHER_WORDS) || t.is_in(lexicon::MEDIA_WORDS) {
            return Speaker::Other;
        }
    }
    Speaker::Unknown
}

/// Normalises `text` into tokens.
pub(super) fn tokenise(text: &str, vocab: &Vocab) -> Vec<Tok> {
    let toks = repair(join_spelled_out(raw_tokens(text)), vocab);
    let mut toks = toks;
    number_sentences(&mut toks);
    mark_other_voices(&mut toks);
    toks
}

/// Tokenises with the detector's own vocabulary (for tests).
#[cfg(test)]
pub(super) fn tokenise_plain(text: &str) -> Vec<Tok> {
    tokenise(text, &super::rules::engine().vocab)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> String {
        tokenise_plain(text)
            .iter()
            .map(|t| match t.brk {
                None if t.other_voice => format!("<{}>", t.word),
                None => t.word.clone(),
                Some(Break::Clause) => ",".to_string(),
                Some(Break::Sentence) => ".".to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn normalises_spelling_and_contractions() {
        assert_eq!(words("I DON'T wanna"), "i do not want to");
        assert_eq!(words("I’m gonna k1ll my self"), "i am going to kill myself");
        assert_eq!(words("k i l l myslef"), "kill myself");
        assert_eq!(words("self-harm, again!"), "selfharm , again .");
        assert_eq!(words("mood 4.5 today"), "mood 4 5 today");
        assert_eq!(words("i want to dieeee 😭😭"), "i want to die");
    }

    #[test]
    fn marks_quotations_by_others() {
        assert_eq!(
            words("she said \"I want to die\" ok"),
            "she said , <i> <want> <to> <die> , ok"
        );
        assert_eq!(
            words("the song 'end it all' is sad"),
            "the song , <end> <it> <all> , is sad"
        );
        assert_eq!(
            words("I keep thinking \"I want to die\""),
            "i keep thinking , i want to die ,"
        );
        assert_eq!(words("\"I want to die\""), ", i want to die ,");
        // An unclosed quote opens nothing.
        assert_eq!(
            words("she said \"hi. I want to die"),
            "she said hi . i want to die"
        );
        // Apostrophes inside words are not quote marks.
        assert_eq!(words("it's my mum's 'car'"), "it is my mums , car ,");
    }
}
