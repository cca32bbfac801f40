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
//!
//! A group that cannot be read does not hide the others (`unread.rs`): it
//! is named in one warning line, every other group's lines are shown, and
//! `show` then ends with [`GroupsNotRead`], so the exit status says that
//! some lines were not read.

mod fetch;
mod follow;
mod groups;
mod options;
mod output;
pub mod render;
pub mod since;
mod unread;

use std::future::Future;

use follow::{Seen, follow, print};

use crate::deploy::Aws;

pub use groups::{LogGroup, log_groups};
pub use options::{FOLLOW_POLL, LogsLimits, LogsOptions, function_named};
pub use output::{LogEvent, Output, Recorded, Terminal};
pub use render::{Style, render};
pub use since::Since;
pub use unread::GroupsNotRead;
use unread::Unread;

/// Shows the lines `options` asks for from the stack `stack`, then, when
/// following, the new ones until `stop` ends. Returns when done, stopped
/// or when following failed [`LogsLimits::failed_polls`] times in a row;
/// with [`GroupsNotRead`] when some group could not be read.
pub async fn show(
    aws: &Aws,
    stack: &str,
    options: &LogsOptions,
    limits: &LogsLimits,
    output: &mut dyn Output,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut stop = std::pin::pin!(stop);
    let mut unread = Unread::default();
    let work = async {
        let groups = log_groups(aws, stack, &options.functions, limits).await?;
        let start = options.since.start_millis(chrono::Utc::now());
        let mut seen = Seen::new(start, limits.overlap);
        let read = fetch::fetch_all(aws, &groups, start, options, limits, output).await;
        for (group, err) in &read.unread {
            output.notice(&Unread::warning(group, err));
        }
        unread.add(&read.unread);
        print(seen.new_events(read.events), output)?;
        if options.follow {
            follow(
                aws,
                &groups,
                options,
                limits,
                &mut seen,
                &mut unread,
                output,
            )
            .await?;
        }
        anyhow::Ok(())
    };
    tokio::select! {
        result = work => result?,
        () = &mut stop => {},
    }
    unread.into_result()?;
    Ok(())
}
