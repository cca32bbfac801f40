//! The report: figures as they are taken (printed at once), then the
//! whole as Markdown and JSON, and the statistics every measurement uses.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::Serialize;

/// One measured figure.
#[derive(Clone, Debug, Serialize)]
struct Figure {
    group: &'static str,
    name: String,
    /// `None`: not taken; `note` says why.
    value: Option<f64>,
    unit: &'static str,
    /// Reference, target or reason.
    note: String,
}

#[derive(Default, Serialize)]
pub(super) struct Report {
    date: String,
    machine: String,
    figures: Vec<Figure>,
}

impl Report {
    /// An empty report dated today, naming this machine.
    pub(super) fn new() -> Report {
        Report {
            date: Utc::now().format("%Y-%m-%d").to_string(),
            machine: machine(),
            figures: Vec::new(),
        }
    }

    pub(super) fn add(
        &mut self,
        group: &'static str,
        name: impl Into<String>,
        value: f64,
        unit: &'static str,
        note: impl Into<String>,
    ) {
        let figure = Figure {
            group,
            name: name.into(),
            value: Some(value),
            unit,
            note: note.into(),
        };
        eprintln!(
            "    {:<56} {:>12} {:<6} {}",
            figure.name,
            format_value(value),
            unit,
            figure.note
        );
        self.figures.push(figure);
    }

    pub(super) fn missing(
        &mut self,
        group: &'static str,
        name: impl Into<String>,
        why: impl Into<String>,
    ) {
        let figure = Figure {
            group,
            name: name.into(),
            value: None,
            unit: "",
            note: format!("not taken: {}", why.into()),
        };
        eprintln!("    {:<56} {:>12}        {}", figure.name, "-", figure.note);
        self.figures.push(figure);
    }

    /// Writes the report as JSON and Markdown, stamped, under
    /// `<target>/bench/` (and, with `reference`, as bench/REPORT.md), and
    /// prints the Markdown.
    pub(super) fn write(
        &self,
        root: &Path,
        reference: bool,
        started: Instant,
    ) -> anyhow::Result<()> {
        let markdown = self.markdown();
        let out = deployer::build::target_dir(root)?.join("bench");
        std::fs::create_dir_all(&out)?;
        let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
        std::fs::write(
            out.join(format!("report-{stamp}.json")),
            serde_json::to_string_pretty(self)?,
        )?;
        std::fs::write(out.join(format!("report-{stamp}.md")), &markdown)?;
        if reference {
            std::fs::create_dir_all(root.join("bench"))?;
            std::fs::write(root.join("bench").join("REPORT.md"), &markdown)?;
        }
        println!("{markdown}");
        eprintln!(
            "report written to {} (report-{stamp}.json and .md) in {:.0} s",
            out.display(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    fn markdown(&self) -> String {
        let mut text = format!(
            "# Performance report\n\nTaken by `cargo xtask bench` on {} ({}).\nMedians unless said otherwise.\n\n| group | figure | value | unit | note |\n| --- | --- | ---: | --- | --- |\n",
            self.date, self.machine
        );
        for f in &self.figures {
            let value = f.value.map(format_value).unwrap_or_else(|| "-".to_owned());
            text.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                f.group, f.name, value, f.unit, f.note
            ));
        }
        text
    }
}

fn format_value(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}

pub(super) fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    match samples.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => samples[n / 2],
        n => (samples[n / 2 - 1] + samples[n / 2]) / 2.0,
    }
}

pub(super) fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    if samples.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (samples.len() as f64 - 1.0)).round() as usize;
    samples[rank.min(samples.len() - 1)]
}

pub(super) fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or_else(String::new, |kib| {
            format!(", {:.0} GiB", kib as f64 / 1048576.0)
        });
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    format!("{cpus} CPUs{memory}, {model}")
}
