//! The `-logFile` writer: a size-rotating file with the Go plugin's
//! (lumberjack) semantics, path checks at open, 0640/0400/0750 modes and
//! lines cut at 1024 bytes. It runs on tracing-appender's worker thread.
//!
//! Rotation: when the next write would push the active file past
//! `max_size`, the file is renamed to `<stem>-<UTC 2006-01-02T15-04-05.000><ext>`
//! (UTC, like lumberjack's default), made read-only (0400), and a fresh 0640
//! file takes its place. Rotated files beyond `max_backups` or older than
//! `max_age_days` (by the time in their name, else their mtime) are deleted
//! at every rotation and at open. A single write larger than `max_size`
//! still goes whole into a fresh file (lumberjack returns an error instead).
//!
//! Path rules at open (refused with the path and the rule): absolute, no
//! `..`, the file not a symlink and, if it exists, a regular file owned by
//! the process user; a missing directory is created 0750, an existing one
//! must be owned by the process user and not group/other-writable (its mode
//! is left alone); no ancestor may be other-writable without the sticky bit.
//!
//! Failures after open are written to stderr, never to `tracing` (this writer
//! *is* the tracing output); the writer keeps appending to whatever file it
//! still has.

mod backups;
mod checks;
#[cfg(test)]
mod tests;

use std::fs::{self, File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use backups::BackupNaming;
pub use checks::{ACTIVE_MODE, BACKUP_MODE, DIR_MODE};

/// Upstream's rotation size: 20 MB.
pub const DEFAULT_MAX_SIZE: u64 = 20 * 1024 * 1024;
/// Longest line written, in bytes, not counting the newline.
pub const MAX_LINE_BYTES: usize = 1024;

/// When to rotate and what to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    /// Rotate before a write that would make the active file larger than this.
    pub max_size: u64,
    /// Rotated files kept (newest first); 0 keeps all.
    pub max_backups: u32,
    /// Rotated files older than this many days are deleted; 0 keeps all.
    pub max_age_days: u32,
}

impl Default for RotationPolicy {
    /// Upstream defaults: 20 MB, `-maxBackups=30`, `-maxAge=7`.
    fn default() -> Self {
        Self {
            max_size: DEFAULT_MAX_SIZE,
            max_backups: 30,
            max_age_days: 7,
        }
    }
}

/// Why a log file could not be opened or rotated.
#[derive(Debug, thiserror::Error)]
pub enum LogFileError {
    /// The path breaks a rule; `rule` says which.
    #[error("log file {}: {rule}", path.display())]
    Refused { path: PathBuf, rule: String },
    /// A filesystem call failed.
    #[error("log file {}: cannot {action}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: io::Error,
    },
    /// `max_size` of 0 would rotate before every byte.
    #[error("log file {}: max_size must be at least 1 byte", path.display())]
    ZeroMaxSize { path: PathBuf },
}

/// The active log file plus its rotation state. Implements [`Write`]; wrap it
/// in `tracing_appender::non_blocking` to use it from `tracing`.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    uid: u32,
    naming: BackupNaming,
    policy: RotationPolicy,
    /// `None` only after a rotation renamed the file but could not open a new one.
    file: Option<File>,
    /// Bytes in the active file.
    size: u64,
    /// Bytes of the current, unterminated line already written.
    line_len: usize,
    /// Time in the newest rotated name this writer made; the next one is
    /// later, so names sort in rotation order even within a millisecond.
    last_stamp: u64,
    scratch: Vec<u8>,
}

impl RotatingFile {
    /// Checks the path, creates the directory if missing, opens (appends to)
    /// the active file and prunes old rotated files.
    pub fn open(path: impl AsRef<Path>, policy: RotationPolicy) -> Result<Self, LogFileError> {
        Self::open_as(path.as_ref(), policy, checks::process_uid()?)
    }

    /// [`Self::open`] for a process running as `uid`: the owner every
    /// existing file and directory must have. Injected so the ownership
    /// rules are tested without root.
    pub(crate) fn open_as(
        path: &Path,
        policy: RotationPolicy,
        uid: u32,
    ) -> Result<Self, LogFileError> {
        checks::check_shape(path)?;
        if policy.max_size == 0 {
            return Err(LogFileError::ZeroMaxSize {
                path: path.to_path_buf(),
            });
        }
        let (Some(naming), Some(dir)) = (BackupNaming::new(path), path.parent()) else {
            return Err(LogFileError::Refused {
                path: path.to_path_buf(),
                rule: "must name a file inside a directory".to_owned(),
            });
        };
        checks::prepare_dir(path, dir, uid)?;
        let file = checks::open_active(path, uid)?;
        let size = file
            .metadata()
            .map_err(|source| LogFileError::Io {
                path: path.to_path_buf(),
                action: "read the file size",
                source,
            })?
            .len();
        let writer = Self {
            path: path.to_path_buf(),
            uid,
            naming,
            policy,
            file: Some(file),
            size,
            line_len: 0,
            last_stamp: 0,
            scratch: Vec::new(),
        };
        writer
            .prune(SystemTime::now())
            .map_err(|source| LogFileError::Io {
                path: dir.to_path_buf(),
                action: "list rotated log files",
                source,
            })?;
        Ok(writer)
    }

    /// The active file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rotates now: rename to a timestamped name, chmod 0400, open a fresh
    /// active file, prune. On error the writer keeps the file it has.
    pub fn rotate(&mut self) -> Result<(), LogFileError> {
        let now = SystemTime::now();
        let not_before = if self.last_stamp == 0 {
            0
        } else {
            self.last_stamp + 1
        };
        let (backup, stamp) = self
            .naming
            .free_path(backups::unix_millis(now).max(not_before));
        fs::rename(&self.path, &backup).map_err(|source| LogFileError::Io {
            path: self.path.clone(),
            action: "rename for rotation",
            source,
        })?;
        // From here on the old handle writes into the rotated file; replace it.
        self.file = None;
        self.last_stamp = stamp;
        if let Err(err) = fs::set_permissions(&backup, Permissions::from_mode(BACKUP_MODE)) {
            report(&format!(
                "cannot make {} read-only: {err}",
                backup.display()
            ));
        }
        self.reopen()?;
        if let Err(err) = self.prune(now) {
            report(&format!("cannot list rotated log files: {err}"));
        }
        Ok(())
    }

    fn reopen(&mut self) -> Result<(), LogFileError> {
        let file = checks::open_active(&self.path, self.uid)?;
        self.size = file.metadata().map(|m| m.len()).unwrap_or(0);
        self.file = Some(file);
        Ok(())
    }

    fn prune(&self, now: SystemTime) -> io::Result<()> {
        let failures = self
            .naming
            .prune(self.policy.max_backups, self.policy.max_age_days, now)?;
        for (path, err) in failures {
            report(&format!(
                "cannot delete rotated log file {}: {err}",
                path.display()
            ));
        }
        Ok(())
    }

    fn write_capped(&mut self, out: &[u8]) -> io::Result<()> {
        let len = u64::try_from(out.len()).unwrap_or(u64::MAX);
        let full = self.size > 0 && self.size.saturating_add(len) > self.policy.max_size;
        if full && let Err(err) = self.rotate() {
            report(&format!("rotation failed: {err}"));
            // Keep the file we have (if any) and retry only after another
            // max_size, not on every line.
            self.size = 0;
        }
        if self.file.is_none() {
            self.reopen().map_err(io::Error::other)?;
        }
        match self.file.as_mut() {
            Some(file) => file.write_all(out)?,
            None => return Err(io::Error::other("log file is not open")),
        }
        self.size = self.size.saturating_add(len);
        Ok(())
    }
}

impl Write for RotatingFile {
    /// Cuts lines to [`MAX_LINE_BYTES`], rotates if needed, appends. Reports
    /// the whole input as written (the cut bytes are dropped on purpose).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        cap_lines(buf, &mut self.line_len, &mut out);
        let result = if out.is_empty() {
            Ok(())
        } else {
            self.write_capped(&out)
        };
        self.scratch = out;
        result.map(|()| buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), File::flush)
    }
}

/// Appends `input` to `out` with every line cut to [`MAX_LINE_BYTES`] at a
/// UTF-8 character boundary. `line_len` carries the length of an
/// unterminated line from one call to the next.
pub(crate) fn cap_lines(input: &[u8], line_len: &mut usize, out: &mut Vec<u8>) {
    for piece in input.split_inclusive(|&b| b == b'\n') {
        let (body, newline) = match piece.split_last() {
            Some((b'\n', body)) => (body, true),
            _ => (piece, false),
        };
        let room = MAX_LINE_BYTES.saturating_sub(*line_len);
        let kept = char_floor(body, room);
        out.extend_from_slice(body.get(..kept).unwrap_or_default());
        *line_len = if kept < body.len() {
            MAX_LINE_BYTES
        } else {
            *line_len + kept
        };
        if newline {
            out.push(b'\n');
            *line_len = 0;
        }
    }
}

/// The largest `n <= limit` such that `bytes[..n]` does not end inside a
/// multi-byte UTF-8 character.
fn char_floor(bytes: &[u8], limit: usize) -> usize {
    if limit >= bytes.len() {
        return bytes.len();
    }
    let mut end = limit;
    while end > 0 && bytes.get(end).is_some_and(|b| b & 0xC0 == 0x80) {
        end -= 1;
    }
    end
}

fn report(message: &str) {
    eprintln!("log file writer: {message}");
}
