//! A C program written against `ffi/dcmi.h` (ffi/probe/consumer.c) loads
//! the simulator with dlopen and discovers the node; a bad topology makes
//! `dcmi_init` fail with one clear line on stderr. Each run is its own
//! process, so the environment is passed per run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::{library_path, temp_dir};

fn consumer() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../probe/consumer.c");
        let binary = temp_dir("c-consumer").join("consumer");
        // The target's C compiler: `cc`, or $DCMI_PROBE_CC when the tests
        // are built for another architecture (scripts/cross.sh).
        let compiler = std::env::var("DCMI_PROBE_CC").unwrap_or_else(|_| "cc".into());
        let status = Command::new(&compiler)
            .args(["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-o"])
            .arg(&binary)
            .arg(&source)
            .arg("-ldl")
            .status()
            .unwrap_or_else(|error| panic!("the C compiler `{compiler}` runs: {error}"));
        assert!(
            status.success(),
            "{compiler} failed on {}",
            source.display()
        );
        binary
    })
}

fn run(topology: &str) -> Output {
    Command::new(consumer())
        .arg(library_path())
        .env("ASCEND_SIM_TOPOLOGY", topology)
        .env_remove("ASCEND_SIM_STATE")
        .env_remove("ASCEND_SIM_CHAOS")
        .output()
        .unwrap()
}

#[test]
fn a_c_consumer_using_the_header_discovers_the_a3_node() {
    let output = run("a3-16");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let chips: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("chip "))
        .collect();
    assert_eq!(chips.len(), 16, "{stdout}");
    assert_eq!(
        chips[0],
        "chip card=0 dev=0 logic=0 phy=0 name=Ascend910 aicore=24"
    );
    assert_eq!(
        chips[15],
        "chip card=7 dev=1 logic=15 phy=15 name=Ascend910 aicore=24"
    );
}

#[test]
fn a_broken_topology_file_fails_init_with_one_line_naming_the_file_and_the_problem() {
    let dir = temp_dir("bad-topology");
    let file = dir.join("broken.json");
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../topologies/910-8.json"),
    )
    .unwrap();
    std::fs::write(
        &file,
        text.replacen("\"logic_id\": 1,", "\"logic_id\": 0,", 1),
    )
    .unwrap();
    let output = run(file.to_str().unwrap());
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(String::from_utf8(output.stdout).unwrap(), "init -8005\n");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(file.to_str().unwrap()), "{stderr}");
    assert!(stderr.contains("logic_id 0 is used twice"), "{stderr}");

    let output = run(dir.join("missing.json").to_str().unwrap());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("missing.json") && stderr.contains("no such file"),
        "{stderr}"
    );
}

#[test]
fn a_c_consumer_using_the_header_falls_back_to_the_v2_api_on_an_a5_node() {
    let output = run("a5-8");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.starts_with("init -8255\ninit-v2 0\n"), "{stdout}");
    let chips: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("chip-v2 "))
        .collect();
    assert_eq!(chips.len(), 8, "{stdout}");
    assert_eq!(
        chips[0],
        "chip-v2 logic=1 phy=0 name=Ascend950PR aicore=32 ddie=5d000000"
    );
    assert_eq!(
        chips[7],
        "chip-v2 logic=6 phy=7 name=Ascend950PR aicore=32 ddie=5d000007"
    );
}
