//! Go-flag spellings -> one canonical `--name=value` form that clap parses.
//!
//! Existing DaemonSets start the Go plugin with Go's `flag` package syntax:
//! `-name=value`, `--name=value`, `-name value`, and bare `-name` for
//! booleans. clap does not accept single-dash long options, so every argument
//! is rewritten here first. Unknown names are left untouched so clap reports
//! them by name.

/// How a known flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `-name`, `-name=true`, `-name true` (the last is not Go, but manifests use it).
    Bool,
    /// `-name value` or `-name=value`.
    Value,
}

/// Every flag the binary knows: (canonical name, kebab-case alias, kind).
/// The canonical name is the Go spelling, so existing manifests work unchanged.
pub const FLAGS: &[(&str, &str, Kind)] = &[
    ("useAscendDocker", "use-ascend-docker", Kind::Bool),
    ("volcanoType", "volcano-type", Kind::Bool),
    ("presetVirtualDevice", "preset-virtual-device", Kind::Bool),
    ("listWatchPeriod", "list-watch-period", Kind::Value),
    ("autoStowing", "auto-stowing", Kind::Bool),
    ("logLevel", "log-level", Kind::Value),
    ("logFile", "log-file", Kind::Value),
    ("maxAge", "max-age", Kind::Value),
    ("maxBackups", "max-backups", Kind::Value),
    ("hotReset", "hot-reset", Kind::Value),
    ("shareDevCount", "share-dev-count", Kind::Value),
    ("linkdownTimeout", "linkdown-timeout", Kind::Value),
    ("use310PMixedInsert", "use-310p-mixed-insert", Kind::Bool),
    ("fdFlag", "fd-flag", Kind::Bool),
    ("edgeLogFile", "edge-log-file", Kind::Value),
    ("deviceResetTimeout", "device-reset-timeout", Kind::Value),
    ("checkCachedPods", "check-cached-pods", Kind::Bool),
    ("getPodFromKubelet", "get-pod-from-kubelet", Kind::Bool),
    ("dealWatchHandler", "deal-watch-handler", Kind::Bool),
    ("enableSlowNode", "enable-slow-node", Kind::Bool),
    ("thirdPartyScanDelay", "third-party-scan-delay", Kind::Value),
    (
        "softShareDevConfigDir",
        "soft-share-dev-config-dir",
        Kind::Value,
    ),
    ("useSingleDieMode", "use-single-die-mode", Kind::Bool),
    ("soft-share-enpu-dir", "soft-share-enpu-dir", Kind::Value),
    (
        "device-name-customization-file",
        "device-name-customization-file",
        Kind::Value,
    ),
    ("version", "version", Kind::Bool),
    ("enable-healthz", "enable-healthz", Kind::Bool),
    ("healthz-address", "healthz-address", Kind::Value),
    ("tls-cert-file", "tls-cert-file", Kind::Value),
    ("tls-private-key-file", "tls-private-key-file", Kind::Value),
    // Ours, beyond the Go plugin.
    ("dcmi-lib", "dcmi-lib", Kind::Value),
    ("kubelet-dir", "kubelet-dir", Kind::Value),
    ("dev-root", "dev-root", Kind::Value),
    ("sys-root", "sys-root", Kind::Value),
    ("state-dir", "state-dir", Kind::Value),
    ("fault-code-file", "fault-code-file", Kind::Value),
    (
        "fault-customization-file",
        "fault-customization-file",
        Kind::Value,
    ),
    ("kubelet-token-file", "kubelet-token-file", Kind::Value),
    ("kubelet-ca-file", "kubelet-ca-file", Kind::Value),
    ("kubelet-insecure-tls", "kubelet-insecure-tls", Kind::Bool),
    ("kubeconfig", "kubeconfig", Kind::Value),
    ("accelerator-type", "accelerator-type", Kind::Value),
    ("dcmi-timeout", "dcmi-timeout", Kind::Value),
    ("pod-wait-timeout", "pod-wait-timeout", Kind::Value),
    ("api-start-jitter", "api-start-jitter", Kind::Value),
    ("cdi-devices", "cdi-devices", Kind::Bool),
    ("json", "json", Kind::Bool),
    ("help", "help", Kind::Bool),
];

fn lookup(name: &str) -> Option<(&'static str, Kind)> {
    FLAGS
        .iter()
        .find(|(canonical, alias, _)| *canonical == name || *alias == name)
        .map(|(canonical, _, kind)| (*canonical, *kind))
}

/// Go's `strconv.ParseBool`: the only spellings Go accepts for a boolean.
pub fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Rewrites Go-style arguments into `--canonical=value`. The program name
/// (first element) and positional words (the subcommand) pass through.
pub fn normalize<I>(args: I) -> Vec<String>
where
    I: IntoIterator<Item = String>,
{
    let mut input = args.into_iter().peekable();
    let mut out = Vec::new();
    if let Some(program) = input.next() {
        out.push(program);
    }
    while let Some(arg) = input.next() {
        if arg == "--" || arg == "-" || !arg.starts_with('-') {
            out.push(arg);
            continue;
        }
        let body = arg.strip_prefix("--").unwrap_or(&arg[1..]);
        let (name, inline_value) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (body, None),
        };
        let Some((canonical, kind)) = lookup(name) else {
            // Unknown: let clap judge it, as a long option so that its
            // message names the whole flag rather than its first letter.
            if !arg.starts_with("--") && name.chars().count() > 1 {
                out.push(format!("-{arg}"));
            } else {
                out.push(arg);
            }
            continue;
        };
        if canonical == "help" {
            out.push("--help".to_string());
            continue;
        }
        let value = match (inline_value, kind) {
            (Some(value), _) => Some(value),
            (None, Kind::Bool) => match input.peek().map(|next| parse_go_bool(next)) {
                Some(Some(_)) => input.next(),
                _ => Some("true".to_string()),
            },
            (None, Kind::Value) => input.next(),
        };
        match value {
            Some(value) => out.push(format!("--{canonical}={value}")),
            // A value flag at the very end: clap reports the missing value.
            None => out.push(format!("--{canonical}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Vec<String> {
        normalize(
            std::iter::once("device-plugin")
                .chain(args.iter().copied())
                .map(String::from),
        )
        .into_iter()
        .skip(1)
        .collect()
    }

    #[test]
    fn every_go_spelling_of_a_boolean_becomes_one_canonical_form() {
        for spelling in [
            &["-volcanoType=true"][..],
            &["--volcanoType=true"],
            &["-volcanoType"],
            &["--volcanoType"],
            &["-volcanoType", "true"],
            &["--volcanoType", "True"],
            &["--volcano-type"],
            &["-volcano-type=1"],
        ] {
            let got = norm(spelling);
            assert_eq!(got.len(), 1, "{spelling:?} -> {got:?}");
            assert!(
                got[0].starts_with("--volcanoType="),
                "{spelling:?} -> {got:?}"
            );
        }
    }

    #[test]
    fn a_bare_boolean_does_not_swallow_the_next_flag_or_subcommand() {
        assert_eq!(
            norm(&["-volcanoType", "-logLevel", "1"]),
            ["--volcanoType=true", "--logLevel=1"]
        );
        assert_eq!(
            norm(&["--volcanoType", "inspect"]),
            ["--volcanoType=true", "inspect"]
        );
    }

    #[test]
    fn value_flags_take_the_next_word_or_the_inline_value() {
        assert_eq!(
            norm(&["-logFile", "/var/log/x.log", "--maxAge=9"]),
            ["--logFile=/var/log/x.log", "--maxAge=9"]
        );
        assert_eq!(norm(&["-logLevel", "-1"]), ["--logLevel=-1"]);
    }

    #[test]
    fn unknown_flags_are_passed_to_clap_as_long_options() {
        assert_eq!(norm(&["-noSuchFlag=1"]), ["--noSuchFlag=1"]);
        assert_eq!(norm(&["-h"]), ["-h"]);
    }

    #[test]
    fn go_bool_parsing_accepts_exactly_gos_spellings() {
        for yes in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(yes), Some(true));
        }
        for no in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(no), Some(false));
        }
        for bad in ["yes", "tRUE", "", "2", "on"] {
            assert_eq!(parse_go_bool(bad), None);
        }
    }
}
