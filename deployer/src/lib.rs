//! The deployer: a typed CloudFormation model ([`cfn`]), the app's stack
//! defined with it ([`stack`]), its synthesis ([`synth`]), the build and
//! packaging of the functions ([`bundle`]), the engine behind deploy,
//! diff and destroy ([`deploy`]), a deployment at a glance ([`overview`]),
//! its replays ([`replays`]), the deployed functions' log lines
//! ([`logs`]), the settings only deploy reads ([`settings`]), and the
//! partition a region is in ([`partition`]).

pub mod bundle;
pub mod cfn;
pub mod deploy;
pub mod drift;
pub mod logs;
pub mod overview;
pub mod partition;
pub mod replays;
pub mod settings;
pub mod stack;

use service::settings::{RawSettings, SettingError};

pub use stack::{StackOptions, app_stack};

/// A template's text format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Yaml,
    Json,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "YAML",
            Format::Json => "JSON",
        }
    }
}

/// Why synthesis failed.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error(transparent)]
    Setting(#[from] SettingError),
    #[error("cannot write the template as {format}: {message}")]
    Render {
        format: &'static str,
        message: String,
    },
}

/// The app's template in `format`, from the settings `STACK_NAME` and
/// `TRACING` (never `API_KEY`: the key is a `NoEcho` deploy parameter).
///
/// Offline and cheap: no I/O, no AWS call, one pass building a few dozen
/// structs and one serialization, so deploy and diff can call it freely.
/// The same settings always give the same bytes.
pub fn synth(settings: &RawSettings, format: Format) -> Result<String, SynthError> {
    let options = StackOptions::from_settings(settings)?;
    render(&app_stack(&options), format)
}

/// `template` as text.
pub fn render(template: &cfn::Template, format: Format) -> Result<String, SynthError> {
    let rendered = match format {
        Format::Yaml => template.to_yaml().map_err(|err| err.to_string()),
        Format::Json => template.to_json().map_err(|err| err.to_string()),
    };
    rendered.map_err(|message| SynthError::Render {
        format: format.name(),
        message,
    })
}
