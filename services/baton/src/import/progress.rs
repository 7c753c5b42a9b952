//! Progress on stderr: a bar on a terminal, else a line every few seconds (a CI log or a
//! redirected file should not fill with redraws).

use std::{
    io::IsTerminal as _,
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressStyle};

/// How often the plain progress line is written.
const EVERY: Duration = Duration::from_secs(5);

/// Rows read so far, shown as they go.
pub struct Progress {
    /// The bar, on a terminal.
    bar: Option<ProgressBar>,
    /// When the import started.
    started: Instant,
    /// When the last plain line was written.
    last_line: Instant,
    /// Rows read.
    rows: u64,
}

impl Progress {
    /// Progress through a file of `bytes` bytes.
    pub fn new(bytes: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let style = ProgressStyle::with_template(
                "{bar:40} {percent:>3}% {msg} rows, {elapsed_precise} elapsed, {eta} left",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            ProgressBar::new(bytes).with_style(style)
        });
        let now = Instant::now();
        Self {
            bar,
            started: now,
            last_line: now,
            rows: 0,
        }
    }

    /// `rows` more rows read, up to byte `position` of the file.
    pub fn advance(&mut self, rows: u64, position: u64) {
        self.rows += rows;
        match &self.bar {
            Some(bar) => {
                bar.set_position(position);
                bar.set_message(self.rows.to_string());
            }
            None if self.last_line.elapsed() >= EVERY => {
                self.last_line = Instant::now();
                eprintln!("{} rows read ({:.0} rows/s)", self.rows, self.rate());
            }
            None => {}
        }
    }

    fn rate(&self) -> f64 {
        let secs = self.started.elapsed().as_secs_f64();
        if secs > 0.0 {
            self.rows as f64 / secs
        } else {
            0.0
        }
    }

    /// Clears the bar and says how long it took.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        eprintln!(
            "{} rows read in {:.1}s ({:.0} rows/s)",
            self.rows,
            self.started.elapsed().as_secs_f64(),
            self.rate()
        );
    }
}
