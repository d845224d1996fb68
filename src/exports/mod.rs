//! Exports of a patient's data (SPEC §13).

pub mod csv;
pub mod fhir;
pub mod rights;
