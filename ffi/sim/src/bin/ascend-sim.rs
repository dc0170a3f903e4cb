//! `ascend-sim`: edits the simulator's fault state file (see `dcmi::cli`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env_state = std::env::var_os(dcmi::ENV_STATE);
    match dcmi::cli::run(&args, env_state.as_deref()) {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("ascend-sim: {error}");
            if matches!(error, dcmi::cli::CliError::Usage(_)) {
                eprintln!("run `ascend-sim --help` for usage");
            }
            ExitCode::from(error.exit_code())
        }
    }
}
