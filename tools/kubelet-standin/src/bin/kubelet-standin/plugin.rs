//! The plugin under demonstration as a child process: spawned with the
//! simulator's environment, watched for early exit, stopped with SIGTERM.
//! `kill_on_drop` backs every other exit path (errors, panics).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use rustix::process::{Pid, Signal, kill_process};
use tokio::process::{Child, Command};

use crate::args::DemoArgs;

/// A running plugin process.
#[derive(Debug)]
pub struct Plugin {
    child: Child,
    output: PathBuf,
    log: PathBuf,
}

impl Plugin {
    /// Spawns `--plugin-bin` with `--kubelet-dir`, `--dcmi-lib`, `-logFile`
    /// and the extra arguments; stdout and stderr go to `DIR/plugin.out`.
    pub fn spawn(args: &DemoArgs) -> anyhow::Result<Plugin> {
        let output = args.kubelet_dir.join("plugin.out");
        let log = args.kubelet_dir.join("plugin.log");
        let out = std::fs::File::create(&output)
            .with_context(|| format!("cannot create {}", output.display()))?;
        let err = out
            .try_clone()
            .with_context(|| format!("cannot reopen {}", output.display()))?;
        let mut log_flag = std::ffi::OsString::from("-logFile=");
        log_flag.push(&log);
        let child = Command::new(&args.plugin_bin)
            .arg("--kubelet-dir")
            .arg(&args.kubelet_dir)
            .arg("--dcmi-lib")
            .arg(&args.sim_lib)
            .arg(log_flag)
            .args(&args.plugin_args)
            .env("ASCEND_SIM_TOPOLOGY", &args.topology)
            .env("ASCEND_SIM_STATE", &args.sim_state)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", args.plugin_bin.display()))?;
        Ok(Plugin { child, output, log })
    }

    /// The process id, if it is still running.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// Runs `work`, failing early if the plugin exits first.
    pub async fn guard<T>(
        &mut self,
        work: impl Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        tokio::select! {
            result = work => result,
            status = self.child.wait() => match status {
                Ok(status) => Err(anyhow!("the plugin exited early ({status})")),
                Err(error) => Err(anyhow!("the plugin could not be waited for: {error}")),
            },
        }
    }

    /// SIGTERM, then up to `grace` for the exit; SIGKILL after that.
    pub async fn terminate(&mut self, grace: Duration) -> anyhow::Result<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            bail!("the plugin had already exited ({status})");
        }
        let pid = self
            .child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(Pid::from_raw)
            .context("the plugin has no process id")?;
        kill_process(pid, Signal::TERM).context("cannot send SIGTERM to the plugin")?;
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => status.context("cannot wait for the plugin"),
            Err(_) => {
                let _ = self.child.kill().await;
                bail!("the plugin did not exit within {grace:?} of SIGTERM; killed")
            }
        }
    }

    /// The last `lines` lines of the plugin's stdout/stderr.
    pub fn tail(&self, lines: usize) -> String {
        tail(&self.output, lines)
    }

    /// The plugin's stdout/stderr file.
    pub fn output(&self) -> &Path {
        &self.output
    }

    /// The plugin's log file.
    pub fn log(&self) -> &Path {
        &self.log
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
