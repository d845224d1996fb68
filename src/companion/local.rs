//! The built-in companion: a small, honest program that needs no network.
//!
//! It does four things, in this order: says what it is when asked; reflects
//! the feeling it hears; offers one CBT idea that fits (naming a thinking
//! trap, a small activity for low mood, grounding for anxiety, or the
//! patient's own recent record); and ends with one open question. When the
//! risk screen finds danger the chat handler puts the crisis resources in
//! front of whatever this returns.

use super::context::RecordSummary;
use super::model::{BoxFuture, ChatModel, ModelError, ModelRequest, Role};
use crate::risk::{Level, screen};

pub struct LocalCompanion;

impl ChatModel for LocalCompanion {
    fn reply<'a>(&'a self, request: &'a ModelRequest) -> BoxFuture<'a, Result<String, ModelError>> {
        let message = request
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(|m| m.content.as_str())
            .unwrap_or("");
        let text = respond(message, &request.summary);
        Box::pin(async move { Ok(text) })
    }

    fn name(&self) -> &str {
        "local"
    }
}

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(|w| w.replace('\'', ""))
        .collect()
}

fn has_any(words: &[String], list: &[&str]) -> bool {
    words.iter().any(|w| list.contains(&w.as_str()))
}

fn has_phrase(text: &str, list: &[&str]) -> bool {
    list.iter().any(|p| text.contains(p))
}

/// Questions about what the companion is.
fn asks_what_i_am(lower: &str) -> bool {
    has_phrase(
        lower,
        &[
            "are you real",
            "are you a real",
            "real person",
            "a real human",
            "are you human",
            "are you a person",
            "are you a bot",
            "are you a robot",
            "are you an ai",
            "are you ai",
            "are you a computer",
            "are you a program",
            "are you a therapist",
            "are you a doctor",
            "is this a bot",
            "is this a real person",
            "am i talking to a",
            "who are you",
            "what are you",
        ],
    )
}

/// A feeling heard in the message, with the words that signal it.
struct Feeling {
    name: &'static str,
    cues: &'static [&'static str],
}

const FEELINGS: &[Feeling] = &[
    Feeling {
        name: "anxious",
        cues: &[
            "anxious",
            "anxiety",
            "worried",
            "worry",
            "worrying",
            "nervous",
            "panic",
            "panicky",
            "scared",
            "afraid",
            "tense",
            "on edge",
            "overthinking",
            "dread",
        ],
    },
    Feeling {
        name: "low",
        cues: &[
            "sad",
            "down",
            "low",
            "depressed",
            "empty",
            "miserable",
            "unhappy",
            "flat",
            "numb",
            "crying",
            "cried",
            "tearful",
            "hopeless",
        ],
    },
    Feeling {
        name: "exhausted",
        cues: &[
            "tired",
            "exhausted",
            "drained",
            "worn out",
            "no energy",
            "knackered",
            "fatigued",
        ],
    },
    Feeling {
        name: "alone",
        cues: &[
            "lonely", "alone", "isolated", "no one", "nobody", "left out",
        ],
    },
    Feeling {
        name: "angry",
        cues: &[
            "angry",
            "furious",
            "annoyed",
            "irritated",
            "frustrated",
            "rage",
            "fed up",
        ],
    },
    Feeling {
        name: "stressed",
        cues: &[
            "stressed",
            "stress",
            "overwhelmed",
            "pressure",
            "too much",
            "swamped",
            "killing me",
            "hectic",
        ],
    },
    Feeling {
        name: "good",
        cues: &[
            "good", "great", "better", "happy", "proud", "calm", "relieved", "excited", "grateful",
            "fine",
        ],
    },
];

fn feeling(lower: &str, words: &[String]) -> Option<&'static str> {
    FEELINGS
        .iter()
        .find(|f| {
            f.cues.iter().any(|cue| {
                if cue.contains(' ') {
                    lower.contains(cue)
                } else {
                    words.iter().any(|w| w == cue)
                }
            })
        })
        .map(|f| f.name)
}

/// A thinking trap named in plain words, if the message shows one.
fn thinking_trap(lower: &str, words: &[String]) -> Option<&'static str> {
    if has_any(
        words,
        &[
            "always",
            "never",
            "everyone",
            "everybody",
            "nothing",
            "nobody",
        ],
    ) {
        return Some(
            "I notice words like \"always\", \"never\" or \"everyone\" in what you wrote. That \
             can be a \
             thinking trap called all-or-nothing thinking: when we are hurting, one hard moment \
             can start to feel like the whole story. Is there an exception you can think of?",
        );
    }
    if has_phrase(
        lower,
        &[
            "i'm useless",
            "im useless",
            "i am useless",
            "i'm a failure",
            "i am a failure",
            "i'm stupid",
            "i am stupid",
            "i'm worthless",
            "i am worthless",
            "i'm pathetic",
            "i'm an idiot",
        ],
    ) {
        return Some(
            "You described yourself with a harsh label. In CBT that is called labelling: it \
             turns one thing that happened into a verdict on the whole person. Would you say \
             the same words to a friend in your place?",
        );
    }
    if has_phrase(
        lower,
        &[
            "what if",
            "worst",
            "disaster",
            "ruined",
            "it'll all go wrong",
            "everything will",
        ],
    ) {
        return Some(
            "It sounds like your mind is jumping to the worst outcome. That is a common \
             thinking trap called catastrophising. It can help to ask: what is the most likely \
             outcome, rather than the worst one?",
        );
    }
    if has_phrase(
        lower,
        &[
            "they think i",
            "they must think",
            "everyone thinks",
            "she thinks i",
            "he thinks i",
        ],
    ) {
        return Some(
            "You mentioned what other people think of you. Guessing others' thoughts is \
             sometimes called mind reading, and our guesses are often harsher than the truth. \
             What evidence do you have for and against it?",
        );
    }
    if has_any(words, &["should", "shouldnt", "must", "mustnt"]) {
        return Some(
            "I hear some \"shoulds\" in that. Rules like these can pile pressure on us; CBT \
             calls them should statements. What would change if you said \"I'd like to\" \
             instead of \"I should\"?",
        );
    }
    None
}

fn activity_or_grounding(feeling: Option<&str>) -> Option<&'static str> {
    match feeling {
        Some("anxious") | Some("stressed") => Some(
            "If it would help right now, try grounding yourself: name five things you can \
             see, four you can touch, three you can hear, two you can smell and one you can \
             taste, and let your breath slow down.",
        ),
        Some("low") | Some("exhausted") | Some("alone") => Some(
            "When mood is low, a small step often helps more than waiting to feel like it: a \
             short walk, a shower, a message to someone, or ten minutes of something you used \
             to enjoy.",
        ),
        _ => None,
    }
}

fn record_note(summary: &RecordSummary) -> Option<String> {
    let now = summary.mood_avg_7d?;
    if let Some(before) = summary.mood_avg_prev_7d {
        if now + 1.0 <= before {
            return Some(format!(
                "Your mood entries this week average {now:.1} out of 10, lower than the week \
                 before ({before:.1})."
            ));
        }
        if now >= before + 1.0 {
            return Some(format!(
                "Your mood entries this week average {now:.1} out of 10, up from {before:.1} the \
                 week before."
            ));
        }
    }
    if let Some(sleep) = summary.sleep_avg_7d {
        if sleep < 6.0 {
            return Some(format!(
                "Your entries show about {sleep:.1} hours of sleep a night this week; short \
                 sleep can make everything feel heavier."
            ));
        }
    }
    None
}

fn reflection(feeling: Option<&str>) -> &'static str {
    match feeling {
        Some("anxious") => "It sounds like you're feeling anxious, and that's hard to carry.",
        Some("low") => "It sounds like you're feeling low at the moment.",
        Some("exhausted") => "It sounds like you're running on empty.",
        Some("alone") => "It sounds like you're feeling alone with this.",
        Some("angry") => "It sounds like something has really frustrated you.",
        Some("stressed") => "It sounds like there's a lot on your plate right now.",
        Some("good") => "It's good to hear something has gone well.",
        _ => "Thank you for telling me.",
    }
}

fn question(feeling: Option<&str>, topic: Option<&str>) -> &'static str {
    match (topic, feeling) {
        (Some("sleep"), _) => "What has your sleep been like over the last few nights?",
        (Some("work"), _) => "What part of work is weighing on you most?",
        (Some("people"), _) => "How have things been between you and the people around you?",
        (_, Some("good")) => "What do you think helped to make that happen?",
        (_, Some("anxious")) => "What is the worry that feels biggest right now?",
        (_, Some("angry")) => "What happened that left you feeling this way?",
        (_, Some("alone")) => "Who is one person you might feel able to reach out to?",
        (_, Some("low")) | (_, Some("exhausted")) => {
            "What is one small thing that might make today a little easier?"
        }
        _ => "What would you like to talk about?",
    }
}

fn topic(words: &[String]) -> Option<&'static str> {
    if has_any(
        words,
        &[
            "sleep",
            "slept",
            "sleeping",
            "insomnia",
            "awake",
            "nightmares",
        ],
    ) {
        Some("sleep")
    } else if has_any(
        words,
        &["work", "job", "boss", "deadline", "exam", "exams", "school"],
    ) {
        Some("work")
    } else if has_any(
        words,
        &[
            "partner", "friend", "friends", "family", "mum", "dad", "mom", "husband", "wife",
        ],
    ) {
        Some("people")
    } else {
        None
    }
}

/// The companion's reply to `message`.
pub fn respond(message: &str, summary: &RecordSummary) -> String {
    let lower = message.to_lowercase();
    let words = words(message);
    if asks_what_i_am(&lower) {
        return "I'm a simple program built into Healing Space, not a person, a doctor or a \
                therapist. I can listen, reflect back what I hear and suggest ideas from CBT, \
                but I can't understand you the way a person can. Your care team is there for \
                that. What's on your mind today?"
            .to_owned();
    }
    let danger = screen(message).level >= Level::Moderate;
    let feeling = feeling(&lower, &words);
    let mut parts: Vec<String> = Vec::new();
    if danger {
        parts.push(
            "I'm really glad you told me. What you're going through sounds very painful, and \
             you deserve support from a person right now."
                .to_owned(),
        );
        parts.push("Are you safe at the moment?".to_owned());
        return parts.join(" ");
    }
    parts.push(reflection(feeling).to_owned());
    if lower.trim_end().ends_with('?') && feeling != Some("good") {
        // A direct question deserves an idea, not a question back alone.
        parts.push(
            "I can't know what's best for you, but one idea is to pick something small and \
             kind to yourself: a short walk, a warm drink, music you like, or a message to \
             someone you trust."
                .to_owned(),
        );
        parts.push("What has helped you at times like this before?".to_owned());
        return parts.join(" ");
    }
    // Thinking traps are named only when the message sounds troubled: in
    // good news "never" and "nothing" are rarely a trap.
    let troubled = !matches!(feeling, Some("good"));
    if let Some(trap) = thinking_trap(&lower, &words).filter(|_| troubled) {
        // A trap comes with its own question.
        parts.push(trap.to_owned());
        return parts.join(" ");
    }
    if let Some(note) = record_note(summary) {
        parts.push(note);
    } else if let Some(idea) = activity_or_grounding(feeling) {
        parts.push(idea.to_owned());
    }
    parts.push(question(feeling, topic(&words)).to_owned());
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(text: &str) -> String {
        respond(text, &RecordSummary::default())
    }

    fn questions(text: &str) -> usize {
        text.matches('?').count()
    }

    #[test]
    fn honest_about_being_a_program() {
        for q in [
            "Are you a real person?",
            "are you an AI",
            "Am I talking to a bot?",
            "is this a real human?",
        ] {
            let r = reply(q);
            assert!(r.contains("simple program"), "{q}: {r}");
            assert!(r.contains("not a person"), "{q}: {r}");
        }
    }

    #[test]
    fn reflects_and_asks_one_open_question() {
        let cases = [
            ("I've been so anxious about my exams", "anxious"),
            ("I feel really low today", "low"),
            (
                "Work has been a lot, I'm overwhelmed",
                "a lot on your plate",
            ),
            ("I had a great day, went for a run", "gone well"),
            ("Hello", "Thank you for telling me"),
        ];
        for (message, expected) in cases {
            let r = reply(message);
            assert!(r.contains(expected), "{message}: {r}");
            assert_eq!(questions(&r), 1, "one question for {message}: {r}");
        }
    }

    #[test]
    fn names_thinking_traps() {
        assert!(reply("I always mess everything up").contains("all-or-nothing"));
        assert!(reply("I'm such a failure, I'm useless").contains("labelling"));
        assert!(reply("what if I lose my job and it's a disaster").contains("catastrophising"));
    }

    #[test]
    fn suggests_activity_or_grounding() {
        assert!(reply("I feel so down and tired").contains("small step"));
        assert!(reply("I'm panicking and anxious").contains("five things you can see"));
    }

    #[test]
    fn good_news_is_not_a_thinking_trap() {
        let r =
            reply("I feel a lot better today, nothing bad happened and I had lunch with a friend.");
        assert!(r.contains("gone well"), "{r}");
        assert!(!r.contains("all-or-nothing"), "{r}");
        assert_eq!(questions(&r), 1, "{r}");
    }

    #[test]
    fn a_direct_question_gets_an_idea() {
        let r = reply("What could I do this evening?");
        assert!(r.contains("one idea"), "{r}");
        assert_eq!(questions(&r), 1, "{r}");
    }

    #[test]
    fn uses_the_recent_record() {
        let summary = RecordSummary {
            mood_avg_7d: Some(3.5),
            mood_avg_prev_7d: Some(6.0),
            ..RecordSummary::default()
        };
        let r = respond("meh", &summary);
        assert!(r.contains("3.5") && r.contains("6.0"), "{r}");
    }
}
