//! The deployed functions' log lines (`cargo xtask logs`): each selected
//! function's log group, found among the stack's resources (`groups.rs`),
//! read with CloudWatch Logs' `FilterLogEvents`, merged in time order
//! (`fetch.rs`) and rendered ([`render`](mod@render)) to an [`Output`],
//! from a start given as an age or a time ([`Since`]); what to show and
//! how hard to read are [`LogsOptions`] and [`LogsLimits`].
//!
//! Following (`follow.rs`) polls every [`FOLLOW_POLL`] until the caller's
//! stop future ends. It has no deadline of its own, by design: it runs
//! until the user stops it. Each request in it has one
//! ([`LogsLimits::request_deadline`]), and a poll that fails is reported
//! and retried, up to [`LogsLimits::failed_polls`] in a row.

mod fetch;
mod follow;
mod groups;
mod options;
mod output;
pub mod render;
pub mod since;

use std::future::Future;

use follow::{Seen, follow, print};

use crate::deploy::Aws;

pub use groups::{LogGroup, log_groups};
pub use options::{FOLLOW_POLL, LogsLimits, LogsOptions, function_named};
pub use output::{LogEvent, Output, Recorded, Terminal};
pub use render::{Style, render};
pub use since::Since;

/// Shows the lines `options` asks for from the stack `stack`, then, when
/// following, the new ones until `stop` ends. Returns when done, stopped
/// or when following failed [`LogsLimits::failed_polls`] times in a row.
pub async fn show(
    aws: &Aws,
    stack: &str,
    options: &LogsOptions,
    limits: &LogsLimits,
    output: &mut dyn Output,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut stop = std::pin::pin!(stop);
    let work = async {
        let groups = log_groups(aws, stack, &options.functions, limits).await?;
        let start = options.since.start_millis(chrono::Utc::now());
        let mut seen = Seen::new(start, limits.overlap);
        let events = fetch::fetch_all(aws, &groups, start, options, limits, output).await?;
        print(seen.new_events(events), output)?;
        if options.follow {
            follow(aws, &groups, options, limits, &mut seen, output).await?;
        }
        Ok(())
    };
    tokio::select! {
        result = work => result,
        () = &mut stop => Ok(()),
    }
}
