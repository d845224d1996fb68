//! The phrase tables: what counts as risk language, and the context words
//! (markers) that change what a phrase means.
//!
//! Patterns use the syntax of [`super::pattern`] and are written in the
//! normalised vocabulary: lower case, contractions expanded ("i am", "do
//! not", "can not", "will not", "what is"), chat spellings mapped ("want
//! to", "going to"), "self harm" joined into "selfharm".
//!
//! Each table is one kind of risk. The kind sets the level and reason; the
//! context checks in [`super::context`] may then lower it (negated, past,
//! quoted, someone else's).

use std::collections::HashMap;
use std::sync::OnceLock;

use super::Level;
use super::lexicon::{self, Vocab};
use super::pattern::{Pattern, seq_at, sequences};
use super::reason;
use super::text::Tok;

/// What a phrase says about the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Intends to kill themselves.
    Intent,
    /// Wishes to be dead or not to be alive.
    Wish,
    /// Thinks about suicide.
    Ideation,
    /// A method, a plan or the means at hand.
    Method,
    /// Preparations and goodbyes.
    Goodbye,
    /// Has tried before (high when it was just now).
    Attempt,
    /// Sees no hope or point.
    Hopeless,
    /// Wishes to disappear, feels a burden, cannot go on.
    Passive,
    /// Hurts themselves without stating an intent to die.
    SelfHarm,
    /// Talks about someone else hurting or killing themselves.
    Others,
    /// "I'm going to do it tonight": intent whose object is only clear from
    /// risk language elsewhere in the same text. Counts only then.
    Referent,
}

impl Kind {
    /// The level and reason a phrase of this kind has before context.
    pub(super) fn base(self) -> (Level, &'static str) {
        match self {
            Kind::Intent => (Level::High, reason::FIRST_PERSON_INTENT),
            Kind::Wish => (Level::High, reason::WISH_TO_DIE),
            Kind::Ideation => (Level::High, reason::SUICIDAL_IDEATION),
            Kind::Method => (Level::High, reason::METHOD_OR_PLAN),
            Kind::Goodbye => (Level::High, reason::PREPARATION_OR_GOODBYE),
            Kind::Attempt => (Level::Moderate, reason::PAST_ATTEMPT),
            Kind::Hopeless => (Level::Moderate, reason::HOPELESSNESS),
            Kind::Passive => (Level::Moderate, reason::PASSIVE_IDEATION),
            Kind::SelfHarm => (Level::Moderate, reason::SELF_HARM),
            Kind::Others => (Level::None, reason::THIRD_PERSON),
            Kind::Referent => (Level::High, reason::FIRST_PERSON_INTENT),
        }
    }
}

/// Whose words a phrase needs before it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Subject {
    /// The writer, unless a nearby subject names someone else. Chat drops
    /// the "I" ("wanna die"), so no subject at all counts as the writer.
    Writer,
    /// Only with an explicit "I" or "me" nearby: the phrase is too often
    /// quoted from a questionnaire or said of others.
    Explicit,
    /// The phrase names the writer itself ("better off without me"), so
    /// the subject is somebody else by grammar and is not checked.
    Named,
}

/// One row of a table.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rule {
    pub(super) pattern: &'static str,
    pub(super) kind: Kind,
    pub(super) subject: Subject,
    /// A negator shortly before the phrase negates it. Phrases that contain
    /// their own negation ("do not want to live") are not negatable.
    pub(super) negatable: bool,
    /// Words that may follow a clause-final (`$`) pattern.
    tails: &'static [&'static str],
    /// Words that may not follow the phrase (idioms, accidents).
    not_next: &'static [&'static str],
    /// Words that may not come right before the phrase.
    not_prev: &'static [&'static str],
    /// The phrase is a unit after a number ("5 kms").
    after_number: bool,
    /// A marker that must appear in the same or the previous sentence
    /// ("all my pills" counts only with "tonight", "going to", "take"...).
    pub(super) needs: Option<Marker>,
}

const fn rule(pattern: &'static str, kind: Kind) -> Rule {
    Rule {
        pattern,
        kind,
        subject: Subject::Writer,
        negatable: true,
        tails: &[],
        not_next: &[],
        not_prev: &[],
        after_number: true,
        needs: None,
    }
}

impl Rule {
    const fn inherent(self) -> Rule {
        Rule {
            negatable: false,
            ..self
        }
    }
    const fn explicit(self) -> Rule {
        Rule {
            subject: Subject::Explicit,
            ..self
        }
    }
    const fn named(self) -> Rule {
        Rule {
            subject: Subject::Named,
            ..self
        }
    }
    const fn tails(self, tails: &'static [&'static str]) -> Rule {
        Rule { tails, ..self }
    }
    const fn not_next(self, not_next: &'static [&'static str]) -> Rule {
        Rule { not_next, ..self }
    }
    const fn not_prev(self, not_prev: &'static [&'static str]) -> Rule {
        Rule { not_prev, ..self }
    }
    const fn needs(self, marker: Marker) -> Rule {
        Rule {
            needs: Some(marker),
            ..self
        }
    }
    const fn not_after_number(self) -> Rule {
        Rule {
            after_number: false,
            ..self
        }
    }
}

/// Medicines people take overdoses of, as pattern alternatives.
macro_rules! medicines {
    () => {
        "pills|pill|meds|tablets|medication|medicine|paracetamol|painkillers|sleeping_pills|antidepressants|sertraline|fluoxetine|citalopram|mirtazapine|ibuprofen|aspirin|codeine|tramadol|insulin|lithium|diazepam|zopiclone|quetiapine|amitriptyline|co_codamol|oxycodone|morphine|prozac|xanax|valium"
    };
}

/// Words after "suicide" that make it a topic ("suicide prevention").
const SUICIDE_TOPICS: &[&str] = &[
    "prevention",
    "awareness",
    "rates",
    "rate",
    "research",
    "statistics",
    "squad",
    "risk",
    "training",
    "hotline",
    "helpline",
    "crisis_line",
    "support",
    "charity",
    "survivors",
    "bereavement",
    "loss",
    "policy",
    "helplines",
    "in_the_news",
    "in_films",
];

/// Where pills are taken along rather than taken: "all my pills with me".
const PACKING: &[&str] = &[
    "with_me",
    "on_holiday",
    "to_the",
    "back",
    "in_my_bag",
    "to_work",
    "away",
    "with_us",
];

/// Words after "die" that make it an idiom ("die of embarrassment", "die
/// laughing", "to die for").
const DIE_IDIOMS: &[&str] = &["of", "from", "laughing", "for", "old", "happy", "a_little"];

/// Words after "wake up" that make it about the morning, not about death.
const WAKE_IDIOMS: &[&str] = &[
    "late", "early", "until", "till", "before", "at", "in_time", "the", "my", "him", "her", "them",
    "you", "anyone", "everyone", "people", "tired", "with", "feeling", "for",
];

/// When someone ends "it": times that show it is their life, not a
/// relationship ("ending it with him").
const END_IT_TAILS: &[&str] = &[
    "tonight",
    "soon",
    "today",
    "tomorrow",
    "for_good",
    "forever",
    "finally",
    "this_week",
    "this_weekend",
    "now",
    "once_and_for_all",
    "all",
];

/// What may follow "no point" or "what is the point" for it to be about
/// life rather than a task ("what is the point of going to the party").
const POINT_TAILS: &[&str] = &[
    "anymore",
    "any_more",
    "in_anything",
    "of_anything",
    "of_it",
    "of_it_all",
    "of_life",
    "of_living",
    "of_me",
    "of_trying",
    "trying",
    "of_going_on",
    "going_on",
    "in_going_on",
    "of_being_alive",
    "in_being_alive",
    "of_being_here",
    "in_being_here",
    "of_carrying_on",
    "in_carrying_on",
    "carrying_on",
    "of_everything",
    "of_existing",
    "in_existing",
    "to_any_of_this",
    "to_anything",
    "to_life",
    "in_life",
    "in_living",
    "living",
    "to_living",
    "in_trying",
    "to_me",
    "in_me",
    "of_any_of_this",
    "to_it_all",
    "in_it_all",
];

/// Accidents: "cut myself shaving", "burned myself on the oven".
const ACCIDENTS: &[&str] = &[
    "shaving",
    "cooking",
    "chopping",
    "on_the",
    "on_a",
    "on_my",
    "on_some",
    "accidentally",
    "by_accident",
    "while",
    "opening",
    "making",
    "playing",
    "at",
    "falling",
    "running",
    "lifting",
    "skiing",
    "climbing",
    "training",
    "exercising",
    "gardening",
    "doing",
    "in_the_kitchen",
    "with_the_iron",
    "with_a_kitchen",
    "slightly",
    "on",
];

/// First-person intent to die, in plain words and in euphemism.
const INTENT: &[Rule] = &[
    // The core phrase; "nearly killed myself" is an accident story.
    rule("kill myself", Kind::Intent),
    rule("killed myself", Kind::Intent).not_prev(&["nearly", "almost", "practically"]),
    // "Killing myself at the gym" and "killing myself trying to..." are
    // idioms for working hard.
    rule("killing myself", Kind::Intent).not_next(&[
        "at", "with", "over", "trying", "for", "to", "laughing", "studying", "working", "doing",
        "running", "here", "getting",
    ]),
    rule("end|ending my [own] life|lives", Kind::Intent),
    // "Take my life back" and "take my life one day at a time" are recovery.
    rule("take|taking my [own] life", Kind::Intent).not_next(&[
        "back",
        "into",
        "seriously",
        "in",
        "one",
        "day",
        "easy",
        "slow",
        "slowly",
        "forward",
    ]),
    rule("commit|committing|commiting suicide", Kind::Intent),
    // Text-speak for "kill myself"; "5 kms" is a distance.
    rule("kms", Kind::Intent).not_after_number(),
    // "Catch the bus" (ctb), a euphemism from suicide forums; the plain
    // phrase counts only in the forms that cannot be a commute.
    rule("ctb", Kind::Intent),
    rule(
        "time|ready|decided|deciding|planning|plan to catch the bus $",
        Kind::Intent,
    )
    .tails(&["tonight", "soon", "finally", "for_good", "forever"]),
    // A euphemism that avoids the word "kill".
    rule("unalive|unaliving|unalived", Kind::Intent),
    // British slang for killing oneself, and forum words that dodge filters.
    rule("top|topping|neck|necking myself", Kind::Intent),
    rule("sewerslide|selfdelete|selfdeleting", Kind::Intent),
    rule("self delete|deleting", Kind::Intent),
    // Methods named in full, first person.
    rule("set|setting myself on fire|alight", Kind::Method),
    rule(
        "crash|crashing|drive|driving my car *** on_purpose|deliberately",
        Kind::Method,
    ),
    rule("end|ending it all", Kind::Intent),
    // "End it" is a relationship as often as a life: only at the end of the
    // clause or with a time.
    rule(
        "going|want|ready|decided|deciding|plan|planning|time|about|gonna to end it $",
        Kind::Intent,
    )
    .tails(END_IT_TAILS),
    rule("ending it $", Kind::Intent).tails(END_IT_TAILS),
    rule(
        "suicide|death|dying is|seems|feels|looks [like] [the|my] only|best|easiest option|way|answer|choice|solution|escape",
        Kind::Intent,
    ),
    rule(
        "suicide|death|dying is|seems|feels|looks [like] [the|my] answer|solution|way_out|escape",
        Kind::Intent,
    ),
    // "Haven't killed myself yet": the negation is the threat.
    rule("not [even] killed myself yet", Kind::Intent).inherent(),
    // Slang for killing oneself.
    rule("off myself", Kind::Intent),
    // "End things" is a relationship when it is "with" someone.
    rule(
        "going|want|ready|decided|deciding|plan|planning|time|about to end things|everything",
        Kind::Intent,
    )
    .not_next(&["with", "between", "off", "up"]),
    rule("end|ending things $", Kind::Intent).tails(END_IT_TAILS),
    rule("when|where|how i [will] end it $", Kind::Intent).tails(END_IT_TAILS),
    // "Don't try to stop me" announces a decision.
    rule(
        "do_not|noone|nobody try|trying|can to stop me",
        Kind::Intent,
    )
    .inherent()
    .not_next(&["from", "eating", "having", "going", "buying"]),
    rule(
        "done with life|living|it_all|everything|this_world for_good|forever|permanently",
        Kind::Intent,
    ),
    rule(
        "end|ending my suffering|misery|pain_for_good|pain_forever|existence",
        Kind::Intent,
    ),
    // "I'll be dead by Friday"; "dead tired" and "dead on my feet" are
    // idioms.
    rule("i will|shall be dead $", Kind::Intent).tails(&[
        "tomorrow",
        "soon",
        "by",
        "before",
        "next_week",
        "this_time_tomorrow",
        "tonight",
    ]),
    rule(
        "only|best|easiest|last way_out|escape|option|answer|solution|choice|thing_left is death|dying|suicide|to_die|killing_myself|ending_it|to_end_it|to_kill_myself",
        Kind::Intent,
    ),
    // "Going to jump" on its own is a trampoline; near a roof or a bridge
    // it is a method.
    rule("going_to|about_to|ready_to|want_to jump $", Kind::Intent)
        .tails(&["off", "tonight", "now", "soon"])
        .needs(Marker::Place),
    rule(
        "suicide|death|dying is|seems|feels [like] the only thing that_makes_sense|i_want|left|i_think_about|that_would_help",
        Kind::Intent,
    ),
];

/// A wish to die or not to be alive.
const WISH: &[Rule] = &[
    rule("want|wanted|wanting|need|needing to [just] die", Kind::Wish).not_next(DIE_IDIOMS),
    rule("want|wanted|wish|ready|deserve|deserved to be dead", Kind::Wish)
        .not_next(&["tired", "on", "set", "serious", "last"]),
    rule("wish i was|were|could_be dead", Kind::Wish).not_next(&["tired", "on", "set"]),
    rule("wish i could [just] die", Kind::Wish).not_next(DIE_IDIOMS),
    // "I'd rather be dead than wear that" is an idiom; "rather be dead than
    // live like this" is not.
    rule("rather be_dead|die", Kind::Wish).not_next(&["than"]),
    rule(
        "rather be_dead|die than live|go_on|carry_on|keep_going|keep_living|keep_doing_this|live_like_this|be_here|feel|exist|wake_up",
        Kind::Wish,
    ),
    // Said of oneself it is a wish; "the question about being better off
    // dead" is a questionnaire item.
    rule("better off dead", Kind::Wish).not_prev(&["being"]),
    rule("better off without me", Kind::Wish).named(),
    rule(
        "better|happier off if i [just] was|were|had [not|never] dead|gone|died|here|around|alive|been_born",
        Kind::Wish,
    )
    .named(),
    rule("happier|better|easier if i [just] was|were|had [not|never] dead|gone|died|here|around|alive", Kind::Wish)
        .named(),
    rule("let me die", Kind::Wish).not_next(DIE_IDIOMS),
    rule("ready to die", Kind::Wish).not_next(DIE_IDIOMS),
    rule("can not wait to die|be_dead", Kind::Wish).inherent(),
    rule("tired|sick of living|being_alive|existing", Kind::Wish),
    rule("feel|feeling like dying", Kind::Wish).not_next(DIE_IDIOMS),
    // Negation that is itself the risk: the phrase carries its own "not".
    rule("do|does not [really|even|just|actually] want to live", Kind::Wish)
        .inherent()
        .not_next(&[
            "with", "in", "at", "forever", "there", "near", "alone", "on", "abroad", "somewhere",
            "together", "long",
        ]),
    rule(
        "do|does not [really|even|just|actually] want to be_alive|exist|be_living",
        Kind::Wish,
    )
    .inherent(),
    rule("do|does not [really|even|just|actually] want to be here|around $", Kind::Wish)
        .inherent()
        .tails(&["anymore", "any_longer", "much_longer", "on_this_earth", "in_this_world", "alive"]),
    rule("do not [really|even|just|actually] want to wake up $", Kind::Wish)
        .inherent()
        .tails(&["tomorrow", "again", "ever", "ever_again", "anymore", "in_the_morning"]),
    rule("hope|wish|pray i [do|will|would|did] not|never wake up", Kind::Wish)
        .inherent()
        .not_next(WAKE_IDIOMS),
    rule("and|to|just not|never wake up", Kind::Wish).inherent().not_next(WAKE_IDIOMS),
    rule("never want to wake up", Kind::Wish).inherent().not_next(WAKE_IDIOMS),
    rule("rather not be alive|here|around", Kind::Wish)
        .inherent()
        .not_next(&["when", "at", "for", "on", "tomorrow", "today", "tonight"]),
    rule("wish i was|were not alive", Kind::Wish).inherent(),
    rule("no_longer [really|even] want to live|be_alive|exist|be_here|be_around", Kind::Wish)
        .inherent(),
    rule("wish|hope|pray [that] i [would|will|might] [just] die", Kind::Wish).not_next(DIE_IDIOMS),
    rule("should|might_as_well|may_as_well [just] die", Kind::Wish).not_next(DIE_IDIOMS),
    rule("deserve|deserved to die", Kind::Wish),
    rule("hope|wish|pray [that] i get|got|would_get hit|killed|run_over", Kind::Wish),
    rule("hope|wish|pray [that] something|someone|it kills|kill|would_kill|will_kill me", Kind::Wish),
    // "I want to be gone" (by five o'clock is a plan for the day).
    rule(
        "want|wanted|wish|need|ready|wanting to [just] be_gone|stop_living|stop_breathing|cease_to_exist|disappear_forever|disappear_permanently|stop_existing_permanently|stop_existing_forever",
        Kind::Wish,
    )
    .not_next(&["for", "by", "from", "at", "until", "till", "on", "before", "when", "a", "all"]),
    rule("want|wanted|wish|need my life to [just] be_over|end|stop", Kind::Wish),
    rule("wish my life would|could [just] end|be_over|stop", Kind::Wish),
    // "I could sleep forever" is tiredness; wishing for it is not.
    rule(
        "wish|want|wanted|wanting|need i_could|to [just] go_to_sleep|sleep|fall_asleep forever|permanently",
        Kind::Wish,
    ),
    // Speaking well of death.
    rule(
        "suicide|death|dying|killing_myself|ending_it|being_dead|not_existing|not_being_here|not_waking_up|being_gone sounds|seems|feels|looks|is [so|really|pretty|quite|more|very|like|kind_of|weirdly|strangely] good|nice|appealing|tempting|peaceful|attractive|better|relief|a_relief|easier|inviting|comforting|soothing|a_comfort|like_a_relief|like_relief|like_the_answer|like_a_good_idea|like_the_only_option|like_freedom|like_peace",
        Kind::Ideation,
    ),
    rule(
        "thought|idea of not_existing|not_being_here|not_waking_up|being_dead|dying|death|suicide|being_gone is|feels|sounds [so|really|very|quite|kind_of|weirdly|strangely] comforting|soothing|appealing|tempting|peaceful|nice|a_relief|a_comfort",
        Kind::Ideation,
    ),
    rule("want to [just] not be_alive|be_here|exist|be_around|wake_up|live", Kind::Wish),
    rule(
        "do not [really|even|just|actually] want to be on_this_earth|in_this_world|on_earth|in_this_life|alive_anymore",
        Kind::Wish,
    )
    .inherent(),
    // "Everyone would be better without me": the burden as a wish to be
    // gone.
    rule("better|happier without me", Kind::Wish).named(),
    rule("done living|being_alive|existing", Kind::Wish),
    rule("want out of this_life|life|this_world|existence", Kind::Wish),
    rule(
        "do not [really|even|just|actually] want to live in|on this_world|this_earth|this_life",
        Kind::Wish,
    )
    .inherent(),
    rule(
        "better|happier|easier [off] if i [just] disappeared|vanished|died|left_for_good|was_gone|were_gone|never_existed|did_not_exist|was_not_here|was_not_around",
        Kind::Wish,
    )
    .named(),
];

/// Thinking about suicide. High on its own; "but I'd never act on it"
/// lowers it to moderate.
const IDEATION: &[Rule] = &[
    // "A leaflet about suicidal feelings" is a topic.
    rule("suicidal", Kind::Ideation).not_prev(&["on", "about", "regarding", "around"]),
    rule(
        "think|thinking|thought|thoughts|thinkin about|of [committing] suicide",
        Kind::Ideation,
    )
    .not_next(SUICIDE_TOPICS),
    rule(
        "think|thinking|thought|thoughts about|of killing_myself|ending_my_life|ending_my_own_life|taking_my_life|taking_my_own_life|ending_it_all|unaliving_myself",
        Kind::Ideation,
    ),
    rule(
        "think|thinking|thought|thoughts about|of ending it $",
        Kind::Ideation,
    )
    .tails(END_IT_TAILS),
];

/// How: a method, a plan, the means gathered.
const METHOD: &[Rule] = &[
    rule(
        "plan|planning|planned|plans|planing how|to kill_myself|end_my_life|die|overdose|hang_myself|take_my_life",
        Kind::Method,
    ),
    rule(
        "researching|research|researched|looked|looking|googled|googling|searched|searching [up|into|at|for] ways|how|methods|method [to] kill|die|overdose|end|unalive|hang",
        Kind::Method,
    ),
    rule(
        "takes|take|need|needed|enough to overdose|die",
        Kind::Method,
    ),
    rule("lethal|fatal dose|amount|overdose", Kind::Method),
    rule(
        "going|want|plan|planning|ready|decided|deciding|about|trying|try|time to overdose",
        Kind::Method,
    ),
    rule("i [just|have|had] overdosed", Kind::Method),
    rule("took|taken|take|taking an overdose", Kind::Method),
    // Gathering the means.
    rule(
        concat!(
            "saving|saved|stockpiling|stockpiled|hoarding|hoarded|collecting|collected|storing|stashing|stashed [up] [my|the|some|enough|all] ",
            medicines!()
        ),
        Kind::Method,
    ),
    // Taking all of them: the quantity is what makes it an overdose.
    rule(
        concat!(
            "take|taking|took|swallow|swallowed|swallowing|downed|down|overdose|overdosed [on] [a|the|my] [whole] all|every|bunch|load|handful|loads|lots|entire|box|packet|pack|bottle|strip|dozen|boxes|packets *** ",
            medicines!()
        ),
        Kind::Method,
    )
    .not_next(PACKING),
    rule(
        "pills|meds|tablets|paracetamol lined_up|ready|counted_out|laid_out",
        Kind::Method,
    ),
    rule(
        "hang|hanging|hanged|hung|drown|drowning|shoot|shooting|stab|stabbing|poison|poisoning|gas|gassing|suffocate|suffocating|electrocute|strangle|strangling myself",
        Kind::Method,
    ),
    // "Noose" alone is often history or a word; with an "I" it is a method.
    rule("noose", Kind::Method).explicit(),
    rule(
        "bought|buy|buying|got|have|ordered|found a|some rope",
        Kind::Method,
    ),
    rule(
        "jump|jumping|leap|leaping|throw_myself|throwing_myself off|from [the|a|that|this|my|a_tall] bridge|building|roof|rooftop|cliff|balcony|tower|window|overpass|ledge|flyover|car_park|multistorey|block",
        Kind::Method,
    ),
    rule(
        "step|stepping|jump|jumping|walk|walking|run|running|myself|lie|lying|lay in front of [a|the|an] [oncoming] train|bus|car|lorry|truck|traffic|tube",
        Kind::Method,
    ),
    rule(
        "slit|slash|slashing|slitting|cut|cutting my wrists|wrist|throat",
        Kind::Method,
    )
    .not_next(&["on", "by", "accidentally", "while", "slightly"]),
    rule(
        "plan|planning|planned|plotting my suicide|death|exit|own_death",
        Kind::Method,
    ),
    // An overdose by count: ten or more of anything taken at once.
    rule(
        concat!(
            "took|taken|take|taking|swallowed|swallow|swallowing|downed|down|had # [more] [of] [my|the] ",
            medicines!()
        ),
        Kind::Method,
    ),
    // "All my pills" is a plan only next to intent ("tonight", "going to").
    rule(
        concat!("all|every [one_of] my|the|of_my|of_the ", medicines!()),
        Kind::Method,
    )
    .needs(Marker::Cue)
    .not_next(&[
        "with_me",
        "on_holiday",
        "to_the",
        "back",
        "in_my_bag",
        "to_work",
        "away",
        "with_us",
    ]),
    rule(
        "take|taking|swallow|swallowing|down|have them all|all_of_them",
        Kind::Method,
    )
    .needs(Marker::Meds),
    rule(
        "drive|driving|drove|crash|crashing|steer|steering|swerve|swerving [my] [car] into|off [a|the|oncoming] river|wall|tree|bridge|cliff|lorry|lake|sea|traffic|motorway|canal|truck|train",
        Kind::Method,
    ),
    rule(
        "looking|looked|staring|stared|stood|standing at|on|over|near|by [the|a] train_tracks|railway|railway_line|tracks|ledge|edge_of_the_bridge|edge_of_the_cliff|edge_of_the_roof",
        Kind::Method,
    ),
    rule(
        "step|stepping|jump|jumping|walk|walking|lie|lying|lay onto|on|in_front_of|off the|a train_tracks|tracks|railway|railway_line|platform_edge",
        Kind::Method,
    ),
    rule(
        "throw|throwing|threw|fling|flinging myself under|in_front_of|off|from|onto",
        Kind::Method,
    ),
    rule("bleed out|to_death", Kind::Method).not_prev(&["would", "could", "might"]),
    rule(
        "how long|many|much ** it takes|take|does_it_take to die|bleed_out|overdose|drown|suffocate|hang",
        Kind::Method,
    ),
    rule(
        concat!("how many ", medicines!(), " [it] would|will|does take $"),
        Kind::Method,
    ),
    rule(
        "everything|all in|from the|my medicine_cabinet|medicine_cupboard|medicine_box|first_aid_kit|pill_box",
        Kind::Method,
    ),
    // Researching places, near oneself.
    rule(
        "looking_up|looked_up|looking_at|searching|googling|googled|researching|search [the] tallest|highest|tall|high buildings|bridges|cliffs|car_parks|building|bridge near_me|nearby|near_here|around_here|in_my_area|local",
        Kind::Method,
    ),
    rule(
        "walk|walking|swim|swimming|wade|wading into|out_into the sea|ocean|river|lake|waves",
        Kind::Method,
    ),
];

/// Putting affairs in order, saying goodbye.
const GOODBYE: &[Rule] = &[
    rule("suicide|goodbye|farewell note|notes|letter|letters", Kind::Goodbye),
    rule("wrote|written|writing|write|finished|left my note|notes", Kind::Goodbye)
        .not_next(&["to", "for", "about", "on", "in", "from"]),
    rule(
        "given|giving|gave|give away [all] my things|stuff|belongings|possessions|pets|cat|dog|everything",
        Kind::Goodbye,
    ),
    rule("said|saying|say my final|last goodbyes|goodbye", Kind::Goodbye),
    rule("goodbye|goodbyes|bye ** forever|permanently|for_good", Kind::Goodbye),
    rule("goodbye|bye everyone|everybody|world|all $", Kind::Goodbye),
    rule("my last message|post|entry|words $", Kind::Goodbye).tails(&["ever"]),
    rule("after|when i_am|i_have gone|dead", Kind::Goodbye)
        .not_next(&["to", "for", "on", "out", "home", "back", "away", "shopping"]),
    rule(
        "will|would|am|is not be|going_to_be around|here much_longer|any_longer|anymore|for_much_longer",
        Kind::Goodbye,
    )
    .inherent(),
    rule("this is [my] [final|last] goodbye|farewell", Kind::Goodbye),
    rule(
        "not going_to_be|be here|around for christmas|my_birthday|next_week|next_year|the_new_year|much_longer",
        Kind::Goodbye,
    )
    .inherent(),
    // A lone goodbye, next to an apology or love to all.
    rule("goodbye|bye|farewell $", Kind::Goodbye).needs(Marker::Farewell),
    rule("last time you will hear from me", Kind::Goodbye),
    rule("you will not hear from me again|anymore|ever_again", Kind::Goodbye).inherent(),
    rule(
        "goodbye|goodbyes to everyone|all|the_people i_love|i_care_about|that_matters",
        Kind::Goodbye,
    ),
    // Unambiguous even without a time: "I won't be alive tomorrow".
    rule("will|would|am|is not be|going_to_be alive", Kind::Goodbye)
        .inherent()
        .not_next(&["to_see", "when", "in", "by_then"]),
];

/// Attempts. Moderate when in the past; high when just now ("last night",
/// "an hour ago").
const ATTEMPT: &[Rule] = &[
    rule(
        "tried|attempted|attempt|attempting to kill_myself|end_my_life|take_my_life|take_my_own_life|overdose|hang_myself|commit_suicide|unalive_myself|die",
        Kind::Attempt,
    ),
    rule("attempted suicide", Kind::Attempt),
    rule("suicide attempt|attempts", Kind::Attempt),
];

/// Hopelessness.
const HOPELESS: &[Rule] = &[
    // "An exercise about hopeless thoughts" is a topic, not a feeling.
    rule("hopeless", Kind::Hopeless)
        .not_prev(&["about", "called", "named", "on"])
        .not_next(&["at", "with", "romantic", "romantics", "case", "cook"]),
    rule(
        "no|lost|lost_all|losing|losing_all|zero hope $",
        Kind::Hopeless,
    )
    .inherent()
    .tails(&["left", "anymore", "for_me", "at_all"]),
    rule("nothing matters $", Kind::Hopeless)
        .inherent()
        .tails(&["anymore", "to_me", "at_all"]),
    rule(
        "nothing will ever get_better|be_better|change|improve",
        Kind::Hopeless,
    )
    .inherent(),
    rule("never going_to|gonna get|be better $", Kind::Hopeless)
        .inherent()
        .tails(&["anymore", "ever"]),
    rule("will never get|be better $", Kind::Hopeless)
        .inherent()
        .tails(&["anymore", "ever"]),
    rule("no future for me", Kind::Hopeless).inherent(),
    rule("do|can|could not see a|any future", Kind::Hopeless)
        .inherent()
        .not_next(&["with", "in", "at", "for_us", "for_the"]),
    rule(
        "life|everything|living|existence|it_all|existing *** pointless|meaningless",
        Kind::Hopeless,
    ),
    rule("what is [even] the point $", Kind::Hopeless).tails(POINT_TAILS),
    rule("no|any point $", Kind::Hopeless)
        .inherent()
        .tails(POINT_TAILS),
    rule(
        "do_not|can_not|could_not|no_longer see the|any point $",
        Kind::Hopeless,
    )
    .inherent()
    .tails(POINT_TAILS),
    rule("give|giving up $", Kind::Hopeless).tails(&[
        "on_everything",
        "on_life",
        "on_living",
        "on_myself",
        "on_me",
        "everything",
        "completely",
        "on_it_all",
        "on_trying",
    ]),
    rule(
        "done with everything|life|living|it_all|this_life|being_alive",
        Kind::Hopeless,
    ),
    rule("tired|sick|exhausted|weary of|by|with life", Kind::Hopeless),
    rule(
        "lost|losing|lost_all|losing_all|no_longer_have_any hope",
        Kind::Hopeless,
    )
    .inherent()
    .not_next(&["of", "for", "in", "on"]),
    rule(
        "never going_to|gonna change|improve|be_happy|be_okay|be_ok|get_better",
        Kind::Hopeless,
    )
    .inherent(),
    rule(
        "will never change|improve|be_happy|be_okay|be_ok|get_better",
        Kind::Hopeless,
    )
    .inherent(),
    rule("nothing to look_forward_to|live_for", Kind::Hopeless).inherent(),
    rule("why [do] i [even] bother $", Kind::Hopeless).tails(&[
        "with_anything",
        "anymore",
        "with_life",
        "trying",
        "living",
        "getting_up",
    ]),
    rule("no future $", Kind::Hopeless)
        .inherent()
        .tails(&["for_me", "left", "anymore", "ahead", "at_all"]),
    rule(
        "my_life|life|everything|it_all|existence|living has|feels [lost] [all] [its] no|lost meaning|purpose|point",
        Kind::Hopeless,
    )
    .inherent(),
    rule(
        "no meaning|purpose to|in my_life|life|anything|living",
        Kind::Hopeless,
    )
    .inherent(),
    rule(
        "my_life|life|everything|it_all|existence|living has|have lost [all] [its] meaning|purpose|point",
        Kind::Hopeless,
    ),
    rule("is|feels|seems all pointless|meaningless|hopeless", Kind::Hopeless),
    rule(
        "tired|sick|exhausted of fighting|fighting_to_exist|fighting_to_stay_alive|trying_to_stay_alive|struggling_to_exist|just_existing",
        Kind::Hopeless,
    )
    .not_next(&["with", "for", "about", "over"]),
];

/// Passive ideation: wishing to disappear, feeling a burden, unable to go
/// on. No stated intent, but a clinician needs to know.
const PASSIVE: &[Rule] = &[
    rule("nothing [left] to live for", Kind::Passive).inherent(),
    rule(
        "no|any reason|reasons to live|keep_living|go_on|carry_on|be_here|stay_alive|keep_going|exist|stay",
        Kind::Passive,
    )
    .inherent(),
    rule("not worth living", Kind::Passive).inherent(),
    rule("can|could not go on $", Kind::Passive).inherent().tails(&[
        "like_this", "like_that", "anymore", "any_longer", "much_longer", "living", "without",
        "this_way", "with_life",
    ]),
    rule(
        "do not think i can|could go_on|keep_going|carry_on|cope|do_this|keep_going_on|keep_doing_this $",
        Kind::Passive,
    )
    .inherent()
    .tails(&["anymore", "any_longer", "much_longer", "like_this"]),
    rule(
        "can|could not keep_going|keep_living|keep_living_like_this|carry_on|do_this|cope|take_it|take_this|handle_it|handle_this|live_like_this|live_with_this|keep_doing_this $",
        Kind::Passive,
    )
    .inherent()
    .tails(&["anymore", "any_more", "any_longer", "much_longer", "with_life", "with_anything"]),
    rule("how much longer|more ** i can|could", Kind::Passive),
    rule(
        "do|can|could not see|find a|any way_out|way_forward|light|end_to_this|hope|future",
        Kind::Passive,
    )
    .inherent(),
    rule("no way out $", Kind::Passive).inherent().tails(&["of_this", "of_here", "for_me"]),
    rule(
        "wish i could|would [just] disappear|vanish|stop_existing|not_exist|cease_to_exist|fade_away",
        Kind::Passive,
    ),
    // "Disappear for a week to a cabin" is a holiday.
    rule("want to [just] disappear|vanish|stop_existing|not_exist|fade_away", Kind::Passive)
        .not_next(&["for"]),
    rule("never been born", Kind::Passive).inherent(),
    rule("wish i was|were not born|here", Kind::Passive).inherent(),
    rule("am|being [such|just|only|nothing_but] a|such_a burden", Kind::Passive),
    rule("feel|feeling|felt like [such|just|only] a|such_a burden", Kind::Passive),
    rule("burden to|on everyone|everybody|my|others|people|them|all", Kind::Passive),
    rule("noone|nobody would|will [even|really] miss_me|care|notice", Kind::Passive),
    rule("think|thinking|thought|thoughts about|of death|dying", Kind::Passive),
    rule("want|wanted it|everything|this|the_pain|it_all to stop|end|be_over $", Kind::Passive),
    rule("make it [all] stop $", Kind::Passive),
    rule("do not want to feel anything $", Kind::Passive)
        .inherent()
        .tails(&["anymore", "ever_again"]),
    rule("do not want to do this anymore", Kind::Passive).inherent(),
    rule(
        "not sure|know if|whether i want to live|be_alive|be_here|go_on|keep_going",
        Kind::Passive,
    )
    .inherent(),
    rule("do not care if i die|live|wake_up|am_dead", Kind::Passive).inherent(),
    rule(
        "keep_going|go_on|carry_on|keep_living|keep_fighting|keep_trying|cope|do_this|live_like_this anymore|any_longer",
        Kind::Passive,
    ),
    rule(
        "do not know how to keep_going|go_on|carry_on|cope|keep_living|live|do_this $",
        Kind::Passive,
    )
    .inherent()
    .tails(&["anymore", "any_longer", "much_longer", "like_this"]),
    rule("nothing [left] for me here|anymore|in_this_world|in_life|to_stay_for", Kind::Passive)
        .inherent(),
    rule("wish i did|was|were not exist|existed|alive", Kind::Passive).inherent(),
    rule("wish i [had|would|have] never existed|lived|been_born", Kind::Passive).inherent(),
    rule("hate being alive|living|existing", Kind::Passive),
    rule("why am i [even|still] alive", Kind::Passive),
    rule("do not deserve to live|be_alive|exist|be_here", Kind::Passive).inherent(),
    // "They'd be fine without me": the burden felt, without a death wish.
    rule(
        "fine|okay|ok|keep_spinning|move_on|go_on|carry_on|be_fine|manage|cope without me",
        Kind::Passive,
    )
    .named(),
    // Doubt about wanting to live: "I don't think I want to be alive".
    rule(
        "do not think i [really|even] want to live|be_alive|be_here|exist|keep_living|go_on|keep_going|be_around",
        Kind::Passive,
    )
    .inherent(),
    rule(
        "what it would|is|might be|feel like to be_dead|die|not_exist|not_be_here|not_be_alive",
        Kind::Passive,
    ),
    rule(
        "imagine|imagining|picture|picturing|think_about|thinking_about my_funeral|my_own_funeral|being_dead|myself_dead|not_existing|not_being_here",
        Kind::Passive,
    ),
    rule("stop|stopped feeling everything|anything $", Kind::Passive),
    // "A dark place", "dark thoughts": a common way of naming suicidal
    // thoughts without naming them.
    rule("dark|darkest|black thoughts|place", Kind::Passive),
    // A passive wish for death: "I wouldn't mind if I died".
    rule(
        "would|do not mind|care if i died|die|did_not_wake_up|was_dead|got_hit|never_woke_up|was_gone",
        Kind::Passive,
    )
    .inherent(),
    rule(
        "if i died|disappeared|was_gone|were_gone|was_dead [tomorrow|today|tonight] would|will|nobody|noone|anyone",
        Kind::Passive,
    ),
    // Asking what to do "if I feel suicidal" is a worry, not a statement.
    rule("if|when i [ever] feel|get|become|start_to_feel|start_feeling|am suicidal", Kind::Passive)
        .not_prev(&["asked", "asks", "ask", "asking", "me", "wondered"]),
    rule("feel|feeling like disappearing|vanishing", Kind::Passive),
    // A recognised warning sign, even when the act is unnamed.
    rule("going_to|might|about_to|will|could|scared_i_will|afraid_i_will do something stupid|drastic", Kind::Passive)
        .not_next(&["like"]),
    rule(
        "can|could not take|bear|stand|handle|cope_with|deal_with it|this|that|the_pain|this_pain|life|living|being_alive|feeling_like_this|it_all|everything|myself|the_thoughts|this_feeling anymore|any_longer|any_more",
        Kind::Passive,
    )
    .inherent(),
];

/// Self-harm urges and acts, without a stated wish to die.
const SELF_HARM: &[Rule] = &[
    rule(
        "cut|cutting|cuts|burn|burned|burnt|burning|hurt|hurting|harm|harming|hit|hitting|punch|punched|punching|scratch|scratched|scratching|bite|biting|starve|starving|slap|slapped|slapping|bruise|bruised|bruising myself",
        Kind::SelfHarm,
    )
    .not_next(ACCIDENTS)
    .not_prev(&["nearly", "almost", "accidentally"]),
    rule(
        "urge|urges|urging|temptation|tempted|craving|cravings|want|need to selfharm|cut|hurt_myself|burn|harm_myself|cut_myself|burn_myself",
        Kind::SelfHarm,
    )
    .not_next(&[
        "my_hair", "my_fringe", "the", "down", "back", "out", "it", "my_nails", "ties", "costs",
        "corners", "in", "a", "some", "off",
    ]),
    rule(
        "selfharm|selfharming|sh urge|urges|thoughts|relapse|again|tonight|today",
        Kind::SelfHarm,
    ),
    rule(
        "thoughts|thinking|thought|think of|about selfharm|selfharming|cutting|hurting_myself|harming_myself|cutting_myself|burning_myself",
        Kind::SelfHarm,
    ),
    rule("been selfharming|selfharm|hurting_myself|harming_myself", Kind::SelfHarm),
    rule("been cutting $", Kind::SelfHarm).tails(&[
        "again", "myself", "more", "every_day", "every_night", "to_cope", "lately", "recently",
        "a_lot", "my_arms", "my_legs", "my_wrists", "my_thighs",
    ]),
    // "Got my hair cut again", "the power cut again".
    rule("cut|cutting again", Kind::SelfHarm).not_prev(&[
        "hair", "power", "internet", "wifi", "signal", "connection", "got", "had", "lawn", "grass",
        "fringe", "was", "were", "it", "them", "be",
    ]),
    rule(
        "relapsed|relapse|relapsing [with|on|into|and] selfharm|selfharming|selfharmed|cutting|cut|sh",
        Kind::SelfHarm,
    ),
    rule("i|used_to selfharm|selfharmed|selfharming", Kind::SelfHarm),
    rule("until|till|til ** bled|bleed|bleeds|bleeding|bruised", Kind::SelfHarm),
    rule("made|make|making myself bleed|bled", Kind::SelfHarm),
    rule("covered in cuts|burns", Kind::SelfHarm),
    rule(
        "cuts|scars|burns on my arms|arm|wrists|wrist|legs|leg|thighs|thigh|stomach|skin|body",
        Kind::SelfHarm,
    ),
    rule(
        "bang|banging|hit|hitting|smash|smashing|slam|slamming my head against",
        Kind::SelfHarm,
    ),
    rule("used to cut|burn|selfharm|hurt_myself|harm_myself", Kind::SelfHarm),
    // Hurting a part of one's own body; accidents are ruled out by what
    // follows ("on the oven", "shaving").
    rule(
        "cut|cutting|scratched|scratching|sliced|slicing|carved|carving|burned|burnt|burning|stabbed|stabbing my arms|arm|legs|leg|thighs|thigh|wrists|wrist|skin|stomach|body|hips|chest",
        Kind::SelfHarm,
    )
    .not_next(ACCIDENTS),
    rule(
        "hurt|cut|burn|burned|burnt|hit|scratched|scratch myself on_purpose|deliberately",
        Kind::SelfHarm,
    ),
    rule("want|need to bleed|feel_pain|see_blood", Kind::SelfHarm),
    rule("selfharmed", Kind::SelfHarm),
];

/// Someone else's risk: concern for them, not a sign about the writer.
const OTHERS: &[Rule] = &[
    rule(
        "kill|killing|killed|kills|hang|hanged|hanging|hung|hurt|hurting|cut|cutting|harm|harming|unalive himself|herself|themselves|themself|yourself",
        Kind::Others,
    ),
    // "kys" is aimed at somebody else.
    rule("kys", Kind::Others),
    rule(
        "end|ending|ended|take|taking|took his|her|their [own] life",
        Kind::Others,
    ),
];

/// Intent whose object is unstated. Counts only when the same text holds
/// other risk language, so "I'm going to do it tonight" after "I can't go
/// on" is high, and alone is nothing.
const REFERENT: &[Rule] = &[
    rule("going to do it $", Kind::Referent).tails(END_IT_TAILS),
    rule(
        "do it tonight|today|soon|tomorrow|this_weekend|now|when",
        Kind::Referent,
    ),
    rule("go through with it", Kind::Referent),
    rule("get it over with", Kind::Referent),
    rule("have|got everything i need|ready", Kind::Referent),
    rule("it will all be over soon|tonight|tomorrow", Kind::Referent),
    rule("this is the end", Kind::Referent),
    rule("i am ready $", Kind::Referent),
    rule(
        "will not be here tomorrow|next_week|much_longer|for_long",
        Kind::Referent,
    )
    .inherent(),
    rule("tonight|today is the night|day", Kind::Referent),
    rule(
        "standing|stood|sitting|sat on|at [the|a] bridge|roof|ledge|edge|cliff|railway|tracks|platform_edge",
        Kind::Referent,
    ),
    rule(
        "have|got|bought the|a blade|razor|knife|rope|gun",
        Kind::Referent,
    ),
    rule(
        "tell my mum|mom|dad|family|kids|sister|brother i love",
        Kind::Referent,
    ),
    rule(
        "look after|take_care_of my cat|dog|kids|children|pets",
        Kind::Referent,
    ),
    rule("i have|have_got|made a plan $", Kind::Referent),
    rule("i am ready to go $", Kind::Referent),
];

/// Every table, in the order ties are broken.
const TABLES: &[&[Rule]] = &[
    INTENT, METHOD, GOODBYE, WISH, IDEATION, ATTEMPT, PASSIVE, HOPELESS, SELF_HARM, OTHERS,
    REFERENT,
];

/// Context words that change what a phrase means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Marker {
    /// Ambivalence after a negation: "but I think about it".
    Distress,
    /// "I'd never act on it": thoughts without intent.
    Disclaimer,
    /// Recovery: "I'm proud of how far I've come".
    Recovery,
    /// The past: "used to", "years ago".
    Past,
    /// Just now: "last night", "an hour ago".
    Recent,
    /// A screening question is being reported: "the GP asked if...".
    Asked,
    /// And the answer was no.
    AnsweredNo,
    /// Intent or timing: "going to", "tonight", "decided".
    Cue,
    /// Medicines named: "pills", "paracetamol".
    Meds,
    /// A high place: "roof", "bridge".
    Place,
    /// A farewell: "I love you all", "I'm sorry".
    Farewell,
}

impl Marker {
    pub(super) fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

const MARKERS: &[(&str, Marker)] = &[
    (
        "think|thinking|thought|thinkin about|of it|that|dying|death|suicide|killing|ending|doing_it",
        Marker::Distress,
    ),
    (
        "the|these|those|my|such thoughts|urge|urges",
        Marker::Distress,
    ),
    ("part of me", Marker::Distress),
    ("sometimes i", Marker::Distress),
    ("tempted|tempting", Marker::Distress),
    ("crossed my mind", Marker::Distress),
    ("pain|it|everything|this to stop", Marker::Distress),
    (
        "scares|scared|terrifies|frightens|frightened",
        Marker::Distress,
    ),
    ("struggling", Marker::Distress),
    ("still want|wish|think", Marker::Distress),
    ("i [really|still|do] want to $", Marker::Distress),
    ("wish i was|were|could", Marker::Distress),
    ("how much longer", Marker::Distress),
    (
        "never|not|no_intention_of|no_plans_to [actually|ever|really|going_to] act|acting on it|them|that|those",
        Marker::Disclaimer,
    ),
    (
        "never|not [actually|ever|really|going_to] do_it|do_anything|go_through_with_it",
        Marker::Disclaimer,
    ),
    ("no plan|plans|intention|intent", Marker::Disclaimer),
    (
        "proud|progress|recovered|recovery|healed|healing",
        Marker::Recovery,
    ),
    ("how far i have come", Marker::Recovery),
    ("clean|free for", Marker::Recovery),
    ("weeks|months|years|days clean|free", Marker::Recovery),
    (
        "doing|feeling [so|much|a_lot|way|far] [much|more|a_lot] better",
        Marker::Recovery,
    ),
    (
        "therapy|meds|medication|treatment|counselling has|have|is|are [really|been] helped|helping|working",
        Marker::Recovery,
    ),
    ("better now", Marker::Recovery),
    (
        "meds|medication|tablets are|is [really] working|helping",
        Marker::Recovery,
    ),
    ("new meds|medication", Marker::Recovery),
    (
        "in a [much|far|way|lot|a_lot] better|good|happier|healthier place",
        Marker::Recovery,
    ),
    ("used to", Marker::Past),
    ("years|months|weeks|year|month ago", Marker::Past),
    (
        "last year|month|summer|winter|spring|autumn|week|christmas",
        Marker::Past,
    ),
    // "The last time I tried", but not "one last time".
    ("the last time", Marker::Past),
    ("in the past", Marker::Past),
    ("when i was", Marker::Past),
    ("back when|then", Marker::Past),
    ("as a teenager|teen|kid|child", Marker::Past),
    ("in my teens|twenties", Marker::Past),
    ("at school|uni|university|college", Marker::Past),
    ("once", Marker::Past),
    ("last night", Marker::Recent),
    (
        "tonight|today|yesterday|earlier|just|right_now",
        Marker::Recent,
    ),
    (
        "this morning|afternoon|evening|week|weekend",
        Marker::Recent,
    ),
    (
        "an|a|one|two|few|couple hour|hours|minutes|mins ago",
        Marker::Recent,
    ),
    (
        "asked|asks|ask|asking [me|us] if|whether|about",
        Marker::Asked,
    ),
    (
        "said|say|answered|told_her|told_him|told_them no",
        Marker::AnsweredNo,
    ),
    ("no to", Marker::AnsweredNo),
    ("denied|deny", Marker::AnsweredNo),
    ("said i was|am not", Marker::AnsweredNo),
    (
        "going_to|want_to|planning|plan_to|ready|decided|tonight|take|taking|swallow|swallowing|have_them|at_once|in_one_go|down_them",
        Marker::Cue,
    ),
    (medicines!(), Marker::Meds),
    (
        "roof|rooftop|bridge|building|balcony|cliff|ledge|window|tower|car_park|multistorey|edge|platform",
        Marker::Place,
    ),
    (
        "love_you_all|sorry_for_everything|i_am_sorry|forgive_me|take_care_of|i_am_so_sorry",
        Marker::Farewell,
    ),
    (
        "understand why people|someone|they do|would|it",
        Marker::Distress,
    ),
    (
        "not|never *** go_through_with_it|act_on_it|do_it|do_anything",
        Marker::Disclaimer,
    ),
];

/// A rule ready to match.
pub(super) struct Compiled {
    pub(super) rule: &'static Rule,
    pattern: Pattern,
    tails: Vec<Vec<&'static str>>,
    not_next: Vec<Vec<&'static str>>,
}

/// A phrase found in the text.
#[derive(Debug, Clone, Copy)]
pub(super) struct Hit {
    /// Index into [`Engine::rules`].
    pub(super) rule: usize,
    pub(super) start: usize,
    pub(super) end: usize,
}

/// A context word found in the text.
#[derive(Debug, Clone, Copy)]
pub(super) struct MarkerHit {
    pub(super) marker: Marker,
    pub(super) start: usize,
    pub(super) end: usize,
}

/// All tables compiled and indexed by their first word.
pub(super) struct Engine {
    pub(super) rules: Vec<Compiled>,
    rule_index: HashMap<&'static str, Vec<usize>>,
    markers: Vec<(Pattern, Marker)>,
    marker_index: HashMap<&'static str, Vec<usize>>,
    pub(super) vocab: Vocab,
}

/// The compiled tables, built once.
pub(super) fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(Engine::build)
}

fn index<'a>(patterns: impl Iterator<Item = &'a Pattern>) -> HashMap<&'static str, Vec<usize>> {
    let mut index: HashMap<&'static str, Vec<usize>> = HashMap::new();
    for (i, p) in patterns.enumerate() {
        for w in p.first_words() {
            index.entry(w).or_default().push(i);
        }
    }
    index
}

/// Whether the phrase may end at `end`, for a clause-final pattern.
fn ends_clause(toks: &[Tok], end: usize, tails: &[Vec<&str>]) -> bool {
    match toks.get(end) {
        None => true,
        Some(t) if !t.is_word() => true,
        Some(t) if lexicon::is_conj(t.word()) || t.is_in(lexicon::FILLERS) => true,
        Some(_) => tails.iter().any(|seq| seq_at(toks, end, seq)),
    }
}

impl Engine {
    fn build() -> Engine {
        let rules: Vec<Compiled> = TABLES
            .iter()
            .flat_map(|t| t.iter())
            .map(|rule| Compiled {
                rule,
                pattern: Pattern::compile(rule.pattern),
                tails: sequences(rule.tails),
                not_next: sequences(rule.not_next),
            })
            .collect();
        let markers: Vec<(Pattern, Marker)> = MARKERS
            .iter()
            .map(|(p, m)| (Pattern::compile(p), *m))
            .collect();
        let mut words: Vec<&'static str> = Vec::new();
        for c in &rules {
            words.extend(c.pattern.words());
            words.extend(c.tails.iter().flatten().copied());
            words.extend(c.not_next.iter().flatten().copied());
            words.extend(c.rule.not_prev.iter().copied());
        }
        for (p, _) in &markers {
            words.extend(p.words());
        }
        Engine {
            rule_index: index(rules.iter().map(|c| &c.pattern)),
            marker_index: index(markers.iter().map(|(p, _)| p)),
            rules,
            markers,
            vocab: Vocab::new(words),
        }
    }

    /// Every risk phrase in the text, in order of position.
    pub(super) fn rule_hits(&self, toks: &[Tok]) -> Vec<Hit> {
        let mut hits = Vec::new();
        for (i, t) in toks.iter().enumerate() {
            let Some(candidates) = self.rule_index.get(t.word()) else {
                continue;
            };
            let prev = i.checked_sub(1).map(|p| &toks[p]);
            for &ri in candidates {
                let c = &self.rules[ri];
                if prev.is_some_and(|p| p.is_in(c.rule.not_prev)) {
                    continue;
                }
                let after_number = prev
                    .is_some_and(|p| p.is_word() && p.word().chars().all(|ch| ch.is_ascii_digit()));
                if after_number && !c.rule.after_number {
                    continue;
                }
                let accept = |end: usize| {
                    !c.not_next.iter().any(|seq| seq_at(toks, end, seq))
                        && (!c.pattern.at_end || ends_clause(toks, end, &c.tails))
                };
                if let Some(end) = c.pattern.match_at(toks, i, &accept) {
                    hits.push(Hit {
                        rule: ri,
                        start: i,
                        end,
                    });
                }
            }
        }
        hits
    }

    /// Every context word in the text, in order of position.
    pub(super) fn marker_hits(&self, toks: &[Tok]) -> Vec<MarkerHit> {
        let mut hits = Vec::new();
        for (i, t) in toks.iter().enumerate() {
            let Some(candidates) = self.marker_index.get(t.word()) else {
                continue;
            };
            for &mi in candidates {
                let (pattern, marker) = &self.markers[mi];
                let accept = |end: usize| !pattern.at_end || ends_clause(toks, end, &[]);
                if let Some(end) = pattern.match_at(toks, i, &accept) {
                    hits.push(MarkerHit {
                        marker: *marker,
                        start: i,
                        end,
                    });
                }
            }
        }
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_compiles() {
        let e = engine();
        assert!(e.rules.len() > 100);
        assert!(!e.markers.is_empty());
    }
}
