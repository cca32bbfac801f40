//! The report: figures as they are taken (printed at once), then the
//! whole as Markdown and JSON, and the statistics every measurement uses.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::Serialize;

/// One measured figure.
#[derive(Clone, Debug, Serialize)]
struct Figure {
    group: String,
    name: String,
    /// `None`: not taken; `note` says why.
    value: Option<f64>,
    unit: String,
    /// Reference, target or reason.
    note: String,
}

#[derive(Default, Serialize)]
pub(super) struct Report {
    date: String,
    machine: String,
    /// Only some parts ran (`--only`).
    partial: bool,
    figures: Vec<Figure>,
}

/// The reference report a new one replaces: its date and figures, read
/// back from its Markdown.
struct Previous {
    date: String,
    figures: Vec<Figure>,
}

impl Report {
    /// An empty report dated today, naming this machine; `partial` when
    /// only some parts run.
    pub(super) fn new(partial: bool) -> Report {
        Report {
            date: Utc::now().format("%Y-%m-%d").to_string(),
            machine: machine(),
            partial,
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
            group: group.to_owned(),
            name: name.into(),
            value: Some(value),
            unit: unit.to_owned(),
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
            group: group.to_owned(),
            name: name.into(),
            value: None,
            unit: String::new(),
            note: format!("not taken: {}", why.into()),
        };
        eprintln!("    {:<56} {:>12}        {}", figure.name, "-", figure.note);
        self.figures.push(figure);
    }

    /// Writes the report as JSON and Markdown, stamped, under
    /// `<target>/bench/` (and, with `reference`, as bench/REPORT.md), and
    /// prints the Markdown. Each figure shows the reference report's value
    /// beside it; a partial report written as the reference keeps the
    /// reference's figures of the groups it did not measure, dated.
    pub(super) fn write(
        &self,
        root: &Path,
        reference: bool,
        started: Instant,
    ) -> anyhow::Result<()> {
        let previous = std::fs::read_to_string(root.join("bench").join("REPORT.md"))
            .ok()
            .and_then(|text| Previous::parse(&text));
        let markdown = self.markdown(previous.as_ref(), reference && self.partial);
        let out = deployer::bundle::target_dir(root)?.join("bench");
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

    fn markdown(&self, previous: Option<&Previous>, merge: bool) -> String {
        let mut text = format!(
            "# Performance report\n\nTaken by `cargo xtask bench` on {} ({}).\nMedians unless said otherwise.\n",
            self.date, self.machine
        );
        let kept = previous.filter(|_| merge);
        if let Some(previous) = kept {
            let mut groups: Vec<&str> = Vec::new();
            for f in &self.figures {
                if !groups.contains(&f.group.as_str()) {
                    groups.push(&f.group);
                }
            }
            text.push_str(&format!(
                "Only some parts ran ({}); the other figures are kept from the report of {}, \
                 and their note says so.\n",
                groups.join(", "),
                previous.date
            ));
        }
        if let Some(previous) = previous {
            text.push_str(&format!(
                "`previous`: the figure in the report of {}.\n",
                previous.date
            ));
        }
        text.push_str(
            "\n| group | figure | value | previous | unit | note |\n| --- | --- | ---: | ---: | --- | --- |\n",
        );
        let previous_value = |f: &Figure| {
            previous
                .and_then(|p| {
                    p.figures
                        .iter()
                        .find(|old| old.group == f.group && old.name == f.name)
                })
                .and_then(|old| old.value)
                .map(format_value)
                .unwrap_or_default()
        };
        let mut row = |f: &Figure, previous: String, note: String| {
            let value = f.value.map(format_value).unwrap_or_else(|| "-".to_owned());
            text.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                f.group, f.name, value, previous, f.unit, note
            ));
        };
        let Some(previous) = kept else {
            for f in &self.figures {
                row(f, previous_value(f), f.note.clone());
            }
            return text;
        };
        // The reference's order, with each group measured now in place of
        // its old figures, and new groups at the end.
        let measured = |group: &str| self.figures.iter().any(|f| f.group == group);
        let mut written: Vec<&str> = Vec::new();
        for old in &previous.figures {
            if measured(&old.group) {
                if !written.contains(&old.group.as_str()) {
                    written.push(&old.group);
                    for f in self.figures.iter().filter(|f| f.group == old.group) {
                        row(f, previous_value(f), f.note.clone());
                    }
                }
            } else if old.note.starts_with("(from ") {
                row(old, String::new(), old.note.clone());
            } else {
                let note = format!("(from {}) {}", previous.date, old.note);
                row(old, String::new(), note.trim_end().to_owned());
            }
        }
        for f in &self.figures {
            if !written.contains(&f.group.as_str()) {
                row(f, previous_value(f), f.note.clone());
            }
        }
        text
    }
}

impl Previous {
    /// The date and rows of a report this module wrote (with or without
    /// the `previous` column).
    fn parse(markdown: &str) -> Option<Previous> {
        let date = markdown
            .lines()
            .find_map(|l| l.strip_prefix("Taken by `cargo xtask bench` on "))?
            .split(' ')
            .next()?
            .to_owned();
        let mut rows = markdown.lines().filter(|l| l.starts_with("| "));
        let header: Vec<&str> = cells(rows.next()?);
        let column = |name: &str| header.iter().position(|h| *h == name);
        let (group, name, value, unit, note) = (
            column("group")?,
            column("figure")?,
            column("value")?,
            column("unit")?,
            column("note")?,
        );
        let figures = rows
            .map(cells)
            .filter(|cells| cells.len() == header.len())
            // The line under the header (`| --- | ---: |`) is no figure.
            .filter(|cells| {
                !cells
                    .iter()
                    .all(|cell| cell.chars().all(|c| matches!(c, '-' | ':')))
            })
            .map(|cells| Figure {
                group: cells[group].to_owned(),
                name: cells[name].to_owned(),
                value: cells[value].parse().ok(),
                unit: cells[unit].to_owned(),
                note: cells[note].to_owned(),
            })
            .collect();
        Some(Previous { date, figures })
    }
}

/// The cells of a Markdown table row.
fn cells(line: &str) -> Vec<&str> {
    line.trim()
        .trim_start_matches('|')
        .trim_end_matches('|')
        .split(" | ")
        .map(str::trim)
        .collect()
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
    // Other work on the machine skews every timing: say how busy it was.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .map_or_else(String::new, |l| format!(", load average {l} at the start"));
    format!("{cpus} CPUs{memory}, {model}{load}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_previous_report_reads_back_its_figures_and_nothing_else() {
        let markdown = "# Performance report\n\n\
            Taken by `cargo xtask bench` on 2026-11-29 (2 CPUs).\n\n\
            | group | figure | value | previous | unit | note |\n\
            | --- | --- | ---: | ---: | --- | --- |\n\
            | aws calls | requests per append | 2.000 | 2.000 |  | 100 appends |\n\
            | listing | p99 | - |  | ms | not taken: no emulator |\n";
        let previous = Previous::parse(markdown).expect("a report");
        assert_eq!(previous.date, "2026-11-29");
        let names: Vec<&str> = previous.figures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["requests per append", "p99"]);
        assert_eq!(previous.figures[0].value, Some(2.0));
        assert_eq!(previous.figures[1].value, None);
    }
}
