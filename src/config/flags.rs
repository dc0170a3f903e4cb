//! The command line as clap sees it after [`super::args::normalize`].
//!
//! Long names are the Go plugin's spellings; kebab-case aliases are ours.
//! Values are parsed here; ranges and cross-flag rules live in `super::validate`.

use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand};

/// Default log file of the Go plugin.
pub const DEFAULT_LOG_FILE: &str = "/var/log/mindx-dl/devicePlugin/devicePlugin.log";
/// Default edge log file of the Go plugin.
pub const DEFAULT_EDGE_LOG_FILE: &str = "/var/alog/AtlasEdge_log/devicePlugin.log";

fn go_bool(text: &str) -> Result<bool, String> {
    super::args::parse_go_bool(text)
        .ok_or_else(|| format!("'{text}' is not a boolean (use true or false)"))
}

/// Go's `strconv.ParseInt(s, 0, 64)`: decimal, or 0x / 0o / 0b prefixed, optional sign.
fn go_int(text: &str) -> Result<i64, String> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let digits = digits.replace('_', "");
    let lower = digits.to_ascii_lowercase();
    let parsed = if let Some(hex) = lower.strip_prefix("0x") {
        i64::from_str_radix(hex, 16)
    } else if let Some(oct) = lower.strip_prefix("0o") {
        i64::from_str_radix(oct, 8)
    } else if let Some(bin) = lower.strip_prefix("0b") {
        i64::from_str_radix(bin, 2)
    } else {
        lower.parse::<i64>()
    };
    parsed
        .map(|value| if negative { -value } else { value })
        .map_err(|_| format!("'{text}' is not an integer"))
}

/// The plugin's command line. Every flag of the Go plugin is accepted.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "ascend-device-plugin",
    version,
    about = "Kubernetes device plugin for Huawei Ascend NPUs (drop-in for the MindX DL Go plugin)",
    disable_version_flag = true
)]
pub struct Flags {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Use the Ascend Docker Runtime (env-only Allocate). Default: decided by
    /// env ASCEND_DOCKER_RUNTIME=True, unless this flag is explicitly false.
    #[arg(long = "useAscendDocker", visible_alias = "use-ascend-docker", value_parser = go_bool, action = ArgAction::Set, global = true)]
    pub use_ascend_docker: Option<bool>,
    /// Volcano chooses chips; Allocate uses the chips annotated on the pod.
    #[arg(long = "volcanoType", visible_alias = "volcano-type", value_parser = go_bool, action = ArgAction::Set, default_value = "false", global = true)]
    pub volcano_type: bool,
    /// Static (pre-created) vNPUs; false = dynamic vNPUs created at Allocate.
    #[arg(long = "presetVirtualDevice", visible_alias = "preset-virtual-device", value_parser = go_bool, action = ArgAction::Set, default_value = "true", global = true)]
    pub preset_virtual_device: bool,
    /// Health poll period in seconds (3..1800).
    #[arg(long = "listWatchPeriod", visible_alias = "list-watch-period", value_parser = go_int, default_value = "5", global = true)]
    pub list_watch_period: i64,
    /// Recovered chips return to service automatically.
    #[arg(long = "autoStowing", visible_alias = "auto-stowing", value_parser = go_bool, action = ArgAction::Set, default_value = "true", global = true)]
    pub auto_stowing: bool,
    /// -1 debug, 0 info, 1 warn, 2 error, 3 critical.
    #[arg(long = "logLevel", visible_alias = "log-level", value_parser = go_int, default_value = "0", global = true)]
    pub log_level: i64,
    /// Log file (absolute path, no '..').
    #[arg(long = "logFile", visible_alias = "log-file", default_value = DEFAULT_LOG_FILE, global = true)]
    pub log_file: String,
    /// Days to keep rotated logs (7..700).
    #[arg(long = "maxAge", visible_alias = "max-age", value_parser = go_int, default_value = "7", global = true)]
    pub max_age: i64,
    /// Number of rotated logs to keep (1..180).
    #[arg(long = "maxBackups", visible_alias = "max-backups", value_parser = go_int, default_value = "30", global = true)]
    pub max_backups: i64,
    /// -1 off, 0 inference, 1 training (old), 2 training offline.
    #[arg(long = "hotReset", visible_alias = "hot-reset", value_parser = go_int, default_value = "-1", global = true)]
    pub hot_reset: i64,
    /// Advertise each chip N times (1..100; >1 only for 310/310P).
    #[arg(long = "shareDevCount", visible_alias = "share-dev-count", value_parser = go_int, default_value = "1", global = true)]
    pub share_dev_count: i64,
    /// Seconds a RoCE link must stay down before network-unhealthy (1..30).
    #[arg(long = "linkdownTimeout", visible_alias = "linkdown-timeout", value_parser = go_int, default_value = "30", global = true)]
    pub linkdown_timeout: i64,
    /// 300V / 300V Pro / 300I Pro cards as separate resources.
    #[arg(long = "use310PMixedInsert", visible_alias = "use-310p-mixed-insert", value_parser = go_bool, action = ArgAction::Set, default_value = "false", global = true)]
    pub use_310p_mixed_insert: bool,
    /// Edge (FusionDirector) mode: log to -edgeLogFile, 310/310B named davinci-mini.
    #[arg(long = "fdFlag", visible_alias = "fd-flag", value_parser = go_bool, action = ArgAction::Set, default_value = "false", global = true)]
    pub fd_flag: bool,
    /// Edge log file (edge mode only).
    #[arg(long = "edgeLogFile", visible_alias = "edge-log-file", default_value = DEFAULT_EDGE_LOG_FILE, global = true)]
    pub edge_log_file: String,
    /// Seconds to wait at start until every card is visible (10..600).
    #[arg(long = "deviceResetTimeout", visible_alias = "device-reset-timeout", value_parser = go_int, default_value = "600", global = true)]
    pub device_reset_timeout: i64,
    /// Re-check cached pods.
    #[arg(long = "checkCachedPods", visible_alias = "check-cached-pods", value_parser = go_bool, action = ArgAction::Set, default_value = "true", global = true)]
    pub check_cached_pods: bool,
    /// Read pods from the kubelet instead of the API server.
    #[arg(long = "getPodFromKubelet", visible_alias = "get-pod-from-kubelet", value_parser = go_bool, action = ArgAction::Set, default_value = "false", global = true)]
    pub get_pod_from_kubelet: bool,
    /// Refresh the pod cache on watch errors.
    #[arg(long = "dealWatchHandler", visible_alias = "deal-watch-handler", value_parser = go_bool, action = ArgAction::Set, default_value = "false", global = true)]
    pub deal_watch_handler: bool,
    /// Inject PERF_DUMP_PATH / PERF_DUMP_CONFIG for slow-node detection.
    #[arg(long = "enableSlowNode", visible_alias = "enable-slow-node", value_parser = go_bool, action = ArgAction::Set, default_value = "false", global = true)]
    pub enable_slow_node: bool,
    /// Seconds before scanning third-party faults (>= 0).
    #[arg(long = "thirdPartyScanDelay", visible_alias = "third-party-scan-delay", value_parser = go_int, default_value = "300", global = true)]
    pub third_party_scan_delay: i64,
    /// Soft-share configuration directory (absolute; needs shareDevCount=100 and volcanoType).
    #[arg(
        long = "softShareDevConfigDir",
        visible_alias = "soft-share-dev-config-dir",
        default_value = "",
        global = true
    )]
    pub soft_share_dev_config_dir: String,
    /// Driver folder holding each soft-share pod's npu_info.config (soft share only).
    #[arg(long = "soft-share-enpu-dir", default_value = super::modes::DEFAULT_ENPU_DIR, global = true)]
    pub soft_share_enpu_dir: String,
    /// Device renaming file (deviceNameCustomization.json); absent: nothing renamed.
    #[arg(long = "device-name-customization-file", default_value = super::modes::DEFAULT_DEVICE_NAMES_FILE, global = true)]
    pub device_name_customization_file: String,
    /// A3 cards in single-die mode.
    #[arg(long = "useSingleDieMode", visible_alias = "use-single-die-mode", value_parser = go_bool, action = ArgAction::Set, default_value = "false", global = true)]
    pub use_single_die_mode: bool,
    /// Print the version and exit.
    #[arg(long = "version", value_parser = go_bool, action = ArgAction::Set, default_value = "false", global = true)]
    pub version: bool,
    /// Serve liveness/readiness/metrics over HTTP.
    #[arg(long = "enable-healthz", value_parser = go_bool, action = ArgAction::Set, default_value = "false", global = true)]
    pub enable_healthz: bool,
    /// Health endpoint: a port (1025..65535) or host:port.
    #[arg(long = "healthz-address", default_value = "11251", global = true)]
    pub healthz_address: String,
    /// PEM certificate chain: serve the health endpoint over HTTPS (with -tls-private-key-file).
    #[arg(long = "tls-cert-file", global = true)]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of -tls-cert-file.
    #[arg(long = "tls-private-key-file", global = true)]
    pub tls_private_key_file: Option<PathBuf>,

    /// Path of libdcmi.so; overrides the search of LD_LIBRARY_PATH and the driver folders.
    #[arg(long = "dcmi-lib", global = true)]
    pub dcmi_lib: Option<PathBuf>,
    /// kubelet's root directory (device-plugins/ and pod-resources/ below it).
    #[arg(
        long = "kubelet-dir",
        default_value = "/var/lib/kubelet",
        global = true
    )]
    pub kubelet_dir: PathBuf,
    /// Root of the device tree (where davinci nodes are looked up).
    #[arg(long = "dev-root", default_value = "/dev", global = true)]
    pub dev_root: PathBuf,
    /// Root of sysfs (where PCI NUMA nodes are read).
    #[arg(long = "sys-root", default_value = "/sys", global = true)]
    pub sys_root: PathBuf,
    /// Directory for the plugin's own state (the Volcano kubelet-ID map).
    #[arg(
        long = "state-dir",
        default_value = "/var/lib/kubelet/device-plugins/ascend-state",
        global = true
    )]
    pub state_dir: PathBuf,
    /// Fault-code table in the faultCode.json format (overrides the built-in one).
    #[arg(long = "fault-code-file", global = true)]
    pub fault_code_file: Option<PathBuf>,
    /// FaultFrequency/FaultDuration rules in the faultCustomization.json
    /// format (overrides the built-in ones).
    #[arg(long = "fault-customization-file", global = true)]
    pub fault_customization_file: Option<PathBuf>,
    /// Hot reset: seconds a faulted chip's ring must stay free before it is
    /// reset (0..3600; upstream fixes 60).
    #[arg(long = "reset-idle-delay", value_parser = go_int, default_value = "60", global = true)]
    pub reset_idle_delay: i64,
    /// Hot reset: seconds the ring may take to boot after a reset (10..600;
    /// upstream fixes 180).
    #[arg(long = "reset-boot-timeout", value_parser = go_int, default_value = "180", global = true)]
    pub reset_boot_timeout: i64,
    /// Hot reset hooks (hotResetPluginConfiguration.json); default: outband
    /// reset on, reset Events off.
    #[arg(long = "hot-reset-plugin-config", global = true)]
    pub hot_reset_plugin_config: Option<PathBuf>,
    /// -getPodFromKubelet: the service-account token sent to the kubelet (read before each request).
    #[arg(
        long = "kubelet-token-file",
        default_value = "/var/run/secrets/kubernetes.io/serviceaccount/token",
        global = true
    )]
    pub kubelet_token_file: PathBuf,
    /// -getPodFromKubelet: CA bundle the kubelet's serving certificate must chain to.
    #[arg(
        long = "kubelet-ca-file",
        default_value = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
        global = true
    )]
    pub kubelet_ca_file: PathBuf,
    /// -getPodFromKubelet: do not verify the kubelet's certificate (self-signed serving certificates).
    #[arg(long = "kubelet-insecure-tls", value_parser = go_bool, action = ArgAction::Set, default_value = "false", global = true)]
    pub kubelet_insecure_tls: bool,
    /// kubeconfig for running outside the cluster (default: in-cluster, then KUBECONFIG).
    #[arg(long = "kubeconfig", env = "KUBECONFIG", global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// Also name allocated devices through CDI (`huawei.com/npu=<n>`), for
    /// runtimes with the Ascend CDI spec installed.
    #[arg(long = "cdi-devices", value_parser = go_bool, action = ArgAction::Set, default_value = "false", global = true)]
    pub cdi_devices: bool,
    /// Seconds discovery may take before a hung driver is reported (1..600).
    #[arg(long = "dcmi-timeout", value_parser = go_int, default_value = "60", global = true)]
    pub dcmi_timeout: i64,
    /// Seconds a Volcano-mode Allocate waits for its pod to reach the watch cache (1..60).
    #[arg(long = "pod-wait-timeout", value_parser = go_int, default_value = "3", global = true)]
    pub pod_wait_timeout: i64,
    /// Longest random wait, in seconds, before the first Kubernetes API
    /// request at start (0..600; 0: none). Spreads the start burst of many
    /// nodes started at once.
    #[arg(long = "api-start-jitter", value_parser = go_int, default_value = "0", global = true)]
    pub api_start_jitter: i64,
    /// Board layout for preferred allocation, as the node label accelerator-type spells it.
    #[arg(long = "accelerator-type", global = true)]
    pub accelerator_type: Option<String>,
}

/// What to run. Without a subcommand the plugin serves kubelet.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Print the node's cards, chips and vNPUs as the plugin sees them.
    Inspect {
        /// Machine-readable output.
        #[arg(long = "json", value_parser = go_bool, action = ArgAction::Set, default_value = "false", num_args = 0..=1, default_missing_value = "true")]
        json: bool,
    },
    /// Serve kubelet's DRA API (driver npu.huawei.com) instead of the
    /// device-plugin API. One node runs one mode, never both.
    Dra(DraFlags),
}

/// Flags of the `dra` subcommand; the shared flags (`--dcmi-lib`,
/// `--kubeconfig`, `--state-dir`, `-logLevel`, ...) keep their meaning.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct DraFlags {
    /// kubelet's plugins directory; the driver socket is
    /// `<dir>/npu.huawei.com/dra.sock`.
    #[arg(long = "plugins-dir", default_value = "/var/lib/kubelet/plugins")]
    pub plugins_dir: PathBuf,
    /// kubelet's plugin registry directory; the registration socket is
    /// `<dir>/npu.huawei.com-reg.sock`.
    #[arg(
        long = "registry-dir",
        default_value = "/var/lib/kubelet/plugins_registry"
    )]
    pub registry_dir: PathBuf,
    /// Where CDI spec files are written (the runtime's dynamic CDI directory).
    #[arg(long = "cdi-dir", default_value = "/var/run/cdi")]
    pub cdi_dir: PathBuf,
    /// The kernel's boot id; a checkpoint of another boot is discarded.
    #[arg(
        long = "boot-id-file",
        default_value = "/proc/sys/kernel/random/boot_id",
        hide = true
    )]
    pub boot_id_file: PathBuf,
    /// Also publish each 310P/910B chip's vNPU templates as devices
    /// (`npu-<phy>-<template>-<n>`) sharing the chip's `aicore` and
    /// `memory` counters; the vNPU is created at prepare. Off by default:
    /// classes that select every device of the driver would get slices.
    #[arg(long = "vnpu-partitions")]
    pub vnpu_partitions: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_integers_accept_signs_and_prefixes_like_strconv() {
        assert_eq!(go_int("-1"), Ok(-1));
        assert_eq!(go_int("+7"), Ok(7));
        assert_eq!(go_int("0x1F"), Ok(31));
        assert_eq!(go_int("1_000"), Ok(1000));
        assert!(go_int("five").is_err());
        assert!(go_int("").is_err());
    }
}
