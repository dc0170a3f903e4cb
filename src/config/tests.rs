#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

/// Parses as in a pod: the API is reachable, NODE_NAME set.
fn parse(args: &[&str]) -> Result<Config, ParseOutcome> {
    let in_pod = Environment {
        in_cluster: true,
        node_name: Some("node-a".into()),
        ..Environment::default()
    };
    parse_env(args, &in_pod)
}

fn parse_env(args: &[&str], env: &Environment) -> Result<Config, ParseOutcome> {
    Config::from_args(
        std::iter::once("device-plugin")
            .chain(args.iter().copied())
            .map(String::from),
        env,
    )
}

fn invalid_flag(args: &[&str]) -> &'static str {
    match parse(args) {
        Err(ParseOutcome::Invalid(error)) => error.flag,
        Err(ParseOutcome::Clap(error)) => panic!("{args:?}: clap rejected: {error}"),
        Ok(_) => panic!("{args:?} was accepted"),
    }
}

fn clap_message(args: &[&str]) -> String {
    match parse(args) {
        Err(ParseOutcome::Clap(error)) => error.to_string(),
        Err(ParseOutcome::Invalid(error)) => panic!("{args:?}: range check, not clap: {error}"),
        Ok(_) => panic!("{args:?} was accepted"),
    }
}

#[test]
fn defaults_match_the_go_plugin() {
    let config = parse(&[]).unwrap();
    assert!(!config.volcano);
    assert!(config.preset_virtual_device);
    assert!(config.auto_stowing);
    assert_eq!(config.list_watch_period, Duration::from_secs(5));
    assert_eq!(config.log.level, Level::Info);
    assert_eq!(
        config.log.file,
        PathBuf::from("/var/log/mindx-dl/devicePlugin/devicePlugin.log")
    );
    assert_eq!(config.log.max_age_days, 7);
    assert_eq!(config.log.max_backups, 30);
    assert_eq!(config.share_dev_count, 1);
    assert_eq!(config.linkdown_timeout, Duration::from_secs(30));
    assert_eq!(config.device_reset_timeout, Duration::from_secs(600));
    assert_eq!(config.healthz, None);
    assert!(config.unimplemented.is_empty());
    assert_eq!(
        config.paths.device_plugin_dir(),
        PathBuf::from("/var/lib/kubelet/device-plugins")
    );
}

#[test]
fn the_upstream_daemonset_command_line_parses_unchanged() {
    let config = parse(&[
        "-useAscendDocker=true",
        "-volcanoType=true",
        "-presetVirtualDevice=true",
        "-logFile=/var/log/mindx-dl/devicePlugin/devicePlugin.log",
        "-logLevel=0",
    ])
    .unwrap();
    assert!(config.volcano);
    assert!(config.preset_virtual_device);
}

#[test]
fn every_go_spelling_sets_the_same_values() {
    let spellings: &[&[&str]] = &[
        &["-volcanoType=true", "-listWatchPeriod=10", "-logLevel=-1"],
        &[
            "--volcanoType=true",
            "--listWatchPeriod=10",
            "--logLevel=-1",
        ],
        &["-volcanoType", "-listWatchPeriod", "10", "-logLevel", "-1"],
        &[
            "--volcanoType",
            "true",
            "--listWatchPeriod",
            "10",
            "--logLevel",
            "-1",
        ],
        &[
            "--volcano-type",
            "--list-watch-period=10",
            "--log-level",
            "-1",
        ],
    ];
    for args in spellings {
        let config = parse(args).unwrap_or_else(|e| panic!("{args:?}: {e:?}"));
        assert!(config.volcano, "{args:?}");
        assert_eq!(
            config.list_watch_period,
            Duration::from_secs(10),
            "{args:?}"
        );
        assert_eq!(config.log.level, Level::Debug, "{args:?}");
    }
}

#[test]
fn out_of_range_values_are_rejected_naming_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (&["-listWatchPeriod=2"], "listWatchPeriod"),
        (&["-listWatchPeriod=1801"], "listWatchPeriod"),
        (&["-logLevel=4"], "logLevel"),
        (&["-logLevel=-2"], "logLevel"),
        (&["-maxAge=6"], "maxAge"),
        (&["-maxAge=701"], "maxAge"),
        (&["-maxBackups=0"], "maxBackups"),
        (&["-maxBackups=181"], "maxBackups"),
        (&["-hotReset=3"], "hotReset"),
        (&["-hotReset=1"], "hotReset"),
        (&["--reset-idle-delay=-1"], "reset-idle-delay"),
        (&["--reset-idle-delay=3601"], "reset-idle-delay"),
        (&["--reset-boot-timeout=9"], "reset-boot-timeout"),
        (&["--reset-boot-timeout=601"], "reset-boot-timeout"),
        (&["-shareDevCount=0"], "shareDevCount"),
        (&["-shareDevCount=101"], "shareDevCount"),
        (&["-linkdownTimeout=0"], "linkdownTimeout"),
        (&["-linkdownTimeout=31"], "linkdownTimeout"),
        (&["-deviceResetTimeout=9"], "deviceResetTimeout"),
        (&["-deviceResetTimeout=601"], "deviceResetTimeout"),
        (&["-thirdPartyScanDelay=-1"], "thirdPartyScanDelay"),
        (&["-logFile=relative/x.log"], "logFile"),
        (&["-logFile=/var/log/../etc/x.log"], "logFile"),
        (
            &["-enable-healthz", "-healthz-address=80"],
            "healthz-address",
        ),
        (
            &["-enable-healthz", "-healthz-address=nonsense"],
            "healthz-address",
        ),
        (&["-fdFlag=true"], "fdFlag"),
        (&["--dcmi-lib=lib/libdcmi.so"], "dcmi-lib"),
        (&["--dcmi-timeout=0"], "dcmi-timeout"),
    ];
    for (args, flag) in cases {
        assert_eq!(invalid_flag(args), *flag, "{args:?}");
        let message = match parse(args) {
            Err(ParseOutcome::Invalid(error)) => error.to_string(),
            _ => unreachable!(),
        };
        assert!(message.contains(flag), "{message}");
    }
}

#[test]
fn forbidden_combinations_are_rejected_naming_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (&["-presetVirtualDevice=false"], "presetVirtualDevice"),
        (
            &[
                "-presetVirtualDevice=false",
                "-volcanoType",
                "-shareDevCount=2",
            ],
            "presetVirtualDevice",
        ),
        (
            &["-use310PMixedInsert", "-volcanoType"],
            "use310PMixedInsert",
        ),
        (
            &["-use310PMixedInsert", "-shareDevCount=4"],
            "use310PMixedInsert",
        ),
        (
            &["-softShareDevConfigDir=/etc/share"],
            "softShareDevConfigDir",
        ),
        (
            &[
                "-softShareDevConfigDir=etc",
                "-shareDevCount=100",
                "-volcanoType",
            ],
            "softShareDevConfigDir",
        ),
    ];
    for (args, flag) in cases {
        assert_eq!(invalid_flag(args), *flag, "{args:?}");
    }
    let dynamic = parse(&["-presetVirtualDevice=false", "-volcanoType=true"]).unwrap();
    assert!(!dynamic.preset_virtual_device);
}

#[test]
fn malformed_values_and_unknown_flags_are_rejected_by_name() {
    assert!(clap_message(&["-volcanoType=maybe"]).contains("volcanoType"));
    assert!(clap_message(&["-listWatchPeriod=soon"]).contains("listWatchPeriod"));
    assert!(clap_message(&["-noSuchFlag=1"]).contains("noSuchFlag"));
}

#[test]
fn ascend_docker_mode_follows_the_runtime_env_unless_explicitly_disabled() {
    let runtime = Environment {
        ascend_docker_runtime: Some("True".into()),
        ..Environment::default()
    };
    assert!(parse_env(&[], &runtime).unwrap().use_ascend_docker);
    assert!(
        parse_env(&["-useAscendDocker=true"], &runtime)
            .unwrap()
            .use_ascend_docker
    );
    assert!(
        !parse_env(&["-useAscendDocker=false"], &runtime)
            .unwrap()
            .use_ascend_docker
    );
    assert!(!parse(&["-useAscendDocker=true"]).unwrap().use_ascend_docker);
}

#[test]
fn accepted_but_unimplemented_flags_are_listed_for_a_warning() {
    let config = parse(&["-hotReset=0", "-enableSlowNode", "-useSingleDieMode=true"]).unwrap();
    assert_eq!(config.unimplemented, ["enableSlowNode", "useSingleDieMode"]);
}

#[test]
fn hot_reset_zero_and_two_turn_the_reset_on_and_minus_one_leaves_it_off() {
    assert_eq!(parse(&[]).unwrap().hot_reset, HotReset::Off);
    assert_eq!(parse(&["-hotReset=0"]).unwrap().hot_reset, HotReset::Infer);
    assert_eq!(
        parse(&["-hotReset=2"]).unwrap().hot_reset,
        HotReset::TrainOffline
    );
    assert!(parse(&["-hotReset=2"]).unwrap().hot_reset.is_on());
    let config = parse(&["--reset-idle-delay=0", "--reset-boot-timeout=10"]).unwrap();
    assert_eq!(config.reset_idle_delay, Duration::ZERO);
    assert_eq!(config.reset_boot_timeout, Duration::from_secs(10));
    assert_eq!(
        parse(&[]).unwrap().reset_idle_delay,
        Duration::from_secs(60)
    );
}

#[test]
fn healthz_takes_a_port_or_an_address() {
    let port = parse(&["-enable-healthz=true"]).unwrap();
    assert_eq!(port.healthz, Some("0.0.0.0:11251".parse().unwrap()));
    let address = parse(&["--enable-healthz", "--healthz-address=127.0.0.1:2000"]).unwrap();
    assert_eq!(address.healthz, Some("127.0.0.1:2000".parse().unwrap()));
}

#[test]
fn inspect_is_a_subcommand_that_keeps_global_flags() {
    let config = parse(&["inspect", "--json", "--dcmi-lib=/opt/libdcmi.so"]).unwrap();
    assert!(matches!(
        config.command,
        Some(Command::Inspect { json: true })
    ));
    assert_eq!(
        config.paths.dcmi_lib,
        Some(PathBuf::from("/opt/libdcmi.so"))
    );
    let bare = parse(&["-volcanoType", "inspect"]).unwrap();
    assert!(matches!(
        bare.command,
        Some(Command::Inspect { json: false })
    ));
}

#[test]
fn health_endpoint_tls_takes_both_files_or_neither() {
    let both = parse(&[
        "-tls-cert-file=/etc/tls/c.pem",
        "--tls-private-key-file",
        "/etc/tls/k.pem",
    ])
    .unwrap();
    assert_eq!(
        both.healthz_tls,
        Some(("/etc/tls/c.pem".into(), "/etc/tls/k.pem".into()))
    );
    assert_eq!(parse(&[]).unwrap().healthz_tls, None);
    assert_eq!(
        invalid(parse(&["-tls-cert-file=/c"])).flag,
        "tls-private-key-file"
    );
    assert_eq!(
        invalid(parse(&["-tls-private-key-file=/k"])).flag,
        "tls-cert-file"
    );
}

#[test]
fn node_name_and_host_ip_are_checked_before_use() {
    let env = |node: &str, ip: Option<&str>| Environment {
        in_cluster: true,
        node_name: Some(node.into()),
        host_ip: ip.map(Into::into),
        ..Environment::default()
    };
    assert!(parse_env(&[], &env("worker-1.rack-2", Some("10.0.0.7"))).is_ok());
    assert!(parse_env(&[], &env("n", Some("fd00::7"))).is_ok());
    for bad in [
        "Node-A",
        "node_a",
        "-node",
        "a..b",
        "node/../x",
        "spec.nodeName=x,y",
        &"a".repeat(234),
    ] {
        let error = invalid(parse_env(&[], &env(bad, None)));
        assert_eq!(error.flag, "NODE_NAME", "{bad}");
        assert!(
            error
                .to_string()
                .starts_with("invalid value for environment variable NODE_NAME"),
            "{error}"
        );
    }
    let error = invalid(parse_env(&[], &env("n", Some("10.0.0.999"))));
    assert_eq!(error.flag, "HOST_IP");
}

#[test]
fn volcano_mode_needs_the_kubernetes_api() {
    let outside = Environment::default();
    let error = invalid(parse_env(&["-volcanoType=true"], &outside));
    assert_eq!(error.flag, "volcanoType");
    assert!(error.reason.contains("--kubeconfig"), "{}", error.reason);
    let with_kubeconfig = parse_env(
        &["-volcanoType=true", "--kubeconfig", "/etc/kube/config"],
        &outside,
    )
    .unwrap();
    assert!(with_kubeconfig.volcano && with_kubeconfig.kube.enabled);
    let plain = parse_env(&[], &outside).unwrap();
    assert!(
        !plain.kube.enabled,
        "no API without in-cluster env or kubeconfig"
    );
}

#[test]
fn pod_wait_timeout_is_bounded_seconds() {
    assert_eq!(
        parse(&[]).unwrap().pod_wait_timeout,
        std::time::Duration::from_secs(3)
    );
    assert_eq!(
        parse(&["-pod-wait-timeout=10"]).unwrap().pod_wait_timeout,
        std::time::Duration::from_secs(10)
    );
    for bad in ["0", "61", "-1"] {
        let error = invalid(parse(&[&format!("--pod-wait-timeout={bad}")]));
        assert_eq!(error.flag, "pod-wait-timeout", "{bad}");
    }
}

#[test]
fn api_start_jitter_is_off_by_default_and_bounded_seconds() {
    assert_eq!(
        parse(&[]).unwrap().api_start_jitter,
        std::time::Duration::ZERO
    );
    assert_eq!(
        parse(&["-api-start-jitter=30"]).unwrap().api_start_jitter,
        std::time::Duration::from_secs(30)
    );
    for bad in ["601", "-1"] {
        let error = invalid(parse(&[&format!("--api-start-jitter={bad}")]));
        assert_eq!(error.flag, "api-start-jitter", "{bad}");
    }
}

fn invalid(result: Result<Config, ParseOutcome>) -> ConfigError {
    match result {
        Err(ParseOutcome::Invalid(error)) => error,
        other => panic!("expected a ConfigError, got {other:?}"),
    }
}

#[test]
fn dra_is_a_subcommand_with_kubelet_default_paths_that_keeps_global_flags() {
    let config = parse(&["--state-dir=/var/lib/adp", "dra", "--cdi-dir=/run/cdi"]).unwrap();
    let Some(Command::Dra(flags)) = &config.command else {
        panic!("{:?}", config.command);
    };
    assert_eq!(flags.plugins_dir, PathBuf::from("/var/lib/kubelet/plugins"));
    assert_eq!(
        flags.registry_dir,
        PathBuf::from("/var/lib/kubelet/plugins_registry")
    );
    assert_eq!(flags.cdi_dir, PathBuf::from("/run/cdi"));
    assert_eq!(config.paths.state_dir, PathBuf::from("/var/lib/adp"));
    let after = parse(&["dra", "-logLevel=1", "--plugins-dir=/p"]).unwrap();
    assert!(
        matches!(&after.command, Some(Command::Dra(f)) if f.plugins_dir == std::path::Path::new("/p"))
    );
}
