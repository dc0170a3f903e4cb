//! Where the node's pods come from and how the cache behaves (recovery spec
//! §4.1–§4.4): `-getPodFromKubelet` and its kubelet settings,
//! `-checkCachedPods`, `-dealWatchHandler`, `-enableSlowNode`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use super::{ConfigError, Environment, Flags, reject};

/// The kubelet's port when `KUBELET_PORT` is unset or not a port.
pub const DEFAULT_KUBELET_PORT: u16 = 10250;

/// Reading pods from the kubelet (`-getPodFromKubelet=true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeletPodsSettings {
    /// `HOST_IP` and `KUBELET_PORT`.
    pub endpoint: SocketAddr,
    /// The service-account token file, read before each request.
    pub token_file: PathBuf,
    /// CA bundle the kubelet's serving certificate must chain to.
    pub ca_file: PathBuf,
    /// `--kubelet-insecure-tls`: the kubelet's certificate is not verified.
    pub insecure: bool,
}

/// The pod-cache settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodSettings {
    /// `Some`: the cache is fed from the kubelet, not an API-server watch.
    pub from_kubelet: Option<KubeletPodsSettings>,
    /// `-dealWatchHandler`: after a watch error, the next Allocate that
    /// reads the cache first lists the node's pods from the API server.
    pub relist_after_watch_error: bool,
    /// `-enableSlowNode`: Allocate adds `PERF_DUMP_PATH`/`PERF_DUMP_CONFIG`
    /// from ConfigMap `kube-system/steptime-dtpgroup` (read from a watch).
    pub slow_node: bool,
}

/// Builds the settings; `api` = the Kubernetes API is in use.
pub fn pod_settings(
    flags: &Flags,
    env: &Environment,
    api: bool,
) -> Result<PodSettings, ConfigError> {
    let from_kubelet = if flags.get_pod_from_kubelet && flags.volcano_type && api {
        let host = env.host_ip.as_deref().ok_or_else(|| {
            reject(
                "getPodFromKubelet",
                "true needs HOST_IP (set it from status.hostIP): the kubelet is read at https://HOST_IP:KUBELET_PORT/pods",
            )
        })?;
        let ip: IpAddr = host.parse().map_err(|_| {
            reject(
                "HOST_IP",
                format!("{:?} is not an IP address", super::clip(host)),
            )
        })?;
        let port = env
            .kubelet_port
            .as_deref()
            .and_then(|p| p.trim().parse::<u16>().ok())
            .filter(|&p| p != 0)
            .unwrap_or(DEFAULT_KUBELET_PORT);
        Some(KubeletPodsSettings {
            endpoint: SocketAddr::new(ip, port),
            token_file: flags.kubelet_token_file.clone(),
            ca_file: flags.kubelet_ca_file.clone(),
            insecure: flags.kubelet_insecure_tls,
        })
    } else {
        None
    };
    if flags.kubelet_insecure_tls && !flags.get_pod_from_kubelet {
        return Err(reject(
            "kubelet-insecure-tls",
            "only means something with -getPodFromKubelet=true",
        ));
    }
    Ok(PodSettings {
        // Kubelet mode has no watch to fail (upstream: no effect there).
        relist_after_watch_error: flags.deal_watch_handler && from_kubelet.is_none(),
        slow_node: flags.enable_slow_node && api,
        from_kubelet,
    })
}

/// Pod flags that change nothing in this configuration, each with why.
pub fn inert_pod_flags(flags: &Flags, api: bool) -> Vec<String> {
    let mut out = Vec::new();
    if flags.enable_slow_node && !api {
        out.push("enableSlowNode: without the Kubernetes API the steptime-dtpgroup ConfigMap cannot be read".to_owned());
    }
    if !flags.volcano_type && flags.get_pod_from_kubelet {
        out.push("getPodFromKubelet: without -volcanoType the plugin keeps no pod cache (chips in use come from kubelet's pod-resources socket)".to_owned());
    }
    if !flags.volcano_type && flags.deal_watch_handler {
        out.push("dealWatchHandler: without -volcanoType the plugin keeps no pod cache".to_owned());
    }
    if flags.volcano_type && flags.get_pod_from_kubelet && flags.deal_watch_handler {
        out.push(
            "dealWatchHandler: with -getPodFromKubelet there is no watch (upstream neither)"
                .to_owned(),
        );
    }
    if !flags.check_cached_pods {
        out.push("checkCachedPods: false changes nothing here; the pod cache is a watch that drops deleted pods itself, so there is no hourly sweep to turn off".to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::{Config, ParseOutcome};
    use super::*;

    fn env(host_ip: Option<&str>, port: Option<&str>) -> Environment {
        Environment {
            in_cluster: true,
            node_name: Some("node-a".into()),
            host_ip: host_ip.map(Into::into),
            kubelet_port: port.map(Into::into),
            ..Environment::default()
        }
    }

    fn parse(args: &[&str], env: &Environment) -> Result<Config, ParseOutcome> {
        Config::from_args(
            std::iter::once("device-plugin")
                .chain(args.iter().copied())
                .map(String::from),
            env,
        )
    }

    fn refused(args: &[&str], env: &Environment) -> (&'static str, String) {
        match parse(args, env) {
            Err(ParseOutcome::Invalid(error)) => (error.flag, error.reason),
            other => panic!("{args:?}: not refused: {other:?}"),
        }
    }

    const KUBELET: [&str; 2] = ["-volcanoType=true", "-getPodFromKubelet=true"];

    #[test]
    fn the_kubelet_is_reached_on_host_ip_and_kubelet_port_or_10250() {
        let config = parse(&KUBELET, &env(Some("10.0.0.7"), None)).unwrap();
        let kubelet = config.pods.from_kubelet.unwrap();
        assert_eq!(kubelet.endpoint, "10.0.0.7:10250".parse().unwrap());
        assert!(!kubelet.insecure, "verified by default");
        assert_eq!(
            kubelet.ca_file,
            PathBuf::from("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
        );
        let config = parse(&KUBELET, &env(Some("fd00::7"), Some("10255"))).unwrap();
        let endpoint = config.pods.from_kubelet.unwrap().endpoint;
        assert_eq!(endpoint, "[fd00::7]:10255".parse().unwrap());
        for bad_port in ["x", "70000", "0", "-1"] {
            let config = parse(&KUBELET, &env(Some("10.0.0.7"), Some(bad_port))).unwrap();
            assert_eq!(
                config.pods.from_kubelet.unwrap().endpoint.port(),
                DEFAULT_KUBELET_PORT,
                "{bad_port}"
            );
        }
    }

    #[test]
    fn the_kubelet_mode_needs_host_ip_as_an_address() {
        let (flag, reason) = refused(&KUBELET, &env(None, None));
        assert_eq!(flag, "getPodFromKubelet");
        assert!(reason.contains("HOST_IP"), "{reason}");
        let (flag, _) = refused(&KUBELET, &env(Some("node-a.local"), None));
        assert_eq!(flag, "HOST_IP");
    }

    #[test]
    fn deal_watch_handler_does_nothing_in_the_kubelet_mode() {
        let mut args = KUBELET.to_vec();
        args.push("-dealWatchHandler=true");
        let config = parse(&args, &env(Some("10.0.0.7"), None)).unwrap();
        assert!(!config.pods.relist_after_watch_error);
        assert!(
            config
                .inert
                .iter()
                .any(|w| w.starts_with("dealWatchHandler:")),
            "{:?}",
            config.inert
        );
    }

    #[test]
    fn the_tls_opt_out_is_explicit_and_only_with_the_kubelet_mode() {
        let mut args = KUBELET.to_vec();
        args.push("--kubelet-insecure-tls=true");
        let config = parse(&args, &env(Some("10.0.0.7"), None)).unwrap();
        assert!(config.pods.from_kubelet.unwrap().insecure);
        let (flag, _) = refused(&["--kubelet-insecure-tls"], &env(Some("10.0.0.7"), None));
        assert_eq!(flag, "kubelet-insecure-tls");
    }

    #[test]
    fn without_volcano_the_pod_flags_are_named_as_doing_nothing() {
        let config = parse(
            &[
                "-getPodFromKubelet=true",
                "-dealWatchHandler=true",
                "-checkCachedPods=false",
            ],
            &env(Some("10.0.0.7"), None),
        )
        .unwrap();
        assert_eq!(config.pods.from_kubelet, None);
        let named: Vec<&str> = config
            .inert
            .iter()
            .map(|w| w.split(':').next().unwrap())
            .collect();
        assert_eq!(
            named,
            ["getPodFromKubelet", "dealWatchHandler", "checkCachedPods"]
        );
    }

    #[test]
    fn deal_watch_handler_selects_the_relist_and_slow_node_needs_the_api() {
        let config = parse(
            &[
                "-volcanoType=true",
                "-dealWatchHandler=true",
                "-enableSlowNode=true",
            ],
            &env(None, None),
        )
        .unwrap();
        assert!(config.pods.relist_after_watch_error);
        assert!(config.pods.slow_node);
        assert!(config.inert.is_empty(), "{:?}", config.inert);
        let no_api = Environment::default();
        let config = parse(&["-enableSlowNode=true"], &no_api).unwrap();
        assert!(!config.pods.slow_node);
        assert!(config.inert[0].starts_with("enableSlowNode:"));
    }
}
