//! Finding libdcmi.so and refusing files that someone else could have written.
//!
//! Search order (`spec/dcmi.md`): `--dcmi-lib`, then each directory of
//! `LD_LIBRARY_PATH` (ignored when longer than 1024 chars), then the driver's
//! lib64 folders, then the ldconfig cache. The chosen file's real path and
//! every parent directory must be owned by root or by us, with no group/other
//! write bit; the file must be regular and neither setuid nor setgid.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The library file name.
pub const LIBRARY: &str = "libdcmi.so";

/// Driver folders searched after `LD_LIBRARY_PATH`.
pub const DRIVER_DIRS: &[&str] = &[
    "/usr/local/Ascend/driver/lib64/driver",
    "/usr/local/Ascend/driver/lib64/common",
    "/usr/local/Ascend/driver/lib64",
];

/// Longest `LD_LIBRARY_PATH` we honour (longer ones are ignored, as upstream).
const MAX_LD_LIBRARY_PATH: usize = 1024;

/// Why a candidate library was refused, or none was found.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum LoadError {
    #[error("{LIBRARY} not found (searched: {searched})")]
    NotFound { searched: String },
    #[error("refusing {path}: {rule}")]
    Insecure { path: PathBuf, rule: String },
    #[error("cannot inspect {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
}

/// Who may own the library and its directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnerPolicy {
    /// The process's effective uid; root (0) is always accepted too.
    pub process_uid: u32,
}

impl OwnerPolicy {
    pub fn current() -> Self {
        // std has no safe geteuid(); /proc/self belongs to the effective uid.
        // When /proc is unreadable, accept root only.
        let process_uid = fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0);
        Self { process_uid }
    }

    fn accepts(self, uid: u32) -> bool {
        uid == 0 || uid == self.process_uid
    }

    /// Why a directory the plugin keeps sockets or state in cannot be
    /// trusted, from its `symlink_metadata`: a symlink, not a directory, or
    /// owned by someone other than root or the process user.
    pub fn directory_problem(self, meta: &fs::Metadata) -> Option<String> {
        if meta.file_type().is_symlink() {
            return Some("it is a symlink".into());
        }
        if !meta.is_dir() {
            return Some("it is not a directory".into());
        }
        (!self.accepts(meta.uid())).then(|| {
            format!(
                "it is owned by uid {}, not root or the process user (uid {})",
                meta.uid(),
                self.process_uid
            )
        })
    }
}

/// Candidate paths in search order (not yet checked for existence).
pub fn candidates(explicit: Option<&Path>, ld_library_path: Option<&str>) -> Vec<PathBuf> {
    if let Some(path) = explicit {
        return vec![path.to_path_buf()];
    }
    let mut out = Vec::new();
    if let Some(value) = ld_library_path.filter(|v| v.len() <= MAX_LD_LIBRARY_PATH) {
        out.extend(
            value
                .split(':')
                .filter(|dir| !dir.is_empty() && Path::new(dir).is_absolute())
                .map(|dir| Path::new(dir).join(LIBRARY)),
        );
    }
    out.extend(DRIVER_DIRS.iter().map(|dir| Path::new(dir).join(LIBRARY)));
    out
}

/// The first existing candidate, else the ldconfig cache; then the security
/// checks. Returns the canonical path to hand to dlopen.
pub fn locate(
    explicit: Option<&Path>,
    ld_library_path: Option<&str>,
    policy: OwnerPolicy,
) -> Result<PathBuf, LoadError> {
    let mut searched = candidates(explicit, ld_library_path);
    let found = searched.iter().find(|path| path.exists()).cloned();
    let found = match (found, explicit) {
        (Some(path), _) => path,
        (None, Some(_)) => {
            return Err(LoadError::NotFound {
                searched: display_list(&searched),
            });
        }
        (None, None) => match ldconfig_lookup() {
            Some(path) => path,
            None => {
                searched.push(PathBuf::from("ldconfig cache"));
                return Err(LoadError::NotFound {
                    searched: display_list(&searched),
                });
            }
        },
    };
    check(&found, policy)
}

fn display_list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `ldconfig -p` lists `libdcmi.so (libc6,x86-64) => /path/libdcmi.so`.
fn ldconfig_lookup() -> Option<PathBuf> {
    let output = ["/sbin/ldconfig", "/usr/sbin/ldconfig", "ldconfig"]
        .iter()
        .find_map(|program| Command::new(program).arg("-p").output().ok())?;
    parse_ldconfig(&String::from_utf8_lossy(&output.stdout))
}

fn parse_ldconfig(listing: &str) -> Option<PathBuf> {
    listing.lines().find_map(|line| {
        let (name, target) = line.trim().split_once("=>")?;
        let name = name.split_whitespace().next()?;
        (name == LIBRARY).then(|| PathBuf::from(target.trim()))
    })
}

/// The security rules, applied to the real path and each parent up to `/`.
pub fn check(path: &Path, policy: OwnerPolicy) -> Result<PathBuf, LoadError> {
    let real = fs::canonicalize(path).map_err(|e| LoadError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let meta = metadata(&real)?;
    if !meta.file_type().is_file() {
        return Err(insecure(&real, "not a regular file"));
    }
    let mode = meta.mode();
    if mode & 0o6000 != 0 {
        return Err(insecure(&real, "has the setuid or setgid bit"));
    }
    check_owner_and_mode(&real, &meta, policy, "file")?;
    for dir in real.ancestors().skip(1) {
        let meta = metadata(dir)?;
        check_owner_and_mode(dir, &meta, policy, "parent directory")?;
    }
    Ok(real)
}

fn metadata(path: &Path) -> Result<fs::Metadata, LoadError> {
    fs::metadata(path).map_err(|e| LoadError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn check_owner_and_mode(
    path: &Path,
    meta: &fs::Metadata,
    policy: OwnerPolicy,
    what: &str,
) -> Result<(), LoadError> {
    if !policy.accepts(meta.uid()) {
        return Err(insecure(
            path,
            &format!(
                "{what} is owned by uid {}, not root or the process user (uid {})",
                meta.uid(),
                policy.process_uid
            ),
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(insecure(
            path,
            &format!(
                "{what} is group- or world-writable (mode {:o})",
                meta.mode() & 0o7777
            ),
        ));
    }
    Ok(())
}

fn insecure(path: &Path, rule: &str) -> LoadError {
    LoadError::Insecure {
        path: path.to_path_buf(),
        rule: rule.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ld_library_path_comes_before_the_driver_folders() {
        let found = candidates(None, Some("/opt/a::relative:/opt/b"));
        assert_eq!(found[0], PathBuf::from("/opt/a/libdcmi.so"));
        assert_eq!(found[1], PathBuf::from("/opt/b/libdcmi.so"));
        assert_eq!(
            found[2],
            PathBuf::from("/usr/local/Ascend/driver/lib64/driver/libdcmi.so")
        );
        assert_eq!(found.len(), 2 + DRIVER_DIRS.len());
    }

    #[test]
    fn an_overlong_ld_library_path_is_ignored() {
        let long = format!("/{}", "x".repeat(1024));
        assert_eq!(candidates(None, Some(&long)).len(), DRIVER_DIRS.len());
    }

    #[test]
    fn an_explicit_library_is_the_only_candidate() {
        let found = candidates(Some(Path::new("/opt/libdcmi.so")), Some("/opt/a"));
        assert_eq!(found, [PathBuf::from("/opt/libdcmi.so")]);
    }

    #[test]
    fn the_ldconfig_listing_is_parsed_for_libdcmi_only() {
        let listing = "3 libs found in cache `/etc/ld.so.cache'\n\
            \tlibdcmi.so.1 (libc6,x86-64) => /usr/lib/libdcmi.so.1\n\
            \tlibdcmi.so (libc6,x86-64) => /usr/local/lib/libdcmi.so\n";
        assert_eq!(
            parse_ldconfig(listing),
            Some(PathBuf::from("/usr/local/lib/libdcmi.so"))
        );
        assert_eq!(parse_ldconfig("nothing here"), None);
    }
}
