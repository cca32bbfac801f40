//! What `cargo xtask logs` shows ([`LogsOptions`]: the functions, the
//! start, a filter, whether to follow) and how hard it reads
//! ([`LogsLimits`]).

use std::time::Duration;

use service::functions::Function;

use super::since::Since;

/// How often `--follow` asks for new lines.
pub const FOLLOW_POLL: Duration = Duration::from_secs(2);

/// What to show.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogsOptions {
    /// The functions whose lines are shown; empty: all of them.
    pub functions: Vec<Function>,
    /// Where the lines start.
    pub since: Since,
    /// A CloudWatch Logs filter pattern (`FilterLogEvents`' `filterPattern`).
    pub filter: Option<String>,
    /// Keep showing new lines until stopped.
    pub follow: bool,
}

/// The function called `name`, or an error listing the functions: how a
/// command line's function names are read.
pub fn function_named(name: &str) -> Result<Function, String> {
    Function::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Function::ALL.iter().map(|f| f.name()).collect();
        format!(
            "there is no function {name:?}; the functions are {}",
            names.join(", ")
        )
    })
}

/// How hard the logs are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogsLimits {
    /// The pause between two polls when following.
    pub poll: Duration,
    /// How long one `FilterLogEvents` (or `ListStackResources`) may take.
    pub request_deadline: Duration,
    /// Events per `FilterLogEvents` page; `None`: the service's default
    /// (as many as fit in 1 MB, up to 10,000).
    pub page_size: Option<i32>,
    /// Pages read from one log group in one fetch; more is left unread,
    /// with a notice.
    pub max_pages: u32,
    /// Polls in a row that may fail before following gives up.
    pub failed_polls: u32,
    /// How far back each poll looks again before the newest line seen, for
    /// lines that reach CloudWatch late; the event IDs seen this far back
    /// are kept to show each line once.
    pub overlap: Duration,
}

impl Default for LogsLimits {
    fn default() -> Self {
        LogsLimits {
            poll: FOLLOW_POLL,
            request_deadline: Duration::from_secs(30),
            page_size: None,
            max_pages: 50,
            failed_polls: 5,
            overlap: Duration::from_secs(10),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_function_names_are_refused_with_the_list() {
        assert_eq!(function_named("add-event"), Ok(Function::AddEvent));
        let err = function_named("add_event").expect_err("not a function");
        assert!(err.contains("\"add_event\""), "{err}");
        for function in Function::ALL {
            assert!(err.contains(function.name()), "{err}");
        }
    }
}
