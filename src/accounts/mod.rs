//! Accounts: registration, login with a second factor, sessions, TOTP,
//! passwords and email verification (SPEC §1–3).

pub mod lockout;
pub mod routes;
pub mod session;
pub mod store;
pub mod types;
