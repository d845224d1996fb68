//! The patient's daily record (SPEC §7): mood entries, journal and
//! gratitude entries, CBT thought records and the safety plan.

pub mod cbt;
pub mod entries;
pub mod mood;
