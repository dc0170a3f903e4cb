//! A simulated NPU node: the stand-in kubelet, the plugin binary on the
//! simulator, and the fault-injection state file, in one private temp dir.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use kubelet_standin::{Device, Kubelet, PluginClient, RegisterRequest, Watch};

/// Generous bound for anything that should take milliseconds; timing claims
/// live in the benchmark, not here. 15 s, times `$ADP_TEST_PATIENCE_FACTOR`
/// (a whole number, default 1) where everything runs slower: under qemu
/// emulation `scripts/cross.sh` sets 6.
pub fn patience() -> Duration {
    let factor = std::env::var("ADP_TEST_PATIENCE_FACTOR")
        .ok()
        .and_then(|value| value.parse::<u32>().ok())
        .filter(|factor| *factor >= 1)
        .unwrap_or(1);
    Duration::from_secs(15) * factor
}

/// Polls `check` every 50 ms until it gives a value; panics naming `what`
/// after [`patience`].
pub async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + patience();
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub struct Node {
    pub dir: tempfile::TempDir,
    pub kubelet: Kubelet,
    pub state: PathBuf,
    plugin: Option<Child>,
    topology: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Node {
    /// Starts the stand-in kubelet, then the plugin on `topology`.
    pub async fn start(topology: &str, args: &[&str], env: &[(&str, &str)]) -> Node {
        let dir = super::private_dir();
        let plugin_dir = dir.path().join("kubelet/device-plugins");
        let kubelet = Kubelet::start(&plugin_dir).await.unwrap();
        let mut node = Node {
            state: dir.path().join("sim/state.json"),
            dir,
            kubelet,
            plugin: None,
            topology: topology.to_string(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        std::fs::create_dir_all(node.state.parent().unwrap()).unwrap();
        node.spawn();
        node
    }

    pub fn plugin_dir(&self) -> PathBuf {
        self.kubelet.dir().to_path_buf()
    }

    /// The value of the argument starting with `prefix` (e.g. `--state-dir=`).
    pub fn args_value(&self, prefix: &str) -> Option<String> {
        self.args
            .iter()
            .find_map(|arg| arg.strip_prefix(prefix))
            .map(str::to_owned)
    }

    pub fn log_file(&self) -> PathBuf {
        self.dir.path().join("log/devicePlugin.log")
    }

    /// (Re)starts the plugin process with the same arguments.
    pub fn spawn(&mut self) {
        let mut command = Command::new(super::plugin_bin());
        command
            .env("ASCEND_SIM_TOPOLOGY", &self.topology)
            .env("ASCEND_SIM_STATE", &self.state)
            .env_remove("ASCEND_SIM_CHAOS")
            .env_remove("ASCEND_DOCKER_RUNTIME")
            .env_remove("RUST_LOG")
            .arg(format!("--dcmi-lib={}", super::sim_lib().display()))
            .arg(format!(
                "--kubelet-dir={}",
                self.dir.path().join("kubelet").display()
            ))
            .arg(format!("-logFile={}", self.log_file().display()))
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("plugin.stderr")).unwrap());
        for (key, value) in &self.env {
            command.env(key, value);
        }
        self.plugin = Some(command.spawn().unwrap());
    }

    pub fn pid(&self) -> u32 {
        self.plugin.as_ref().unwrap().id()
    }

    pub async fn registration(&mut self) -> RegisterRequest {
        self.kubelet.next_registration(patience()).await.unwrap()
    }

    pub async fn client(&self, endpoint: &str) -> PluginClient {
        self.kubelet.connect(endpoint).await.unwrap()
    }

    /// Registration + a client + its first ListAndWatch list. Like kubelet,
    /// it dials whatever registered last: when the plugin re-registered in
    /// the meantime (its socket briefly gone), the next registration wins.
    pub async fn watch(&mut self) -> (PluginClient, Watch, Vec<Device>) {
        let mut last_error = None;
        for _ in 0..5 {
            let registration = self.registration().await;
            let attempt = async {
                let mut client = self.kubelet.connect(&registration.endpoint).await?;
                let mut watch = client.watch().await?;
                let first = watch.next(patience()).await?;
                Ok::<_, kubelet_standin::Error>((client, watch, first))
            };
            match attempt.await {
                Ok(found) => return found,
                Err(error) => last_error = Some(error),
            }
        }
        panic!("no usable registration: {last_error:?}");
    }

    /// `ascend-sim --state <state> <args>`.
    pub fn sim(&self, args: &[&str]) {
        super::sim(&self.state, args);
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// What the plugin wrote to stderr so far (panics land here).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("plugin.stderr")).unwrap_or_default()
    }

    /// SIGTERM and wait for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal("TERM");
        let mut child = self.plugin.take().unwrap();
        let deadline = Instant::now() + patience();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                child.kill().unwrap();
                panic!("the plugin ignored SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sockets in the device-plugin directory, sorted.
    pub fn sockets(&self) -> Vec<String> {
        use std::os::unix::fs::FileTypeExt;
        let mut names: Vec<String> = std::fs::read_dir(self.plugin_dir())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_socket()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Open file descriptors of the plugin process.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .count()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.log_file()).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!(
                "--- plugin log (last 60 lines, newest first) ---\n{}",
                tail.join("\n")
            );
            eprintln!("--- plugin stderr ---\n{}", self.stderr());
        }
        if let Some(mut child) = self.plugin.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Health of device `id` in `list`.
pub fn health_of<'a>(list: &'a [Device], id: &str) -> &'a str {
    list.iter()
        .find(|d| d.id == id)
        .map_or("missing", |d| d.health.as_str())
}
