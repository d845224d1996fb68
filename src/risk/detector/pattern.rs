//! A tiny phrase-pattern language over the normalised word stream.
//!
//! A pattern is a space-separated list of elements:
//!
//! - `a|b|c` matches one of the alternatives; an alternative written
//!   `b_c` is the two words `b c` in a row;
//! - `[a|b]` is the same but may be skipped;
//! - `*`, `**`, `***` skip up to one, two or three words;
//! - `#` is a number of ten or more written in digits ("took 30 pills");
//! - a final `$` requires the phrase to end its clause: the next token is a
//!   break, a conjunction, a filler such as "lol", or one of the rule's
//!   allowed tails.
//!
//! Patterns never cross a break (sentence or clause punctuation), so a
//! match is always local. Every element is bounded, so trying a pattern at
//! one position costs a constant, and scanning a text is linear.

use super::lexicon;
use super::text::Tok;

/// One position of a pattern.
#[derive(Debug)]
enum Elem {
    /// One of several word sequences.
    Alt(Vec<Vec<&'static str>>),
    /// The same, or nothing.
    Opt(Vec<Vec<&'static str>>),
    /// Up to this many arbitrary words (never a break or a conjunction).
    Gap(usize),
    /// A number of ten or more, in digits.
    Many,
}

/// A compiled pattern.
#[derive(Debug)]
pub(super) struct Pattern {
    elems: Vec<Elem>,
    /// The phrase must end its clause (`$`).
    pub(super) at_end: bool,
}

/// Splits `a|b_c` into `[["a"], ["b", "c"]]`.
fn alternatives(spec: &'static str) -> Vec<Vec<&'static str>> {
    spec.split('|')
        .map(|alt| alt.split('_').collect())
        .collect()
}

/// Splits a list of `_`-joined word sequences, as used for tails.
pub(super) fn sequences(list: &[&'static str]) -> Vec<Vec<&'static str>> {
    list.iter().map(|s| s.split('_').collect()).collect()
}

impl Pattern {
    /// Compiles `spec`. Panics on a malformed pattern: the tables are
    /// constants, and a unit test compiles every one of them.
    pub(super) fn compile(spec: &'static str) -> Pattern {
        let mut elems = Vec::new();
        let mut at_end = false;
        for part in spec.split_whitespace() {
            assert!(!at_end, "`$` must be last in pattern {spec:?}");
            if part == "$" {
                at_end = true;
            } else if part == "#" {
                elems.push(Elem::Many);
            } else if part.chars().all(|c| c == '*') {
                elems.push(Elem::Gap(part.len()));
            } else if let Some(inner) = part.strip_prefix('[').and_then(|p| p.strip_suffix(']')) {
                elems.push(Elem::Opt(alternatives(inner)));
            } else {
                assert!(
                    part.chars().all(|c| c.is_ascii_lowercase()
                        || c.is_ascii_digit()
                        || c == '|'
                        || c == '_'),
                    "bad element {part:?} in pattern {spec:?}"
                );
                elems.push(Elem::Alt(alternatives(part)));
            }
        }
        assert!(
            matches!(elems.first(), Some(Elem::Alt(_))),
            "pattern {spec:?} must start with a plain word element"
        );
        Pattern { elems, at_end }
    }

    /// The words a match can start with, for indexing.
    pub(super) fn first_words(&self) -> Vec<&'static str> {
        match self.elems.first() {
            Some(Elem::Alt(alts)) => alts.iter().map(|a| a[0]).collect(),
            _ => Vec::new(),
        }
    }

    /// Every literal word, so the normaliser knows the vocabulary.
    pub(super) fn words(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.elems.iter().flat_map(|e| match e {
            Elem::Alt(alts) | Elem::Opt(alts) => alts.iter().flatten().copied().collect(),
            Elem::Gap(_) | Elem::Many => Vec::new(),
        })
    }

    /// Tries the pattern at `start`; returns the end (exclusive) of the
    /// first match that `accept` agrees to.
    pub(super) fn match_at(
        &self,
        toks: &[Tok],
        start: usize,
        accept: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        go(&self.elems, toks, start, accept)
    }
}

/// Whether the words of `seq` appear at `pos`.
pub(super) fn seq_at(toks: &[Tok], pos: usize, seq: &[&str]) -> bool {
    seq.iter()
        .enumerate()
        .all(|(k, w)| toks.get(pos + k).is_some_and(|t| t.is(w)))
}

/// A number of ten or more: long runs of digits count without parsing.
fn is_many(t: &Tok) -> bool {
    let w = t.word();
    t.is_word()
        && !w.is_empty()
        && w.chars().all(|c| c.is_ascii_digit())
        && (w.len() > 2 || w.parse::<u32>().is_ok_and(|n| n >= 10))
}

fn go(elems: &[Elem], toks: &[Tok], pos: usize, accept: &dyn Fn(usize) -> bool) -> Option<usize> {
    let Some((first, rest)) = elems.split_first() else {
        return accept(pos).then_some(pos);
    };
    match first {
        Elem::Alt(alts) => alts
            .iter()
            .filter(|seq| seq_at(toks, pos, seq))
            .find_map(|seq| go(rest, toks, pos + seq.len(), accept)),
        Elem::Opt(alts) => alts
            .iter()
            .filter(|seq| seq_at(toks, pos, seq))
            .find_map(|seq| go(rest, toks, pos + seq.len(), accept))
            .or_else(|| go(rest, toks, pos, accept)),
        Elem::Many => match toks.get(pos) {
            Some(t) if is_many(t) => go(rest, toks, pos + 1, accept),
            _ => None,
        },
        Elem::Gap(n) => {
            let mut p = pos;
            for _ in 0..=*n {
                if let Some(end) = go(rest, toks, p, accept) {
                    return Some(end);
                }
                match toks.get(p) {
                    Some(t) if t.is_word() && !lexicon::is_conj(t.word()) => p += 1,
                    _ => break,
                }
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::risk::detector::text::tokenise_plain;

    fn matches(spec: &'static str, text: &str) -> bool {
        let p = Pattern::compile(spec);
        let toks = tokenise_plain(text);
        (0..toks.len()).any(|i| p.match_at(&toks, i, &|_| true).is_some())
    }

    #[test]
    fn alternatives_options_and_gaps() {
        assert!(matches("want to die|be_dead", "i want to be dead"));
        assert!(matches("want [really] to die", "want to die"));
        assert!(matches("goodbye ** forever", "goodbye to you forever"));
        assert!(!matches(
            "goodbye ** forever",
            "goodbye to all of you forever"
        ));
        assert!(!matches("want to die", "want to. die"));
        assert!(matches("took # pills", "took 30 pills"));
        assert!(!matches("took # pills", "took 2 pills"));
    }
}
