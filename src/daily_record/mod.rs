//! The patient's daily record (SPEC §7).

pub mod mood;
