//! Small text helpers the pages share.

use serde_json::Value;

/// An RFC 3339 timestamp as "2026-03-01 14:05 UTC"; anything else as given.
pub fn timestamp(value: &str) -> String {
    match value.parse::<jiff::Timestamp>() {
        Ok(ts) => ts.strftime("%Y-%m-%d %H:%M UTC").to_string(),
        Err(_) => value.to_owned(),
    }
}

/// A form value as a JSON number when it is one (integer first, so the
/// API's integer fields accept it), else as the text itself.
pub fn number(value: &str) -> Value {
    if let Ok(i) = value.parse::<i64>() {
        return Value::from(i);
    }
    match value.parse::<f64>() {
        Ok(f) if f.is_finite() => Value::from(f),
        _ => Value::String(value.to_owned()),
    }
}

/// A questionnaire band as people read it.
pub fn band(band: &str) -> String {
    match band {
        "minimal" => "Minimal".into(),
        "mild" => "Mild".into(),
        "moderate" => "Moderate".into(),
        "moderately_severe" => "Moderately severe".into(),
        "severe" => "Severe".into(),
        "" => "—".into(),
        other => other.replace('_', " "),
    }
}

/// "1 day", "3 days": for the caseload's silence column.
pub fn days(n: Option<i64>) -> String {
    match n {
        None => "no entries".into(),
        Some(0) => "today".into(),
        Some(1) => "1 day".into(),
        Some(n) => format!("{n} days"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_shortened() {
        assert_eq!(timestamp("2026-03-01T14:05:09Z"), "2026-03-01 14:05 UTC");
        assert_eq!(timestamp("not a time"), "not a time");
        assert_eq!(timestamp(""), "");
    }

    #[test]
    fn numbers_keep_their_kind() {
        assert_eq!(number("7"), Value::from(7));
        assert_eq!(number("7.5"), Value::from(7.5));
        assert_eq!(number("seven"), Value::from("seven"));
        assert_eq!(number("NaN"), Value::from("NaN"));
    }

    #[test]
    fn bands_and_days_read_well() {
        assert_eq!(band("moderately_severe"), "Moderately severe");
        assert_eq!(band(""), "—");
        assert_eq!(days(None), "no entries");
        assert_eq!(days(Some(0)), "today");
        assert_eq!(days(Some(4)), "4 days");
    }
}
