//! Shows library progress: a bar with throughput and ETA on a terminal, JSON status lines
//! with `--json`, nothing otherwise. Warnings and retries always go to stderr (or into the
//! JSON stream); while the storage waits to retry, the bar and the status lines say so.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cairn::storage::{RetryNotice, RetryObserver};
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

/// A retry the storage is waiting out.
struct Waiting {
    until: Instant,
    /// What is retried and why, in a few words.
    what: String,
}

/// The retry being waited out now, the bar on screen (so retry lines are printed above it,
/// not through it), and whether JSON status lines are being printed. Shared with the retry
/// observer, which is installed when the storage is opened, before any operation's display
/// exists.
static WAITING: Mutex<Option<Waiting>> = Mutex::new(None);
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);
static JSON_STATUS: AtomicBool = AtomicBool::new(false);

/// Prints each retry on stderr (above the bar, if one is shown), and as a JSON `retry` line
/// on stdout while JSON status lines are printed; the bar and the status lines show the wait
/// until it is over.
pub fn retry_observer() -> RetryObserver {
    Arc::new(|notice: &RetryNotice| {
        let what = format!("{} of {}", notice.operation, notice.path);
        *WAITING.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Waiting { until: Instant::now() + notice.wait, what: what.clone() });
        let line = format!(
            "waiting {:.1} s to retry {what} (attempt {} of {}): {}",
            notice.wait.as_secs_f64(),
            notice.attempt + 1,
            notice.max_attempts,
            notice.reason
        );
        match BAR.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
        if JSON_STATUS.load(Ordering::Relaxed) {
            super::output::json(&json!({
                "message_type": "retry",
                "what": what,
                "attempt": notice.attempt + 1,
                "max_attempts": notice.max_attempts,
                "wait_seconds": notice.wait.as_secs_f64(),
                "reason": notice.reason,
            }));
        }
    })
}

/// The retry still being waited out at `now`: what, and the seconds left.
fn waiting_at(now: Instant) -> Option<(String, f64)> {
    let waiting = WAITING.lock().unwrap_or_else(PoisonError::into_inner);
    let waiting = waiting.as_ref().filter(|w| w.until > now)?;
    Some((waiting.what.clone(), (waiting.until - now).as_secs_f64()))
}

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
        BAR.lock().unwrap_or_else(PoisonError::into_inner).clone_from(&bar);
        JSON_STATUS.store(json, Ordering::Relaxed);
        Display { bar, json, last_json: Mutex::new(None) }
    }

    /// Removes the bar before results are printed.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        *BAR.lock().unwrap_or_else(PoisonError::into_inner) = None;
        JSON_STATUS.store(false, Ordering::Relaxed);
    }
}

impl Progress for Display {
    fn report(&self, report: &ProgressReport) {
        let waiting = waiting_at(Instant::now());
        if let Some(bar) = &self.bar {
            bar.set_length(report.bytes_total);
            bar.set_position(report.bytes_done);
            let files = format!("{}/{} files", report.files_done, report.files_total);
            bar.set_message(match &waiting {
                Some((what, left)) => format!("{files}, retrying {what} in {left:.0} s"),
                None => files,
            });
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
                    "waiting_to_retry": waiting.as_ref().map(|(what, left)| json!({
                        "what": what,
                        "seconds_left": (left * 10.0).round() / 10.0,
                    })),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A retry shows in the bar and the status lines until its wait is over, then no more.
    #[test]
    fn a_retry_is_shown_until_its_wait_is_over() {
        let notice = RetryNotice {
            operation: "write",
            path: "data/ab/abcd".into(),
            attempt: 1,
            max_attempts: 6,
            wait: Duration::from_secs(5),
            reason: "HTTP 503".into(),
        };
        retry_observer()(&notice);
        let now = Instant::now();
        let (what, left) = waiting_at(now).expect("waiting");
        assert_eq!(what, "write of data/ab/abcd");
        assert!(left > 4.0 && left <= 5.0, "{left}");
        assert!(waiting_at(now + Duration::from_secs(6)).is_none(), "over after the wait");
    }
}
