//! Account values, each with one checked constructor.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::types::check_no_controls;

/// A username: 3–32 ASCII letters, digits, `.`, `_`, `-`. Unique ignoring
/// case; [`Username::key`] is the lower-case form used for look-ups and
/// limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub fn parse(value: &str) -> Result<Username, String> {
        let len = value.len();
        if !(3..=32).contains(&len) {
            return Err("must be 3 to 32 characters".into());
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err("may contain only ASCII letters, digits, '.', '_' and '-'".into());
        }
        Ok(Username(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lower-case form: what is unique, compared and rate-limited.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Username {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Username::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Common passwords that would satisfy the character rules; compared
/// ignoring case. The character rules already exclude the plain lists.
const COMMON_PASSWORDS: &[&str] = &[
    "password1!",
    "password123!",
    "password@123",
    "p@ssw0rd",
    "p@ssw0rd1",
    "p@ssw0rd123",
    "p@ssword1",
    "passw0rd!",
    "welcome1!",
    "welcome@123",
    "welcome123!",
    "qwerty123!",
    "qwerty@123",
    "qwerty1!",
    "abc123!@#",
    "abcd1234!",
    "admin@123",
    "admin123!",
    "letmein1!",
    "iloveyou1!",
    "changeme1!",
    "summer2024!",
    "summer2025!",
    "summer2026!",
    "winter2024!",
    "winter2025!",
    "winter2026!",
    "spring2026!",
    "autumn2026!",
    "football1!",
    "monkey123!",
    "dragon123!",
    "sunshine1!",
    "princess1!",
    "trustno1!",
    "123456aa!",
    "1qaz@wsx",
    "1qaz!qaz",
    "zaq1@wsx",
    "1q2w3e4r!",
    "q1w2e3r4!",
    "healingspace1!",
    "healing123!",
];

/// A password meeting the policy of SPEC §3. `Debug` never prints it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn parse(value: String) -> Result<Password, String> {
        let count = value.chars().count();
        if !(8..=128).contains(&count) {
            return Err("must be 8 to 128 characters".into());
        }
        check_no_controls(&value)?;
        let lower = value.chars().any(|c| c.is_lowercase());
        let upper = value.chars().any(|c| c.is_uppercase());
        let digit = value.chars().any(|c| c.is_ascii_digit());
        let symbol = value
            .chars()
            .any(|c| !c.is_alphanumeric() && !c.is_whitespace());
        if !(lower && upper && digit && symbol) {
            return Err(
                "must contain a lower-case letter, an upper-case letter, a digit and a symbol"
                    .into(),
            );
        }
        let folded = value.to_lowercase();
        if COMMON_PASSWORDS.contains(&folded.as_str()) {
            return Err("is too common; choose another".into());
        }
        Ok(Password(value))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(****)")
    }
}

impl<'de> Deserialize<'de> for Password {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Password::parse(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A login secret as typed, not checked against the policy (an old
/// password may predate it). Bounded so nobody can make us hash a megabyte.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        if raw.chars().count() > 256 {
            return Err(serde::de::Error::custom("is too long"));
        }
        Ok(Secret(raw))
    }
}

/// A PIN: 4 to 8 digits, hashed like a password.
#[derive(Clone)]
pub struct Pin(String);

impl Pin {
    pub fn parse(value: String) -> Result<Pin, String> {
        if !(4..=8).contains(&value.len()) || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must be 4 to 8 digits".into());
        }
        Ok(Pin(value))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(****)")
    }
}

impl<'de> Deserialize<'de> for Pin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Pin::parse(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// An email address: one `@`, no spaces or controls, at most 254 bytes.
/// Deliverability is proven by the verification code, not by parsing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(value: &str) -> Result<Email, String> {
        let ok = value.len() <= 254
            && value.split('@').count() == 2
            && value
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
            && !value
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'));
        if ok {
            Ok(Email(value.to_owned()))
        } else {
            Err("must be an email address such as name@example.org".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Email::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A name shown to others: 1–80 characters.
pub type DisplayName = crate::types::Text<1, 80>;

/// What a user is. Decided by the route that created the account, never by
/// a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Patient,
    Clinician,
    Developer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Clinician => "clinician",
            Role::Developer => "developer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "patient" => Some(Role::Patient),
            "clinician" => Some(Role::Clinician),
            "developer" => Some(Role::Developer),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_rules() {
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse(&"a".repeat(32)).is_ok());
        assert!(Username::parse(&"a".repeat(33)).is_err());
        assert!(Username::parse("a b").is_err());
        assert!(Username::parse("ådam").is_err());
        assert_eq!(Username::parse("Alice.B-2_").unwrap().key(), "alice.b-2_");
    }

    #[test]
    fn password_policy() {
        assert!(Password::parse("Tr1cky!pass".into()).is_ok());
        assert!(Password::parse("Sh0rt!a".into()).is_err());
        assert!(Password::parse("alllower1!".into()).is_err());
        assert!(Password::parse("NoDigits!!".into()).is_err());
        assert!(Password::parse("NoSymbol12".into()).is_err());
        assert!(Password::parse("P@ssw0rd".into()).is_err(), "common");
        assert!(Password::parse(format!("Aa1!{}", "x".repeat(124))).is_ok());
        assert!(Password::parse(format!("Aa1!{}", "x".repeat(125))).is_err());
    }

    #[test]
    fn pin_rules() {
        assert!(Pin::parse("1234".into()).is_ok());
        assert!(Pin::parse("12345678".into()).is_ok());
        assert!(Pin::parse("123".into()).is_err());
        assert!(Pin::parse("123456789".into()).is_err());
        assert!(Pin::parse("12a4".into()).is_err());
    }
}
