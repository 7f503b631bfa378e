//! Shows library progress: a bar with ETA on a terminal, JSON status lines with `--json`,
//! nothing otherwise. Warnings always go to stderr (or into the JSON stream).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cairn::{Progress, ProgressReport, SourceWarning};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

/// What the user sees while an operation runs.
pub struct Display {
    bar: Option<ProgressBar>,
    json: bool,
    last_json: Mutex<Option<Instant>>,
}

/// JSON status lines are printed at most this often.
const JSON_INTERVAL: Duration = Duration::from_secs(1);

impl Display {
    pub fn new(json: bool, quiet: bool) -> Display {
        let bar = (!json && !quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        });
        Display { bar, json, last_json: Mutex::new(None) }
    }

    /// Removes the bar before results are printed.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Display {
    fn report(&self, report: &ProgressReport) {
        if let Some(bar) = &self.bar {
            bar.set_length(report.bytes_total);
            bar.set_position(report.bytes_done);
            bar.set_message(format!("{}/{} files", report.files_done, report.files_total));
        }
        if self.json {
            let mut last = self.last_json.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.is_none_or(|t| t.elapsed() >= JSON_INTERVAL) && report.elapsed >= JSON_INTERVAL {
                *last = Some(Instant::now());
                let percent = if report.bytes_total > 0 {
                    report.bytes_done as f64 / report.bytes_total as f64
                } else {
                    0.0
                };
                super::output::json(&json!({
                    "message_type": "status",
                    "percent_done": percent,
                    "files_done": report.files_done,
                    "total_files": report.files_total,
                    "bytes_done": report.bytes_done,
                    "total_bytes": report.bytes_total,
                    "seconds_elapsed": report.elapsed.as_secs(),
                    "seconds_remaining": report.eta.map(|d| d.as_secs()),
                    "current_file": report.current_path.as_ref().map(|p| p.display().to_string()),
                }));
            }
        }
    }

    fn warning(&self, warning: &SourceWarning) {
        let line = format!("warning: {}: {}", warning.path.display(), warning.message);
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }
}
