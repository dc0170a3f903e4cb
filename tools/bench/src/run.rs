//! The benchmark sections in order (Allocate against the floor, event path,
//! poll path, start -> registered, idle cost): each prints its detail as it
//! goes and adds its numbers, with their targets, to the report.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kubelet_standin::HEALTHY;

use crate::api::ApiServer;
use crate::faults::{self, FaultPath};
use crate::floor::FloorServer;
use crate::idle;
use crate::load::{self, Outcome, Shape, Sharing};
use crate::node::{Artifacts, Node, Setup};
use crate::report::Report;
use crate::startup;
use crate::stats::{Summary, ms, ratio};

/// What to run and how much.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Sections to run.
    pub sections: Vec<Section>,
    /// Timed Allocate calls at 1 caller.
    pub requests_one: usize,
    /// Timed Allocate calls over all callers at `callers`.
    pub requests_many: usize,
    /// The high concurrency.
    pub callers: usize,
    /// Alternating floor/plugin rounds each Allocate load is split into.
    pub rounds: usize,
    /// Event-path repetitions.
    pub event_reps: usize,
    /// Poll-path repetitions.
    pub poll_reps: usize,
    /// Poll-path `-listWatchPeriod`, seconds.
    pub poll_period: u64,
    /// start -> registered repetitions.
    pub start_reps: usize,
    /// Idle sampling span, seconds.
    pub idle_seconds: u64,
    /// Seed of the request sequence and the poll phases.
    pub seed: u64,
}

/// One part of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Section {
    /// Allocate latency: the floor, then the plugin.
    Allocate,
    /// Fault -> Unhealthy through driver events.
    Event,
    /// Fault -> Unhealthy through polling.
    Poll,
    /// Start -> registered.
    Start,
    /// RSS and CPU while idle.
    Idle,
    /// RSS, CPU and API requests while idle, with a real kube-apiserver.
    IdleApi,
}

/// Runs every planned section in `work`.
pub async fn run(plan: &Plan, artifacts: &Artifacts, work: &Path) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let wants = |section| plan.sections.contains(&section);
    if wants(Section::Allocate) {
        allocate(plan, artifacts, work, &mut report).await?;
    }
    if wants(Section::Event) {
        println!("\n== fault -> Unhealthy, event path (-listWatchPeriod=1800) ==");
        let times = faults::measure(
            work,
            artifacts,
            FaultPath::Event,
            plan.event_reps,
            plan.seed,
        )
        .await?;
        if let Some(unhealthy) = print_fault_times(&times) {
            report.target(
                "event path: fault -> Unhealthy p99",
                ms(unhealthy.p99),
                "< 10 ms",
                unhealthy.p99 < Duration::from_millis(10),
            );
            report.info("event path: fault -> Unhealthy p50", ms(unhealthy.p50));
        }
    }
    if wants(Section::Poll) {
        let period = plan.poll_period;
        println!(
            "\n== fault -> Unhealthy, poll path (no driver events, -listWatchPeriod={period}) =="
        );
        let path = FaultPath::Poll { period };
        let times = faults::measure(work, artifacts, path, plan.poll_reps, plan.seed).await?;
        if let Some(unhealthy) = print_fault_times(&times) {
            let one = Duration::from_secs(period);
            report.target(
                format!("poll path ({period} s): fault -> Unhealthy p99"),
                ms(unhealthy.p99),
                format!("<= one period ({period} s)"),
                unhealthy.p99 <= one,
            );
            report.info("poll path: fault -> Unhealthy p50", ms(unhealthy.p50));
        }
    }
    if wants(Section::Start) {
        println!("\n== start -> registered (910-8) ==");
        let times = startup::measure(work, artifacts, plan.start_reps).await?;
        if let Some(registered) = Summary::of(&times.registered) {
            println!("start -> registered:  {}", registered.line());
            report.target(
                "start -> registered p99",
                ms(registered.p99),
                "< 300 ms",
                registered.p99 < Duration::from_millis(300),
            );
            report.info("start -> registered p50", ms(registered.p50));
        }
        if let Some(listed) = Summary::of(&times.first_list) {
            println!("start -> first list: {}", listed.line());
            report.info("start -> first ListAndWatch list p99", ms(listed.p99));
        }
    }
    if wants(Section::Idle) {
        let seconds = plan.idle_seconds;
        println!("\n== idle, 16 chips + 64 vNPUs, default flags, {seconds} s ==");
        let cost = idle::measure(work, artifacts, seconds, None).await?;
        report_idle(&cost, seconds, "", &mut report);
    }
    if wants(Section::IdleApi) {
        let seconds = plan.idle_seconds;
        let (Some(bin), Some(rbac)) = (&artifacts.apiserver_bin, &artifacts.rbac) else {
            println!(
                "\n== idle with the Kubernetes API on: not measured (no --apiserver-bin; scripts/bench.sh builds it when Go is installed) =="
            );
            report.info("idle with the API on", "not measured: no --apiserver-bin");
            return Ok(report);
        };
        println!(
            "\n== idle with the Kubernetes API on: the same node against a real kube-apiserver ({}), {seconds} s ==",
            rbac.display()
        );
        let api = ApiServer::start(work, bin, rbac).await?;
        let cost = idle::measure(work, artifacts, seconds, Some(&api)).await?;
        report_idle(&cost, seconds, ", API on", &mut report);
        if let Some((start, idle)) = cost.api_requests {
            println!(
                "API requests: {start} in the first seconds after the start, {idle} in the {seconds} s idle span"
            );
            report.info("API requests at start (plain mode)", start.to_string());
            let per_hour = idle as f64 * 3600.0 / cost.span.as_secs_f64().max(1.0);
            report.target(
                format!("API requests while idle ({seconds} s, API on)"),
                format!("{idle} ({per_hour:.0} per node-hour at this rate)"),
                "0 between heartbeats (budget: 18 per node-hour)",
                idle == 0 || (seconds >= 300 && per_hour <= 18.0),
            );
        }
    }
    Ok(report)
}

/// Prints the idle cost and adds it to the report; `tag` names the variant.
fn report_idle(cost: &idle::IdleCost, seconds: u64, tag: &str, report: &mut Report) {
    println!("resources: {}", cost.resources.join(", "));
    // MB = 10^6 bytes, the unit of the target.
    let mb = |kib: u64| (kib * 1024) as f64 / 1e6;
    println!(
        "max RSS {:.1} MB, peak RSS since start (VmHWM) {:.1} MB, mean CPU {:.2}% of one CPU over {:.1} s, {} list updates while idle",
        mb(cost.max_rss_kib),
        mb(cost.peak_kib),
        cost.cpu_percent,
        cost.span.as_secs_f64(),
        cost.updates
    );
    println!(
        "at the end: RssAnon {:.1} MB (heap, stacks), RssFile {:.1} MB (binary, libraries), {} threads",
        mb(cost.last.anon_kib),
        mb(cost.last.file_kib),
        cost.last.threads
    );
    report.target(
        format!("idle max RSS (16 chips, 64 vNPUs, {seconds} s{tag})"),
        format!("{:.1} MB", mb(cost.max_rss_kib)),
        "< 20 MB",
        cost.max_rss_kib * 1024 < 20 * 1000 * 1000,
    );
    report.info(
        format!("idle peak RSS since start (VmHWM{tag})"),
        format!("{:.1} MB", mb(cost.peak_kib)),
    );
    println!(
        "of the CPU time, the simulator's state-file watcher thread (absent with a real driver): {:.2}% of one CPU",
        cost.sim_cpu_percent
    );
    report.info(
        format!("idle mean CPU ({seconds} s{tag})"),
        format!(
            "{:.2}% of one CPU ({:.2}% without the simulator's thread)",
            cost.cpu_percent,
            (cost.cpu_percent - cost.sim_cpu_percent).max(0.0)
        ),
    );
}

/// Prints both directions; returns the fault -> Unhealthy summary.
fn print_fault_times(times: &faults::FaultTimes) -> Option<Summary> {
    let unhealthy = Summary::of(&times.to_unhealthy);
    if let Some(summary) = &unhealthy {
        println!("fault -> Unhealthy: {}", summary.line());
    }
    if let Some(summary) = Summary::of(&times.to_healthy) {
        println!("clear -> Healthy:   {}", summary.line());
    }
    unhealthy
}

/// The floor and the plugin under the same loads, each load split into
/// rounds that alternate floor and plugin, so that a change in the
/// machine's background load hits both alike.
async fn allocate(
    plan: &Plan,
    artifacts: &Artifacts,
    work: &Path,
    report: &mut Report,
) -> anyhow::Result<()> {
    let rounds = plan.rounds.max(1);
    println!(
        "\n== Allocate latency: no-op floor vs plugin (910-8, DeviceSpec mode, {rounds} alternating rounds) =="
    );
    let setup = Setup {
        topology: "910-8".into(),
        args: Vec::new(),
        no_events: false,
        env: Vec::new(),
    };
    let mut node = Node::start(work, "allocate", setup, artifacts).await?;
    // Held open for the whole run, as kubelet holds it.
    let (mut client, _watch, devices) = node.watch(Some("huawei.com/Ascend910")).await?;
    let healthy: Vec<String> = devices
        .iter()
        .filter(|device| device.health == HEALTHY)
        .map(|device| device.id.clone())
        .collect();
    let sample = client.allocate(vec![healthy.iter().take(2).cloned().collect()]);
    let sample = sample.await.map_err(|error| node.explain(error.into()))?;
    for container in &sample.container_responses {
        let specs: Vec<&str> = container
            .devices
            .iter()
            .map(|d| d.host_path.as_str())
            .collect();
        println!(
            "plugin answer for {:?}: device specs {specs:?}, {} envs, {} mounts",
            healthy.iter().take(2).collect::<Vec<_>>(),
            container.envs.len(),
            container.mounts.len()
        );
    }
    let requests = Arc::new(load::requests(&healthy, 4096, plan.seed));
    let plugin_socket = node.kubelet.dir().join("Ascend910.sock");
    let floor = FloorServer::spawn(work).await?;
    let shapes = [
        Shape {
            callers: 1,
            total: plan.requests_one,
            sharing: Sharing::OwnConnections,
        },
        Shape {
            callers: plan.callers,
            total: plan.requests_many,
            sharing: Sharing::OwnConnections,
        },
        Shape {
            callers: plan.callers,
            total: plan.requests_many,
            sharing: Sharing::OneChannel,
        },
    ];
    for shape in shapes {
        let round = Shape {
            total: shape.total.div_ceil(rounds),
            ..shape
        };
        let (mut base, mut real) = (Outcome::default(), Outcome::default());
        for _ in 0..rounds {
            base.absorb(load::run(floor.socket(), Arc::clone(&requests), round).await?);
            let part = load::run(&plugin_socket, Arc::clone(&requests), round).await;
            real.absorb(part.map_err(|error| node.explain(error))?);
        }
        let label = match shape.callers {
            1 => "1 caller".to_string(),
            n => format!("{n} callers, {}", shape.sharing.label()),
        };
        print_outcome(&format!("floor,  {label}"), &base);
        print_outcome(&format!("plugin, {label}"), &real);
        let (Some(floor_p), Some(plugin_p)) =
            (Summary::of(&base.latencies), Summary::of(&real.latencies))
        else {
            continue;
        };
        report.info(
            format!("floor Allocate p50 / p99, {label}"),
            format!("{} / {}", ms(floor_p.p50), ms(floor_p.p99)),
        );
        report.info(
            format!("plugin Allocate p50 / p99, {label}"),
            format!("{} / {}", ms(plugin_p.p50), ms(plugin_p.p99)),
        );
        let times = ratio(plugin_p.p99, floor_p.p99).unwrap_or(f64::INFINITY);
        let clean = real.errors == 0 && base.errors == 0;
        report.target(
            format!("plugin p99 / floor p99, {label}"),
            format!("{times:.2}x"),
            "<= 1.5x, no errors",
            times <= 1.5 && clean,
        );
    }
    floor.stop().await;
    node.stop().await?;
    Ok(())
}

fn print_outcome(label: &str, outcome: &Outcome) {
    match Summary::of(&outcome.latencies) {
        Some(summary) => println!(
            "{label}: {}  {:.0} req/s",
            summary.line(),
            outcome.throughput()
        ),
        None => println!("{label}: no successful calls"),
    }
    if let Some(error) = &outcome.first_error {
        println!("  {} errors; first: {error}", outcome.errors);
    }
}
