//! `hotResetPluginConfiguration.json` (recovery spec §3.3): which reset
//! hooks run. `[{"pluginName":"outbandReset","state":"ON"},{"pluginName":"resetRecord","state":"OFF"}]`.
//! Read again before every reset, so an edit takes effect completely at the
//! next reset (upstream rebuilt its hook chains only on file removal, §6 #5).

use std::io::Read;
use std::path::Path;

use serde::Deserialize;

/// Largest file read.
pub const MAX_LEN: u64 = 10 << 20;

/// The hooks a reset runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hooks {
    /// A3 only: when the in-band reset failed, reset every ring chip through
    /// the out-of-band (BMC) channel.
    pub outband_reset: bool,
    /// Kubernetes Events when a reset starts and ends.
    pub reset_record: bool,
}

impl Default for Hooks {
    /// Upstream's shipped file: outbandReset ON, resetRecord OFF.
    fn default() -> Self {
        Self {
            outband_reset: true,
            reset_record: false,
        }
    }
}

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(rename = "pluginName")]
    name: String,
    state: String,
}

impl Hooks {
    /// Parses the file: only plugins listed `ON` run; unknown names are
    /// warned about and ignored; any other problem refuses the file.
    pub fn parse(bytes: &[u8]) -> Result<(Hooks, Vec<String>), String> {
        let entries: Vec<Entry> = serde_json::from_slice(bytes)
            .map_err(|e| format!("not a list of {{pluginName, state}}: {e}"))?;
        let mut hooks = Hooks {
            outband_reset: false,
            reset_record: false,
        };
        let mut warnings = Vec::new();
        for entry in entries {
            let on = match entry.state.as_str() {
                "ON" => true,
                "OFF" => false,
                other => {
                    return Err(format!(
                        "plugin {:?}: state {:?} is not ON or OFF",
                        clip(&entry.name),
                        clip(other)
                    ));
                }
            };
            match entry.name.as_str() {
                "outbandReset" => hooks.outband_reset = on,
                "resetRecord" => hooks.reset_record = on,
                other => warnings.push(format!("unknown reset plugin {:?} ignored", clip(other))),
            }
        }
        Ok((hooks, warnings))
    }

    /// The hooks in force: the file when given and valid (a regular file,
    /// not a symlink, at most 10 MiB), else the defaults, with a warning
    /// naming the file and the problem.
    pub fn load(path: Option<&Path>) -> Hooks {
        let Some(path) = path else {
            return Hooks::default();
        };
        match read(path).and_then(|bytes| Hooks::parse(&bytes)) {
            Ok((hooks, warnings)) => {
                for warning in warnings {
                    tracing::warn!(file = %path.display(), %warning, "reset hook configuration");
                }
                hooks
            }
            Err(error) => {
                tracing::warn!(file = %path.display(), %error, "reset hook configuration unusable; using the defaults (outbandReset ON, resetRecord OFF)");
                Hooks::default()
            }
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if !meta.file_type().is_file() {
        return Err("not a regular file (symlinks are refused)".to_owned());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_LEN + 1).read_to_end(&mut bytes))
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_LEN {
        return Err(format!("larger than {MAX_LEN} bytes"));
    }
    Ok(bytes)
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_shipped_file_and_no_file_give_the_defaults() {
        let shipped = br#"[{"pluginName":"outbandReset","state":"ON"},{"pluginName":"resetRecord","state":"OFF"}]"#;
        assert_eq!(Hooks::parse(shipped).unwrap().0, Hooks::default());
        assert_eq!(Hooks::load(None), Hooks::default());
    }

    #[test]
    fn only_plugins_listed_on_run_and_unknown_ones_are_named() {
        let (hooks, warnings) = Hooks::parse(
            br#"[{"pluginName":"resetRecord","state":"ON"},{"pluginName":"x","state":"ON"}]"#,
        )
        .unwrap();
        assert_eq!(
            hooks,
            Hooks {
                outband_reset: false,
                reset_record: true
            }
        );
        assert!(warnings[0].contains("\"x\""));
    }

    #[test]
    fn a_bad_file_is_refused_and_load_falls_back_to_the_defaults() {
        assert!(Hooks::parse(b"{}").is_err());
        assert!(Hooks::parse(br#"[{"pluginName":"resetRecord","state":"on"}]"#).is_err());
        let dir = std::env::temp_dir().join(format!("adp-hooks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("hooks.json");
        std::fs::write(&file, b"[{").unwrap();
        assert_eq!(Hooks::load(Some(&file)), Hooks::default());
        std::fs::write(&file, br#"[{"pluginName":"resetRecord","state":"ON"}]"#).unwrap();
        assert!(Hooks::load(Some(&file)).reset_record);
        let link = dir.join("link.json");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(
            Hooks::load(Some(&link)),
            Hooks::default(),
            "symlink refused"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
