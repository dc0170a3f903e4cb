//! `ascend-sim`: edits the fault state file atomically so that every
//! process using the simulator picks the change up within milliseconds.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use crate::chaos::{self, ALL_MODES};
use crate::state::{ActiveFault, FaultCode, FaultState, StateError};
use crate::topology::BUILTIN;

/// Usage text.
pub const USAGE: &str = "\
usage: ascend-sim [--state PATH] COMMAND
  --state PATH  the fault state file (default: $ASCEND_SIM_STATE)

commands:
  fault raise --phy N --code HEX [--severity 0..3] [--name TEXT]
  fault clear --phy N [--code HEX]       no code: every fault of the chip
  card drop --card N                     calls for its chips return -8012
  card restore --card N
  net down --phy N                       link down: network health 3, code 81078603
  net up --phy N                         link up, network health override removed
  net set --phy N --value V              network health value (0 OK, 6 init, else bad)
  health set --phy N --value V           dcmi_get_device_health value
  health clear --phy N
  chaos set MODE[,MODE]                  modes: negative-count, count-overflow,
                                         no-nul, bad-utf8, bad-ids, hang
  chaos clear
  proc set --phy N --count K             K processes use the chip (0 = free)
  reset-inject fail --phy N              in-band resets of the chip fail (-8015)
  reset-inject hang --phy N              a reset chip never finishes booting (status 2)
  reset-inject clear --phy N             resets of the chip work again
  reset-inject boot-ms --ms N            boot time after a reset (status 0,1,2,3 then 16)
  outband down --phy N                   out-of-band channel down (state 0, reset fails)
  outband up --phy N
  reset                                  no faults, no chaos
  show                                   print the state
  topologies                             list the built-in topologies
";

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line is wrong (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The state file could not be read or written (exit 1).
    #[error(transparent)]
    State(#[from] StateError),
    /// Another I/O failure (exit 1).
    #[error("{0}")]
    Io(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            _ => 1,
        }
    }
}

fn usage(message: impl Into<String>) -> CliError {
    CliError::Usage(message.into())
}

/// A parsed command line: positional words and `--name value` options.
struct Line {
    state: Option<PathBuf>,
    words: Vec<String>,
    options: BTreeMap<String, String>,
}

fn parse(args: &[String]) -> Result<Option<Line>, CliError> {
    let mut line = Line {
        state: None,
        words: Vec::new(),
        options: BTreeMap::new(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--help" || arg == "-h" || arg == "help" {
            return Ok(None);
        }
        let Some(option) = arg.strip_prefix("--") else {
            line.words.push(arg.clone());
            continue;
        };
        let (name, value) = match option.split_once('=') {
            Some((name, value)) => (name.to_owned(), value.to_owned()),
            None => {
                let value = args
                    .next()
                    .ok_or_else(|| usage(format!("--{option} needs a value")))?;
                (option.to_owned(), value.clone())
            }
        };
        if name == "state" {
            line.state = Some(PathBuf::from(value));
        } else if line.options.insert(name.clone(), value).is_some() {
            return Err(usage(format!("--{name} is given twice")));
        }
    }
    Ok(Some(line))
}

impl Line {
    /// Takes option `name`, parsed; the error names the option and the value.
    fn take<T: std::str::FromStr>(
        &mut self,
        name: &str,
        what: &str,
    ) -> Result<Option<T>, CliError> {
        match self.options.remove(name) {
            None => Ok(None),
            Some(text) => text
                .parse()
                .map(Some)
                .map_err(|_| usage(format!("--{name} {text:?} is not {what}"))),
        }
    }

    fn need<T: std::str::FromStr>(&mut self, name: &str, what: &str) -> Result<T, CliError> {
        self.take(name, what)?
            .ok_or_else(|| usage(format!("--{name} is required")))
    }

    fn phy(&mut self) -> Result<u32, CliError> {
        let phy: u32 = self.need("phy", "a physical id 0..=255")?;
        if phy > 255 {
            return Err(usage(format!("--phy {phy} is not a physical id 0..=255")));
        }
        Ok(phy)
    }

    fn code(&mut self, required: bool) -> Result<Option<FaultCode>, CliError> {
        let Some(text) = self.options.remove("code") else {
            return if required {
                Err(usage("--code is required"))
            } else {
                Ok(None)
            };
        };
        text.parse()
            .map(Some)
            .map_err(|problem: String| usage(format!("--code: {problem}")))
    }

    /// Fails on any option the command did not use.
    fn finish(&self, command: &str) -> Result<(), CliError> {
        match self.options.keys().next() {
            Some(name) => Err(usage(format!("--{name} is not an option of `{command}`"))),
            None => Ok(()),
        }
    }
}

/// Runs one command; returns what to print.
pub fn run(args: &[String], env_state: Option<&OsStr>) -> Result<String, CliError> {
    let Some(mut line) = parse(args)? else {
        return Ok(USAGE.to_owned());
    };
    let owned_words = std::mem::take(&mut line.words);
    let words: Vec<&str> = owned_words.iter().map(String::as_str).collect();
    let command = words.join(" ");
    if words == ["topologies"] {
        line.finish(&command)?;
        return Ok(BUILTIN
            .iter()
            .map(|(name, _)| format!("{name}\n"))
            .collect());
    }
    let path = match line.state.take() {
        Some(path) => path,
        None => env_state
            .filter(|path| !path.is_empty())
            .map(PathBuf::from)
            .ok_or_else(|| usage("no state file: give --state PATH or set ASCEND_SIM_STATE"))?,
    };
    if words == ["show"] {
        line.finish(&command)?;
        return Ok(show(&path, &FaultState::load(&path)?.unwrap_or_default()));
    }
    let edit = plan(&words, &mut line)?;
    line.finish(&command)?;
    apply(&path, edit)
}

type Edit = Box<dyn FnOnce(&mut FaultState) -> String>;

/// Turns a command into an edit of the state.
fn plan(words: &[&str], line: &mut Line) -> Result<Edit, CliError> {
    Ok(match words {
        ["fault", "raise"] => {
            let phy = line.phy()?;
            let code = line
                .code(true)?
                .ok_or_else(|| usage("--code is required"))?;
            let severity: u8 = line.take("severity", "a severity 0..=3")?.unwrap_or(2);
            if severity > 3 {
                return Err(usage(format!(
                    "--severity {severity} is not a severity 0..=3"
                )));
            }
            let name = line.options.remove("name");
            Box::new(move |state| {
                let faults = state.faults.entry(phy).or_default();
                faults.retain(|fault| fault.code != code);
                faults.push(ActiveFault {
                    code,
                    severity,
                    name,
                });
                format!("raised {code} (severity {severity}) on phy {phy}\n")
            })
        }
        ["fault", "clear"] => {
            let phy = line.phy()?;
            let code = line.code(false)?;
            Box::new(move |state| {
                let faults = state.faults.entry(phy).or_default();
                match code {
                    Some(code) => faults.retain(|fault| fault.code != code),
                    None => faults.clear(),
                }
                if faults.is_empty() {
                    state.faults.remove(&phy);
                }
                match code {
                    Some(code) => format!("cleared {code} on phy {phy}\n"),
                    None => format!("cleared every fault on phy {phy}\n"),
                }
            })
        }
        ["card", action @ ("drop" | "restore")] => {
            let card: i32 = line.need("card", "a card id")?;
            if card < 0 {
                return Err(usage(format!("--card {card} is not a card id")));
            }
            let drop = *action == "drop";
            Box::new(move |state| {
                if drop {
                    state.dropped_cards.insert(card);
                    format!("dropped card {card}\n")
                } else {
                    state.dropped_cards.remove(&card);
                    format!("restored card {card}\n")
                }
            })
        }
        ["net", "down"] => {
            let phy = line.phy()?;
            Box::new(move |state| {
                state.link_down.insert(phy);
                format!("link down on phy {phy}\n")
            })
        }
        ["net", "up"] => {
            let phy = line.phy()?;
            Box::new(move |state| {
                state.link_down.remove(&phy);
                state.network_health.remove(&phy);
                format!("link up on phy {phy}\n")
            })
        }
        ["net", "set"] => {
            let phy = line.phy()?;
            let value: u32 = line.need("value", "a network health value")?;
            Box::new(move |state| {
                state.network_health.insert(phy, value);
                format!("network health of phy {phy} is {value}\n")
            })
        }
        ["health", "set"] => {
            let phy = line.phy()?;
            let value: u32 = line.need("value", "a health value")?;
            Box::new(move |state| {
                state.health.insert(phy, value);
                format!("health of phy {phy} is {value}\n")
            })
        }
        ["health", "clear"] => {
            let phy = line.phy()?;
            Box::new(move |state| {
                state.health.remove(&phy);
                format!("health of phy {phy} follows its faults\n")
            })
        }
        ["chaos", "set", modes] => {
            let modes = chaos::parse_list(modes).map_err(usage)?;
            if modes.is_empty() {
                return Err(usage("chaos set needs at least one mode"));
            }
            Box::new(move |state| {
                let names: Vec<&str> = modes.iter().map(|mode| mode.name()).collect();
                state.chaos = Some(modes.clone());
                format!("chaos: {}\n", names.join(","))
            })
        }
        ["chaos", "set"] => {
            let known: Vec<&str> = ALL_MODES.iter().map(|mode| mode.name()).collect();
            return Err(usage(format!(
                "chaos set needs MODE[,MODE] ({})",
                known.join(", ")
            )));
        }
        ["chaos", "clear"] => Box::new(|state| {
            state.chaos = Some(Default::default());
            "chaos cleared\n".to_owned()
        }),
        ["proc", "set"] => {
            let phy = line.phy()?;
            let count: u32 = line.need("count", "a process count")?;
            Box::new(move |state| {
                if count == 0 {
                    state.processes.remove(&phy);
                } else {
                    state.processes.insert(phy, count);
                }
                format!("{count} processes on phy {phy}\n")
            })
        }
        ["reset-inject", action @ ("fail" | "hang" | "clear")] => {
            let phy = line.phy()?;
            let action = (*action).to_owned();
            Box::new(move |state| {
                let reset = &mut state.reset;
                match action.as_str() {
                    "fail" => reset.fail.insert(phy),
                    "hang" => reset.hang.insert(phy),
                    _ => reset.fail.remove(&phy) | reset.hang.remove(&phy),
                };
                format!("resets of phy {phy}: {action}\n")
            })
        }
        ["reset-inject", "boot-ms"] => {
            let ms: u64 = line.need("ms", "milliseconds")?;
            if ms > 600_000 {
                return Err(usage(format!("--ms {ms} is over 600000")));
            }
            Box::new(move |state| {
                state.reset.boot_ms = ms;
                format!("a reset chip boots in {ms} ms\n")
            })
        }
        ["outband", action @ ("down" | "up")] => {
            let phy = line.phy()?;
            let down = *action == "down";
            Box::new(move |state| {
                if down {
                    state.reset.outband_down.insert(phy);
                } else {
                    state.reset.outband_down.remove(&phy);
                }
                format!(
                    "out-of-band channel of phy {phy} {}\n",
                    if down { "down" } else { "up" }
                )
            })
        }
        ["reset"] => Box::new(|state| {
            *state = FaultState {
                chaos: Some(Default::default()),
                ..FaultState::default()
            };
            "state reset\n".to_owned()
        }),
        [] => return Err(usage("no command given")),
        _ => return Err(usage(format!("unknown command `{}`", words.join(" ")))),
    })
}

/// Loads, edits and atomically rewrites the state under a lock file, so two
/// `ascend-sim` runs at once do not lose an edit.
fn apply(path: &Path, edit: Edit) -> Result<String, CliError> {
    let mut lock_name = path.as_os_str().to_owned();
    lock_name.push(".lock");
    let lock_path = PathBuf::from(lock_name);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|error| CliError::Io(format!("{}: {error}", lock_path.display())))?;
    lock.lock()
        .map_err(|error| CliError::Io(format!("{}: {error}", lock_path.display())))?;
    let mut state = FaultState::load(path)?.unwrap_or_default();
    let message = edit(&mut state);
    state.save(path)?;
    Ok(message)
}

fn show(path: &Path, state: &FaultState) -> String {
    let mut out = format!("state file: {}\n", path.display());
    let list = |items: Vec<String>| {
        if items.is_empty() {
            "none".to_owned()
        } else {
            items.join(", ")
        }
    };
    let _ = writeln!(out, "faults:");
    if state.faults.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for (phy, faults) in &state.faults {
        let codes: Vec<String> = faults
            .iter()
            .map(|fault| format!("{} (severity {})", fault.code, fault.severity))
            .collect();
        let _ = writeln!(out, "  phy {phy}: {}", codes.join(", "));
    }
    let _ = writeln!(
        out,
        "dropped cards: {}",
        list(
            state
                .dropped_cards
                .iter()
                .map(ToString::to_string)
                .collect()
        )
    );
    let _ = writeln!(
        out,
        "link down: {}",
        list(
            state
                .link_down
                .iter()
                .map(|phy| format!("phy {phy}"))
                .collect()
        )
    );
    let _ = writeln!(
        out,
        "network health: {}",
        list(
            state
                .network_health
                .iter()
                .map(|(phy, value)| format!("phy {phy} = {value}"))
                .collect()
        )
    );
    let _ = writeln!(
        out,
        "health override: {}",
        list(
            state
                .health
                .iter()
                .map(|(phy, value)| format!("phy {phy} = {value}"))
                .collect()
        )
    );
    let chaos = match &state.chaos {
        None => "not set (ASCEND_SIM_CHAOS decides)".to_owned(),
        Some(modes) => list(modes.iter().map(ToString::to_string).collect()),
    };
    let _ = writeln!(out, "chaos: {chaos}");
    let pairs = |map: &BTreeMap<u32, u32>| {
        list(
            map.iter()
                .map(|(phy, n)| format!("phy {phy} = {n}"))
                .collect(),
        )
    };
    let phys = |set: &std::collections::BTreeSet<u32>| {
        list(set.iter().map(|phy| format!("phy {phy}")).collect())
    };
    let _ = writeln!(out, "processes: {}", pairs(&state.processes));
    let _ = writeln!(out, "resets done: {}", pairs(&state.resets));
    let _ = writeln!(out, "reset boot time: {} ms", state.reset.boot_ms);
    let _ = writeln!(out, "reset fails: {}", phys(&state.reset.fail));
    let _ = writeln!(out, "reset hangs: {}", phys(&state.reset.hang));
    let _ = writeln!(out, "out-of-band down: {}", phys(&state.reset.outband_down));
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    fn usage_error(line: &str) -> String {
        match run(&args(line), Some(OsStr::new("/nonexistent/state.json"))) {
            Err(CliError::Usage(message)) => message,
            other => panic!("{line}: expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn usage_errors_name_the_bad_argument() {
        assert!(usage_error("fault raise --phy 3").contains("--code"));
        assert!(usage_error("fault raise --phy 300 --code 1").contains("--phy 300"));
        assert!(usage_error("fault raise --phy 3 --code XYZ").contains("\"XYZ\""));
        assert!(usage_error("fault raise --phy 3 --code 1 --severity 7").contains("--severity 7"));
        assert!(usage_error("card drop --card -2").contains("--card -2"));
        assert!(usage_error("card drop --card 1 --phy 2").contains("--phy"));
        assert!(usage_error("chaos set sideways").contains("\"sideways\""));
        assert!(usage_error("fault explode --phy 1").contains("fault explode"));
        assert!(usage_error("net down --phy").contains("--phy needs a value"));
        assert!(usage_error("proc set --phy 1").contains("--count"));
        assert!(usage_error("reset-inject boot-ms --ms 600001").contains("--ms 600001"));
        assert!(usage_error("reset-inject explode --phy 1").contains("reset-inject explode"));
    }

    #[test]
    fn without_a_state_file_the_command_is_refused() {
        match run(&args("show"), None) {
            Err(CliError::Usage(message)) => assert!(message.contains("ASCEND_SIM_STATE")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn help_and_topologies_need_no_state_file() {
        assert!(run(&args("--help"), None).unwrap().contains("fault raise"));
        assert!(run(&args("topologies"), None).unwrap().contains("a3-16\n"));
    }
}
