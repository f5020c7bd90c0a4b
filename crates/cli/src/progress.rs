//! Live progress of `scale` (and `experiment`) on stderr: a bar when stderr is a terminal,
//! one line per cell otherwise; `--verbose` adds the full latency table of each cell.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use openenv_loadgen::search::Capacity;
use openenv_loadgen::{CellSummary, Event, FindOutcome, GridOutcome, Observer};
use std::io::IsTerminal;

pub struct ScaleProgress {
    verbose: bool,
    tty: bool,
    bar: Option<ProgressBar>,
}

impl ScaleProgress {
    pub fn new(verbose: bool) -> ScaleProgress {
        ScaleProgress {
            verbose,
            tty: std::io::stderr().is_terminal(),
            bar: None,
        }
    }

    fn say(&self, line: &str) {
        match &self.bar {
            Some(b) => b.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// Final words after the grid.
    pub fn finish(&mut self, outcome: &GridOutcome) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        if outcome.interrupted {
            eprintln!("interrupted: the cell in flight was recorded as far as it got");
        }
        if let Some(dir) = &outcome.output_dir {
            eprintln!("results: {}", dir.display());
        }
    }

    /// Final words after `--find-max`: the answer per (mode, wait), on stdout, last.
    pub fn finish_search(&mut self, outcome: &FindOutcome) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        if outcome.interrupted {
            eprintln!("interrupted: the cell in flight was recorded as far as it got");
        }
        for line in answer_lines(&outcome.capacities) {
            println!("{line}");
        }
    }
}

/// The answer in words: the criterion, then one line per (mode, wait).
pub fn answer_lines(capacities: &[Capacity]) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(c) = capacities.first() {
        lines.push(format!(
            "capacity (largest N where {}):",
            c.criterion.describe()
        ));
    }
    lines.extend(capacities.iter().map(|c| format!("  {}", c.describe())));
    lines
}

fn one_line(s: &CellSummary, index: usize, cells: usize) -> String {
    let pct = if s.num_requests > 0 {
        100.0 * s.successful as f64 / s.num_requests as f64
    } else {
        0.0
    };
    let lg = &s.loadgen;
    let mut errors = if s.error_types.is_empty() {
        String::new()
    } else {
        format!(" [{}]", s.error_types)
    };
    if lg.close_timeouts > 0 {
        errors.push_str(&format!(
            " ({} closes aborted at the deadline)",
            lg.close_timeouts
        ));
    }
    format!(
        "[{}/{cells}] {} N={} wait={:?} rep {}: {}/{} ok ({pct:.1}%) wall {:.2} s, connect p50 {:.4} s, \
         total p50 {:.3} s p99 {:.3} s, {:.1} req/s, hosts {}{errors} | load generator: {} proc, \
         {:.2} CPU-s ({:.0} µs/session), {:.0} MiB{}",
        index + 1,
        s.mode.as_str(),
        s.batch_size,
        s.wait_seconds,
        s.repetition,
        s.successful,
        s.num_requests,
        s.total_wall_time,
        s.connect_p50,
        s.total_p50,
        s.total_p99,
        s.requests_per_second,
        known(s.unique_hosts),
        lg.processes,
        lg.cpu_seconds,
        if s.num_requests > 0 { lg.cpu_seconds * 1e6 / s.num_requests as f64 } else { 0.0 },
        lg.peak_rss_bytes as f64 / (1024.0 * 1024.0),
        if s.interrupted { " (interrupted)" } else { "" },
    )
}

/// An identity count, or "unknown" when the environment reports none.
fn known(n: Option<usize>) -> String {
    n.map_or_else(|| "unknown".to_owned(), |n| n.to_string())
}

fn table(s: &CellSummary) -> String {
    let ms = |x: f64| format!("{:>10.3}", x * 1e3);
    let mut t = String::new();
    t.push_str("            latency ms        p50        p95        p99\n");
    for (name, p50, p95, p99) in [
        ("connect", s.connect_p50, s.connect_p95, s.connect_p99),
        ("reset", s.reset_p50, s.reset_p95, s.reset_p99),
        ("step", s.step_p50, s.step_p95, s.step_p99),
        ("total", s.total_p50, s.total_p95, s.total_p99),
    ] {
        t.push_str(&format!(
            "    {name:>18} {} {} {}\n",
            ms(p50),
            ms(p95),
            ms(p99)
        ));
    }
    t.push_str(&format!(
        "    total min {} avg {} p90 {} max {} ms\n",
        ms(s.total_min).trim(),
        ms(s.total_avg).trim(),
        ms(s.total_p90).trim(),
        ms(s.total_max).trim()
    ));
    t.push_str(&format!(
        "    pids {} sessions {} hosts {} | effective concurrency {:.1}, peak open {} | launch \
         spread {:.1} ms, event-loop lag max {:.1} ms, busiest process {:.0}% CPU (busiest second)",
        known(s.unique_pids),
        known(s.unique_sessions),
        known(s.unique_hosts),
        s.effective_concurrency,
        s.peak_open_sessions,
        s.loadgen.launch_spread * 1e3,
        s.loadgen.max_lag * 1e3,
        s.loadgen.busiest_cpu_fraction * 100.0
    ));
    if !s.error_types.is_empty() {
        t.push_str(&format!("\n    failures: {}", s.error_types));
    }
    t
}

impl Observer for ScaleProgress {
    fn on_event(&mut self, event: Event<'_>) {
        match event {
            Event::GridStarted { cells, output_dir } => {
                if let Some(d) = output_dir {
                    eprintln!("{cells} cell(s); results to {}", d.display());
                }
            }
            Event::CellStarted {
                index,
                cells,
                mode,
                batch_size,
                wait,
                repetition,
                processes,
            } => {
                if self.tty {
                    let bar = ProgressBar::with_draw_target(
                        Some(batch_size as u64),
                        ProgressDrawTarget::stderr_with_hz(10),
                    );
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{prefix} {elapsed:>4} {bar:20.cyan/blue} {msg}",
                        )
                        .expect("valid template")
                        .progress_chars("=> "),
                    );
                    let procs = if processes > 1 {
                        format!(" ×{processes} proc")
                    } else {
                        String::new()
                    };
                    bar.set_prefix(format!(
                        "[{}/{cells}] {} N={batch_size} w={wait:?} r{repetition}{procs}",
                        index + 1,
                        mode.as_str()
                    ));
                    self.bar = Some(bar);
                }
            }
            Event::Progress(p) => {
                if let Some(b) = &self.bar {
                    b.set_position((p.done + p.failed) as u64);
                    b.set_message(format!(
                        "launched {} connected {} done {} failed {}",
                        p.launched, p.connected, p.done, p.failed
                    ));
                }
            }
            Event::CellFinished {
                index,
                cells,
                summary,
            } => {
                if let Some(b) = self.bar.take() {
                    b.finish_and_clear();
                }
                eprintln!("{}", one_line(summary, index, cells));
                if self.verbose {
                    eprintln!("{}", table(summary));
                }
            }
            Event::Warning(w) => self.say(&format!("warning: {w}")),
            Event::SearchStep {
                mode,
                wait,
                n,
                passed,
                reason,
                next,
            } => {
                let verdict = if passed { "passed" } else { "failed" };
                let next = next.map_or("search done".into(), |m| format!("next N={m}"));
                self.say(&format!(
                    "find-max {} wait={wait:?}: N={n} {verdict} ({reason}); {next}",
                    mode.as_str()
                ));
            }
            Event::SearchFinished { .. } => {}
        }
    }
}
