//! Validated values shared by several domains. Each has one checked
//! constructor, used by deserialization too, so an invalid value cannot
//! exist past the edge of the service.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Refuses control characters other than newline and tab (SPEC §5).
pub fn check_no_controls(text: &str) -> Result<(), String> {
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err("control characters other than newline and tab are not allowed".into());
    }
    Ok(())
}

/// Free text of `MIN` to `MAX` characters (Unicode scalar values), with no
/// control characters but newline and tab. Stored as given.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Text<const MIN: usize, const MAX: usize>(String);

impl<const MIN: usize, const MAX: usize> Text<MIN, MAX> {
    pub fn parse(value: String) -> Result<Self, String> {
        let count = value.chars().count();
        if count < MIN || count > MAX {
            return Err(format!("must be {MIN} to {MAX} characters (got {count})"));
        }
        if value.trim().is_empty() && MIN > 0 {
            return Err("must not be blank".into());
        }
        check_no_controls(&value)?;
        Ok(Text(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

// Patient text must never reach a log by accident, so Debug hides it.
impl<const MIN: usize, const MAX: usize> fmt::Debug for Text<MIN, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Text({} chars)", self.0.chars().count())
    }
}

impl<'de, const MIN: usize, const MAX: usize> Deserialize<'de> for Text<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Text::parse(raw).map_err(serde::de::Error::custom)
    }
}

/// A note, journal or gratitude entry: 1–2,000 characters.
pub type ShortText = Text<1, 2000>;

/// An integer in `MIN..=MAX`, refused otherwise (never clamped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Bounded<const MIN: i64, const MAX: i64>(i64);

impl<const MIN: i64, const MAX: i64> Bounded<MIN, MAX> {
    pub fn new(value: i64) -> Result<Self, String> {
        if (MIN..=MAX).contains(&value) {
            Ok(Bounded(value))
        } else {
            Err(format!("must be an integer from {MIN} to {MAX}"))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl<'de, const MIN: i64, const MAX: i64> Deserialize<'de> for Bounded<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Accept only JSON integers: 5.0, "5" and true are refused.
        let value = serde_json::Value::deserialize(d)?;
        let int = value
            .as_i64()
            .filter(|_| value.is_i64() || value.is_u64())
            .ok_or_else(|| {
                serde::de::Error::custom(format!("must be an integer from {MIN} to {MAX}"))
            })?;
        Bounded::new(int).map_err(serde::de::Error::custom)
    }
}

/// An IANA time zone name such as `Europe/London`, checked against the
/// bundled time zone database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TimeZoneName(String);

impl TimeZoneName {
    pub fn parse(name: &str) -> Result<Self, String> {
        if name.is_empty() || name.len() > 64 {
            return Err("must be an IANA time zone name such as Europe/London".into());
        }
        jiff::tz::TimeZone::get(name)
            .map(|_| TimeZoneName(name.to_owned()))
            .map_err(|_| format!("`{name}` is not a known time zone (e.g. Europe/London)"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for TimeZoneName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        TimeZoneName::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// The calendar date of `unix_seconds` in time zone `tz` (UTC if unknown).
pub fn local_date(unix_seconds: i64, tz: &str) -> jiff::civil::Date {
    let zone = jiff::tz::TimeZone::get(tz).unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::from_second(unix_seconds)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(zone)
        .date()
}

/// A calendar date in ISO 8601 form (`2026-12-04`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date(pub jiff::civil::Date);

impl Date {
    pub fn parse(s: &str) -> Result<Date, String> {
        // jiff accepts only the strict YYYY-MM-DD form here.
        if s.len() != 10 {
            return Err("must be a date in the form YYYY-MM-DD".into());
        }
        s.parse::<jiff::civil::Date>()
            .map(Date)
            .map_err(|_| "must be a date in the form YYYY-MM-DD".into())
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Date::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Unix seconds as an RFC 3339 UTC string for responses.
pub fn rfc3339(unix_seconds: i64) -> String {
    jiff::Timestamp::from_second(unix_seconds)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_counts_characters_and_refuses_controls() {
        assert!(Text::<1, 3>::parse("héé".into()).is_ok());
        assert!(Text::<1, 3>::parse("abcd".into()).is_err());
        assert!(Text::<1, 3>::parse("".into()).is_err());
        assert!(Text::<1, 9>::parse("a\u{7}b".into()).is_err());
        assert!(Text::<1, 9>::parse("a\nb\tc".into()).is_ok());
        assert!(Text::<1, 9>::parse("a\u{1b}[31m".into()).is_err());
    }

    #[test]
    fn bounded_refuses_non_integers() {
        let parse = |s: &str| serde_json::from_str::<Bounded<1, 10>>(s);
        assert_eq!(parse("1").unwrap().get(), 1);
        assert_eq!(parse("10").unwrap().get(), 10);
        assert!(parse("0").is_err());
        assert!(parse("11").is_err());
        assert!(parse("5.0").is_err());
        assert!(parse("\"5\"").is_err());
        assert!(parse("true").is_err());
        assert!(parse("-9223372036854775808").is_err());
        assert!(parse("18446744073709551615").is_err());
    }

    #[test]
    fn dates_and_zones() {
        assert!(Date::parse("2026-02-29").is_err());
        assert!(Date::parse("2028-02-29").is_ok());
        assert!(Date::parse("2026-1-01").is_err());
        assert!(TimeZoneName::parse("America/New_York").is_ok());
        assert!(TimeZoneName::parse("Mars/Olympus").is_err());
        // 2026-12-05 04:30 UTC is still 4 December in New York.
        let ts = 1_796_445_000;
        assert_eq!(local_date(ts, "UTC").to_string(), "2026-12-05");
        assert_eq!(local_date(ts, "America/New_York").to_string(), "2026-12-04");
    }
}
