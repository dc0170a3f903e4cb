//! The plugin must not outlive the benchmark, even when the benchmark is
//! SIGKILLed and no destructor runs. A reaper (`adp-bench reap --pid N`, a
//! small child of the benchmark) blocks on its stdin, a pipe from the
//! benchmark: EOF means the benchmark is gone, so it SIGKILLs the plugin.
//! On every other path the benchmark kills the reaper first.

use std::io::Read as _;
use std::process::Stdio;

use anyhow::Context as _;
use rustix::process::{Pid, Signal, kill_process};
use tokio::process::{Child, Command};

/// `adp-bench reap --pid N`: waits for EOF (or an error) on stdin, then
/// SIGKILLs `pid`. No async runtime: one blocking read.
pub fn reap(pid: u32) -> anyhow::Result<()> {
    let target = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .with_context(|| format!("{pid} is not a process id"))?;
    let mut stdin = std::io::stdin();
    let mut buffer = [0_u8; 64];
    while matches!(stdin.read(&mut buffer), Ok(read) if read > 0) {}
    // The plugin may have exited already; then there is nothing to do.
    let _ = kill_process(target, Signal::KILL);
    Ok(())
}

/// A running reaper for one plugin process; dropping it kills the reaper
/// (not the plugin).
#[derive(Debug)]
pub struct Reaper {
    child: Child,
}

impl Reaper {
    /// Starts a reaper for `pid`.
    pub fn watch(pid: u32) -> anyhow::Result<Reaper> {
        let exe = std::env::current_exe().context("cannot find this executable")?;
        let child = Command::new(&exe)
            .arg("reap")
            .arg("--pid")
            .arg(pid.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {} reap", exe.display()))?;
        Ok(Reaper { child })
    }

    /// Stops the reaper without letting it act.
    pub async fn dismiss(mut self) {
        // An error means it is already gone, which is the goal.
        let _ = self.child.kill().await;
    }
}
