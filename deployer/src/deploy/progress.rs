//! What the deployer tells its user while it works: lines that stay, and
//! on a terminal a spinner with the current state. Off a terminal (CI,
//! pipes, tests) only the lines, so logs read cleanly.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Where progress goes. Cheap to clone; all clones share one output.
#[derive(Clone)]
pub struct Progress {
    sink: Sink,
}

#[derive(Clone)]
enum Sink {
    Terminal(ProgressBar),
    Plain,
    /// Kept in memory, for tests of what the user is told.
    Recorded(Arc<Mutex<Vec<String>>>),
}

impl Progress {
    /// A spinner on stderr when it is a terminal, plain lines otherwise.
    pub fn stderr() -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            Progress {
                sink: Sink::Terminal(bar),
            }
        } else {
            Progress { sink: Sink::Plain }
        }
    }

    /// Records every line; [`Progress::lines`] returns them.
    pub fn recorded() -> Progress {
        Progress {
            sink: Sink::Recorded(Arc::default()),
        }
    }

    /// A line that stays on screen.
    pub fn line(&self, text: impl AsRef<str>) {
        let text = text.as_ref();
        match &self.sink {
            Sink::Terminal(bar) => bar.println(text),
            Sink::Plain => eprintln!("{text}"),
            Sink::Recorded(lines) => lines
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(text.to_owned()),
        }
    }

    /// The spinner's message: what is going on now (not kept).
    pub fn status(&self, text: impl Into<String>) {
        if let Sink::Terminal(bar) = &self.sink {
            bar.set_message(text.into());
        }
    }

    /// Removes the spinner.
    pub fn finish(&self) {
        if let Sink::Terminal(bar) = &self.sink {
            bar.finish_and_clear();
        }
    }

    /// Every line so far (recorded progress only).
    pub fn lines(&self) -> Vec<String> {
        match &self.sink {
            Sink::Recorded(lines) => lines
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
            _ => Vec::new(),
        }
    }
}
