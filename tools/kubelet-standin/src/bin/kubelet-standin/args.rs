//! The command line: `kubelet-standin demo --kubelet-dir DIR ...`.

use std::ffi::OsString;
use std::path::PathBuf;

/// Usage text.
pub const USAGE: &str = "\
usage: kubelet-standin demo --kubelet-dir DIR --plugin-bin PATH --sim-lib PATH
                            --sim-state PATH --ascend-sim PATH
                            [--topology NAME] [--plugin-arg ARG]...

Runs the device plugin on the libdcmi simulator against the kubelet stand-in:
registration, the advertised devices, a preferred allocation and an Allocate,
then a fault raised on chip phy 1 and cleared again, watched on ListAndWatch.

  --kubelet-dir DIR   kubelet root for the run (device-plugins/ is served in it;
                      plugin.log and plugin.out are written there)
  --plugin-bin PATH   the ascend-device-plugin binary
  --sim-lib PATH      the simulator libdcmi.so (passed as --dcmi-lib)
  --sim-state PATH    the simulator's fault state file (reset at the start)
  --ascend-sim PATH   the simulator CLI
  --topology NAME     ASCEND_SIM_TOPOLOGY for the plugin (default 910-8)
  --plugin-arg ARG    one more plugin argument (repeatable)
";

/// What to run.
#[derive(Debug)]
pub enum Command {
    /// Print the usage.
    Help,
    /// The README demo.
    Demo(DemoArgs),
}

/// The demo's inputs.
#[derive(Debug)]
pub struct DemoArgs {
    pub kubelet_dir: PathBuf,
    pub plugin_bin: PathBuf,
    pub sim_lib: PathBuf,
    pub sim_state: PathBuf,
    pub ascend_sim: PathBuf,
    pub topology: String,
    pub plugin_args: Vec<OsString>,
}

/// Parses the arguments after the program name. `--name value` and
/// `--name=value` are both accepted.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let mut args = args.into_iter();
    match args.next().as_ref().and_then(|a| a.to_str()) {
        Some("demo") => {}
        Some("help" | "--help" | "-h") => return Ok(Command::Help),
        None => return Err("a command is needed".to_string()),
        Some(other) => return Err(format!("unknown command {other:?}")),
    }
    let mut paths: [Option<PathBuf>; 5] = Default::default();
    let names = [
        "--kubelet-dir",
        "--plugin-bin",
        "--sim-lib",
        "--sim-state",
        "--ascend-sim",
    ];
    let mut topology = None;
    let mut plugin_args = Vec::new();
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        if text == "--help" || text == "-h" {
            return Ok(Command::Help);
        }
        let (name, inline) = match text.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_string(), Some(OsString::from(value)))
            }
            _ => (text.to_string(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        if let Some(slot) = names.iter().position(|known| *known == name) {
            paths[slot] = Some(PathBuf::from(value()?));
        } else if name == "--topology" {
            let value = value()?;
            topology = Some(
                value
                    .into_string()
                    .map_err(|_| "--topology is not UTF-8".to_string())?,
            );
        } else if name == "--plugin-arg" {
            plugin_args.push(value()?);
        } else {
            return Err(format!("unknown option {name:?}"));
        }
    }
    let [kubelet_dir, plugin_bin, sim_lib, sim_state, ascend_sim] = paths;
    let required =
        |path: Option<PathBuf>, name: &str| path.ok_or_else(|| format!("{name} is required"));
    Ok(Command::Demo(DemoArgs {
        kubelet_dir: required(kubelet_dir, names[0])?,
        plugin_bin: required(plugin_bin, names[1])?,
        sim_lib: required(sim_lib, names[2])?,
        sim_state: required(sim_state, names[3])?,
        ascend_sim: required(ascend_sim, names[4])?,
        topology: topology.unwrap_or_else(|| "910-8".to_string()),
        plugin_args,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn line(text: &str) -> Vec<OsString> {
        text.split_whitespace().map(OsString::from).collect()
    }

    const FULL: &str = "demo --kubelet-dir /k --plugin-bin /p --sim-lib /l.so \
                        --sim-state /s.json --ascend-sim=/a";

    #[test]
    fn both_option_spellings_are_read_and_plugin_args_keep_their_order() {
        let text = format!("{FULL} --topology=910b-16 --plugin-arg -x=1 --plugin-arg=--y");
        let Ok(Command::Demo(args)) = parse(line(&text)) else {
            panic!("not a demo command");
        };
        assert_eq!(args.kubelet_dir, PathBuf::from("/k"));
        assert_eq!(args.ascend_sim, PathBuf::from("/a"));
        assert_eq!(args.topology, "910b-16");
        assert_eq!(args.plugin_args, line("-x=1 --y"));
    }

    #[test]
    fn the_topology_defaults_to_the_simulators_default() {
        let Ok(Command::Demo(args)) = parse(line(FULL)) else {
            panic!("not a demo command");
        };
        assert_eq!(args.topology, "910-8");
    }

    #[test]
    fn problems_name_the_option_or_command() {
        let missing = parse(line("demo --kubelet-dir /k")).unwrap_err();
        assert_eq!(missing, "--plugin-bin is required");
        let unknown = parse(line(&format!("{FULL} --bogus 1"))).unwrap_err();
        assert_eq!(unknown, "unknown option \"--bogus\"");
        let dangling = parse(line("demo --sim-lib")).unwrap_err();
        assert_eq!(dangling, "--sim-lib needs a value");
        assert_eq!(parse(line("run")).unwrap_err(), "unknown command \"run\"");
        assert!(matches!(parse(line("--help")), Ok(Command::Help)));
    }
}
