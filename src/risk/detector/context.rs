//! What the words around a phrase do to its meaning: whose words they are,
//! whether they are negated, in the past, or answered "no".
//!
//! Every check looks at a bounded window around the phrase, or at counts
//! gathered per sentence in one pass, so judging every phrase of a text is
//! linear in its length.

use super::Level;
use super::lexicon::{self, COMPLEMENTIZERS, NEGATION_BREAKERS, NO_NOUNS, NOMINATIVES};
use super::reason;
use super::rules::{Engine, Hit, Kind, Marker, MarkerHit, Subject};
use super::text::{Speaker, Tok, speaker_before};

/// How far (in words) a negator reaches forward to a phrase.
const NEGATION_REACH: usize = 6;
/// How far (in words) a subject is looked for before a phrase.
const SUBJECT_REACH: usize = 8;
/// How far (in words) time words ("used to", "last night") are looked for
/// either side of a phrase, within its clause.
const TIME_REACH: usize = 8;
/// How far back "the GP asked if..." may be from the phrase it asks about.
const ASKED_REACH: usize = 10;

/// Where the markers of one kind lie in one sentence.
#[derive(Debug, Clone, Copy)]
struct Spread {
    min_end: usize,
    max_start: usize,
}

impl Spread {
    fn add(spread: &mut Option<Spread>, m: &MarkerHit) {
        let s = spread.get_or_insert(Spread {
            min_end: m.end,
            max_start: m.start,
        });
        s.min_end = s.min_end.min(m.end);
        s.max_start = s.max_start.max(m.start);
    }

    /// Some marker lies wholly outside `start..end`.
    fn outside(spread: Option<Spread>, start: usize, end: usize) -> bool {
        spread.is_some_and(|s| s.min_end <= start || s.max_start >= end)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct SentenceMarks {
    distress: Option<Spread>,
    disclaimer: Option<Spread>,
    answered_no: Option<Spread>,
    cue: Option<Spread>,
    meds: Option<Spread>,
    place: Option<Spread>,
    farewell: Option<Spread>,
}

/// Strength of a negation in front of a phrase.
#[derive(Debug, PartialEq, Eq)]
enum Negation {
    None,
    /// "not", "never", "no longer": the phrase is denied.
    Strong,
    /// "I don't think", "not sure if", "can't": doubt, not denial.
    Weak,
}

/// The text's tokens with its markers, ready to judge phrases.
pub(super) struct Context<'a> {
    toks: &'a [Tok],
    /// Which markers start at each token, as bits.
    starts: Vec<u16>,
    sentences: Vec<SentenceMarks>,
    recovery: bool,
}

impl<'a> Context<'a> {
    pub(super) fn new(toks: &'a [Tok], markers: &[MarkerHit]) -> Context<'a> {
        let count = toks.last().map_or(0, |t| t.sentence as usize + 1);
        let mut ctx = Context {
            toks,
            starts: vec![0; toks.len()],
            sentences: vec![SentenceMarks::default(); count],
            recovery: false,
        };
        for m in markers {
            ctx.starts[m.start] |= m.marker.bit();
            let s = &mut ctx.sentences[toks[m.start].sentence as usize];
            match m.marker {
                Marker::Distress => Spread::add(&mut s.distress, m),
                Marker::Disclaimer => Spread::add(&mut s.disclaimer, m),
                Marker::AnsweredNo => Spread::add(&mut s.answered_no, m),
                Marker::Cue => Spread::add(&mut s.cue, m),
                Marker::Meds => Spread::add(&mut s.meds, m),
                Marker::Place => Spread::add(&mut s.place, m),
                Marker::Farewell => Spread::add(&mut s.farewell, m),
                Marker::Recovery => ctx.recovery = true,
                Marker::Past | Marker::Recent | Marker::Asked => {}
            }
        }
        ctx
    }

    /// The level and reason of one phrase in its context, or `None` when
    /// the phrase does not apply at all (a rule needing an explicit "I"
    /// that has none).
    pub(super) fn judge(&self, engine: &Engine, hit: &Hit) -> Option<(Level, &'static str)> {
        let rule = engine.rules[hit.rule].rule;
        if rule
            .needs
            .is_some_and(|needed| !self.needed_near(hit, needed))
        {
            return None;
        }
        if self.toks[hit.start..hit.end].iter().any(|t| t.other_voice) {
            return Some((Level::None, reason::QUOTED));
        }
        if rule.kind == Kind::Others {
            return Some(rule.kind.base());
        }
        let (speaker, subject_at) = self.subject(hit);
        if rule.subject != Subject::Named && speaker == Speaker::Other {
            return Some((Level::None, reason::THIRD_PERSON));
        }
        if rule.subject == Subject::Explicit && speaker != Speaker::Writer {
            return None;
        }
        if self.reported(subject_at.unwrap_or(hit.start), hit.end) {
            return Some((Level::None, reason::THIRD_PERSON));
        }
        if self.marker_near(hit, Marker::Asked, ASKED_REACH, 0) && self.answered_no_after(hit) {
            return Some((Level::None, reason::NEGATED));
        }
        let (level, why) = rule.kind.base();
        if rule.negatable {
            match self.negation(hit.start) {
                Negation::Strong if self.distress_near(hit) => {
                    return Some((Level::Moderate, reason::NEGATED_WITH_DISTRESS));
                }
                Negation::Strong => return Some((Level::None, reason::NEGATED)),
                Negation::Weak => return Some((level.min(Level::Moderate), reason::UNCERTAIN)),
                Negation::None => {}
            }
        }
        let recent = self.marker_near(hit, Marker::Recent, TIME_REACH, TIME_REACH);
        if rule.kind == Kind::Attempt {
            return Some(if recent {
                (Level::High, reason::RECENT_ATTEMPT)
            } else {
                (Level::Moderate, reason::PAST_ATTEMPT)
            });
        }
        if !recent && self.marker_near(hit, Marker::Past, TIME_REACH, TIME_REACH) {
            return Some(if self.recovery && !self.distress_near(hit) {
                (Level::None, reason::PAST_RECOVERED)
            } else {
                (level.min(Level::Moderate), reason::PAST_RISK)
            });
        }
        if matches!(rule.kind, Kind::Ideation | Kind::Wish) && self.disclaimed_near(hit) {
            return Some((Level::Moderate, reason::IDEATION_WITHOUT_INTENT));
        }
        Some((level, why))
    }

    fn is_clause_word(&self, k: usize) -> bool {
        let t = &self.toks[k];
        t.is_word() && !lexicon::is_conj(t.word())
    }

    /// Who the phrase is about: a subject word inside it, or the nearest
    /// one before it in its clause.
    fn subject(&self, hit: &Hit) -> (Speaker, Option<usize>) {
        if (hit.start..hit.end).any(|k| self.toks[k].is_in(lexicon::SELF_WORDS)) {
            return (Speaker::Writer, Some(hit.start));
        }
        for k in (hit.start.saturating_sub(SUBJECT_REACH)..hit.start).rev() {
            if !self.is_clause_word(k) {
                break;
            }
            let t = &self.toks[k];
            if t.is_in(lexicon::SELF_WORDS) {
                return (Speaker::Writer, Some(k));
            }
            if t.is_in(lexicon::OTHER_WORDS) {
                return (Speaker::Other, Some(k));
            }
        }
        (Speaker::Unknown, None)
    }

    /// Whether the words from `from` on are somebody else's reported speech:
    /// "she said I'm going to...", "she said, I want to...", or "I want to
    /// die, she said".
    fn reported(&self, from: usize, end: usize) -> bool {
        let toks = self.toks;
        let sentence = toks[from].sentence;
        let mut k = from;
        let mut seen = 0;
        while k > 0 && seen < SUBJECT_REACH {
            k -= 1;
            let t = &toks[k];
            if t.sentence != sentence || (t.is_word() && lexicon::is_conj(t.word())) {
                break;
            }
            if !t.is_word() {
                // Across a comma only "she said," or "she told me,".
                let verb = match k.checked_sub(1).map(|p| &toks[p]) {
                    Some(p) if p.is("me") => k.checked_sub(2),
                    Some(_) => k.checked_sub(1),
                    None => None,
                };
                return verb.is_some_and(|v| {
                    toks[v].is_in(lexicon::SPEECH_VERBS)
                        && speaker_before(toks, v) == Speaker::Other
                });
            }
            if t.is_in(lexicon::SPEECH_VERBS) {
                return speaker_before(toks, k) == Speaker::Other;
            }
            seen += 1;
        }
        // "..., she said" after the clause.
        let mut k = end;
        while k < toks.len() && k < end + SUBJECT_REACH && toks[k].sentence == sentence {
            if !toks[k].is_word() {
                let a = toks.get(k + 1);
                let b = toks.get(k + 2);
                return match (a, b) {
                    (Some(a), Some(b)) => {
                        (a.is_in(lexicon::OTHER_WORDS) && b.is_in(lexicon::SPEECH_VERBS))
                            || (a.is_in(lexicon::SPEECH_VERBS) && b.is_in(lexicon::OTHER_WORDS))
                    }
                    _ => false,
                };
            }
            if lexicon::is_conj(toks[k].word()) {
                break;
            }
            k += 1;
        }
        false
    }

    /// Looks back from a phrase for a negator governing it.
    fn negation(&self, start: usize) -> Negation {
        let toks = self.toks;
        let mut k = start;
        let mut seen = 0;
        while k > 0 && seen < NEGATION_REACH {
            k -= 1;
            if !toks[k].is_word() && self.negator_before_aside(k, start) {
                // "never, ever": the comma sets off an intensifier only.
                continue;
            }
            if !self.is_clause_word(k) {
                break;
            }
            let t = &toks[k];
            if t.is_in(NOMINATIVES) {
                // A new subject starts a new clause, unless it follows
                // "think", "like", "if"... ("I don't think I want to").
                match k.checked_sub(1) {
                    Some(p) if toks[p].is_in(COMPLEMENTIZERS) => {
                        seen += 1;
                        continue;
                    }
                    _ => break,
                }
            }
            if let Some(strength) = self.negator_at(k, start) {
                return strength;
            }
            seen += 1;
        }
        Negation::None
    }

    /// Whether the break at `k` only sets off an intensifier after a
    /// negator, as in "never, ever kill myself".
    fn negator_before_aside(&self, k: usize, start: usize) -> bool {
        let toks = self.toks;
        k > 0
            && toks[k - 1].is_in(&["not", "never"])
            && (k + 1..start).all(|j| {
                toks[j].is_in(&[
                    "ever",
                    "really",
                    "honestly",
                    "truly",
                    "seriously",
                    "actually",
                ])
            })
    }

    /// Whether the word at `k` negates what follows up to `start`.
    fn negator_at(&self, k: usize, start: usize) -> Option<Negation> {
        let toks = self.toks;
        let t = &toks[k];
        let next = toks.get(k + 1);
        let prev = k.checked_sub(1).map(|p| &toks[p]);
        let is_negator = t.is_in(lexicon::STRONG_NEGATORS)
            || (t.is("no") && (k + 1 == start || next.is_some_and(|n| n.is_in(NO_NOUNS))))
            || t.is("stopped")
            || t.is("quit");
        if !is_negator {
            return None;
        }
        // "can't stop thinking about it", "not going to lie", "not even
        // joking": the negation is about something else.
        if (k + 1..start.min(k + 4)).any(|j| toks[j].is_in(NEGATION_BREAKERS)) {
            return Some(Negation::None);
        }
        // "why don't I just...", "why not just...".
        if (k.saturating_sub(3)..k).any(|j| toks[j].is("why")) {
            return Some(Negation::None);
        }
        if t.is("not") {
            let doubtful_before = prev.is_some_and(|p| {
                p.is_in(&[
                    "can", "could", "might", "may", "probably", "maybe", "possibly",
                ])
            });
            let doubtful_after = next.is_some_and(|n| {
                n.is_in(&["sure", "think", "know", "believe", "reckon", "certain"])
            });
            if doubtful_before || doubtful_after {
                return Some(Negation::Weak);
            }
        }
        Some(Negation::Strong)
    }

    /// Whether `marker` starts within the phrase's clause, up to `before`
    /// words before it or `after` words after it.
    fn marker_near(&self, hit: &Hit, marker: Marker, before: usize, after: usize) -> bool {
        let bit = marker.bit();
        let mut k = hit.start;
        let mut seen = 0;
        while k > 0 && seen < before {
            k -= 1;
            if !self.is_clause_word(k) {
                break;
            }
            // "Since last week" is ongoing, not past.
            let since = k > 0 && self.toks[k - 1].is("since");
            if self.starts[k] & bit != 0 && !since {
                return true;
            }
            seen += 1;
        }
        (hit.start..hit.end).any(|k| self.starts[k] & bit != 0 && marker != Marker::Asked)
            || (hit.end..self.toks.len())
                .take(after)
                .take_while(|&k| self.is_clause_word(k))
                .any(|k| self.starts[k] & bit != 0 && !(k > 0 && self.toks[k - 1].is("since")))
    }

    /// Ambivalence in the phrase's sentence (outside the phrase) or the
    /// next: "I won't kill myself but I think about it".
    fn distress_near(&self, hit: &Hit) -> bool {
        let s = self.toks[hit.start].sentence as usize;
        Spread::outside(self.sentences[s].distress, hit.start, hit.end)
            || self
                .sentences
                .get(s + 1)
                .is_some_and(|m| m.distress.is_some())
    }

    /// "I would never act on it" in the phrase's sentence or either
    /// neighbour.
    fn disclaimed_near(&self, hit: &Hit) -> bool {
        let s = self.toks[hit.start].sentence as usize;
        (s.saturating_sub(1)..=s + 1)
            .filter_map(|i| self.sentences.get(i))
            .any(|m| m.disclaimer.is_some())
    }

    /// The marker a rule needs, in the phrase's sentence (outside the
    /// phrase) or the one before or after.
    fn needed_near(&self, hit: &Hit, marker: Marker) -> bool {
        let pick = |m: &SentenceMarks| match marker {
            Marker::Cue => m.cue,
            Marker::Meds => m.meds,
            Marker::Place => m.place,
            Marker::Farewell => m.farewell,
            _ => None,
        };
        let s = self.toks[hit.start].sentence as usize;
        Spread::outside(pick(&self.sentences[s]), hit.start, hit.end)
            || [s.wrapping_sub(1), s + 1]
                .iter()
                .filter_map(|&i| self.sentences.get(i))
                .any(|m| pick(m).is_some())
    }

    /// "...and I said no" after the phrase, in its sentence.
    fn answered_no_after(&self, hit: &Hit) -> bool {
        let s = self.toks[hit.start].sentence as usize;
        self.sentences[s]
            .answered_no
            .is_some_and(|a| a.max_start >= hit.end)
    }
}
