//! Structured logs. Nothing here ever records a request's headers, and the
//! one library that would (lambda_runtime logs every raw invocation event
//! at TRACE, API key included) is held below TRACE whatever `RUST_LOG`
//! asks.

use tracing::{Level, Metadata};
use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

use crate::functions::EnvVar;

/// The crates whose TRACE events carry whole invocation events.
const EVENT_LOGGING_CRATES: [&str; 2] = ["lambda_runtime", "lambda_runtime_api_client"];

/// Whether `metadata` may be logged at all: not a TRACE event of a crate
/// that dumps invocation events.
fn never_an_invocation_event(metadata: &Metadata<'_>) -> bool {
    let dumps_events = EVENT_LOGGING_CRATES.iter().any(|name| {
        metadata.target() == *name || metadata.target().starts_with(&format!("{name}::"))
    });
    !(dumps_events && *metadata.level() == Level::TRACE)
}

/// `RUST_LOG` (default info).
fn env_filter() -> EnvFilter {
    EnvFilter::try_from_env(EnvVar::RustLog.as_str()).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// JSON lines on stdout, for CloudWatch; level from `RUST_LOG` (default info).
pub fn init_json() {
    let layer = fmt::layer()
        .json()
        .with_current_span(false)
        .with_filter(env_filter().and(filter_fn(never_an_invocation_event)));
    // A second initialisation (tests) is harmless; ignore it.
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// Human-readable lines, for a terminal (local mode).
pub fn init_text() {
    let layer = fmt::layer()
        .with_target(false)
        .with_filter(env_filter().and(filter_fn(never_an_invocation_event)));
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

#[cfg(test)]
mod tests {
    use tracing::callsite::Identifier;
    use tracing::field::FieldSet;
    use tracing::metadata::Kind;

    use super::*;

    struct Site;
    impl tracing::Callsite for Site {
        fn set_interest(&self, _: tracing::subscriber::Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            unreachable!("not registered")
        }
    }
    static SITE: Site = Site;

    fn metadata(target: &'static str, level: Level) -> Metadata<'static> {
        Metadata::new(
            "event",
            target,
            level,
            None,
            None,
            None,
            FieldSet::new(&[], Identifier(&SITE)),
            Kind::EVENT,
        )
    }

    #[test]
    fn only_trace_events_of_the_event_dumping_crates_are_held_back() {
        assert!(!never_an_invocation_event(&metadata(
            "lambda_runtime::runtime",
            Level::TRACE
        )));
        assert!(!never_an_invocation_event(&metadata(
            "lambda_runtime",
            Level::TRACE
        )));
        assert!(never_an_invocation_event(&metadata(
            "lambda_runtime::runtime",
            Level::DEBUG
        )));
        assert!(never_an_invocation_event(&metadata(
            "lambda_runtimes",
            Level::TRACE
        )));
        assert!(never_an_invocation_event(&metadata(
            "service::api",
            Level::TRACE
        )));
    }
}
