//! Rotated-file names (`<stem>-2006-01-02T15-04-05.000<ext>`, UTC) and the
//! pruning of old ones by count and by age.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

const MILLIS_PER_DAY: u64 = 86_400_000;
/// Length of `2006-01-02T15-04-05.000`.
const STAMP_LEN: usize = 23;
/// How far a rotation moves its timestamp forward to avoid an existing name.
const MAX_NAME_BUMPS: u64 = 1000;

/// How rotated copies of one active file are named and found.
#[derive(Debug, Clone)]
pub(crate) struct BackupNaming {
    dir: PathBuf,
    active: String,
    /// `<stem>-`
    prefix: String,
    /// `.log`, or empty when the active name has no extension (Go's `filepath.Ext`).
    ext: String,
}

/// A rotated file found in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Backup {
    pub(crate) path: PathBuf,
    /// Milliseconds since the Unix epoch: from the name, else from the mtime.
    pub(crate) millis: u64,
}

impl BackupNaming {
    /// `None` when the path has no parent or no UTF-8 file name.
    pub(crate) fn new(active: &Path) -> Option<Self> {
        let dir = active.parent()?.to_path_buf();
        let name = active.file_name()?.to_str()?.to_owned();
        let (stem, ext) = match name.rfind('.') {
            Some(dot) => name.split_at(dot),
            None => (name.as_str(), ""),
        };
        Some(Self {
            prefix: format!("{stem}-"),
            ext: ext.to_owned(),
            dir,
            active: name,
        })
    }

    /// The file name a rotation at `millis` gets.
    pub(crate) fn name_at(&self, millis: u64) -> String {
        format!("{}{}{}", self.prefix, format_stamp(millis), self.ext)
    }

    /// A path for a rotation at `millis` that no file occupies, and the
    /// time in its name: a name already taken (two rotations in the same
    /// millisecond, or a file left from before) moves the time forward by a
    /// millisecond, so no rotated file is overwritten and every name parses.
    pub(crate) fn free_path(&self, millis: u64) -> (PathBuf, u64) {
        let mut stamp = millis;
        for bump in 0..=MAX_NAME_BUMPS {
            stamp = millis.saturating_add(bump);
            let candidate = self.dir.join(self.name_at(stamp));
            if fs::symlink_metadata(&candidate).is_err() {
                return (candidate, stamp);
            }
        }
        (self.dir.join(self.name_at(stamp)), stamp)
    }

    /// The time a file name stands for, if it is one of our rotated files;
    /// `Some(None)` for a `<stem>-<something time-like><ext>` name we cannot
    /// parse (another formatter's backup: the caller falls back to its mtime).
    fn classify(&self, name: &str) -> Option<Option<u64>> {
        if name == self.active {
            return None;
        }
        let middle = name.strip_prefix(&self.prefix)?.strip_suffix(&self.ext)?;
        if let Some(millis) = parse_stamp(middle) {
            return Some(Some(millis));
        }
        let time_like = middle.starts_with(|c: char| c.is_ascii_digit())
            && middle
                .chars()
                .all(|c| c.is_ascii_digit() || "-T._:+Z".contains(c));
        time_like.then_some(None)
    }

    /// Rotated files in the directory, newest first.
    pub(crate) fn list(&self) -> io::Result<Vec<Backup>> {
        let mut found = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let Some(stamp) = self.classify(&name) else {
                continue;
            };
            // Never follow or delete symlinks, directories or devices.
            let Ok(meta) = fs::symlink_metadata(entry.path()) else {
                continue;
            };
            if !meta.file_type().is_file() {
                continue;
            }
            let millis = match stamp {
                Some(millis) => millis,
                None => meta.modified().map(unix_millis).unwrap_or(0),
            };
            found.push(Backup {
                path: entry.path(),
                millis,
            });
        }
        found.sort_by(|a, b| b.millis.cmp(&a.millis).then_with(|| b.path.cmp(&a.path)));
        Ok(found)
    }

    /// Deletes rotated files beyond `max_backups` (newest kept) and those older
    /// than `max_age_days`; 0 disables either rule, as in lumberjack. Returns
    /// the files it could not delete, with the reason.
    pub(crate) fn prune(
        &self,
        max_backups: u32,
        max_age_days: u32,
        now: SystemTime,
    ) -> io::Result<Vec<(PathBuf, io::Error)>> {
        let cutoff = unix_millis(now).saturating_sub(u64::from(max_age_days) * MILLIS_PER_DAY);
        let keep = usize::try_from(max_backups).unwrap_or(usize::MAX);
        let mut failures = Vec::new();
        for (index, backup) in self.list()?.into_iter().enumerate() {
            let too_many = max_backups > 0 && index >= keep;
            let too_old = max_age_days > 0 && backup.millis < cutoff;
            if (too_many || too_old)
                && let Err(err) = fs::remove_file(&backup.path)
                && err.kind() != io::ErrorKind::NotFound
            {
                failures.push((backup.path, err));
            }
        }
        Ok(failures)
    }
}

/// Milliseconds since the Unix epoch (0 for earlier times).
pub(crate) fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `2006-01-02T15-04-05.000` in UTC.
pub(crate) fn format_stamp(millis: u64) -> String {
    let days = millis / MILLIS_PER_DAY;
    let in_day = millis % MILLIS_PER_DAY;
    let (year, month, day) = civil_from_days(days);
    let (secs, ms) = (in_day / 1000, in_day % 1000);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}-{:02}-{:02}.{ms:03}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Inverse of [`format_stamp`]; `None` for anything not exactly that shape or
/// not a real date and time.
pub(crate) fn parse_stamp(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    if bytes.len() != STAMP_LEN {
        return None;
    }
    let separators = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b'-'),
        (16, b'-'),
        (19, b'.'),
    ];
    if separators
        .iter()
        .any(|&(at, sep)| bytes.get(at) != Some(&sep))
    {
        return None;
    }
    let number = |from: usize, to: usize| -> Option<u64> {
        let digits = text.get(from..to)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
    let ms = number(20, 23)?;
    if year < 1970 || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some(secs * 1000 + ms)
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's
/// civil-from-days, restricted to dates from 1970 on).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468; // days since 0000-03-01
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Day count since 1970-01-01 of a date from 1970 on; `None` for a date
/// that does not exist (month 13, February 30, ...).
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || year < 1970 {
        return None;
    }
    let year_from_march = if month <= 2 { year - 1 } else { year };
    let era = year_from_march / 400;
    let year_of_era = year_from_march % 400;
    let month_from_march = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = (era * 146_097 + day_of_era).checked_sub(719_468)?;
    (civil_from_days(days) == (year, month, day)).then_some(days)
}
