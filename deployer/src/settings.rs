//! The settings only deploy reads, from the same `.env` and environment as
//! the service's (`service::settings::RawSettings`): `STACK_NAME`,
//! `TRACING`, the throttle and `REPLAY_CONCURRENCY`. One definition each,
//! with its one limit.

use service::functions::Function;
use service::settings::{RawSettings, SettingError};

use crate::cfn::lambda::FUNCTION_NAME_MAX_LEN;

/// The CloudFormation stack when `STACK_NAME` is not set.
pub const DEFAULT_STACK_NAME: &str = "event-sourcing-service";

/// The longest stack name: the functions are deployed as
/// `<STACK_NAME>-<function>` and Lambda allows [`FUNCTION_NAME_MAX_LEN`]
/// characters. Tighter than CloudFormation's own 128.
pub const STACK_NAME_MAX_LEN: usize = FUNCTION_NAME_MAX_LEN - 1 - Function::longest_name_len();

/// `STACK_NAME` (default [`DEFAULT_STACK_NAME`]): ASCII letters, digits and
/// hyphens, starting with a letter (CloudFormation's rules), at most
/// [`STACK_NAME_MAX_LEN`] characters.
pub fn stack_name(settings: &RawSettings) -> Result<String, SettingError> {
    let name = settings.get("STACK_NAME").unwrap_or(DEFAULT_STACK_NAME);
    let fail = |problem: String| SettingError {
        name: "STACK_NAME",
        problem,
    };
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(fail(format!(
            "{name:?} must start with a letter (CloudFormation's rule)"
        )));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(fail(format!(
            "{name:?} contains {bad:?}; use only letters, digits and hyphens"
        )));
    }
    if name.len() > STACK_NAME_MAX_LEN {
        return Err(fail(format!(
            "is {} characters long; at most {STACK_NAME_MAX_LEN} fit, because function names are <STACK_NAME>-<function> and Lambda allows {FUNCTION_NAME_MAX_LEN}",
            name.len()
        )));
    }
    Ok(name.to_owned())
}

/// `TRACING`: X-Ray active tracing, `true`/`false`/`1`/`0` (default off).
pub fn tracing(settings: &RawSettings) -> Result<bool, SettingError> {
    match settings
        .get("TRACING")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("false" | "0") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some(_) => Err(SettingError {
            name: "TRACING",
            problem: format!(
                "{:?} is not one of true, false, 1, 0",
                settings.get("TRACING").unwrap_or_default()
            ),
        }),
    }
}

/// The request rate and burst the usage plan lets the API key make:
/// API Gateway answers 429 beyond them, before any function runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttle {
    /// Steady requests per second (`THROTTLE_RATE_LIMIT`).
    pub rate_limit: u32,
    /// Requests at once above the steady rate (`THROTTLE_BURST_LIMIT`).
    pub burst_limit: u32,
}

impl Throttle {
    /// When the settings name none: enough for a team's use, far under
    /// an account's default regional limits (10,000/s, burst 5,000).
    pub const DEFAULT: Throttle = Throttle {
        rate_limit: 100,
        burst_limit: 200,
    };
    /// An account's default regional limits: a plan cannot allow more.
    pub const MAX_RATE_LIMIT: u32 = 10_000;
    pub const MAX_BURST_LIMIT: u32 = 5_000;
}

/// `THROTTLE_RATE_LIMIT` (1 to 10,000 per second, default 100) and
/// `THROTTLE_BURST_LIMIT` (1 to 5,000, default 200).
pub fn throttle(settings: &RawSettings) -> Result<Throttle, SettingError> {
    let limit = |name: &'static str, default: u32, max: u32| match settings.get(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| SettingError {
                name,
                problem: format!("{raw:?} is not a whole number from 1 to {max}"),
            }),
    };
    Ok(Throttle {
        rate_limit: limit(
            "THROTTLE_RATE_LIMIT",
            Throttle::DEFAULT.rate_limit,
            Throttle::MAX_RATE_LIMIT,
        )?,
        burst_limit: limit(
            "THROTTLE_BURST_LIMIT",
            Throttle::DEFAULT.burst_limit,
            Throttle::MAX_BURST_LIMIT,
        )?,
    })
}

/// How many replay runs may execute at once (`REPLAY_CONCURRENCY`): a
/// reservation of the account's Lambda concurrency for the replay
/// function, which is also its cap, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayConcurrency {
    /// Reserve (and cap at) this many concurrent executions.
    Reserved(u32),
    /// `none`: no reservation, no cap. For accounts that cannot reserve
    /// any (Lambda keeps 100 unreserved, and new accounts have 10 in all).
    Unreserved,
}

impl ReplayConcurrency {
    /// Replays are background work: a few at a time leave the account's
    /// concurrency to the API and the projector.
    pub const DEFAULT: ReplayConcurrency = ReplayConcurrency::Reserved(5);
    /// An account's default concurrency limit: no more can be reserved.
    pub const MAX: u32 = 1000;
    /// The setting's name, for the messages that point at it.
    pub const SETTING: &'static str = "REPLAY_CONCURRENCY";

    /// The executions reserved, if any.
    pub fn reserved(self) -> Option<u32> {
        match self {
            ReplayConcurrency::Reserved(n) => Some(n),
            ReplayConcurrency::Unreserved => None,
        }
    }
}

/// `REPLAY_CONCURRENCY`: a whole number from 1 to 1000 (default 5), or
/// `none`.
pub fn replay_concurrency(settings: &RawSettings) -> Result<ReplayConcurrency, SettingError> {
    let Some(raw) = settings.get(ReplayConcurrency::SETTING) else {
        return Ok(ReplayConcurrency::DEFAULT);
    };
    if raw.trim().eq_ignore_ascii_case("none") {
        return Ok(ReplayConcurrency::Unreserved);
    }
    raw.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=ReplayConcurrency::MAX).contains(n))
        .map(ReplayConcurrency::Reserved)
        .ok_or_else(|| SettingError {
            name: ReplayConcurrency::SETTING,
            problem: format!(
                "{raw:?} is neither a whole number from 1 to {} nor none",
                ReplayConcurrency::MAX
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> RawSettings {
        RawSettings::from_pairs(pairs)
    }

    #[test]
    fn the_stack_name_follows_cloudformation_rules_and_leaves_room_for_function_names() {
        assert_eq!(STACK_NAME_MAX_LEN, 64 - "-trigger-replay".len());
        assert_eq!(stack_name(&settings(&[])).unwrap(), DEFAULT_STACK_NAME);
        assert_eq!(
            stack_name(&settings(&[("STACK_NAME", "My-Stack2")])).unwrap(),
            "My-Stack2"
        );
        let longest = format!("a{}", "b".repeat(STACK_NAME_MAX_LEN - 1));
        assert_eq!(
            stack_name(&settings(&[("STACK_NAME", longest.as_str())])).unwrap(),
            longest
        );
        let too_long = format!("{longest}c");
        for bad in [
            "1stack",
            "-stack",
            "my_stack",
            "my stack",
            "stäck",
            too_long.as_str(),
        ] {
            let err = stack_name(&settings(&[("STACK_NAME", bad)])).unwrap_err();
            assert_eq!(err.name, "STACK_NAME", "{bad}");
        }
    }

    #[test]
    fn the_settings_example_states_the_stack_name_limit() {
        let example = include_str!("../../.env.example");
        assert!(
            example.contains(&format!("at most {STACK_NAME_MAX_LEN} characters")),
            ".env.example must state STACK_NAME's limit, {STACK_NAME_MAX_LEN}"
        );
    }

    #[test]
    fn tracing_is_a_boolean_defaulting_to_off() {
        assert!(!tracing(&settings(&[])).unwrap());
        for (raw, expected) in [
            ("true", true),
            ("1", true),
            ("TRUE", true),
            ("false", false),
            ("0", false),
        ] {
            assert_eq!(
                tracing(&settings(&[("TRACING", raw)])).unwrap(),
                expected,
                "{raw}"
            );
        }
        for bad in ["yes", "on", "2", " true"] {
            let err = tracing(&settings(&[("TRACING", bad)])).unwrap_err();
            assert_eq!(err.name, "TRACING", "{bad}");
            assert!(err.to_string().contains("TRACING"), "{err}");
        }
    }

    #[test]
    fn the_throttle_defaults_and_refuses_what_api_gateway_would() {
        assert_eq!(throttle(&settings(&[])).unwrap(), Throttle::DEFAULT);
        let set = settings(&[
            ("THROTTLE_RATE_LIMIT", "50"),
            ("THROTTLE_BURST_LIMIT", "5000"),
        ]);
        assert_eq!(
            throttle(&set).unwrap(),
            Throttle {
                rate_limit: 50,
                burst_limit: 5000
            }
        );
        for (name, bad) in [
            ("THROTTLE_RATE_LIMIT", "0"),
            ("THROTTLE_RATE_LIMIT", "10001"),
            ("THROTTLE_RATE_LIMIT", "1.5"),
            ("THROTTLE_BURST_LIMIT", "5001"),
            ("THROTTLE_BURST_LIMIT", "-1"),
        ] {
            let err = throttle(&settings(&[(name, bad)])).unwrap_err();
            assert_eq!(err.name, name, "{bad}");
        }
    }

    #[test]
    fn the_replay_concurrency_is_a_number_or_none_defaulting_to_five() {
        assert_eq!(
            replay_concurrency(&settings(&[])).unwrap(),
            ReplayConcurrency::Reserved(5)
        );
        for (raw, expected) in [
            ("1", ReplayConcurrency::Reserved(1)),
            ("1000", ReplayConcurrency::Reserved(1000)),
            ("none", ReplayConcurrency::Unreserved),
            ("NONE", ReplayConcurrency::Unreserved),
        ] {
            assert_eq!(
                replay_concurrency(&settings(&[("REPLAY_CONCURRENCY", raw)])).unwrap(),
                expected,
                "{raw}"
            );
        }
        for bad in ["0", "1001", "-1", "2.5", "off"] {
            let err = replay_concurrency(&settings(&[("REPLAY_CONCURRENCY", bad)])).unwrap_err();
            assert_eq!(err.name, "REPLAY_CONCURRENCY", "{bad}");
        }
    }
}
