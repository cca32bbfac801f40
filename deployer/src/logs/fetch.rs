//! Reading the lines: each log group's events with CloudWatch Logs'
//! `FilterLogEvents`, page after page up to a limit, every request under
//! a deadline, merged in time order. A group that cannot be read is set
//! aside with its error, and the others are still read.

use super::groups::LogGroup;
use super::options::{LogsLimits, LogsOptions};
use super::output::{LogEvent, Output};
use crate::deploy::Aws;

/// What one read of every group found.
pub(super) struct Read {
    /// The events of the groups that could be read, merged in time order.
    pub events: Vec<LogEvent>,
    /// The groups that could not be read, each with why.
    pub unread: Vec<(LogGroup, anyhow::Error)>,
}

/// Every group's events from `start` on, merged in time order, and the
/// groups that could not be read.
pub(super) async fn fetch_all(
    aws: &Aws,
    groups: &[LogGroup],
    start: i64,
    options: &LogsOptions,
    limits: &LogsLimits,
    output: &mut dyn Output,
) -> Read {
    let mut events = Vec::new();
    let mut unread = Vec::new();
    // One group after the other: FilterLogEvents allows only a few calls
    // a second per account.
    for group in groups {
        let fetched = match fetch(aws, group, start, options.filter.as_deref(), limits).await {
            Ok(fetched) => fetched,
            Err(err) => {
                unread.push((group.clone(), err));
                continue;
            }
        };
        if fetched.truncated {
            let last = fetched.events.last().map_or(start, |e| e.timestamp);
            output.notice(&format!(
                "{} has more lines than {} pages: those after {} are not shown; narrow the lines with --since or --filter",
                group.name,
                limits.max_pages,
                chrono::DateTime::from_timestamp_millis(last)
                    .map_or_else(|| last.to_string(), |t| t.to_rfc3339())
            ));
        }
        events.extend(fetched.events);
    }
    events.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
    Read { events, unread }
}

/// One group's events.
struct Fetched {
    events: Vec<LogEvent>,
    /// Pages were left unread.
    truncated: bool,
}

/// One group's events from `start` on, page after page up to the limit.
async fn fetch(
    aws: &Aws,
    group: &LogGroup,
    start: i64,
    filter: Option<&str>,
    limits: &LogsLimits,
) -> anyhow::Result<Fetched> {
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..limits.max_pages {
        let request = aws
            .logs
            .filter_log_events()
            .log_group_name(&group.name)
            .start_time(start)
            .set_filter_pattern(filter.map(str::to_owned))
            .set_limit(limits.page_size)
            .set_next_token(token.clone())
            .send();
        let page = tokio::time::timeout(limits.request_deadline, request)
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "no answer from CloudWatch Logs within {} s when reading {}",
                    limits.request_deadline.as_secs(),
                    group.name
                )
            })?
            .map_err(|err| {
                anyhow::anyhow!(
                    "{}",
                    aws_smithy_types::error::display::DisplayErrorContext(&err)
                )
                .context(format!("cannot read the log group {}", group.name))
            })?;
        events.extend(page.events().iter().map(|event| LogEvent {
            function: group.function,
            timestamp: event.timestamp().unwrap_or_default(),
            event_id: event.event_id().unwrap_or_default().to_owned(),
            message: event.message().unwrap_or_default().to_owned(),
        }));
        let next = page.next_token().map(str::to_owned);
        // The same token again would read the same page forever.
        if next.is_none() || next == token {
            return Ok(Fetched {
                events,
                truncated: false,
            });
        }
        token = next;
    }
    Ok(Fetched {
        events,
        truncated: true,
    })
}
