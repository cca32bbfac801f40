//! Settings: the `.env` file (read literally, see [`crate::envfile`]),
//! then the environment (which wins). A bad value
//! stops the command with a message that names the setting and the fix.
//! The settings the service reads live here; those only deploy reads
//! (`STACK_NAME`, `TRACING`) belong to the deployer.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::api::DEFAULT_TEST_STREAM_ID;
use crate::functions::EnvVar;
use domain::StreamId;

/// The placeholder `.env.example` ships, refused so nobody runs on it.
pub const EXAMPLE_API_KEY: &str = "change-me-to-a-long-random-string";

/// The name a [`SettingError`] carries when the settings file itself,
/// not one setting, is what needs fixing.
pub const SETTINGS_FILE: &str = ".env";

/// A setting that is missing or wrong.
#[derive(Debug, thiserror::Error)]
#[error("{}{problem}", if *name == SETTINGS_FILE { String::new() } else { format!("setting {name}: ") })]
pub struct SettingError {
    pub name: &'static str,
    pub problem: String,
}

/// The API key: compared in constant time, and never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// A key as given; [`RawSettings::api_key`] checks the one in `.env`.
    pub fn new(key: impl Into<String>) -> ApiKey {
        ApiKey(key.into())
    }

    /// The key itself, for the one place that must send it (the deploy's
    /// `NoEcho` parameter).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `given` is the key. Their SHA-256 digests are compared in
    /// constant time, so the time taken reveals neither the key's content
    /// nor its length.
    pub fn matches(&self, given: &[u8]) -> bool {
        use sha2::{Digest, Sha256};
        use subtle::ConstantTimeEq;
        let (given, key) = (Sha256::digest(given), Sha256::digest(self.0.as_bytes()));
        given.as_slice().ct_eq(key.as_slice()).into()
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Where a setting's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A line of this settings file.
    File(PathBuf),
    /// The process environment, which wins over the file.
    Environment,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Environment => f.write_str("the environment"),
        }
    }
}

/// The raw settings: `.env` entries overridden by the environment.
pub struct RawSettings {
    values: HashMap<String, String>,
    /// The settings file the values not in `from_environment` came from.
    file: Option<PathBuf>,
    from_environment: HashSet<String>,
}

impl RawSettings {
    /// The process environment alone (what a Lambda function has).
    pub fn from_env() -> Self {
        let values: HashMap<String, String> = std::env::vars().collect();
        RawSettings {
            from_environment: values.keys().cloned().collect(),
            values,
            file: None,
        }
    }

    /// Reads `env_file` if it exists, then the process environment.
    pub fn load(env_file: &Path) -> Result<Self, SettingError> {
        let mut values = HashMap::new();
        let mut file = None;
        if env_file.exists() {
            let text = std::fs::read_to_string(env_file).map_err(|err| SettingError {
                name: SETTINGS_FILE,
                problem: format!("cannot read {}: {err}", env_file.display()),
            })?;
            let entries = crate::envfile::parse(&text).map_err(|err| SettingError {
                name: SETTINGS_FILE,
                problem: format!(
                    "{} is malformed at {err}; each line is NAME=value, see .env.example",
                    env_file.display()
                ),
            })?;
            values.extend(entries);
            file = Some(env_file.to_path_buf());
        }
        let environment: HashMap<String, String> = std::env::vars().collect();
        let from_environment = environment.keys().cloned().collect();
        values.extend(environment);
        Ok(RawSettings {
            values,
            file,
            from_environment,
        })
    }

    /// Settings given inline, as tests and tools state them; their
    /// origin is the environment.
    pub fn from_map(values: HashMap<String, String>) -> Self {
        RawSettings {
            from_environment: values.keys().cloned().collect(),
            values,
            file: None,
        }
    }

    /// Settings given inline, as tests and tools state them.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        RawSettings::from_map(
            pairs
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }

    /// Where the value of `name` came from; `None` when it is unset.
    pub fn origin(&self, name: &str) -> Option<Origin> {
        self.get(name)?;
        match &self.file {
            Some(file) if !self.from_environment.contains(name) => Some(Origin::File(file.clone())),
            _ => Some(Origin::Environment),
        }
    }

    /// `API_KEY`: required, 20 to 128 printable ASCII characters (what API
    /// Gateway accepts for a key value).
    pub fn api_key(&self) -> Result<ApiKey, SettingError> {
        let fail = |problem: String| SettingError {
            name: "API_KEY",
            problem,
        };
        let key = self.get("API_KEY").ok_or_else(|| {
            fail("is required; put a line like API_KEY=<at least 20 characters> in .env (see .env.example)".into())
        })?;
        if key == EXAMPLE_API_KEY {
            return Err(fail(
                "is still the placeholder from .env.example; set a secret of your own in .env"
                    .into(),
            ));
        }
        let chars = key.chars().count();
        if !(20..=128).contains(&chars) {
            return Err(fail(format!(
                "is {chars} characters long; API Gateway requires 20 to 128"
            )));
        }
        if !key.chars().all(|c| c.is_ascii_graphic()) {
            return Err(fail(
                "must be printable ASCII without spaces (it travels in the x-api-key header)"
                    .into(),
            ));
        }
        Ok(ApiKey::new(key))
    }

    /// `TEST_STREAM_ID`: the stream `GET /listTestItems` shows by default.
    pub fn test_stream_id(&self) -> Result<StreamId, SettingError> {
        let name = EnvVar::TestStreamId.as_str();
        let raw = self.get(name).unwrap_or(DEFAULT_TEST_STREAM_ID);
        StreamId::parse(raw, name).map_err(|err| SettingError {
            name,
            problem: err.message,
        })
    }
}

#[cfg(test)]
mod tests {
    //! Each setting's checks and defaults, and a malformed `.env` file.

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> RawSettings {
        RawSettings::from_pairs(pairs)
    }

    #[test]
    fn the_api_key_is_required_and_checked() {
        assert_eq!(settings(&[]).api_key().unwrap_err().name, "API_KEY");
        let short = settings(&[("API_KEY", "short")]).api_key().unwrap_err();
        assert!(short.problem.contains("20"), "{short}");
        assert!(
            settings(&[("API_KEY", "with spaces in it, twenty+")])
                .api_key()
                .is_err()
        );
        assert_eq!(
            settings(&[("API_KEY", "abcdefghijklmnopqrstuvwxyz")])
                .api_key()
                .unwrap(),
            ApiKey::new("abcdefghijklmnopqrstuvwxyz")
        );
    }

    #[test]
    fn the_key_matches_only_itself_and_never_shows_in_debug() {
        let key = ApiKey::new("abcdefghijklmnopqrstuvwxyz");
        assert!(key.matches(b"abcdefghijklmnopqrstuvwxyz"));
        for other in [
            &b""[..],
            b"abcdefghijklmnopqrstuvwxy",
            b"abcdefghijklmnopqrstuvwxyz!",
        ] {
            assert!(!key.matches(other));
        }
        let shown = format!("{key:?} {:?}", Some(&key));
        assert!(!shown.contains("abcdefghij"), "{shown}");
    }

    #[test]
    fn the_test_stream_defaults_to_the_originals() {
        assert_eq!(
            settings(&[]).test_stream_id().unwrap().as_str(),
            DEFAULT_TEST_STREAM_ID
        );
        let long = "x".repeat(300);
        assert_eq!(
            settings(&[("TEST_STREAM_ID", long.as_str())])
                .test_stream_id()
                .unwrap_err()
                .name,
            "TEST_STREAM_ID"
        );
    }

    #[test]
    fn each_setting_says_whether_the_file_or_the_environment_gave_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".env");
        std::fs::write(&file, "ORIGIN_PROBE_ONLY_IN_THE_FILE=x\nPATH=/nowhere\n").unwrap();
        let settings = RawSettings::load(&file).unwrap();
        assert_eq!(
            settings.origin("ORIGIN_PROBE_ONLY_IN_THE_FILE"),
            Some(Origin::File(file.clone()))
        );
        assert_eq!(
            settings.origin("PATH"),
            Some(Origin::Environment),
            "the environment wins"
        );
        assert_eq!(settings.origin("ORIGIN_PROBE_SET_NOWHERE"), None);
        assert_eq!(
            Origin::File(file.clone()).to_string(),
            file.display().to_string()
        );
    }

    #[test]
    fn a_malformed_settings_file_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".env");
        std::fs::write(
            &file,
            "API_KEY=abcdefghijklmnopqrstuvwxyz\nTRACING='unclosed\n",
        )
        .unwrap();
        let err = RawSettings::load(&file).err().expect("refused");
        assert_eq!(err.name, SETTINGS_FILE);
        let message = err.to_string();
        assert!(message.contains("is malformed"), "{message}");
        assert!(!message.contains("setting API_KEY"), "{message}");
        assert!(!message.contains("abcdefghijklmnopqrstuvwxyz"), "{message}");
    }
}
