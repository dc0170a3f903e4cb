//! The daemon against the stand-in kubelet over real unix sockets, on the
//! simulator: registration, streaming health, restarts and shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use kubelet_standin::{HEALTHY, UNHEALTHY};
use support::node::{Node, health_of, patience};

#[tokio::test(flavor = "multi_thread")]
async fn it_registers_with_the_options_it_serves_and_a_0600_socket() {
    let mut node = Node::start("910-8", &[], &[]).await;
    let registration = node.registration().await;
    assert_eq!(registration.version, "v1beta1");
    assert_eq!(registration.endpoint, "Ascend910.sock");
    assert_eq!(registration.resource_name, "huawei.com/Ascend910");
    let options = registration.options.unwrap();
    assert!(options.get_preferred_allocation_available);
    assert!(!options.pre_start_required);
    let mut client = node.client(&registration.endpoint).await;
    assert_eq!(client.options().await.unwrap(), options);
    let mode = std::fs::metadata(node.plugin_dir().join("Ascend910.sock"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_list_is_every_device_healthy_with_its_numa_node() {
    let dir = support::private_dir();
    // A fake sysfs that puts the first four chips on NUMA node 0, the rest on 1.
    let node_json = support::inspect_json("910-8");
    for chip in node_json["chips"].as_array().unwrap() {
        let pci = &chip["pci"];
        let address = format!(
            "{:04x}:{:02x}:{:02x}.{:x}",
            pci["domain"].as_u64().unwrap(),
            pci["bus"].as_u64().unwrap(),
            pci["device"].as_u64().unwrap(),
            pci["function"].as_u64().unwrap()
        );
        let device_dir = dir.path().join("sys/bus/pci/devices").join(address);
        std::fs::create_dir_all(&device_dir).unwrap();
        let numa = if chip["phy_id"].as_u64().unwrap() < 4 {
            "0"
        } else {
            "1"
        };
        std::fs::write(device_dir.join("numa_node"), numa).unwrap();
    }
    let sys = format!("--sys-root={}", dir.path().join("sys").display());
    let mut node = Node::start("910-8", &[&sys], &[]).await;
    let (_client, _watch, first) = node.watch().await;
    let ids: Vec<&str> = first.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        ids,
        (0..8).map(|i| format!("Ascend910-{i}")).collect::<Vec<_>>()
    );
    assert!(first.iter().all(|d| d.health == HEALTHY));
    let numa: Vec<i64> = first
        .iter()
        .map(|d| d.topology.as_ref().unwrap().nodes[0].id)
        .collect();
    assert_eq!(numa, [0, 0, 0, 0, 1, 1, 1, 1]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fault_event_turns_the_chip_unhealthy_and_clearing_it_recovers() {
    // A poll period of 30 min: only the event path can explain a change.
    let mut node = Node::start("910-8", &["-listWatchPeriod=1800"], &[]).await;
    let (_client, mut watch, _) = node.watch().await;
    node.sim(&[
        "fault",
        "raise",
        "--phy",
        "3",
        "--code",
        "80E01801",
        "--severity",
        "2",
    ]);
    let list = watch
        .until(patience(), |l| health_of(l, "Ascend910-3") == UNHEALTHY)
        .await
        .unwrap();
    assert_eq!(
        list.iter().filter(|d| d.health == UNHEALTHY).count(),
        1,
        "only chip 3"
    );
    node.sim(&["fault", "clear", "--phy", "3"]);
    watch
        .until(patience(), |l| l.iter().all(|d| d.health == HEALTHY))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn without_fault_events_the_poll_finds_the_fault_and_the_recovery() {
    let mut node = Node::start(
        "910-8",
        &["-listWatchPeriod=3"],
        &[("ASCEND_SIM_CHAOS", "no-events")],
    )
    .await;
    let (_client, mut watch, _) = node.watch().await;
    node.sim(&["fault", "raise", "--phy", "5", "--code", "80E01801"]);
    watch
        .until(patience(), |l| health_of(l, "Ascend910-5") == UNHEALTHY)
        .await
        .unwrap();
    node.sim(&["fault", "clear", "--phy", "5"]);
    watch
        .until(patience(), |l| health_of(l, "Ascend910-5") == HEALTHY)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_card_is_unhealthy_and_healthy_again_when_it_returns() {
    let mut node = Node::start("a3-16", &["-listWatchPeriod=3"], &[]).await;
    let (_client, mut watch, _) = node.watch().await;
    node.sim(&["card", "drop", "--card", "2"]);
    let list = watch
        .until(patience(), |l| {
            health_of(l, "Ascend910-4") == UNHEALTHY && health_of(l, "Ascend910-5") == UNHEALTHY
        })
        .await
        .unwrap();
    assert_eq!(
        list.iter().filter(|d| d.health == UNHEALTHY).count(),
        2,
        "both dies of card 2 only"
    );
    node.sim(&["card", "restore", "--card", "2"]);
    watch
        .until(patience(), |l| l.iter().all(|d| d.health == HEALTHY))
        .await
        .unwrap();
    assert!(node.open_fds() > 0, "the plugin is still running");
}

#[tokio::test(flavor = "multi_thread")]
async fn vnpus_follow_their_chips_health() {
    let mut node = Node::start("310p-duo-vnpu", &["-listWatchPeriod=1800"], &[]).await;
    let mut clients = Vec::new();
    let mut watches = Vec::new();
    for _ in 0..4 {
        let registration = node.registration().await;
        let mut client = node.client(&registration.endpoint).await;
        let mut watch = client.watch().await.unwrap();
        watch.next(patience()).await.unwrap();
        if registration.resource_name == "huawei.com/Ascend310P-2c" {
            watches.push(watch);
        }
        clients.push(client);
    }
    let mut watch = watches.pop().expect("the 2c resource registered");
    node.sim(&["fault", "raise", "--phy", "0", "--code", "80E01801"]);
    let list = watch
        .until(patience(), |l| l.iter().all(|d| d.health == UNHEALTHY))
        .await
        .unwrap();
    assert_eq!(list.len(), 2, "both vir02 vNPUs of chip 0");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kubelet_restart_is_followed_by_re_registration_and_a_new_stream() {
    let mut node = Node::start("910-8", &[], &[]).await;
    let (_client, _watch, _) = node.watch().await;
    node.kubelet.restart().await.unwrap();
    let (_client, _watch, first) = node.watch().await;
    assert_eq!(first.len(), 8);
    assert_eq!(node.sockets(), ["Ascend910.sock", "kubelet.sock"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_kubelet_restarts_leave_no_stale_sockets_or_leaked_descriptors() {
    let mut node = Node::start("910-8", &[], &[]).await;
    let (client, watch, _) = node.watch().await;
    drop((client, watch));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let baseline = node.open_fds();
    for round in 0..20 {
        node.kubelet.restart().await.unwrap();
        let (client, watch, first) = node.watch().await;
        assert_eq!(first.len(), 8, "round {round}");
        assert_eq!(
            node.sockets(),
            ["Ascend910.sock", "kubelet.sock"],
            "round {round}"
        );
        drop((client, watch));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = node.open_fds();
    assert!(
        after <= baseline + 4,
        "descriptors grew from {baseline} to {after}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vanished_socket_is_served_again() {
    let mut node = Node::start("910-8", &[], &[]).await;
    node.registration().await;
    std::fs::remove_file(node.plugin_dir().join("Ascend910.sock")).unwrap();
    let again = node.registration().await;
    assert_eq!(again.endpoint, "Ascend910.sock");
    let mut client = node.client(&again.endpoint).await;
    assert!(client.options().await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ended_stream_makes_the_plugin_register_again() {
    let mut node = Node::start("910-8", &[], &[]).await;
    let (client, watch, _) = node.watch().await;
    let before = node.kubelet.registration_count();
    drop((watch, client));
    let again = node.registration().await;
    assert_eq!(again.resource_name, "huawei.com/Ascend910");
    assert!(node.kubelet.registration_count() > before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_registration_is_retried_until_kubelet_accepts() {
    let dir_args: [&str; 0] = [];
    let mut node = Node::start("910-8", &dir_args, &[]).await;
    node.registration().await;
    assert_eq!(node.kubelet.refusal_count(), 0);
    node.kubelet
        .set_refuse(Some("resource name already registered".into()));
    node.kubelet.restart().await.unwrap();
    // The plugin must come back after a refusal, more than once.
    let deadline = std::time::Instant::now() + patience();
    while node.kubelet.refusal_count() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the plugin did not retry after a refusal ({} refusals)",
            node.kubelet.refusal_count()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(node.kubelet.registration_count(), 1, "none accepted yet");
    node.kubelet.set_refuse(None);
    let registration = node.registration().await;
    assert_eq!(registration.resource_name, "huawei.com/Ascend910");
    assert_eq!(node.kubelet.registration_count(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_re_registers() {
    let mut node = Node::start("910-8", &[], &[]).await;
    node.registration().await;
    node.signal("HUP");
    let again = node.registration().await;
    assert_eq!(again.endpoint, "Ascend910.sock");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_removes_the_sockets_and_exits_cleanly() {
    let mut node = Node::start("310p-duo-vnpu", &[], &[]).await;
    for _ in 0..4 {
        node.registration().await;
    }
    assert_eq!(node.sockets().len(), 5);
    let status = node.terminate();
    assert!(status.success(), "{status:?}: {}", node.stderr());
    assert_eq!(node.sockets(), ["kubelet.sock"]);
}

/// The simulator, like a driver that does not pin itself
/// (`ASCEND_SIM_NO_PIN=1`: no pinning, its event thread on a bare pthread),
/// can be unloaded: if the plugin `dlclose`d it while the fault-event thread
/// runs, that thread would jump into unmapped code. The loader's own trace
/// (glibc `LD_DEBUG=files`) shows whether the library was ever unloaded; the
/// exit must be clean too.
#[tokio::test(flavor = "multi_thread")]
async fn the_driver_library_is_never_unloaded_under_its_event_thread() {
    let trace_dir = support::private_dir();
    let trace = trace_dir.path().join("ld");
    let trace_env = trace.display().to_string();
    let env = [
        ("ASCEND_SIM_NO_PIN", "1"),
        ("LD_DEBUG", "files"),
        ("LD_DEBUG_OUTPUT", trace_env.as_str()),
    ];
    let mut node = Node::start("910-8", &[], &env).await;
    let (_client, mut watch, _) = node.watch().await;
    // The event thread is running: it just delivered this fault.
    node.sim(&["fault", "raise", "--phy", "2", "--code", "80E01801"]);
    watch
        .until(patience(), |l| health_of(l, "Ascend910-2") == UNHEALTHY)
        .await
        .unwrap();
    let pid = node.pid();
    let status = node.terminate();
    assert!(status.success(), "{status:?}: {}", node.stderr());
    let log = std::fs::read_to_string(format!("{trace_env}.{pid}")).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("libdcmi.so")).collect();
    assert!(
        lines.iter().any(|l| l.contains("calling init")),
        "the loader trace works: {lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("destroying link map")),
        "the driver library was unloaded: {lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_symlinked_device_plugin_directory_is_refused() {
    let dir = support::private_dir();
    let real = dir.path().join("real");
    std::fs::create_dir_all(&real).unwrap();
    std::fs::create_dir_all(dir.path().join("kubelet")).unwrap();
    std::os::unix::fs::symlink(&real, dir.path().join("kubelet/device-plugins")).unwrap();
    let mut command = std::process::Command::new(support::plugin_bin());
    command
        .env("ASCEND_SIM_TOPOLOGY", "910-8")
        .arg(format!("--dcmi-lib={}", support::sim_lib().display()))
        .arg(format!(
            "--kubelet-dir={}",
            dir.path().join("kubelet").display()
        ))
        .arg(format!(
            "-logFile={}",
            dir.path().join("log/plugin.log").display()
        ));
    let output = support::output_within(command, Duration::from_secs(30));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("device-plugins") && stderr.contains("symlink"),
        "{stderr}"
    );
}
