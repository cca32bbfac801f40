//! What is shown: a function's log event ([`LogEvent`], in the order the
//! groups' lines are merged) and where the lines and notices go
//! ([`Output`]: the terminal, or memory for tests).

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use service::functions::Function;

use super::render::{Style, render};

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
    pub(super) fn order_key(&self) -> (i64, Function, usize, &str) {
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

/// Events for the tests of this module and of following.
#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A line of `function` at `timestamp` with the event ID `id`.
    pub(in crate::logs) fn event(function: Function, timestamp: i64, id: &str) -> LogEvent {
        LogEvent {
            function,
            timestamp,
            event_id: id.to_owned(),
            message: format!("{function} {id}"),
        }
    }

    /// The events' IDs, in order.
    pub(in crate::logs) fn ids(events: &[LogEvent]) -> Vec<&str> {
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
}
