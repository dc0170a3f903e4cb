//! The README demo, step by step: kubelet stand-in up, plugin spawned on the
//! simulator, registrations and devices shown, a preferred allocation and an
//! Allocate, a fault on chip phy 1 raised and cleared on ListAndWatch, and a
//! clean SIGTERM stop.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use kubelet_standin::{Device, HEALTHY, Kubelet, PluginClient, RegisterRequest, UNHEALTHY, Watch};
use serde_json::json;
use tokio::process::Command;
use tokio::time::Instant;

use crate::args::DemoArgs;
use crate::plugin::Plugin;
use crate::print;

const STEPS: u8 = 7;
/// From spawn to the first registration (includes loading the library).
const FIRST_REGISTRATION: Duration = Duration::from_secs(30);
/// No further registration within this long: all resources are in.
const QUIET: Duration = Duration::from_millis(1500);
/// For a list, an answer, or a health change (the poll path takes at most
/// one `listWatchPeriod`, 5 s by default).
const WAIT: Duration = Duration::from_secs(20);
const STOP_GRACE: Duration = Duration::from_secs(10);
/// The simulator commands of steps 5 and 6: code 80E01801 (a
/// RestartBusiness code in the upstream fault table), severity 2, on phy 1.
const FAULT_RAISE: &[&str] = &[
    "fault",
    "raise",
    "--phy",
    "1",
    "--code",
    "80E01801",
    "--severity",
    "2",
];
const FAULT_CLEAR: &[&str] = &["fault", "clear", "--phy", "1"];

/// One registered resource, connected and watched.
struct Resource {
    request: RegisterRequest,
    client: PluginClient,
    watch: Watch,
    devices: Vec<Device>,
}

/// How long the plugin took, for the summary line.
struct Timings {
    registered: Duration,
    unhealthy: Duration,
    healthy: Duration,
}

/// Runs the demo; the spawned plugin is left in `slot` so the caller can
/// stop it on any exit path.
pub async fn run(args: &DemoArgs, slot: &mut Option<Plugin>) -> anyhow::Result<()> {
    let plugin_dir = args.kubelet_dir.join("device-plugins");
    let mut kubelet = step(1, "start the kubelet stand-in", async {
        let kubelet = Kubelet::start(&plugin_dir).await?;
        println!("  serving Registration on {}", kubelet.socket().display());
        Ok(kubelet)
    })
    .await?;

    let (plugin, spawned) = step(2, "start the plugin on the simulator", async {
        simulator(args, &["reset"]).await?;
        let spawned = Instant::now();
        let plugin = slot.insert(Plugin::spawn(args)?);
        println!(
            "  {} (pid {}) on topology {}; output in {}, log in {}",
            args.plugin_bin.display(),
            plugin.id().unwrap_or_default(),
            args.topology,
            plugin.output().display(),
            plugin.log().display()
        );
        Ok((plugin, spawned))
    })
    .await?;

    let title = "wait for the registrations and the device lists";
    let (mut resources, registered) = step(3, title, async {
        let (requests, registered) = plugin.guard(registrations(&mut kubelet, spawned)).await?;
        let mut resources = Vec::new();
        for request in requests {
            print::registration(&request);
            let resource = plugin.guard(watch(&kubelet, request)).await?;
            print::devices(&resource.devices);
            resources.push(resource);
        }
        Ok((resources, registered))
    })
    .await?;

    step(4, "preferred allocation and Allocate", async {
        let first = resources.first_mut().context("no resource registered")?;
        plugin.guard(allocate(first)).await
    })
    .await?;

    let (index, target, unhealthy) = step(5, "raise a fault on chip phy 1", async {
        let (index, target) = phy_1(&resources)?;
        simulator(args, FAULT_RAISE).await?;
        let elapsed = plugin
            .guard(health(&mut resources[index], &target, UNHEALTHY))
            .await?;
        Ok((index, target, elapsed))
    })
    .await?;

    let healthy = step(6, "clear the fault", async {
        simulator(args, FAULT_CLEAR).await?;
        plugin
            .guard(health(&mut resources[index], &target, HEALTHY))
            .await
    })
    .await?;

    step(7, "stop the plugin with SIGTERM", async {
        let status = plugin.terminate(STOP_GRACE).await?;
        println!("  plugin exited: {status}");
        let left: Vec<String> = resources
            .iter()
            .map(|r| r.request.endpoint.clone())
            .filter(|endpoint| plugin_dir.join(endpoint).exists())
            .collect();
        ensure!(
            left.is_empty(),
            "sockets left behind in {}: {}",
            plugin_dir.display(),
            left.join(", ")
        );
        println!("  its sockets are gone from {}", plugin_dir.display());
        Ok(())
    })
    .await?;
    kubelet.stop().await;

    let timings = Timings {
        registered,
        unhealthy,
        healthy,
    };
    println!("\nsummary: {}", summary(args, &resources, &timings));
    Ok(())
}

/// Waits for the first registration, then for more until none comes for
/// [`QUIET`]; returns them in arrival order, and the time from spawn to the
/// first.
async fn registrations(
    kubelet: &mut Kubelet,
    spawned: Instant,
) -> anyhow::Result<(Vec<RegisterRequest>, Duration)> {
    let first = kubelet.next_registration(FIRST_REGISTRATION).await?;
    let registered = spawned.elapsed();
    println!(
        "  first registration {} after start",
        print::millis(registered)
    );
    let mut requests = vec![first];
    loop {
        match kubelet.next_registration(QUIET).await {
            Ok(request) => requests.push(request),
            Err(error) if error.is_timeout() => return Ok((requests, registered)),
            Err(error) => return Err(error.into()),
        }
    }
}

/// The first resource advertising chip phy 1, and that device's ID.
fn phy_1(resources: &[Resource]) -> anyhow::Result<(usize, String)> {
    resources
        .iter()
        .enumerate()
        .find_map(|(index, resource)| {
            let device = resource.devices.iter().find(|d| d.id.ends_with("-1"))?;
            Some((index, device.id.clone()))
        })
        .context("no advertised device has phy id 1 (an ID ending in -1)")
}

/// One JSON line for scripts: topology, resources, timings in ms.
fn summary(args: &DemoArgs, resources: &[Resource], timings: &Timings) -> serde_json::Value {
    let names: Vec<&str> = resources
        .iter()
        .map(|r| r.request.resource_name.as_str())
        .collect();
    let ms = |elapsed: Duration| (elapsed.as_secs_f64() * 10_000.0).round() / 10.0;
    json!({
        "topology": args.topology,
        "resources": names,
        "start_to_registered_ms": ms(timings.registered),
        "fault_to_unhealthy_ms": ms(timings.unhealthy),
        "clear_to_healthy_ms": ms(timings.healthy),
    })
}

/// Prints the step header and names the step in its error.
async fn step<T>(
    n: u8,
    title: &str,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    println!("\n[{n}/{STEPS}] {title}");
    work.await
        .with_context(|| format!("step {n} of {STEPS} ({title}) failed"))
}

/// Connects to a registered plugin, opens ListAndWatch, reads the first list.
async fn watch(kubelet: &Kubelet, request: RegisterRequest) -> anyhow::Result<Resource> {
    let mut client = kubelet.connect(&request.endpoint).await?;
    let mut watch = client.watch().await?;
    let devices = watch.next(WAIT).await?;
    Ok(Resource {
        request,
        client,
        watch,
        devices,
    })
}

/// Asks for 4 preferred devices (when advertised), then allocates 2.
async fn allocate(resource: &mut Resource) -> anyhow::Result<()> {
    let name = &resource.request.resource_name;
    let healthy: Vec<String> = resource
        .devices
        .iter()
        .filter(|d| d.health == HEALTHY)
        .map(|d| d.id.clone())
        .collect();
    if healthy.is_empty() {
        bail!("{name} advertises no healthy device");
    }
    let mut pick = healthy.clone();
    if resource
        .request
        .options
        .unwrap_or_default()
        .get_preferred_allocation_available
    {
        let size = healthy.len().min(4);
        let chosen = resource
            .client
            .preferred(healthy, Vec::new(), i32::try_from(size)?)
            .await?;
        println!(
            "  GetPreferredAllocation {name}, {size} of the healthy devices: {}",
            chosen.join(", ")
        );
        pick = chosen;
    } else {
        println!("  {name} does not offer GetPreferredAllocation");
    }
    pick.truncate(2);
    let response = resource.client.allocate(vec![pick.clone()]).await?;
    println!("  Allocate {}:", pick.join(", "));
    for container in &response.container_responses {
        print::allocation(container);
    }
    Ok(())
}

/// Waits until `id` has `wanted` health on the resource's stream, prints
/// the device and returns how long that took.
async fn health(resource: &mut Resource, id: &str, wanted: &str) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let list = resource
        .watch
        .until(WAIT, |list| {
            list.iter().any(|d| d.id == id && d.health == wanted)
        })
        .await?;
    let elapsed = start.elapsed();
    let device = list
        .iter()
        .find(|d| d.id == id)
        .context("the device vanished from the list")?;
    println!(
        "  {} on ListAndWatch {} after the simulator wrote the change",
        print::device_line(device),
        print::millis(elapsed)
    );
    resource.devices = list;
    Ok(elapsed)
}

/// Runs `ascend-sim --state STATE ARGS...`; its failure is an error.
async fn simulator(args: &DemoArgs, words: &[&str]) -> anyhow::Result<()> {
    if let Some(dir) = args.sim_state.parent()
        && !dir.as_os_str().is_empty()
    {
        tokio::fs::create_dir_all(dir)
            .await
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    println!("  $ {} {}", file_name(&args.ascend_sim), words.join(" "));
    let output = Command::new(&args.ascend_sim)
        .arg("--state")
        .arg(&args.sim_state)
        .args(words)
        .output()
        .await
        .with_context(|| format!("cannot run {}", args.ascend_sim.display()))?;
    if !output.status.success() {
        bail!(
            "{} {} failed ({}): {}",
            args.ascend_sim.display(),
            words.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    )
}
