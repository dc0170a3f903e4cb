//! A simulated NPU node for one measurement: the kubelet stand-in, the
//! plugin (release build) as a child process on the simulator library, and
//! the simulator's fault state file, all in one directory of the private
//! work dir. The plugin is killed if the node is dropped while it runs, and
//! by its reaper if the benchmark itself is killed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use kubelet_standin::{Device, Kubelet, PluginClient, RegisterRequest, Watch};
use rustix::process::{Pid, Signal, kill_process};
use tokio::process::{Child, Command};

use crate::reaper::Reaper;

/// Bound for anything that should take milliseconds (a slow start included).
pub const PATIENCE: Duration = Duration::from_secs(15);

/// Where the release binaries are.
#[derive(Debug, Clone)]
pub struct Artifacts {
    /// `ascend-device-plugin`.
    pub plugin_bin: PathBuf,
    /// The simulator `libdcmi.so`.
    pub sim_lib: PathBuf,
    /// The end-to-end suite's control-plane harness (etcd + kube-apiserver),
    /// for the idle-api section.
    pub apiserver_bin: Option<PathBuf>,
    /// The RBAC manifest the plugin's ServiceAccount gets there.
    pub rbac: Option<PathBuf>,
}

/// How the plugin is started.
#[derive(Debug, Clone)]
pub struct Setup {
    /// `ASCEND_SIM_TOPOLOGY`: a built-in name or a JSON path.
    pub topology: String,
    /// Extra plugin flags.
    pub args: Vec<String>,
    /// `ASCEND_SIM_CHAOS=no-events`: no driver fault events, polling only.
    pub no_events: bool,
    /// Extra environment (`NODE_NAME` with the Kubernetes API on).
    pub env: Vec<(String, String)>,
}

/// The fault the benchmark injects: a major (severity 2) RestartBusiness
/// code with no FaultFrequency rule, so cycling it on a chip never isolates
/// the chip (80E01801 twice in 24 h would, under the shipped rules).
const FAULT_CODE: &str = "8C204E00";

/// One simulated node.
#[derive(Debug)]
pub struct Node {
    // Dropped first: the plugin dies before its directory goes.
    plugin: Option<Child>,
    reaper: Option<Reaper>,
    /// The stand-in kubelet on `<root>/kubelet/device-plugins`.
    pub kubelet: Kubelet,
    root: PathBuf,
    state: PathBuf,
    setup: Setup,
    artifacts: Artifacts,
}

impl Node {
    /// Creates `<work>/<name>` (with a `/dev` tree holding the control nodes
    /// DeviceSpec mode mounts) and starts the stand-in; no plugin yet.
    pub async fn create(
        work: &Path,
        name: &str,
        setup: Setup,
        artifacts: &Artifacts,
    ) -> anyhow::Result<Node> {
        let root = work.join(name);
        let dev = root.join("dev");
        for dir in [root.join("sim"), root.join("log"), dev.clone()] {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        for control in ["davinci_manager", "devmm_svm", "hisi_hdc"] {
            std::fs::write(dev.join(control), "")
                .with_context(|| format!("cannot create {}", dev.join(control).display()))?;
        }
        let kubelet = Kubelet::start(&root.join("kubelet/device-plugins"))
            .await
            .context("cannot start the kubelet stand-in")?;
        Ok(Node {
            plugin: None,
            reaper: None,
            kubelet,
            state: root.join("sim/state.json"),
            root,
            setup,
            artifacts: artifacts.clone(),
        })
    }

    /// [`Node::create`], then [`Node::spawn`].
    pub async fn start(
        work: &Path,
        name: &str,
        setup: Setup,
        artifacts: &Artifacts,
    ) -> anyhow::Result<Node> {
        let mut node = Node::create(work, name, setup, artifacts).await?;
        node.spawn()?;
        Ok(node)
    }

    /// Starts the plugin; returns the instant just before the spawn.
    pub fn spawn(&mut self) -> anyhow::Result<Instant> {
        if self.plugin.is_some() {
            bail!("the plugin already runs");
        }
        let output = std::fs::File::create(self.root.join("plugin.out"))
            .context("cannot create plugin.out")?;
        let errors = output.try_clone().context("cannot reopen plugin.out")?;
        let mut command = Command::new(&self.artifacts.plugin_bin);
        command
            .arg(flag("--dcmi-lib=", &self.artifacts.sim_lib))
            .arg(flag("--kubelet-dir=", &self.root.join("kubelet")))
            .arg(flag("--dev-root=", &self.root.join("dev")))
            .arg(flag("-logFile=", &self.root.join("log/devicePlugin.log")))
            .args(&self.setup.args)
            .env("ASCEND_SIM_TOPOLOGY", &self.setup.topology)
            .env("ASCEND_SIM_STATE", &self.state)
            .env_remove("ASCEND_SIM_CHAOS")
            .env_remove("ASCEND_DOCKER_RUNTIME")
            .env_remove("RUST_LOG")
            .env_remove("NODE_NAME")
            .env_remove("KUBECONFIG")
            .envs(self.setup.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors)
            .kill_on_drop(true);
        if self.setup.no_events {
            command.env("ASCEND_SIM_CHAOS", "no-events");
        }
        let started = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", self.artifacts.plugin_bin.display()))?;
        let pid = child.id();
        self.plugin = Some(child);
        if let Some(pid) = pid {
            self.reaper = Some(Reaper::watch(pid)?);
        }
        Ok(started)
    }

    /// The plugin's process id.
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.plugin
            .as_ref()
            .and_then(Child::id)
            .ok_or_else(|| anyhow!("the plugin is not running"))
    }

    /// The next registration the stand-in accepted.
    pub async fn registration(&mut self, timeout: Duration) -> anyhow::Result<RegisterRequest> {
        let waited = self.kubelet.next_registration(timeout).await;
        waited.map_err(|error| self.explain(error.into()))
    }

    /// Forgets registrations already queued (from an earlier plugin run).
    pub async fn drain_registrations(&mut self) {
        while self.kubelet.next_registration(Duration::ZERO).await.is_ok() {}
    }

    /// Waits for a registration of `resource` (any resource when `None`),
    /// dials it, opens ListAndWatch and reads the first list.
    pub async fn watch(
        &mut self,
        resource: Option<&str>,
    ) -> anyhow::Result<(PluginClient, Watch, Vec<Device>)> {
        loop {
            let registration = self.registration(PATIENCE).await?;
            if resource.is_some_and(|wanted| wanted != registration.resource_name) {
                continue;
            }
            return self.open(&registration.endpoint).await;
        }
    }

    /// Dials `endpoint`, opens ListAndWatch, reads the first list.
    pub async fn open(&self, endpoint: &str) -> anyhow::Result<(PluginClient, Watch, Vec<Device>)> {
        let attempt = async {
            let mut client = self.kubelet.connect(endpoint).await?;
            let mut watch = client.watch().await?;
            let first = watch.next(PATIENCE).await?;
            Ok::<_, kubelet_standin::Error>((client, watch, first))
        };
        attempt.await.map_err(|error| self.explain(error.into()))
    }

    /// Writes the simulator's state file the way `ascend-sim` does (a
    /// temporary file renamed over it), with one fault on `phy` or none.
    /// Returns the instant just before the rename, when the fault appears.
    pub fn set_fault(&self, phy: Option<u32>) -> anyhow::Result<Instant> {
        let state = match phy {
            Some(phy) => serde_json::json!({
                "faults": { phy.to_string(): [ { "code": FAULT_CODE, "severity": 2 } ] }
            }),
            None => serde_json::json!({}),
        };
        let temp = self.state.with_file_name(".state.json.bench");
        std::fs::write(&temp, format!("{state:#}\n"))
            .with_context(|| format!("cannot write {}", temp.display()))?;
        let injected = Instant::now();
        std::fs::rename(&temp, &self.state)
            .with_context(|| format!("cannot rename over {}", self.state.display()))?;
        Ok(injected)
    }

    /// SIGTERM, then up to 5 s for the exit, then SIGKILL.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(reaper) = self.reaper.take() {
            reaper.dismiss().await;
        }
        let Some(mut child) = self.plugin.take() else {
            return Ok(());
        };
        if let Ok(Some(status)) = child.try_wait() {
            bail!("the plugin had exited by itself ({status})");
        }
        let pid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(Pid::from_raw)
            .context("the plugin has no process id")?;
        kill_process(pid, Signal::TERM).context("cannot send SIGTERM to the plugin")?;
        match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
            Ok(status) => {
                status.context("cannot wait for the plugin")?;
                Ok(())
            }
            Err(_) => {
                let _ = child.kill().await;
                bail!("the plugin ignored SIGTERM for 5 s; killed")
            }
        }
    }

    /// `error` followed by the plugin's last output lines.
    pub fn explain(&self, error: anyhow::Error) -> anyhow::Error {
        let text = std::fs::read_to_string(self.root.join("plugin.out")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(10)..].join("\n");
        anyhow!(
            "{error:#}\n  plugin output ({}), last lines:\n{tail}",
            self.root.join("plugin.out").display()
        )
    }
}

/// `--name=` followed by a path, without assuming the path is UTF-8.
fn flag(prefix: &str, path: &Path) -> OsString {
    let mut flag = OsString::from(prefix);
    flag.push(path);
    flag
}

/// Health of `id` in `list` ("missing" when absent).
pub fn health_of<'a>(list: &'a [Device], id: &str) -> &'a str {
    list.iter()
        .find(|device| device.id == id)
        .map_or("missing", |device| device.health.as_str())
}
