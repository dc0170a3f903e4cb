#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::{self, File, Permissions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::backups::{self, BackupNaming};
use super::*;

/// A temp dir that passes the directory rules whatever the umask (tempfile
/// creates it with 0777 minus the umask).
fn private_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let private = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o700);
    std::fs::set_permissions(dir.path(), private).unwrap();
    dir
}

fn policy(max_size: u64, max_backups: u32, max_age_days: u32) -> RotationPolicy {
    RotationPolicy {
        max_size,
        max_backups,
        max_age_days,
    }
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().mode() & 0o7777
}

/// Rotated files next to `active`, sorted by name.
fn rotated(active: &Path) -> Vec<PathBuf> {
    let naming = BackupNaming::new(active).unwrap();
    let mut found: Vec<_> = naming.list().unwrap().into_iter().map(|b| b.path).collect();
    found.sort();
    found
}

fn refusal(path: &Path) -> String {
    refusal_as(path, checks::process_uid().unwrap())
}

/// The refusal for a process running as `uid`.
fn refusal_as(path: &Path, uid: u32) -> String {
    match RotatingFile::open_as(path, RotationPolicy::default(), uid) {
        Err(err @ LogFileError::Refused { .. }) => err.to_string(),
        Err(other) => panic!("expected a refusal, got {other:?}"),
        Ok(_) => panic!("{} was accepted", path.display()),
    }
}

/// A uid that owns nothing this test creates: the files belong to the real
/// process user, so judging them as this one is "owned by another user".
fn another_uid() -> u32 {
    checks::process_uid().unwrap() ^ 0x4000
}

#[test]
fn rotation_happens_exactly_when_a_write_would_exceed_max_size() {
    let dir = private_tempdir();
    let path = dir.path().join("devicePlugin.log");
    let mut log = RotatingFile::open(&path, policy(100, 10, 0)).unwrap();
    log.write_all(&[b'a'; 59]).unwrap();
    log.write_all(b"\n").unwrap();
    log.write_all(&[b'b'; 39]).unwrap();
    log.write_all(b"\n").unwrap();
    assert_eq!(fs::metadata(&path).unwrap().len(), 100, "exactly full");
    assert!(
        rotated(&path).is_empty(),
        "a write that fills the cap does not rotate"
    );

    log.write_all(b"c\n").unwrap();
    let backups = rotated(&path);
    assert_eq!(backups.len(), 1, "the next byte rotates");
    assert_eq!(fs::metadata(&backups[0]).unwrap().len(), 100);
    assert_eq!(fs::read(&path).unwrap(), b"c\n");
}

#[test]
fn an_existing_file_is_appended_to_and_counts_toward_the_cap() {
    let dir = private_tempdir();
    let path = dir.path().join("plugin.log");
    fs::write(&path, [b'x'; 90]).unwrap();
    let mut log = RotatingFile::open(&path, policy(100, 10, 0)).unwrap();
    log.write_all(b"0123456789").unwrap();
    assert!(rotated(&path).is_empty());
    log.write_all(b"!").unwrap();
    assert_eq!(rotated(&path).len(), 1);
    assert_eq!(fs::read(&path).unwrap(), b"!");
}

#[test]
fn a_write_larger_than_the_cap_goes_whole_into_a_fresh_file() {
    let dir = private_tempdir();
    let path = dir.path().join("plugin.log");
    let mut log = RotatingFile::open(&path, policy(10, 10, 0)).unwrap();
    log.write_all(b"first\n").unwrap();
    log.write_all(b"a line longer than ten\n").unwrap();
    assert_eq!(rotated(&path).len(), 1);
    assert_eq!(fs::read(&path).unwrap(), b"a line longer than ten\n");
}

#[test]
fn rotated_files_are_named_stem_utc_timestamp_ext() {
    let dir = private_tempdir();
    let path = dir.path().join("devicePlugin.log");
    let mut log = RotatingFile::open(&path, policy(1, 10, 0)).unwrap();
    log.write_all(b"a").unwrap();
    let before = backups::unix_millis(SystemTime::now());
    log.write_all(b"b").unwrap();
    let backups = rotated(&path);
    let name = backups[0].file_name().unwrap().to_str().unwrap();
    let stamp = name
        .strip_prefix("devicePlugin-")
        .and_then(|rest| rest.strip_suffix(".log"))
        .unwrap();
    let millis = backups::parse_stamp(stamp).unwrap();
    assert!(millis >= before && millis < before + 5_000, "{name}");
}

#[test]
fn rotations_within_one_millisecond_never_overwrite_each_other() {
    let dir = private_tempdir();
    let path = dir.path().join("fast.log");
    let mut log = RotatingFile::open(&path, policy(1, 0, 0)).unwrap();
    for _ in 0..20 {
        log.write_all(b"x").unwrap();
    }
    assert_eq!(rotated(&path).len(), 19);
}

#[test]
fn only_max_backups_rotated_files_are_kept_the_newest_ones() {
    let dir = private_tempdir();
    let path = dir.path().join("plugin.log");
    let mut log = RotatingFile::open(&path, policy(4, 3, 0)).unwrap();
    for i in 0..8 {
        log.write_all(format!("{i:03}\n").as_bytes()).unwrap();
    }
    let backups = rotated(&path);
    assert_eq!(backups.len(), 3, "{backups:?}");
    let contents: Vec<_> = backups
        .iter()
        .map(|p| fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(contents, ["004\n", "005\n", "006\n"]);
    assert_eq!(fs::read_to_string(&path).unwrap(), "007\n");
}

#[test]
fn rotated_files_older_than_max_age_are_deleted_at_open_by_name_or_mtime() {
    let dir = private_tempdir();
    let path = dir.path().join("devicePlugin.log");
    let now = backups::unix_millis(SystemTime::now());
    let day = 86_400_000;
    let old = dir.path().join(format!(
        "devicePlugin-{}.log",
        backups::format_stamp(now - 8 * day)
    ));
    let recent = dir.path().join(format!(
        "devicePlugin-{}.log",
        backups::format_stamp(now - 6 * day)
    ));
    let ancient = dir.path().join("devicePlugin-2001-09-09T01-46-40.000.log");
    // Another formatter's backup: time-like but not our format, judged by mtime.
    let foreign_old = dir.path().join("devicePlugin-20010909.log");
    let foreign_new = dir.path().join("devicePlugin-20990101.log");
    let unrelated = dir.path().join("devicePlugin-notes.log");
    for file in [
        &old,
        &recent,
        &ancient,
        &foreign_old,
        &foreign_new,
        &unrelated,
    ] {
        fs::write(file, b"old lines\n").unwrap();
    }
    let ten_days_ago = SystemTime::now() - Duration::from_secs(10 * 86_400);
    for file in [&foreign_old, &unrelated] {
        File::options()
            .write(true)
            .open(file)
            .unwrap()
            .set_modified(ten_days_ago)
            .unwrap();
    }

    let _log = RotatingFile::open(&path, policy(DEFAULT_MAX_SIZE, 30, 7)).unwrap();

    assert!(!old.exists() && !ancient.exists() && !foreign_old.exists());
    assert!(recent.exists() && foreign_new.exists());
    assert!(
        unrelated.exists(),
        "a name that is not a timestamp is not ours"
    );
}

#[test]
fn pruning_ignores_directories_and_symlinks_that_look_like_backups() {
    let dir = private_tempdir();
    let path = dir.path().join("plugin.log");
    let target = dir.path().join("precious");
    fs::write(&target, b"keep").unwrap();
    let link = dir.path().join("plugin-2001-09-09T01-46-40.000.log");
    symlink(&target, &link).unwrap();
    let subdir = dir.path().join("plugin-2001-09-09T01-46-41.000.log");
    fs::create_dir(&subdir).unwrap();
    let _log = RotatingFile::open(&path, policy(100, 1, 7)).unwrap();
    assert!(link.symlink_metadata().is_ok() && subdir.is_dir() && target.exists());
}

#[test]
fn active_file_is_0640_rotated_file_0400_and_created_directories_0750() {
    let dir = private_tempdir();
    let log_dir = dir.path().join("mindx-dl").join("devicePlugin");
    let path = log_dir.join("devicePlugin.log");
    let mut log = RotatingFile::open(&path, policy(8, 5, 0)).unwrap();
    assert_eq!(mode(&log_dir), 0o750);
    assert_eq!(mode(log_dir.parent().unwrap()), 0o750);
    assert_eq!(mode(&path), 0o640);
    log.write_all(b"1234567\n").unwrap();
    log.write_all(b"next\n").unwrap();
    let backups = rotated(&path);
    assert_eq!(backups.len(), 1);
    assert_eq!(mode(&backups[0]), 0o400);
    assert_eq!(mode(&path), 0o640, "the fresh active file");
}

#[test]
fn an_existing_file_with_another_mode_is_set_to_0640() {
    let dir = private_tempdir();
    let path = dir.path().join("plugin.log");
    fs::write(&path, b"").unwrap();
    fs::set_permissions(&path, Permissions::from_mode(0o666)).unwrap();
    let _log = RotatingFile::open(&path, RotationPolicy::default()).unwrap();
    assert_eq!(mode(&path), 0o640);
}

#[test]
fn an_existing_safe_directory_keeps_its_mode() {
    let dir = private_tempdir();
    fs::set_permissions(dir.path(), Permissions::from_mode(0o755)).unwrap();
    let _log = RotatingFile::open(dir.path().join("a.log"), RotationPolicy::default()).unwrap();
    assert_eq!(mode(dir.path()), 0o755);
}

#[test]
fn relative_paths_are_refused() {
    let message = refusal(Path::new("logs/devicePlugin.log"));
    assert!(
        message.contains("logs/devicePlugin.log") && message.contains("absolute"),
        "{message}"
    );
}

#[test]
fn paths_with_a_parent_component_are_refused() {
    let dir = private_tempdir();
    let path = dir.path().join("sub").join("..").join("devicePlugin.log");
    let message = refusal(&path);
    assert!(message.contains("`..`"), "{message}");
    assert!(
        !dir.path().join("sub").exists(),
        "nothing created before refusing"
    );
}

#[test]
fn a_symlinked_log_file_is_refused_and_its_target_untouched() {
    let dir = private_tempdir();
    let target = dir.path().join("shadow");
    fs::write(&target, b"secret\n").unwrap();
    let path = dir.path().join("devicePlugin.log");
    symlink(&target, &path).unwrap();
    let message = refusal(&path);
    assert!(message.contains("symbolic link"), "{message}");
    assert_eq!(fs::read(&target).unwrap(), b"secret\n");
}

#[test]
fn a_directory_in_place_of_the_file_is_refused() {
    let dir = private_tempdir();
    let path = dir.path().join("devicePlugin.log");
    fs::create_dir(&path).unwrap();
    assert!(refusal(&path).contains("not a regular file"));
}

#[test]
fn a_group_writable_log_directory_is_refused() {
    let dir = private_tempdir();
    let log_dir = dir.path().join("logs");
    fs::create_dir(&log_dir).unwrap();
    fs::set_permissions(&log_dir, Permissions::from_mode(0o770)).unwrap();
    let message = refusal(&log_dir.join("devicePlugin.log"));
    assert!(message.contains("writable by group or others"), "{message}");
    assert!(!log_dir.join("devicePlugin.log").exists());
}

#[test]
fn a_world_writable_ancestor_without_sticky_bit_is_refused() {
    let dir = private_tempdir();
    let open_dir = dir.path().join("open");
    fs::create_dir(&open_dir).unwrap();
    fs::set_permissions(&open_dir, Permissions::from_mode(0o777)).unwrap();
    let message = refusal(&open_dir.join("logs").join("devicePlugin.log"));
    assert!(message.contains("writable by others"), "{message}");
    assert!(!open_dir.join("logs").exists());

    fs::set_permissions(&open_dir, Permissions::from_mode(0o1777)).unwrap();
    let ok = RotatingFile::open(
        open_dir.join("logs").join("a.log"),
        RotationPolicy::default(),
    );
    assert!(ok.is_ok(), "sticky like /tmp is fine: {ok:?}");
}

#[test]
fn a_log_file_owned_by_another_user_is_refused() {
    let dir = private_tempdir();
    let path = dir.path().join("devicePlugin.log");
    fs::write(&path, b"theirs\n").unwrap();
    let owner = fs::metadata(&path).unwrap().uid();
    let message = refusal_as(&path, another_uid());
    assert!(
        message.contains(&format!("is owned by uid {owner}")),
        "{message}"
    );
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert_eq!(fs::read(&path).unwrap(), b"theirs\n", "left untouched");
}

#[test]
fn a_log_directory_owned_by_another_user_is_refused() {
    let dir = private_tempdir();
    let log_dir = dir.path().join("logs");
    fs::create_dir(&log_dir).unwrap();
    fs::set_permissions(&log_dir, Permissions::from_mode(0o750)).unwrap();
    let owner = fs::metadata(&log_dir).unwrap().uid();
    let message = refusal_as(&log_dir.join("devicePlugin.log"), another_uid());
    assert!(
        message.contains(&format!(
            "directory {} is owned by uid {owner}",
            log_dir.display()
        )),
        "{message}"
    );
    assert!(!log_dir.join("devicePlugin.log").exists());
}

#[test]
fn files_and_directories_of_the_process_user_are_accepted() {
    let dir = private_tempdir();
    let log_dir = dir.path().join("logs");
    fs::create_dir(&log_dir).unwrap();
    fs::set_permissions(&log_dir, Permissions::from_mode(0o750)).unwrap();
    let path = log_dir.join("devicePlugin.log");
    fs::write(&path, b"ours\n").unwrap();
    let owner = fs::metadata(&path).unwrap().uid();
    assert!(RotatingFile::open_as(&path, RotationPolicy::default(), owner).is_ok());
}

#[test]
fn the_process_uid_is_the_owner_of_files_it_creates() {
    let dir = private_tempdir();
    let probe = dir.path().join("probe");
    fs::write(&probe, b"").unwrap();
    assert_eq!(
        checks::process_uid().unwrap(),
        fs::metadata(&probe).unwrap().uid()
    );
}

#[test]
fn zero_max_size_is_refused() {
    let dir = private_tempdir();
    let result = RotatingFile::open(dir.path().join("a.log"), policy(0, 1, 1));
    assert!(matches!(result, Err(LogFileError::ZeroMaxSize { .. })));
}

fn capped(chunks: &[&[u8]]) -> Vec<u8> {
    let (mut line_len, mut out) = (0, Vec::new());
    for chunk in chunks {
        cap_lines(chunk, &mut line_len, &mut out);
    }
    out
}

#[test]
fn lines_are_cut_to_1024_bytes_plus_newline() {
    let exact = [b'a'; 1024];
    assert_eq!(capped(&[&exact, b"\n"]).len(), 1025);
    let long = [b'b'; 3000];
    let out = capped(&[&long, b"\nshort\n"]);
    let expected = [&[b'b'; 1024][..], b"\nshort\n"].concat();
    assert_eq!(out, expected);
}

#[test]
fn a_cut_never_splits_a_multi_byte_character() {
    // 1023 ASCII bytes, then a 3-byte character straddling the limit.
    let line = format!("{}€tail\n", "x".repeat(1023));
    let out = String::from_utf8(capped(&[line.as_bytes()])).unwrap();
    assert_eq!(out, format!("{}\n", "x".repeat(1023)));
    // Only 4-byte characters: the cut lands on 1024 = 256 * 4.
    let emoji = "🦀".repeat(300) + "\n";
    let out = String::from_utf8(capped(&[emoji.as_bytes()])).unwrap();
    assert_eq!(out, "🦀".repeat(256) + "\n");
    // 2-byte characters after one ASCII byte: 1 + 2 * 511 = 1023.
    let mixed = format!("a{}\n", "é".repeat(600));
    let out = String::from_utf8(capped(&[mixed.as_bytes()])).unwrap();
    assert_eq!(out.len(), 1024);
}

#[test]
fn a_line_written_in_pieces_is_capped_as_one_line() {
    let out = capped(&[&[b'a'; 1000], &[b'b'; 100], b"\n", b"next\n"]);
    let expected = [&[b'a'; 1000][..], &[b'b'; 24], b"\nnext\n"].concat();
    assert_eq!(out, expected);
}

#[test]
fn the_writer_applies_the_line_cap_and_reports_the_whole_input_written() {
    let dir = private_tempdir();
    let path = dir.path().join("a.log");
    let mut log = RotatingFile::open(&path, RotationPolicy::default()).unwrap();
    let line = format!("{}\n", "z".repeat(5000));
    assert_eq!(log.write(line.as_bytes()).unwrap(), line.len());
    assert_eq!(fs::read(&path).unwrap().len(), 1025);
}

#[test]
fn timestamps_use_the_lumberjack_layout_in_utc() {
    // 2006-01-02T15:04:05Z and 2024-02-29T23:59:59Z as Unix seconds.
    assert_eq!(
        backups::format_stamp(1_136_214_245_000),
        "2006-01-02T15-04-05.000"
    );
    assert_eq!(
        backups::format_stamp(1_709_251_199_123),
        "2024-02-29T23-59-59.123"
    );
    assert_eq!(backups::format_stamp(0), "1970-01-01T00-00-00.000");
    for millis in [0, 1_136_214_245_000, 1_709_251_199_123, 4_102_444_800_999] {
        assert_eq!(
            backups::parse_stamp(&backups::format_stamp(millis)),
            Some(millis)
        );
    }
}

#[test]
fn impossible_timestamps_do_not_parse() {
    for text in [
        "2023-02-29T00-00-00.000",
        "2024-13-01T00-00-00.000",
        "2024-01-01T24-00-00.000",
        "2024-01-01T00-00-00.00",
        "2024-01-01 00-00-00.000",
        "1969-12-31T23-59-59.999",
        "2024-01-0xT00-00-00.000",
    ] {
        assert_eq!(backups::parse_stamp(text), None, "{text}");
    }
}

#[test]
fn a_name_without_extension_rotates_to_stem_dash_timestamp() {
    let naming = BackupNaming::new(Path::new("/var/log/plugin")).unwrap();
    assert_eq!(naming.name_at(0), "plugin-1970-01-01T00-00-00.000");
    let naming = BackupNaming::new(Path::new("/var/log/a.b.log")).unwrap();
    assert_eq!(naming.name_at(0), "a.b-1970-01-01T00-00-00.000.log");
}
