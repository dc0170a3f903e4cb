#![allow(clippy::unwrap_used, clippy::expect_used)]

use clap::Parser;

use super::*;
use crate::config::{Config, Environment, ParseOutcome};

fn in_pod() -> Environment {
    Environment {
        in_cluster: true,
        node_name: Some("node-a".into()),
        ..Environment::default()
    }
}

fn parse(args: &[&str]) -> Result<Config, ConfigError> {
    let argv = std::iter::once("device-plugin")
        .chain(args.iter().copied())
        .map(String::from);
    match Config::from_args(argv, &in_pod()) {
        Ok(config) => Ok(config),
        Err(ParseOutcome::Invalid(error)) => Err(error),
        Err(ParseOutcome::Clap(error)) => panic!("{args:?}: clap rejected: {error}"),
    }
}

fn soft_share_args(dir: &str) -> Vec<String> {
    vec![
        format!("-softShareDevConfigDir={dir}"),
        "-shareDevCount=100".into(),
        "-volcanoType=true".into(),
    ]
}

fn parse_owned(args: &[String]) -> Result<Config, ConfigError> {
    let borrowed: Vec<&str> = args.iter().map(String::as_str).collect();
    parse(&borrowed)
}

#[test]
fn soft_share_is_on_with_its_directory_under_an_existing_parent() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("softshare");
    let config = parse_owned(&soft_share_args(dir.to_str().unwrap())).unwrap();
    let soft = config.modes.soft_share.expect("soft share on");
    assert_eq!(soft.dir, dir);
    assert_eq!(soft.enpu_dir, PathBuf::from(DEFAULT_ENPU_DIR));
}

#[test]
fn soft_share_needs_share_count_100_and_volcano() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("softshare");
    let dir = dir.to_str().unwrap();
    for args in [
        vec![format!("-softShareDevConfigDir={dir}")],
        vec![
            format!("-softShareDevConfigDir={dir}"),
            "-shareDevCount=100".into(),
        ],
        vec![
            format!("-softShareDevConfigDir={dir}"),
            "-shareDevCount=99".into(),
            "-volcanoType".into(),
        ],
    ] {
        let error = parse_owned(&args).unwrap_err();
        assert_eq!(error.flag, "softShareDevConfigDir", "{args:?}");
        assert!(error.to_string().contains("-shareDevCount=100"), "{error}");
    }
}

#[test]
fn soft_share_refuses_a_relative_path_a_missing_or_symlinked_parent_and_edge_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let cases = [
        ("etc/share".to_string(), "not an absolute path"),
        (format!("{}/../x", tmp.path().display()), "'..'"),
        (
            format!("{}/missing/share", tmp.path().display()),
            "is not usable",
        ),
        (format!("{}/share", link.display()), "is a symlink"),
        (format!("{}/share", file.display()), "is not a directory"),
        (link.display().to_string(), "is not a directory"),
    ];
    for (dir, why) in cases {
        let error = parse_owned(&soft_share_args(&dir)).unwrap_err();
        assert_eq!(error.flag, "softShareDevConfigDir", "{dir}");
        assert!(error.to_string().contains(why), "{dir}: {error}");
    }
    let mut edge = soft_share_args(real.join("share").to_str().unwrap());
    edge.push("-fdFlag=true".into());
    let error = parse_owned(&edge).unwrap_err();
    assert_eq!(error.flag, "softShareDevConfigDir");
    assert!(error.to_string().contains("-fdFlag"), "{error}");
}

#[test]
fn edge_mode_logs_to_the_edge_log_file_and_is_no_longer_refused() {
    let config = parse(&["-fdFlag=true"]).unwrap();
    assert!(config.modes.edge);
    assert_eq!(
        config.log.file,
        PathBuf::from(crate::config::flags::DEFAULT_EDGE_LOG_FILE)
    );
    let config = parse(&["-fdFlag", "-edgeLogFile=/var/alog/dp.log"]).unwrap();
    assert_eq!(config.log.file, PathBuf::from("/var/alog/dp.log"));
    assert!(config.modes.notes.is_empty());
}

#[test]
fn edge_mode_refuses_volcano() {
    let error = parse(&["-fdFlag=true", "-volcanoType=true"]).unwrap_err();
    assert_eq!(error.flag, "fdFlag");
    assert!(error.to_string().contains("-volcanoType"), "{error}");
}

#[test]
fn an_edge_log_file_without_edge_mode_is_noted_as_having_no_effect() {
    let config = parse(&["-edgeLogFile=/var/alog/dp.log"]).unwrap();
    assert!(!config.modes.edge);
    assert_eq!(
        config.log.file,
        PathBuf::from(crate::config::flags::DEFAULT_LOG_FILE)
    );
    assert_eq!(config.modes.notes.len(), 1);
    assert!(config.modes.notes[0].contains("-edgeLogFile"));
}

#[test]
fn single_die_mode_and_the_renaming_file_are_plain_settings() {
    let config = parse(&[]).unwrap();
    assert!(!config.modes.single_die);
    assert_eq!(
        config.modes.device_names_file,
        PathBuf::from(DEFAULT_DEVICE_NAMES_FILE)
    );
    let config = parse(&[
        "-useSingleDieMode",
        "--device-name-customization-file=/etc/names.json",
    ])
    .unwrap();
    assert!(config.modes.single_die);
    assert_eq!(
        config.modes.device_names_file,
        PathBuf::from("/etc/names.json")
    );
    let error = parse(&["--device-name-customization-file=names.json"]).unwrap_err();
    assert_eq!(error.flag, "device-name-customization-file");
}

#[test]
fn flags_parse_from_clap_directly() {
    let flags = Flags::try_parse_from(["device-plugin", "--useSingleDieMode=true"]).unwrap();
    assert!(modes_from_flags(&flags).unwrap().single_die);
}
