//! Shared by the integration tests: where the built artifacts are, private
//! temp dirs, and running the plugin binary against the simulator.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The plugin binary under test: this build's, or `ADP_PLUGIN_BIN` (the
/// memory benchmark of docs/benchmarks.md runs a release build so).
pub fn plugin_bin() -> PathBuf {
    std::env::var_os("ADP_PLUGIN_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ascend-device-plugin")))
}

/// `target/<profile>/` (tests run from `target/<profile>/deps/`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// The simulator library: the fresher of `deps/libdcmi.so` (rebuilt for
/// every test build through the dev-dependency) and `libdcmi.so`.
pub fn sim_lib() -> PathBuf {
    let dir = profile_dir();
    let candidates = [dir.join("deps/libdcmi.so"), dir.join("libdcmi.so")];
    candidates
        .iter()
        .filter_map(|p| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .ok()
                .map(|t| (t, p.clone()))
        })
        .max()
        .map(|(_, p)| p)
        .expect("libdcmi.so not built: run `cargo build --workspace` first")
}

/// The simulator's fault-injection CLI (built by `cargo build --workspace`).
pub fn ascend_sim() -> PathBuf {
    let path = profile_dir().join("ascend-sim");
    assert!(
        path.exists(),
        "{} missing: run `cargo build --workspace` first",
        path.display()
    );
    path
}

/// A private temp dir (0700) under the target dir, so paths pass the
/// loader's and the log writer's ownership rules (unlike /tmp, which is
/// world-writable). `$ADP_TEST_TMPDIR` replaces the target dir's tmp: under
/// `target/<triple>/tmp` (cross builds) the socket paths in it exceed the
/// 108 bytes a unix socket address holds, so scripts/cross.sh sets a
/// shorter one.
pub fn private_dir() -> tempfile::TempDir {
    let base = std::env::var_os("ADP_TEST_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    std::fs::create_dir_all(&base).unwrap();
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = tempfile::Builder::new()
        .prefix("adp-")
        .tempdir_in(&base)
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

/// Runs the plugin binary with the simulator on `topology`.
pub fn run_plugin(topology: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(plugin_bin());
    command
        .env("ASCEND_SIM_TOPOLOGY", topology)
        .env_remove("ASCEND_SIM_CHAOS")
        .env_remove("ASCEND_SIM_STATE")
        .env_remove("RUST_LOG")
        .arg(format!("--dcmi-lib={}", sim_lib().display()));
    for (key, value) in env {
        command.env(key, value);
    }
    command.args(args);
    output_within(command, std::time::Duration::from_secs(60))
}

/// Runs `command` to completion, killing it (and failing the test) if it
/// overruns `limit`, so a regression cannot hang the suite.
pub fn output_within(mut command: Command, limit: std::time::Duration) -> Output {
    use std::process::Stdio;
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!(
                "{command:?} did not finish within {limit:?}; stderr: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// `inspect --json` on `topology`, parsed.
pub fn inspect_json(topology: &str) -> serde_json::Value {
    let output = run_plugin(topology, &[], &["inspect", "--json"]);
    assert!(
        output.status.success(),
        "inspect on {topology} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Runs `ascend-sim --state <state> <args>`; panics on failure.
pub fn sim(state: &Path, args: &[&str]) {
    let output = Command::new(ascend_sim())
        .arg("--state")
        .arg(state)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "ascend-sim {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
pub mod apiserver;
pub mod node;

/// The string list a CEL variable of a shipped admission policy holds, e.g.
/// `policy_list("admission-policy", "ownLabels")`: the quoted strings
/// between the `[` and `]` that follow `- name: <variable>` in
/// `deploy/components/<component>/policy.yaml`.
pub fn policy_list(component: &str, variable: &str) -> std::collections::BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/components")
        .join(component)
        .join("policy.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let marker = format!("- name: {variable}\n");
    let at = text
        .find(&marker)
        .unwrap_or_else(|| panic!("{}: no variable {variable}", path.display()));
    let rest = &text[at + marker.len()..];
    let open = rest.find('[').unwrap();
    let close = open + rest[open..].find(']').unwrap();
    rest[open + 1..close]
        .split(',')
        .map(|item| item.trim().trim_matches('\'').to_owned())
        .filter(|item| !item.is_empty())
        .collect()
}

/// `/metrics` parsed into series -> value.
/// (Shared by tests/cluster.rs and tests/recovery.rs.)
pub async fn scrape(port: u16) -> std::collections::BTreeMap<String, f64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    let body = reply.split_once("\r\n\r\n").unwrap().1;
    body.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}
