//! `kubelet-standin demo ...`: the README demo in one command. Wiring only:
//! parse the arguments, run the demo, stop the plugin on every exit path
//! (failure, Ctrl-C, SIGTERM), exit 0 on success, 1 on failure.

mod args;
mod demo;
mod plugin;
mod print;

use std::process::ExitCode;
use std::time::Duration;

use kubelet_standin::interrupted;

use crate::args::{Command, USAGE};

const CLEANUP_GRACE: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> ExitCode {
    let args = match args::parse(std::env::args_os().skip(1)) {
        Ok(Command::Demo(args)) => args,
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("kubelet-standin: {problem}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut plugin = None;
    let (code, problem) = tokio::select! {
        result = demo::run(&args, &mut plugin) => match result {
            Ok(()) => (ExitCode::SUCCESS, None),
            Err(error) => (ExitCode::from(1), Some(format!("demo failed: {error:#}"))),
        },
        signal = interrupted() => (ExitCode::from(130), Some(format!("interrupted by {signal}"))),
    };
    match problem {
        None => println!("\ndemo finished"),
        Some(problem) => {
            eprintln!("\n{problem}");
            if let Some(mut plugin) = plugin {
                let tail = plugin.tail(20);
                if !tail.is_empty() {
                    eprintln!(
                        "last plugin output ({}):\n{tail}",
                        plugin.output().display()
                    );
                }
                eprintln!("plugin log: {}", plugin.log().display());
                // Stopping is best effort here; kill_on_drop is the backstop.
                let _ = plugin.terminate(CLEANUP_GRACE).await;
            }
        }
    }
    code
}
