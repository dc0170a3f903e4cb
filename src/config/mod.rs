//! The validated configuration, built once from flags and environment.
//!
//! `args` rewrites Go flag spellings, `flags` is the clap surface, and this
//! module checks ranges and cross-flag rules before anything touches the node.

pub mod args;
pub mod flags;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use clap::Parser;

pub use flags::{Command, DraFlags, Flags};

use crate::telemetry::logging::Level;

/// A rejected command line or environment; always names the flag (or the
/// environment variable, spelled in capitals).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid value for {}{flag}: {reason}", if flag.chars().all(|c| c.is_ascii_uppercase() || c == '_') { "environment variable " } else { "-" })]
pub struct ConfigError {
    pub flag: &'static str,
    pub reason: String,
}

fn reject(flag: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        flag,
        reason: reason.into(),
    }
}

fn in_range(flag: &'static str, value: i64, low: i64, high: i64) -> Result<i64, ConfigError> {
    if (low..=high).contains(&value) {
        Ok(value)
    } else {
        Err(reject(
            flag,
            format!("{value} is out of range (allowed {low}..{high})"),
        ))
    }
}

/// Where and how logs are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    pub level: Level,
    pub file: PathBuf,
    pub max_age_days: u32,
    pub max_backups: u32,
}

/// Filesystem locations, injected so tests run on temp trees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub dcmi_lib: Option<PathBuf>,
    pub kubelet_dir: PathBuf,
    pub dev_root: PathBuf,
    pub sys_root: PathBuf,
    pub state_dir: PathBuf,
    pub fault_code_file: Option<PathBuf>,
    pub fault_customization_file: Option<PathBuf>,
    pub hot_reset_plugin_config: Option<PathBuf>,
    pub kubeconfig: Option<PathBuf>,
}

impl Paths {
    /// `<kubelet-dir>/device-plugins`, where kubelet.sock and our sockets live.
    pub fn device_plugin_dir(&self) -> PathBuf {
        self.kubelet_dir.join("device-plugins")
    }

    /// `<kubelet-dir>/pod-resources/kubelet.sock`.
    pub fn pod_resources_socket(&self) -> PathBuf {
        self.kubelet_dir.join("pod-resources").join("kubelet.sock")
    }
}

/// The environment variables the plugin reads, captured once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    pub ascend_docker_runtime: Option<String>,
    /// `NODE_NAME`: required whenever the Kubernetes API is used.
    pub node_name: Option<String>,
    /// `HOST_IP`: the node IP written into the 910 configuration annotation.
    pub host_ip: Option<String>,
    /// `KUBERNETES_SERVICE_HOST` is set: running in a pod with API access.
    pub in_cluster: bool,
}

impl Environment {
    pub fn from_process() -> Self {
        let non_empty = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Self {
            ascend_docker_runtime: std::env::var("ASCEND_DOCKER_RUNTIME").ok(),
            node_name: non_empty("NODE_NAME"),
            host_ip: non_empty("HOST_IP"),
            in_cluster: non_empty("KUBERNETES_SERVICE_HOST").is_some(),
        }
    }
}

/// Whether and as whom the plugin talks to the Kubernetes API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeSettings {
    /// In-cluster, or `--kubeconfig`/`KUBECONFIG` given.
    pub enabled: bool,
    pub node_name: Option<String>,
    pub host_ip: Option<String>,
}

/// `-hotReset`: whether a faulted chip is reset by the plugin (recovery spec §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HotReset {
    /// -1: never; an operator resets chips.
    Off,
    /// 0 ("infer"): the unified reset; also makes a 300I Duo card Unhealthy
    /// as a whole when one of its chips is.
    Infer,
    /// 2 ("train-offline"): the unified reset.
    TrainOffline,
}

impl HotReset {
    pub fn is_on(self) -> bool {
        self != HotReset::Off
    }
}

/// Everything the plugin needs to know about how it was asked to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub command: Option<Command>,
    pub print_version: bool,
    /// Answer Allocate with envs for the Ascend Docker Runtime.
    pub use_ascend_docker: bool,
    pub volcano: bool,
    pub preset_virtual_device: bool,
    pub list_watch_period: Duration,
    pub auto_stowing: bool,
    pub log: LogConfig,
    pub share_dev_count: u32,
    pub linkdown_timeout: Duration,
    pub mixed_insert_310p: bool,
    pub hot_reset: HotReset,
    /// A faulted ring must stay free this long before it is reset.
    pub reset_idle_delay: Duration,
    /// How long a reset ring may take to boot.
    pub reset_boot_timeout: Duration,
    pub device_reset_timeout: Duration,
    /// Bound for discovery as a whole (a hung driver is an error, not a hang).
    pub dcmi_timeout: Duration,
    /// How long a Volcano-mode Allocate waits for its pod in the watch cache.
    pub pod_wait_timeout: Duration,
    /// Longest random wait before the first API request at start.
    pub api_start_jitter: Duration,
    /// Add CDI device names to Allocate answers.
    pub cdi_devices: bool,
    pub healthz: Option<SocketAddr>,
    /// Certificate and key for HTTPS on the health endpoint.
    pub healthz_tls: Option<(PathBuf, PathBuf)>,
    pub accelerator_type: Option<String>,
    pub paths: Paths,
    pub kube: KubeSettings,
    /// Flags accepted for compatibility whose feature is not implemented;
    /// each entry names the flag. Logged as warnings at start.
    pub unimplemented: Vec<String>,
}

impl Config {
    /// Parses a full argv (program name first) in any Go or kebab spelling.
    pub fn from_args<I>(argv: I, env: &Environment) -> Result<Self, ParseOutcome>
    where
        I: IntoIterator<Item = String>,
    {
        let flags = Flags::try_parse_from(args::normalize(argv)).map_err(ParseOutcome::Clap)?;
        Self::from_flags(flags, env).map_err(ParseOutcome::Invalid)
    }

    /// Checks ranges and cross-flag rules.
    pub fn from_flags(flags: Flags, env: &Environment) -> Result<Self, ConfigError> {
        let list_watch_period = in_range("listWatchPeriod", flags.list_watch_period, 3, 1800)?;
        let level = Level::from_go_flag(in_range("logLevel", flags.log_level, -1, 3)?)
            .ok_or_else(|| reject("logLevel", "must be -1..3"))?;
        let max_age = in_range("maxAge", flags.max_age, 7, 700)?;
        let max_backups = in_range("maxBackups", flags.max_backups, 1, 180)?;
        let hot_reset = match flags.hot_reset {
            -1 => HotReset::Off,
            0 => HotReset::Infer,
            2 => HotReset::TrainOffline,
            1 => {
                return Err(reject(
                    "hotReset",
                    "1 (online training reset) was removed upstream; use -1 (off), 0 or 2 (reset a faulted chip when it is free)",
                ));
            }
            other => {
                return Err(reject(
                    "hotReset",
                    format!("{other} is not one of -1 (off), 0 (inference), 2 (training)"),
                ));
            }
        };
        let idle_delay = in_range("reset-idle-delay", flags.reset_idle_delay, 0, 3600)?;
        let boot_timeout = in_range("reset-boot-timeout", flags.reset_boot_timeout, 10, 600)?;
        let share = in_range("shareDevCount", flags.share_dev_count, 1, 100)?;
        let linkdown = in_range("linkdownTimeout", flags.linkdown_timeout, 1, 30)?;
        let reset_timeout = in_range("deviceResetTimeout", flags.device_reset_timeout, 10, 600)?;
        let dcmi_timeout = in_range("dcmi-timeout", flags.dcmi_timeout, 1, 600)?;
        let pod_wait = in_range("pod-wait-timeout", flags.pod_wait_timeout, 1, 60)?;
        let start_jitter = in_range("api-start-jitter", flags.api_start_jitter, 0, 600)?;
        let scan_delay = flags.third_party_scan_delay;
        if scan_delay < 0 {
            return Err(reject(
                "thirdPartyScanDelay",
                format!("{scan_delay} is negative (must be >= 0)"),
            ));
        }
        let log_file = checked_absolute("logFile", &flags.log_file)?;
        if !flags.preset_virtual_device && (!flags.volcano_type || share != 1) {
            return Err(reject(
                "presetVirtualDevice",
                "false (dynamic vNPU) needs -volcanoType=true and -shareDevCount=1",
            ));
        }
        if flags.use_310p_mixed_insert && flags.volcano_type {
            return Err(reject(
                "use310PMixedInsert",
                "cannot be combined with -volcanoType=true",
            ));
        }
        if flags.use_310p_mixed_insert && share > 1 {
            return Err(reject(
                "use310PMixedInsert",
                "cannot be combined with -shareDevCount > 1",
            ));
        }
        if !flags.soft_share_dev_config_dir.is_empty() {
            checked_absolute("softShareDevConfigDir", &flags.soft_share_dev_config_dir)?;
            if share != 100 || !flags.volcano_type {
                return Err(reject(
                    "softShareDevConfigDir",
                    "needs -shareDevCount=100 and -volcanoType=true",
                ));
            }
        }
        if flags.fd_flag {
            return Err(reject(
                "fdFlag",
                "edge (FusionDirector) mode is not supported by this plugin; remove the flag or run the Go plugin on edge nodes",
            ));
        }
        let healthz = if flags.enable_healthz {
            Some(parse_healthz_address(&flags.healthz_address)?)
        } else {
            None
        };
        let healthz_tls = match (&flags.tls_cert_file, &flags.tls_private_key_file) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            (Some(_), None) => {
                return Err(reject(
                    "tls-private-key-file",
                    "missing: -tls-cert-file needs its key",
                ));
            }
            (None, Some(_)) => {
                return Err(reject(
                    "tls-cert-file",
                    "missing: -tls-private-key-file needs its certificate",
                ));
            }
        };
        if let Some(lib) = &flags.dcmi_lib
            && !lib.is_absolute()
        {
            return Err(reject(
                "dcmi-lib",
                format!("{} is not an absolute path", lib.display()),
            ));
        }

        let use_ascend_docker = match flags.use_ascend_docker {
            Some(false) => false,
            _ => env.ascend_docker_runtime.as_deref() == Some("True"),
        };
        let unimplemented = unimplemented_flags(&flags);
        if let Some(node) = &env.node_name {
            check_node_name(node)?;
        }
        if let Some(ip) = &env.host_ip
            && ip.parse::<IpAddr>().is_err()
        {
            return Err(reject(
                "HOST_IP",
                format!("{:?} is not an IP address", clip(ip)),
            ));
        }
        let kube = KubeSettings {
            enabled: flags.kubeconfig.is_some() || env.in_cluster,
            node_name: env.node_name.clone(),
            host_ip: env.host_ip.clone(),
        };
        // Only the daemon talks to the API; `inspect` reads the node alone.
        if flags.volcano_type && !kube.enabled && flags.command.is_none() {
            return Err(reject(
                "volcanoType",
                "true needs the Kubernetes API: run in a pod (in-cluster) or pass --kubeconfig",
            ));
        }

        Ok(Self {
            command: flags.command,
            print_version: flags.version,
            use_ascend_docker,
            volcano: flags.volcano_type,
            preset_virtual_device: flags.preset_virtual_device,
            list_watch_period: Duration::from_secs(list_watch_period.unsigned_abs()),
            auto_stowing: flags.auto_stowing,
            log: LogConfig {
                level,
                file: log_file,
                max_age_days: u32::try_from(max_age).unwrap_or(u32::MAX),
                max_backups: u32::try_from(max_backups).unwrap_or(u32::MAX),
            },
            share_dev_count: u32::try_from(share).unwrap_or(1),
            linkdown_timeout: Duration::from_secs(linkdown.unsigned_abs()),
            mixed_insert_310p: flags.use_310p_mixed_insert,
            hot_reset,
            reset_idle_delay: Duration::from_secs(idle_delay.unsigned_abs()),
            reset_boot_timeout: Duration::from_secs(boot_timeout.unsigned_abs()),
            device_reset_timeout: Duration::from_secs(reset_timeout.unsigned_abs()),
            dcmi_timeout: Duration::from_secs(dcmi_timeout.unsigned_abs()),
            pod_wait_timeout: Duration::from_secs(pod_wait.unsigned_abs()),
            api_start_jitter: Duration::from_secs(start_jitter.unsigned_abs()),
            cdi_devices: flags.cdi_devices,
            healthz,
            healthz_tls,
            accelerator_type: flags.accelerator_type,
            paths: Paths {
                dcmi_lib: flags.dcmi_lib,
                kubelet_dir: flags.kubelet_dir,
                dev_root: flags.dev_root,
                sys_root: flags.sys_root,
                state_dir: flags.state_dir,
                fault_code_file: flags.fault_code_file,
                fault_customization_file: flags.fault_customization_file,
                hot_reset_plugin_config: flags.hot_reset_plugin_config,
                kubeconfig: flags.kubeconfig,
            },
            kube,
            unimplemented,
        })
    }
}

/// Why the command line did not yield a [`Config`].
#[derive(Debug)]
pub enum ParseOutcome {
    /// clap's own result: unknown flag, bad value, or --help (printed by clap).
    Clap(clap::Error),
    /// A value out of range or a forbidden combination.
    Invalid(ConfigError),
}

/// The first 64 characters of an untrusted value, for messages.
fn clip(value: &str) -> String {
    value.chars().take(64).collect()
}

/// A node name is a DNS-1123 subdomain: it becomes part of a field
/// selector and of the device-info ConfigMap's name.
fn check_node_name(node: &str) -> Result<(), ConfigError> {
    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    // The ConfigMap name adds 20 characters and must stay within 253.
    if node.len() > 233 || !node.split('.').all(label_ok) {
        return Err(reject(
            "NODE_NAME",
            format!(
                "{:?} is not a valid node name (lowercase DNS-1123 subdomain, at most 233 characters)",
                clip(node)
            ),
        ));
    }
    Ok(())
}

fn checked_absolute(flag: &'static str, value: &str) -> Result<PathBuf, ConfigError> {
    let path = Path::new(value);
    if !path.is_absolute() {
        return Err(reject(flag, format!("{value} is not an absolute path")));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(reject(flag, format!("{value} contains '..'")));
    }
    Ok(path.to_path_buf())
}

fn parse_healthz_address(value: &str) -> Result<SocketAddr, ConfigError> {
    let address = match value.parse::<u16>() {
        Ok(port) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
        Err(_) => value.parse::<SocketAddr>().map_err(|_| {
            reject(
                "healthz-address",
                format!("{value} is neither a port nor host:port"),
            )
        })?,
    };
    if address.port() < 1025 {
        return Err(reject(
            "healthz-address",
            format!(
                "port {} is out of range (allowed 1025..65535)",
                address.port()
            ),
        ));
    }
    Ok(address)
}

fn unimplemented_flags(flags: &Flags) -> Vec<String> {
    let mut out = Vec::new();
    let mut note = |set: bool, name: &str| {
        if set {
            out.push(name.to_string());
        }
    };
    note(!flags.check_cached_pods, "checkCachedPods");
    note(flags.get_pod_from_kubelet, "getPodFromKubelet");
    note(flags.deal_watch_handler, "dealWatchHandler");
    note(flags.enable_slow_node, "enableSlowNode");
    note(flags.third_party_scan_delay != 300, "thirdPartyScanDelay");
    note(
        !flags.soft_share_dev_config_dir.is_empty(),
        "softShareDevConfigDir",
    );
    note(flags.use_single_die_mode, "useSingleDieMode");
    note(
        flags.edge_log_file != flags::DEFAULT_EDGE_LOG_FILE,
        "edgeLogFile",
    );
    out
}

#[cfg(test)]
mod tests;
