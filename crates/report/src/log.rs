//! `EXPERIMENT_LOG.md`: one entry per analyzed run, newest first.
//!
//! Entries are delimited by HTML comments carrying an id (`<infra>/<run dir>`), so that analyzing
//! the same results directory again replaces its own entry, and every other line of the file
//! (earlier entries, notes written by hand) stays byte for byte as it was.

use crate::analysis::{fmt_wait, InfraAnalysis};
use crate::dataset::RunInfo;
use crate::tables::results_summary;
use crate::ReportError;
use std::fmt::Write;
use std::path::Path;

/// New entries go right below this line.
pub const MARKER: &str = "<!-- Add new runs below this line, newest first -->";

const HEADER: &str = "# OpenEnv Scaling Experiment Log\n\n\
This log tracks experiment runs of the OpenEnv infrastructure scaling benchmark. \
`openenv-bench analyze` adds an entry per analyzed results directory, newest first; \
text outside the entries is never touched.\n\n";

fn begin(id: &str) -> String {
    format!("<!-- entry: {id} -->")
}
const END: &str = "<!-- /entry -->";

/// What one log entry says.
pub struct LogEntry<'a> {
    pub analysis: &'a InfraAnalysis,
    pub run: Option<&'a RunInfo>,
    pub threshold: f64,
    /// The analyze (or experiment) command line, as the user typed it.
    pub command: &'a str,
    /// When the entry is written (UTC, RFC 3339).
    pub logged_at: &'a str,
}

impl LogEntry<'_> {
    /// `<infra>/<run dir name>`: stable across re-analysis of the same directory.
    pub fn id(&self) -> String {
        let dir =
            std::path::absolute(&self.analysis.dir).unwrap_or_else(|_| self.analysis.dir.clone());
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{}/{}", self.analysis.infra, name)
    }

    pub fn markdown(&self) -> String {
        let a = self.analysis;
        let id = self.id();
        let mut s = begin(&id);
        s.push('\n');
        let _ = writeln!(s, "### {}\n", id.replace('/', " · "));
        let _ = writeln!(s, "- **Logged:** {}", self.logged_at);
        let _ = writeln!(s, "- **Infrastructure:** {}", a.infra);
        let _ = writeln!(s, "- **Results:** `{}`", a.dir.display());
        if let (Some(first), Some(last)) = (&a.first_timestamp, &a.last_timestamp) {
            let _ = writeln!(s, "- **Cells ran:** {first} – {last}");
        }
        if let Some(cmd) = self.run.and_then(|r| r.command()) {
            let _ = writeln!(s, "- **Run command:** `{cmd}`");
        }
        let _ = writeln!(s, "- **Analyzed with:** `{}`", self.command);
        let waits: Vec<String> = {
            let mut w: Vec<f64> = a.curves.iter().map(|c| c.wait).collect();
            w.sort_by(f64::total_cmp);
            w.dedup_by(|x, y| fmt_wait(*x) == fmt_wait(*y));
            w.into_iter().map(fmt_wait).collect()
        };
        let mut sizes: Vec<u64> = a
            .curves
            .iter()
            .flat_map(|c| c.points.iter().map(|p| p.batch_size))
            .collect();
        sizes.sort_unstable();
        sizes.dedup();
        let mut modes: Vec<&str> = a.curves.iter().map(|c| c.mode.as_str()).collect();
        modes.dedup();
        let _ = writeln!(
            s,
            "- **Grid:** modes {} × N {:?} × wait {} s × up to {} rep(s); {} cells, {} skipped row(s)",
            modes.join("/"),
            sizes,
            waits.join(", "),
            a.max_reps(),
            a.rows,
            a.skipped.len()
        );
        match self.run {
            Some(run) => {
                s.push_str("- **Configuration (run.json):**");
                for (k, v) in &run.fields() {
                    if k == "command" || k == "command_line" {
                        continue;
                    }
                    let v = match v {
                        // Earlier runs into the same directory: count them, don't repeat them.
                        serde_json::Value::Array(a) if k == "previous_runs" => a.len().to_string(),
                        serde_json::Value::String(t) => t.clone(),
                        other => other.to_string(),
                    };
                    let _ = write!(s, " `{k}`={v};");
                }
                if s.ends_with(';') {
                    s.pop();
                }
                s.push('\n');
            }
            None => s.push_str("- **Configuration:** no run.json in the results directory\n"),
        }
        let _ = writeln!(
            s,
            "- **Success threshold:** {}%\n",
            (self.threshold * 100.0).round()
        );
        s.push_str(&results_summary(a, self.threshold));
        s.push_str(END);
        s.push('\n');
        s
    }
}

/// Returns the new log text: `entry` inserted right below [`MARKER`] (newest first). An entry with
/// the same id is removed from where it was, when it is whole (see [`own_entry`]); nothing else
/// changes. Without a marker (a log
/// written by hand), the marker is appended at the end first.
pub fn insert_entry(existing: Option<&str>, id: &str, entry: &str) -> String {
    let mut text = match existing {
        Some(t) if !t.trim().is_empty() => t.to_string(),
        _ => format!("{HEADER}{MARKER}\n"),
    };
    if let Some(range) = own_entry(&text, id) {
        text.replace_range(range, "");
    }
    if !text.contains(MARKER) {
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push('\n');
        text.push_str(MARKER);
        text.push('\n');
    }
    let at = text.find(MARKER).expect("marker present") + MARKER.len();
    // Marker, blank line, entry, blank line, then whatever followed the marker.
    let rest = text[at..].trim_start_matches('\n').to_string();
    text.truncate(at);
    text.push_str("\n\n");
    text.push_str(entry.trim_end_matches('\n'));
    text.push('\n');
    if !rest.is_empty() {
        text.push('\n');
        text.push_str(&rest);
    }
    text
}

/// The log at `path` (if any) with `entries` inserted, in order (so the last one ends up on
/// top). Nothing is written: the caller stages the text with the other outputs.
pub fn updated_log(path: &Path, entries: &[LogEntry<'_>]) -> Result<String, ReportError> {
    let mut text = match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(ReportError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    for entry in entries {
        text = Some(insert_entry(
            text.as_deref(),
            &entry.id(),
            &entry.markdown(),
        ));
    }
    Ok(text.unwrap_or_else(|| format!("{HEADER}{MARKER}\n")))
}

/// Where the earlier entry `id` lies in `text`, with the line break and blank line we wrote after
/// it: its begin line up to its own end marker. `None` when there is none, or when it is not
/// whole: an end marker that is missing or comes only after another entry's begin line or after
/// [`MARKER`] (cut by hand or by a disk that filled up). Then the old entry stays: we cannot tell
/// where it ended, and whatever follows may be someone else's (another entry, a note by hand).
fn own_entry(text: &str, id: &str) -> Option<std::ops::Range<usize>> {
    let start = text.find(&format!("{}\n", begin(id)))?;
    let body = start + begin(id).len();
    let end = body + text[body..].find(END)?;
    let between = &text[body..end];
    if between.contains("<!-- entry: ") || between.contains(MARKER) {
        return None;
    }
    let mut end = end + END.len();
    for _ in 0..2 {
        if text[end..].starts_with('\n') {
            end += 1;
        }
    }
    Some(start..end)
}

/// Reads the log at `path` (if any), inserts the entry and writes it back (all or nothing: a
/// temporary file renamed over the log).
pub fn append_entry(path: &Path, entry: &LogEntry<'_>) -> Result<(), ReportError> {
    let text = updated_log(path, std::slice::from_ref(entry))?;
    let mut staging = crate::output::Staging::new();
    staging.write(path, text.as_bytes())?;
    staging.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, body: &str) -> String {
        format!("{}\n### {id}\n{body}\n{END}\n", begin(id))
    }

    #[test]
    fn newest_first_and_earlier_entries_untouched() {
        let one = insert_entry(None, "a/1", &entry("a/1", "body-one"));
        assert!(one.starts_with("# OpenEnv Scaling Experiment Log"));
        let two = insert_entry(Some(&one), "b/2", &entry("b/2", "body-two"));
        let (pos1, pos2) = (two.find("body-one").unwrap(), two.find("body-two").unwrap());
        assert!(pos2 < pos1, "newest entry must come first:\n{two}");
        // The first entry's text is unchanged, byte for byte.
        assert!(two.contains(&entry("a/1", "body-one")));
    }

    #[test]
    fn same_id_replaces_its_own_entry_only() {
        let mut t = insert_entry(None, "a/1", &entry("a/1", "old"));
        t = insert_entry(Some(&t), "b/2", &entry("b/2", "other"));
        t = insert_entry(Some(&t), "a/1", &entry("a/1", "new"));
        assert!(!t.contains("old"));
        assert_eq!(t.matches("<!-- entry: a/1 -->").count(), 1);
        assert!(t.find("new").unwrap() < t.find("other").unwrap());
        assert!(t.contains(&entry("b/2", "other")));
    }

    #[test]
    fn an_entry_without_its_end_marker_deletes_nothing_after_it() {
        // a/1 lost its end marker; below it come a note by hand and b/2's entry.
        let mut t = insert_entry(None, "b/2", &entry("b/2", "other infra"));
        t = insert_entry(Some(&t), "a/1", &entry("a/1", "old"));
        t = t.replacen(
            &format!("old\n{END}\n"),
            "old\n\nA note I wrote by hand.\n",
            1,
        );
        assert!(!t.contains(&entry("a/1", "old")));
        let after = insert_entry(Some(&t), "a/1", &entry("a/1", "new"));
        // Every byte of the damaged log is still there, the new entry on top.
        let at = after.find(MARKER).unwrap() + MARKER.len();
        let new_entry = format!("\n\n{}\n", entry("a/1", "new").trim_end());
        assert!(after[at..].starts_with(&new_entry), "{after}");
        let rest = &after[at + new_entry.len()..];
        assert_eq!(
            rest.trim_start(),
            t[t.find(MARKER).unwrap() + MARKER.len()..].trim_start()
        );
        assert!(after.contains("A note I wrote by hand."));
        assert!(after.contains(&entry("b/2", "other infra")));
        // Analyzed once more: the whole entry on top is replaced, the damaged one still stays.
        let again = insert_entry(Some(&after), "a/1", &entry("a/1", "newer"));
        assert!(!again.contains("new\n"));
        assert!(again.contains("A note I wrote by hand.") && again.contains("old\n"));
        assert!(again.contains(&entry("b/2", "other infra")));
    }

    #[test]
    fn hand_written_log_without_marker_is_kept() {
        let hand = "# My log\n\nNotes I wrote.\n";
        let t = insert_entry(Some(hand), "a/1", &entry("a/1", "x"));
        assert!(t.starts_with(hand));
        assert!(t.find(MARKER).unwrap() < t.find("x\n").unwrap());
    }
}
