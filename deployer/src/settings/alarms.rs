//! The alarms' settings: the thresholds (`ALARM_ITERATOR_AGE_SECONDS`,
//! `ALARM_API_5XX_PERCENT`) and where notifications go (`ALARM_EMAIL`, a
//! new topic with that subscription, or `ALARM_TOPIC_ARN`, an existing
//! topic). The defaults are the constants here; the template, the
//! settings example and the tests read them.

use service::settings::{RawSettings, SettingError};

/// How far behind the stream the projector may fall before its alarm
/// fires, when `ALARM_ITERATOR_AGE_SECONDS` is not set: five minutes.
pub const DEFAULT_ITERATOR_AGE_SECONDS: u32 = 300;
/// The setting's bounds: a minute (one alarm period), and a day (the
/// stream keeps records 24 hours; an older one is gone).
pub const ITERATOR_AGE_SECONDS_RANGE: (u32, u32) = (60, 86_400);
pub const ITERATOR_AGE_SETTING: &str = "ALARM_ITERATOR_AGE_SECONDS";

/// The share of API requests answered 5xx that fires the API's alarm, in
/// hundredths of a percent, when `ALARM_API_5XX_PERCENT` is not set: 1%.
pub const DEFAULT_API_5XX_HUNDREDTHS: u32 = 100;
pub const API_5XX_SETTING: &str = "ALARM_API_5XX_PERCENT";

pub const EMAIL_SETTING: &str = "ALARM_EMAIL";
pub const TOPIC_ARN_SETTING: &str = "ALARM_TOPIC_ARN";

/// What the alarms fire at and notify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlarmSettings {
    /// The projector's iterator age, in seconds, above which it alarms.
    pub iterator_age_seconds: u32,
    /// The API's 5xx share, in hundredths of a percent (100 is 1%).
    pub api_5xx_hundredths: u32,
    pub topic: AlarmTopic,
}

impl Default for AlarmSettings {
    fn default() -> Self {
        AlarmSettings {
            iterator_age_seconds: DEFAULT_ITERATOR_AGE_SECONDS,
            api_5xx_hundredths: DEFAULT_API_5XX_HUNDREDTHS,
            topic: AlarmTopic::None,
        }
    }
}

impl AlarmSettings {
    /// The 5xx threshold as API Gateway's `5XXError` average is: a
    /// fraction of the requests, 0 to 1.
    pub fn api_5xx_fraction(&self) -> f64 {
        f64::from(self.api_5xx_hundredths) / 10_000.0
    }
}

/// Where the alarms' notifications go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlarmTopic {
    /// Nowhere: the alarms still show their state (console, `status`).
    None,
    /// A topic of the stack's own, with this address subscribed.
    Email(String),
    /// An existing topic, by ARN.
    Existing(String),
}

/// `ALARM_ITERATOR_AGE_SECONDS`, `ALARM_API_5XX_PERCENT`, and at most one
/// of `ALARM_EMAIL` and `ALARM_TOPIC_ARN`.
pub fn alarm_settings(settings: &RawSettings) -> Result<AlarmSettings, SettingError> {
    Ok(AlarmSettings {
        iterator_age_seconds: iterator_age_seconds(settings)?,
        api_5xx_hundredths: api_5xx_hundredths(settings)?,
        topic: alarm_topic(settings)?,
    })
}

fn iterator_age_seconds(settings: &RawSettings) -> Result<u32, SettingError> {
    let Some(raw) = settings.get(ITERATOR_AGE_SETTING) else {
        return Ok(DEFAULT_ITERATOR_AGE_SECONDS);
    };
    let (min, max) = ITERATOR_AGE_SECONDS_RANGE;
    raw.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| SettingError {
            name: ITERATOR_AGE_SETTING,
            problem: format!("{raw:?} is not a whole number of seconds from {min} to {max}"),
        })
}

/// A percentage with at most two decimals, more than 0 and at most 100,
/// in hundredths.
fn api_5xx_hundredths(settings: &RawSettings) -> Result<u32, SettingError> {
    let Some(raw) = settings.get(API_5XX_SETTING) else {
        return Ok(DEFAULT_API_5XX_HUNDREDTHS);
    };
    let fail = || SettingError {
        name: API_5XX_SETTING,
        problem: format!(
            "{raw:?} is not a percentage above 0 and at most 100 with at most two decimals (e.g. 1 or 0.5)"
        ),
    };
    let text = raw.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 2 {
        return Err(fail());
    }
    let whole: u32 = whole.parse().map_err(|_| fail())?;
    let fraction: u32 = format!("{fraction:0<2}").parse().map_err(|_| fail())?;
    let hundredths = whole.checked_mul(100).and_then(|w| w.checked_add(fraction));
    hundredths
        .filter(|h| (1..=10_000).contains(h))
        .ok_or_else(fail)
}

fn alarm_topic(settings: &RawSettings) -> Result<AlarmTopic, SettingError> {
    match (settings.get(EMAIL_SETTING), settings.get(TOPIC_ARN_SETTING)) {
        (None, None) => Ok(AlarmTopic::None),
        (Some(_), Some(_)) => Err(SettingError {
            name: TOPIC_ARN_SETTING,
            problem: format!(
                "is set together with {EMAIL_SETTING}; set one: {EMAIL_SETTING} makes a topic of the stack's own, {TOPIC_ARN_SETTING} uses a topic you have"
            ),
        }),
        (Some(email), None) => check_email(email.trim()).map(AlarmTopic::Email),
        (None, Some(arn)) => check_topic_arn(arn.trim()).map(AlarmTopic::Existing),
    }
}

/// An address SNS can send to: `local@domain.tld`, no spaces, at most 254
/// characters (the longest address mail allows).
fn check_email(email: &str) -> Result<String, SettingError> {
    let fail = |problem: &str| SettingError {
        name: EMAIL_SETTING,
        problem: problem.to_owned(),
    };
    if email.len() > 254 {
        return Err(fail("is longer than 254 characters"));
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(fail("contains a space; give one e-mail address"));
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(fail(
            "has no @; give an e-mail address like ops@example.com",
        ));
    };
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err(fail("is not an e-mail address like ops@example.com"));
    }
    Ok(email.to_owned())
}

/// `arn:<partition>:sns:<region>:<account>:<topic>`, a standard topic
/// (CloudWatch alarms cannot notify a FIFO topic).
fn check_topic_arn(arn: &str) -> Result<String, SettingError> {
    let fail = |problem: String| SettingError {
        name: TOPIC_ARN_SETTING,
        problem,
    };
    let parts: Vec<&str> = arn.split(':').collect();
    let [prefix, partition, service, region, account, topic] = parts.as_slice() else {
        return Err(fail(format!(
            "{arn:?} is not an SNS topic ARN like arn:aws:sns:eu-west-1:123456789012:alarms"
        )));
    };
    if *prefix != "arn" || partition.is_empty() || *service != "sns" {
        return Err(fail(format!(
            "{arn:?} is not an SNS topic ARN (arn:<partition>:sns:...)"
        )));
    }
    if region.is_empty()
        || !region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(fail(format!("{arn:?} names no region")));
    }
    if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
        return Err(fail(format!("{arn:?} has no 12-digit account ID")));
    }
    if topic.ends_with(".fifo") {
        return Err(fail(format!(
            "{arn:?} is a FIFO topic; give a standard topic, which alarm notifications need"
        )));
    }
    if topic.is_empty()
        || topic.len() > 256
        || !topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(fail(format!(
            "{arn:?} has no valid topic name (1 to 256 letters, digits, hyphens, underscores)"
        )));
    }
    Ok(arn.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> RawSettings {
        RawSettings::from_pairs(pairs)
    }

    #[test]
    fn the_thresholds_default_and_refuse_what_no_alarm_could_mean() {
        assert_eq!(
            alarm_settings(&settings(&[])).unwrap(),
            AlarmSettings::default()
        );
        let set = settings(&[(ITERATOR_AGE_SETTING, "600"), (API_5XX_SETTING, "0.5")]);
        let read = alarm_settings(&set).unwrap();
        assert_eq!(read.iterator_age_seconds, 600);
        assert_eq!(read.api_5xx_hundredths, 50);
        assert!((read.api_5xx_fraction() - 0.005).abs() < 1e-12);
        for (raw, hundredths) in [
            ("1", 100),
            ("100", 10_000),
            ("0.01", 1),
            ("2.5", 250),
            ("12.34", 1234),
        ] {
            let read = alarm_settings(&settings(&[(API_5XX_SETTING, raw)])).unwrap();
            assert_eq!(read.api_5xx_hundredths, hundredths, "{raw}");
        }
        for (name, bad) in [
            (ITERATOR_AGE_SETTING, "59"),
            (ITERATOR_AGE_SETTING, "86401"),
            (ITERATOR_AGE_SETTING, "5m"),
            (API_5XX_SETTING, "0"),
            (API_5XX_SETTING, "100.01"),
            (API_5XX_SETTING, "0.001"),
            (API_5XX_SETTING, "1%"),
            (API_5XX_SETTING, ".5"),
            (API_5XX_SETTING, "-1"),
        ] {
            let err = alarm_settings(&settings(&[(name, bad)])).unwrap_err();
            assert_eq!(err.name, name, "{bad}");
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn the_topic_is_an_email_or_an_sns_topic_arn_never_both() {
        let email = settings(&[(EMAIL_SETTING, "ops@example.com")]);
        assert_eq!(
            alarm_settings(&email).unwrap().topic,
            AlarmTopic::Email("ops@example.com".to_owned())
        );
        let arn = "arn:aws:sns:eu-west-1:123456789012:alarms";
        assert_eq!(
            alarm_settings(&settings(&[(TOPIC_ARN_SETTING, arn)]))
                .unwrap()
                .topic,
            AlarmTopic::Existing(arn.to_owned())
        );
        let both = settings(&[(EMAIL_SETTING, "ops@example.com"), (TOPIC_ARN_SETTING, arn)]);
        let err = alarm_settings(&both).unwrap_err();
        assert!(err.to_string().contains(EMAIL_SETTING), "{err}");
        for bad in [
            "ops",
            "ops@",
            "@example.com",
            "ops@example",
            "a b@example.com",
            "a@b@example.com",
        ] {
            let err = alarm_settings(&settings(&[(EMAIL_SETTING, bad)])).unwrap_err();
            assert_eq!(err.name, EMAIL_SETTING, "{bad}");
        }
        for bad in [
            "alarms",
            "arn:aws:sqs:eu-west-1:123456789012:alarms",
            "arn:aws:sns:eu-west-1:1234:alarms",
            "arn:aws:sns::123456789012:alarms",
            "arn:aws:sns:eu-west-1:123456789012:alarms.fifo",
            "arn:aws:sns:eu-west-1:123456789012:",
            "arn:aws:sns:eu-west-1:123456789012:al/arms",
        ] {
            let err = alarm_settings(&settings(&[(TOPIC_ARN_SETTING, bad)])).unwrap_err();
            assert_eq!(err.name, TOPIC_ARN_SETTING, "{bad}");
        }
    }
}
