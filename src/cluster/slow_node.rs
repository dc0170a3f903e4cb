//! `-enableSlowNode` (recovery spec §4.4): the slow-node detector's dump
//! settings, from ConfigMap `kube-system/steptime-dtpgroup`, become
//! `PERF_DUMP_PATH` and `PERF_DUMP_CONFIG` in every container's Allocate
//! answer. Pure: the ConfigMap's data in, the envs out.
//!
//! Upstream GETs the ConfigMap for every container and, with several keys,
//! takes whichever Go's map iteration visits last. Here the ConfigMap is
//! watched, and with several keys the greatest key (byte order) wins, so two
//! Allocates never disagree.

use std::collections::BTreeMap;

use serde::Deserialize;

pub const NAMESPACE: &str = "kube-system";
pub const CONFIG_MAP: &str = "steptime-dtpgroup";
pub const PERF_DUMP_PATH: &str = "PERF_DUMP_PATH";
pub const PERF_DUMP_CONFIG: &str = "PERF_DUMP_CONFIG";
/// An env value longer than this is refused (a path and a short setting).
pub const MAX_VALUE_BYTES: usize = 4096;

/// Why the ConfigMap gives no envs; names the key, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlowNodeError {
    #[error(
        "{CONFIG_MAP} key {key:?} is not {{\"data\":{{\"PerfDumpPath\":...,\"PerfDumpConfig\":...}}}}: {reason}"
    )]
    NotJson { key: String, reason: String },
    #[error("{CONFIG_MAP} key {key:?}: {field} is over {MAX_VALUE_BYTES} bytes")]
    TooLong { key: String, field: &'static str },
}

#[derive(Deserialize)]
struct Value {
    data: Dump,
}

#[derive(Deserialize)]
struct Dump {
    #[serde(rename = "PerfDumpPath", default)]
    path: Option<String>,
    #[serde(rename = "PerfDumpConfig", default)]
    config: Option<String>,
}

/// The envs for ConfigMap data `data` (`None`: the ConfigMap does not
/// exist, so no envs). Every value must parse, else no envs and the error;
/// an empty data map gives no envs; absent fields are empty strings.
pub fn perf_envs(
    data: Option<&BTreeMap<String, String>>,
) -> Result<BTreeMap<String, String>, SlowNodeError> {
    let Some(data) = data else {
        return Ok(BTreeMap::new());
    };
    let mut chosen = None;
    for (key, text) in data {
        let value: Value = serde_json::from_str(text).map_err(|e| SlowNodeError::NotJson {
            key: key.clone(),
            reason: e.to_string(),
        })?;
        let path = value.data.path.unwrap_or_default();
        let config = value.data.config.unwrap_or_default();
        for (field, text) in [("PerfDumpPath", &path), ("PerfDumpConfig", &config)] {
            if text.len() > MAX_VALUE_BYTES {
                return Err(SlowNodeError::TooLong {
                    key: key.clone(),
                    field,
                });
            }
        }
        chosen = Some((path, config));
    }
    Ok(chosen
        .map(|(path, config)| {
            BTreeMap::from([
                (PERF_DUMP_PATH.to_owned(), path),
                (PERF_DUMP_CONFIG.to_owned(), config),
            ])
        })
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn envs(path: &str, config: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (PERF_DUMP_PATH.to_owned(), path.to_owned()),
            (PERF_DUMP_CONFIG.to_owned(), config.to_owned()),
        ])
    }

    #[test]
    fn no_config_map_means_no_envs() {
        assert_eq!(perf_envs(None), Ok(BTreeMap::new()));
        assert_eq!(perf_envs(Some(&BTreeMap::new())), Ok(BTreeMap::new()));
    }

    #[test]
    fn the_dump_path_and_config_become_the_two_envs() {
        let cm = data(&[(
            "job-a",
            r#"{"data":{"PerfDumpPath":"/var/log/perf","PerfDumpConfig":"step=10"}}"#,
        )]);
        assert_eq!(perf_envs(Some(&cm)), Ok(envs("/var/log/perf", "step=10")));
    }

    #[test]
    fn absent_fields_are_empty_strings() {
        let cm = data(&[("job-a", r#"{"data":{}}"#)]);
        assert_eq!(perf_envs(Some(&cm)), Ok(envs("", "")));
    }

    #[test]
    fn with_several_keys_the_greatest_key_wins() {
        let cm = data(&[
            ("b", r#"{"data":{"PerfDumpPath":"/b"}}"#),
            ("a", r#"{"data":{"PerfDumpPath":"/a"}}"#),
        ]);
        assert_eq!(perf_envs(Some(&cm)), Ok(envs("/b", "")));
    }

    #[test]
    fn a_value_that_does_not_parse_gives_no_envs_and_names_its_key() {
        let cm = data(&[
            ("good", r#"{"data":{"PerfDumpPath":"/a"}}"#),
            ("bad", "not json"),
        ]);
        let error = perf_envs(Some(&cm)).unwrap_err();
        assert!(error.to_string().contains("\"bad\""), "{error}");
        let no_data = data(&[("x", r#"{"PerfDumpPath":"/a"}"#)]);
        assert!(perf_envs(Some(&no_data)).is_err(), "data is required");
    }

    #[test]
    fn an_oversized_value_is_refused_by_name() {
        let long = "x".repeat(MAX_VALUE_BYTES + 1);
        let text = format!(r#"{{"data":{{"PerfDumpConfig":"{long}"}}}}"#);
        let cm = data(&[("job", text.as_str())]);
        let error = perf_envs(Some(&cm)).unwrap_err();
        assert_eq!(
            error,
            SlowNodeError::TooLong {
                key: "job".into(),
                field: "PerfDumpConfig"
            }
        );
        let exact = format!(
            r#"{{"data":{{"PerfDumpConfig":"{}"}}}}"#,
            "x".repeat(MAX_VALUE_BYTES)
        );
        assert!(perf_envs(Some(&data(&[("job", exact.as_str())]))).is_ok());
    }
}
