//! Structured logs. Nothing here ever records a request's headers, so the
//! API key cannot reach the logs.

use tracing_subscriber::EnvFilter;

/// JSON lines on stdout, for CloudWatch; level from `RUST_LOG` (default info).
pub fn init_json() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second initialisation (tests) is harmless; ignore it.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .try_init();
}

/// Human-readable lines, for a terminal (local mode).
pub fn init_text() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}
