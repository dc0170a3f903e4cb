//! The path rules a log file must pass before anything is written: the
//! upstream ones (absolute, no `..`, owned by the process user) plus ours
//! (no symlink, no directory that another user could swap or fill).

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::LogFileError;

/// Mode of the active log file.
pub const ACTIVE_MODE: u32 = 0o640;
/// Mode of a rotated log file.
pub const BACKUP_MODE: u32 = 0o400;
/// Mode of a log directory this writer creates.
pub const DIR_MODE: u32 = 0o750;

const GROUP_OR_OTHER_WRITE: u32 = 0o022;
const OTHER_WRITE: u32 = 0o002;
const STICKY: u32 = 0o1000;

fn refuse(path: &Path, rule: impl Into<String>) -> LogFileError {
    LogFileError::Refused {
        path: path.to_path_buf(),
        rule: rule.into(),
    }
}

fn io_error(path: &Path, action: &'static str) -> impl FnOnce(io::Error) -> LogFileError + use<> {
    let path = path.to_path_buf();
    move |source| LogFileError::Io {
        path,
        action,
        source,
    }
}

/// Shape rules that need no filesystem access.
pub(crate) fn check_shape(path: &Path) -> Result<(), LogFileError> {
    if !path.is_absolute() {
        return Err(refuse(path, "must be an absolute path"));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(refuse(path, "must not contain a `..` component"));
    }
    if path.file_name().is_none() || path.as_os_str().to_string_lossy().ends_with('/') {
        return Err(refuse(path, "must name a file, not a directory"));
    }
    if path.file_name().and_then(|n| n.to_str()).is_none() {
        return Err(refuse(path, "file name must be valid UTF-8"));
    }
    Ok(())
}

/// The effective uid of this process, from the `Uid:` line of
/// `/proc/self/status` (real, effective, saved, filesystem).
pub(crate) fn process_uid() -> Result<u32, LogFileError> {
    let status = Path::new("/proc/self/status");
    let text = fs::read_to_string(status).map_err(io_error(status, "read the process user"))?;
    text.lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|euid| euid.parse().ok())
        .ok_or_else(|| refuse(status, "has no parseable `Uid:` line"))
}

/// Makes sure the log directory exists and is safe: missing directories are
/// created with 0750 (explicitly, whatever the umask); an existing log
/// directory must be owned by `uid` and not writable by group or others (its
/// mode is left as it is); every existing ancestor must not be writable by
/// others unless it has the sticky bit (like `/tmp`).
pub(crate) fn prepare_dir(log_path: &Path, dir: &Path, uid: u32) -> Result<(), LogFileError> {
    let mut missing: Vec<PathBuf> = Vec::new();
    let mut first_existing = None;
    for ancestor in dir.ancestors() {
        match fs::metadata(ancestor) {
            Ok(_) => {
                first_existing = Some(ancestor);
                break;
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                missing.push(ancestor.to_path_buf());
            }
            Err(err) => return Err(io_error(ancestor, "inspect directory")(err)),
        }
    }
    if let Some(existing) = first_existing {
        for ancestor in existing.ancestors() {
            let meta = fs::metadata(ancestor).map_err(io_error(ancestor, "inspect directory"))?;
            if !meta.is_dir() {
                return Err(refuse(
                    log_path,
                    format!("{} is not a directory", ancestor.display()),
                ));
            }
            let mode = meta.mode();
            if mode & OTHER_WRITE != 0 && mode & STICKY == 0 {
                return Err(refuse(
                    log_path,
                    format!(
                        "directory {} is writable by others (mode {:o}) without the sticky bit",
                        ancestor.display(),
                        mode & 0o7777
                    ),
                ));
            }
        }
    }
    if missing.is_empty() {
        return check_existing_dir(log_path, dir, uid);
    }
    for created in missing.iter().rev() {
        match DirBuilder::new().mode(DIR_MODE).create(created) {
            Ok(()) => fs::set_permissions(created, Permissions::from_mode(DIR_MODE))
                .map_err(io_error(created, "set directory mode 0750"))?,
            // Someone else made it meanwhile: judge it like any existing one.
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                check_existing_dir(log_path, created, uid)?;
            }
            Err(err) => return Err(io_error(created, "create directory")(err)),
        }
    }
    Ok(())
}

fn check_existing_dir(log_path: &Path, dir: &Path, uid: u32) -> Result<(), LogFileError> {
    let meta = fs::metadata(dir).map_err(io_error(dir, "inspect directory"))?;
    if !meta.is_dir() {
        return Err(refuse(
            log_path,
            format!("{} is not a directory", dir.display()),
        ));
    }
    if meta.uid() != uid {
        return Err(refuse(
            log_path,
            format!(
                "directory {} is owned by uid {}, not by the process user (uid {uid})",
                dir.display(),
                meta.uid()
            ),
        ));
    }
    if meta.mode() & GROUP_OR_OTHER_WRITE != 0 {
        return Err(refuse(
            log_path,
            format!(
                "directory {} is writable by group or others (mode {:o})",
                dir.display(),
                meta.mode() & 0o7777
            ),
        ));
    }
    Ok(())
}

/// Opens (creating if missing) the active file for appending with mode 0640.
/// An existing path must be a regular file owned by `uid`, not a symlink;
/// the opened file must be the one inspected (no swap in between).
pub(crate) fn open_active(path: &Path, uid: u32) -> Result<File, LogFileError> {
    let before = match fs::symlink_metadata(path) {
        Ok(meta) => {
            check_existing_file(path, &meta, uid)?;
            Some(meta)
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(err) => return Err(io_error(path, "inspect file")(err)),
    };
    // A new file is created exclusively (O_EXCL never follows a symlink).
    let file = OpenOptions::new()
        .append(true)
        .create_new(before.is_none())
        .mode(ACTIVE_MODE)
        .open(path)
        .map_err(io_error(path, "open"))?;
    let opened = file
        .metadata()
        .map_err(io_error(path, "inspect opened file"))?;
    let now_at_path = fs::symlink_metadata(path).map_err(io_error(path, "inspect file"))?;
    let same = |m: &fs::Metadata| m.dev() == opened.dev() && m.ino() == opened.ino();
    if !same(&now_at_path) || before.as_ref().is_some_and(|m| !same(m)) {
        return Err(refuse(path, "was replaced while being opened"));
    }
    check_existing_file(path, &opened, uid)?;
    file.set_permissions(Permissions::from_mode(ACTIVE_MODE))
        .map_err(io_error(path, "set file mode 0640"))?;
    Ok(file)
}

fn check_existing_file(path: &Path, meta: &fs::Metadata, uid: u32) -> Result<(), LogFileError> {
    if meta.file_type().is_symlink() {
        return Err(refuse(path, "must not be a symbolic link"));
    }
    if !meta.file_type().is_file() {
        return Err(refuse(path, "is not a regular file"));
    }
    if meta.uid() != uid {
        return Err(refuse(
            path,
            format!(
                "is owned by uid {}, not by the process user (uid {uid})",
                meta.uid()
            ),
        ));
    }
    Ok(())
}
