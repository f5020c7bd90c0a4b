//! All outputs or none. `analyze` renders every output (tables, `analysis.json`, the log, the
//! figures) to a temporary file beside its destination, and only when all of them are complete
//! and on disk renames them over the destinations. A failure before that (a full disk, a figure
//! that cannot be drawn) removes the temporaries and leaves every previous output as it was; a
//! rename that fails part-way puts back the destinations already replaced (kept as hard links
//! until the end).

use crate::ReportError;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes the temporaries of several stagings in one process (tests run in parallel).
static NEXT: AtomicU64 = AtomicU64::new(0);

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

struct Staged {
    tmp: PathBuf,
    dest: PathBuf,
    /// A hard link to the destination's previous content, made at commit time.
    backup: Option<PathBuf>,
}

/// Files rendered but not yet in place. Dropping it without [`Staging::commit`] removes them.
#[derive(Default)]
pub struct Staging {
    files: Vec<Staged>,
}

/// `dir/.<tag>-<pid>-<n>-<name>`: hidden, in the destination's directory (so the rename stays
/// on one filesystem), and ending in the destination's name (so its extension, which the PNG
/// encoder goes by, is kept).
fn sibling(dest: &Path, tag: &str) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    dest.with_file_name(format!(".{tag}-{}-{n}-{name}", std::process::id()))
}

fn parent(dest: &Path) -> &Path {
    dest.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

impl Staging {
    pub fn new() -> Staging {
        Staging::default()
    }

    /// A temporary path for `dest` to be rendered into (its directory is created).
    pub fn path_for(&mut self, dest: &Path) -> Result<PathBuf, ReportError> {
        let dir = parent(dest);
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let tmp = sibling(dest, "tmp");
        self.files.push(Staged {
            tmp: tmp.clone(),
            dest: dest.to_path_buf(),
            backup: None,
        });
        Ok(tmp)
    }

    /// Writes `bytes` for `dest` to a temporary file and flushes it to disk. An error names
    /// `dest` (the file the user knows), not the temporary.
    pub fn write(&mut self, dest: &Path, bytes: &[u8]) -> Result<(), ReportError> {
        let tmp = self.path_for(dest)?;
        let write = || {
            let mut f = std::fs::File::create_new(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()
        };
        write().map_err(io_err(dest))
    }

    /// Flushes a file rendered by someone else into a path from [`Staging::path_for`]: a
    /// write error the renderer's buffered writer swallowed shows up here at the latest.
    pub fn sync(&self, tmp: &Path) -> Result<(), ReportError> {
        let dest = self.files.iter().find(|f| f.tmp == tmp).map(|f| &f.dest);
        std::fs::File::open(tmp)
            .and_then(|f| f.sync_all())
            .map_err(io_err(dest.map_or(tmp, |d| d.as_path())))
    }

    /// Moves every staged file over its destination: all of them, or (on an error) none.
    pub fn commit(mut self) -> Result<(), ReportError> {
        // Keep every destination that exists under a second name first, so a failed rename
        // can be undone. A hard link costs no data blocks, so it works on a full disk.
        for f in &mut self.files {
            if std::fs::symlink_metadata(&f.dest).is_ok_and(|m| m.is_file()) {
                let backup = sibling(&f.dest, "old");
                std::fs::hard_link(&f.dest, &backup).map_err(io_err(&f.dest))?;
                f.backup = Some(backup);
            }
        }
        for k in 0..self.files.len() {
            let f = &self.files[k];
            if let Err(e) = std::fs::rename(&f.tmp, &f.dest) {
                let err = ReportError::Io {
                    path: f.dest.clone(),
                    source: e,
                };
                self.undo(k);
                return Err(err);
            }
        }
        let mut dirs: Vec<&Path> = self.files.iter().map(|f| parent(&f.dest)).collect();
        dirs.dedup();
        for d in dirs {
            // Best effort: makes the renames durable where the platform allows it.
            let _ = std::fs::File::open(d).and_then(|f| f.sync_all());
        }
        Ok(())
    }

    /// Puts back the first `done` destinations (already replaced) as they were.
    fn undo(&mut self, done: usize) {
        for f in &mut self.files[..done] {
            let _ = match f.backup.take() {
                Some(b) => std::fs::rename(&b, &f.dest),
                None => std::fs::remove_file(&f.dest),
            };
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // After a commit the temporaries are gone (renamed) and only the backups remain;
        // after a failure both go. Either way, nothing of ours is left behind.
        for f in &self.files {
            let _ = std::fs::remove_file(&f.tmp);
            if let Some(b) = &f.backup {
                let _ = std::fs::remove_file(b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn commit_replaces_every_file_and_leaves_no_temporaries() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a"), "old a").unwrap();
        let mut s = Staging::new();
        s.write(&d.path().join("a"), b"new a").unwrap();
        s.write(&d.path().join("b"), b"new b").unwrap();
        s.commit().unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join("a")).unwrap(),
            "new a"
        );
        assert_eq!(
            std::fs::read_to_string(d.path().join("b")).unwrap(),
            "new b"
        );
        assert_eq!(listing(d.path()), ["a", "b"]);
    }

    #[test]
    fn dropped_staging_changes_nothing() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a"), "old a").unwrap();
        let mut s = Staging::new();
        s.write(&d.path().join("a"), b"new a").unwrap();
        drop(s);
        assert_eq!(
            std::fs::read_to_string(d.path().join("a")).unwrap(),
            "old a"
        );
        assert_eq!(listing(d.path()), ["a"]);
    }

    #[test]
    fn a_rename_failing_part_way_puts_back_what_was_replaced() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a"), "old a").unwrap();
        // "c" is a non-empty directory: renaming a file over it fails, after "a" and "b"
        // were already renamed.
        std::fs::create_dir(d.path().join("c")).unwrap();
        std::fs::write(d.path().join("c").join("x"), "").unwrap();
        let mut s = Staging::new();
        for name in ["a", "b", "c"] {
            s.write(&d.path().join(name), b"new").unwrap();
        }
        let err = s.commit().unwrap_err();
        assert!(err.to_string().contains('c'), "{err}");
        assert_eq!(
            std::fs::read_to_string(d.path().join("a")).unwrap(),
            "old a"
        );
        assert!(!d.path().join("b").exists(), "b did not exist before");
        assert_eq!(listing(d.path()), ["a", "c"]);
    }
}
