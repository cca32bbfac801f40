//! The deployed functions' log lines (`cargo xtask logs`): each selected
//! function's log group, found among the stack's resources, read with
//! CloudWatch Logs' `FilterLogEvents`, merged in time order and rendered
//! ([`render`]), from a start given as an age or a time ([`Since`]).
//!
//! Following polls every [`FOLLOW_POLL`] until the caller's stop future
//! ends. It has no deadline of its own, by design: it runs until the user
//! stops it. Each request in it has one ([`LogsLimits::request_deadline`]),
//! and a poll that fails is reported and retried, up to
//! [`LogsLimits::failed_polls`] in a row.

pub mod render;
pub mod since;

use std::collections::HashMap;
use std::future::Future;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use service::functions::Function;

use crate::deploy::Aws;
use crate::stack::FunctionResources;

pub use render::{Style, render};
pub use since::Since;

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

/// One log event of one function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEvent {
    pub function: Function,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    pub event_id: String,
    pub message: String,
}

impl LogEvent {
    /// The merge order: time, then log group (one per function), then
    /// event ID (numerically, should IDs differ in length).
    fn order_key(&self) -> (i64, Function, usize, &str) {
        (
            self.timestamp,
            self.function,
            self.event_id.len(),
            &self.event_id,
        )
    }
}

/// Where the lines and notices go.
pub trait Output: Send {
    /// One log line. An error (a closed pipe) stops the command.
    fn event(&mut self, event: &LogEvent) -> std::io::Result<()>;
    /// Something the user should know that is not a log line.
    fn notice(&mut self, text: &str);
}

/// Lines on stdout, coloured when it is a terminal; notices on stderr.
pub struct Terminal {
    style: Style,
}

impl Terminal {
    pub fn stdout() -> Terminal {
        let style = if std::io::stdout().is_terminal() {
            Style::Colour
        } else {
            Style::Plain
        };
        Terminal { style }
    }
}

impl Output for Terminal {
    fn event(&mut self, event: &LogEvent) -> std::io::Result<()> {
        let line = render(event.function, event.timestamp, &event.message, self.style);
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}")?;
        stdout.flush()
    }

    fn notice(&mut self, text: &str) {
        eprintln!("{text}");
    }
}

/// Plain lines and notices kept in memory, for tests. Clones share them.
#[derive(Clone, Default)]
pub struct Recorded {
    lines: Arc<Mutex<Vec<String>>>,
    notices: Arc<Mutex<Vec<String>>>,
}

impl Recorded {
    /// The rendered lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The notices so far.
    pub fn notices(&self) -> Vec<String> {
        self.notices
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

impl Output for Recorded {
    fn event(&mut self, event: &LogEvent) -> std::io::Result<()> {
        let line = render(
            event.function,
            event.timestamp,
            &event.message,
            Style::Plain,
        );
        self.lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(line);
        Ok(())
    }

    fn notice(&mut self, text: &str) {
        self.notices
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(text.to_owned());
    }
}

/// A function's log group, as the stack names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogGroup {
    pub function: Function,
    pub name: String,
}

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
        let events = fetch_all(aws, &groups, start, options, limits, output).await?;
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

/// The log groups of `functions` (all when empty), from one listing of the
/// stack's resources, in [`Function::ALL`]'s order.
pub async fn log_groups(
    aws: &Aws,
    stack: &str,
    functions: &[Function],
    limits: &LogsLimits,
) -> anyhow::Result<Vec<LogGroup>> {
    let mut physical_ids = HashMap::new();
    let mut token: Option<String> = None;
    // CloudFormation lists 100 resources a page, and a stack holds at
    // most 500.
    for _ in 0..10 {
        let request = aws
            .cloudformation
            .list_stack_resources()
            .stack_name(stack)
            .set_next_token(token.take())
            .send();
        let page = match tokio::time::timeout(limits.request_deadline, request).await {
            Err(_) => bail!(
                "no answer from CloudFormation within {} s to the listing of the stack {stack}'s resources",
                limits.request_deadline.as_secs()
            ),
            Ok(Err(err))
                if err.code() == Some("ValidationError")
                    && err.message().is_some_and(|m| m.contains("does not exist")) =>
            {
                bail!(
                    "no stack named {stack} in {}; deploy first (cargo xtask deploy)",
                    aws.region
                )
            }
            Ok(result) => result.map_err(|err| {
                anyhow::anyhow!(
                    "{}",
                    aws_smithy_types::error::display::DisplayErrorContext(&err)
                )
                .context(format!("cannot list the stack {stack}'s resources"))
            })?,
        };
        for resource in page.stack_resource_summaries() {
            if let (Some(logical), Some(physical)) = (
                resource.logical_resource_id(),
                resource.physical_resource_id(),
            ) {
                physical_ids.insert(logical.to_owned(), physical.to_owned());
            }
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    Function::ALL
        .into_iter()
        .filter(|f| functions.is_empty() || functions.contains(f))
        .map(|function| {
            let id = function.log_group_id();
            let name = physical_ids.get(id.as_str()).with_context(|| {
                format!(
                    "the stack {stack} has no log group for the function {function} (no resource {}); is it this app's stack, fully deployed?",
                    id.as_str()
                )
            })?;
            Ok(LogGroup {
                function,
                name: name.clone(),
            })
        })
        .collect()
}

/// Every group's events from `start` on, merged in time order.
async fn fetch_all(
    aws: &Aws,
    groups: &[LogGroup],
    start: i64,
    options: &LogsOptions,
    limits: &LogsLimits,
    output: &mut dyn Output,
) -> anyhow::Result<Vec<LogEvent>> {
    let mut events = Vec::new();
    // One group after the other: FilterLogEvents allows only a few calls
    // a second per account.
    for group in groups {
        let fetched = fetch(aws, group, start, options.filter.as_deref(), limits).await?;
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
    Ok(events)
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

/// What following has shown: the newest time and the event IDs of the
/// lines from the overlap before it, so each line is shown once.
struct Seen {
    /// Where the first fetch started; polls never look before it.
    start: i64,
    overlap: i64,
    newest: Option<i64>,
    ids: HashMap<(Function, String), i64>,
}

impl Seen {
    fn new(start: i64, overlap: Duration) -> Seen {
        Seen {
            start,
            overlap: i64::try_from(overlap.as_millis()).unwrap_or(i64::MAX),
            newest: None,
            ids: HashMap::new(),
        }
    }

    /// Where the next poll starts.
    fn next_start(&self) -> i64 {
        self.newest
            .map_or(self.start, |newest| newest.saturating_sub(self.overlap))
            .max(self.start)
    }

    /// The events not seen before, in their order; remembers them and
    /// forgets the IDs no poll can return again.
    fn new_events(&mut self, events: Vec<LogEvent>) -> Vec<LogEvent> {
        let fresh: Vec<LogEvent> = events
            .into_iter()
            .filter(|event| {
                self.ids
                    .insert((event.function, event.event_id.clone()), event.timestamp)
                    .is_none()
            })
            .collect();
        if let Some(newest) = fresh.iter().map(|e| e.timestamp).max() {
            self.newest = Some(self.newest.map_or(newest, |n| n.max(newest)));
        }
        let horizon = self.next_start();
        self.ids.retain(|_, timestamp| *timestamp >= horizon);
        fresh
    }
}

fn print(events: Vec<LogEvent>, output: &mut dyn Output) -> anyhow::Result<()> {
    for event in &events {
        output.event(event).context("cannot write the log lines")?;
    }
    Ok(())
}

/// Polls for new lines until the caller stops it (see the module
/// documentation).
async fn follow(
    aws: &Aws,
    groups: &[LogGroup],
    options: &LogsOptions,
    limits: &LogsLimits,
    seen: &mut Seen,
    output: &mut dyn Output,
) -> anyhow::Result<()> {
    let mut ticks = tokio::time::interval(limits.poll);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is at once: the first fetch was just made.
    ticks.tick().await;
    let mut failures = 0;
    loop {
        ticks.tick().await;
        match fetch_all(aws, groups, seen.next_start(), options, limits, output).await {
            Ok(events) => {
                failures = 0;
                print(seen.new_events(events), output)?;
            }
            Err(err) => {
                failures += 1;
                if failures >= limits.failed_polls {
                    return Err(err.context(format!(
                        "stopped following the logs after {failures} failed polls in a row"
                    )));
                }
                output.notice(&format!(
                    "cannot read the new log lines (failed poll {failures} of at most {} in a row): {err:#}; trying again in {} s",
                    limits.failed_polls,
                    limits.poll.as_secs_f64()
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(function: Function, timestamp: i64, id: &str) -> LogEvent {
        LogEvent {
            function,
            timestamp,
            event_id: id.to_owned(),
            message: format!("{function} {id}"),
        }
    }

    fn ids(events: &[LogEvent]) -> Vec<&str> {
        events.iter().map(|e| e.event_id.as_str()).collect()
    }

    #[test]
    fn events_merge_by_time_then_group_then_numeric_id() {
        let mut events = [
            event(Function::Projector, 5, "p5"),
            event(Function::AddEvent, 7, "10"),
            event(Function::AddEvent, 7, "9"),
            event(Function::AddEvent, 5, "a5"),
            event(Function::ListItems, 1, "l1"),
        ];
        events.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        assert_eq!(ids(&events), ["l1", "a5", "p5", "9", "10"]);
    }

    #[test]
    fn polls_show_each_line_once_and_forget_ids_behind_the_overlap() {
        let mut seen = Seen::new(1_000, Duration::from_millis(100));
        assert_eq!(seen.next_start(), 1_000);
        let first = seen.new_events(vec![
            event(Function::AddEvent, 1_500, "1"),
            event(Function::Replay, 2_000, "2"),
        ]);
        assert_eq!(ids(&first), ["1", "2"]);
        assert_eq!(seen.next_start(), 1_900);
        assert_eq!(seen.ids.len(), 1, "1 is behind the overlap");

        // A poll sees 2 again, and a line that arrived late.
        let second = seen.new_events(vec![
            event(Function::AddEvent, 1_950, "3"),
            event(Function::Replay, 2_000, "2"),
            event(Function::Replay, 2_300, "4"),
        ]);
        assert_eq!(ids(&second), ["3", "4"]);
        assert_eq!(seen.next_start(), 2_200);
        assert_eq!(seen.ids.len(), 1);

        // The same ID in another group is another line.
        let third = seen.new_events(vec![event(Function::AddEvent, 2_300, "4")]);
        assert_eq!(ids(&third), ["4"]);
        assert!(seen.new_events(Vec::new()).is_empty());
        assert_eq!(seen.next_start(), 2_200);
    }

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
