//! Where the log lines start: an age (`30s`, `10m`, `2h`, `1d`) or an
//! RFC 3339 time.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// The forms [`Since::parse`] accepts, for its error message.
pub const ACCEPTED: &str =
    "an age like 30s, 10m, 2h or 1d, or an RFC 3339 time like 2024-05-01T12:00:00Z";

/// The start of the lines to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Since {
    /// This long before now.
    Ago(Duration),
    /// From this time on.
    At(DateTime<Utc>),
}

impl Default for Since {
    /// Ten minutes ago.
    fn default() -> Self {
        Since::Ago(Duration::from_secs(10 * 60))
    }
}

/// A value [`Since::parse`] refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a start time: expected {ACCEPTED}")]
pub struct SinceError {
    value: String,
}

impl Since {
    /// `30s`, `10m`, `2h`, `1d` (a whole number and one unit), or an RFC
    /// 3339 time with its offset.
    pub fn parse(value: &str) -> Result<Since, SinceError> {
        let refused = || SinceError {
            value: value.to_owned(),
        };
        let text = value.trim();
        if let Some(unit) = text.chars().last().and_then(unit_seconds) {
            let number = &text[..text.len() - 1];
            if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) {
                let seconds = number
                    .parse::<u64>()
                    .ok()
                    .and_then(|n| n.checked_mul(unit))
                    // chrono's durations stop at about 292 million years.
                    .filter(|&s| i64::try_from(s).is_ok_and(|s| s <= i64::MAX / 1000))
                    .ok_or_else(refused)?;
                return Ok(Since::Ago(Duration::from_secs(seconds)));
            }
        }
        DateTime::parse_from_rfc3339(text)
            .map(|time| Since::At(time.with_timezone(&Utc)))
            .map_err(|_| refused())
    }

    /// The start as milliseconds since the Unix epoch (CloudWatch Logs'
    /// timestamps), given the time now. Never before the epoch.
    pub fn start_millis(self, now: DateTime<Utc>) -> i64 {
        let start = match self {
            Since::Ago(age) => chrono::Duration::from_std(age)
                .ok()
                .and_then(|age| now.checked_sub_signed(age))
                .unwrap_or(DateTime::UNIX_EPOCH),
            Since::At(time) => time,
        };
        start.timestamp_millis().max(0)
    }
}

impl fmt::Display for Since {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Since::Ago(age) => write!(f, "the last {} s", age.as_secs()),
            Since::At(time) => write!(f, "{}", time.to_rfc3339()),
        }
    }
}

fn unit_seconds(unit: char) -> Option<u64> {
    match unit {
        's' => Some(1),
        'm' => Some(60),
        'h' => Some(60 * 60),
        'd' => Some(24 * 60 * 60),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ago(seconds: u64) -> Since {
        Since::Ago(Duration::from_secs(seconds))
    }

    #[test]
    fn ages_take_a_whole_number_and_one_unit() {
        assert_eq!(Since::parse("30s"), Ok(ago(30)));
        assert_eq!(Since::parse("10m"), Ok(ago(600)));
        assert_eq!(Since::parse("2h"), Ok(ago(7200)));
        assert_eq!(Since::parse("1d"), Ok(ago(86_400)));
        assert_eq!(Since::parse(" 0m "), Ok(ago(0)));
        assert_eq!(Since::default(), ago(600));
    }

    #[test]
    fn rfc_3339_times_are_read_with_their_offset() {
        let expected = DateTime::parse_from_rfc3339("2024-05-01T10:00:00Z")
            .expect("a time")
            .with_timezone(&Utc);
        assert_eq!(
            Since::parse("2024-05-01T12:00:00+02:00"),
            Ok(Since::At(expected))
        );
        assert_eq!(
            Since::parse("2024-05-01T10:00:00.000Z"),
            Ok(Since::At(expected))
        );
    }

    #[test]
    fn anything_else_is_refused_naming_the_accepted_forms() {
        for value in [
            "",
            "m",
            "10",
            "10x",
            "1.5h",
            "-5m",
            "10 m",
            "1w",
            "+3s",
            "2024-05-01",
            "yesterday",
            "99999999999999999999s",
            "999999999999999d",
        ] {
            let err = Since::parse(value).expect_err(value);
            let message = err.to_string();
            assert!(message.contains(&format!("{value:?}")), "{message}");
            assert!(message.contains("30s, 10m, 2h or 1d"), "{message}");
            assert!(message.contains("RFC 3339"), "{message}");
        }
    }

    #[test]
    fn the_start_is_counted_back_from_now_in_milliseconds() {
        let now = DateTime::from_timestamp_millis(1_714_557_600_123).expect("a time");
        assert_eq!(ago(10 * 60).start_millis(now), 1_714_557_600_123 - 600_000);
        assert_eq!(ago(u64::MAX / 2).start_millis(now), 0);
        let at = Since::parse("2024-05-01T10:00:00Z").expect("a time");
        assert_eq!(at.start_millis(now), 1_714_557_600_000);
    }
}
