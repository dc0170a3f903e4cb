//! `adp-bench scale --nodes N`: N simulated NPU nodes on one machine (each a
//! plugin process in Volcano mode with its own simulator state, kubelet
//! stand-in, pod-resources fake and token) against one real kube-apiserver
//! with a Node object per node. Phases: a simultaneous start of all N, a
//! steady window, a fault storm on every node, then Volcano Allocates. The
//! API server's audit log attributes every request to its node; the report
//! gives requests per node by verb and resource, watches held, the control
//! plane's CPU and memory, and Allocate latency. `--check` turns the budget
//! (docs/operations.md, "API request budget") into an exit status.

pub mod audit;
mod cluster;
mod sockets;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use kubelet_standin::{PluginClient, PodResources, Watch};
use tokio::task::JoinSet;

use crate::api::ApiServer;
use crate::node::{Artifacts, Node, Setup};
use crate::procfs;
use crate::stats::Summary;

use self::audit::Window;
use self::cluster::{ASCEND910, Admin, NodeIdentity};

/// The plugin's ServiceAccount as the audit log names it.
const USER: &str = "system:serviceaccount:kube-system:ascend-device-plugin";
/// Watches a Volcano-mode plugin holds: its Node, its device-info
/// ConfigMap, mindx-dl-fault-config, the node's pods.
const VOLCANO_WATCHES: usize = 4;
/// The written start budget of a Volcano-mode node (docs/operations.md).
const VOLCANO_START_BUDGET: usize = 10;
/// The device-info heartbeat and the watch renewal period.
const HEARTBEAT_SECONDS: u64 = 300;
const WATCH_RENEWAL_SECONDS: u64 = 1800;
/// Chips of the simulated 910 node (topology `910-8`).
const CHIPS: u32 = 8;

/// How big and how long.
#[derive(Debug, Clone, clap::Args)]
pub struct ScaleArgs {
    /// Simulated nodes, all started at once.
    #[arg(long, default_value_t = 10)]
    pub nodes: usize,
    /// Passed to every plugin as --api-start-jitter (seconds, 0..600).
    #[arg(long, default_value_t = 0)]
    pub start_jitter: u64,
    /// The start burst window after the jitter, seconds.
    #[arg(long, default_value_t = 30)]
    pub burst_seconds: u64,
    /// The steady window, seconds (600 holds two heartbeats of every node).
    #[arg(long, default_value_t = 600)]
    pub steady_seconds: u64,
    /// How long the fault storm holds the fault, and then the recovery.
    #[arg(long, default_value_t = 20)]
    pub storm_seconds: u64,
    /// Volcano Allocates with the pod already in the watch cache.
    #[arg(long, default_value_t = 100)]
    pub allocate_reps: usize,
    /// Volcano Allocates whose pod is created after the Allocate was sent.
    #[arg(long, default_value_t = 50)]
    pub late_reps: usize,
    /// How long after the Allocate the late pod is created, ms.
    #[arg(long, default_value_t = 100)]
    pub late_ms: u64,
    /// Fail (exit 1) unless every request is attributed to its node and
    /// within the Volcano budget, every node holds its watches and every
    /// Allocate succeeds (the smoke in the test command).
    #[arg(long)]
    pub check: bool,
}

/// One running simulated node and kubelet's connection to it.
struct Member {
    node: Node,
    identity: NodeIdentity,
    _pod_resources: PodResources,
    client: Option<PluginClient>,
    _watch: Option<Watch>,
    registered_after: Duration,
}

/// A sample of the control plane (etcd and kube-apiserver in one process).
#[derive(Debug, Clone, Copy)]
struct Mark {
    at_us: i64,
    at: Instant,
    cp: procfs::Sample,
    plugin_ticks: u64,
}

/// Runs the phases; `Ok(false)` when `--check` found a violation.
pub async fn run(args: &ScaleArgs, artifacts: &Artifacts, work: &Path) -> anyhow::Result<bool> {
    if args.nodes == 0 || args.nodes > 2000 {
        bail!("--nodes {}: must be 1..2000", args.nodes);
    }
    if args.start_jitter > 600 {
        bail!("--start-jitter {}: must be 0..600", args.start_jitter);
    }
    let (Some(bin), Some(rbac)) = (&artifacts.apiserver_bin, &artifacts.rbac) else {
        bail!("the scale run needs --apiserver-bin and --rbac (scripts/scale.sh passes them)");
    };
    println!("\n== control plane ==");
    let api = ApiServer::start(work, bin, rbac).await?;
    let cp_pid = api.pid()?;
    println!("kube-apiserver + etcd (one process, pid {cp_pid}) ready");
    let admin = Admin::connect(&api.admin_kubeconfig, &api.url, &api.ca_file).await?;
    admin.prepare_jobs().await?;

    println!(
        "\n== {} nodes: Node objects, tokens, kubelet stand-ins ==",
        args.nodes
    );
    let mut members = Vec::with_capacity(args.nodes);
    for i in 0..args.nodes {
        members.push(create_member(args, artifacts, work, &admin, &api.service_account, i).await?);
    }
    let credentials: Vec<String> = members
        .iter()
        .map(|m| m.identity.credential.clone())
        .collect();

    println!("\n== simultaneous start of {} plugins ==", args.nodes);
    let before = mark(cp_pid, &[])?;
    for member in &mut members {
        member.node.spawn()?;
    }
    let pids = members
        .iter()
        .map(|m| m.node.pid())
        .collect::<anyhow::Result<Vec<_>>>()?;
    let limit = Duration::from_secs(args.start_jitter + 60);
    members = register_all(members, before.at, limit).await?;
    let waits: Vec<Duration> = members.iter().map(|m| m.registered_after).collect();
    if let Some(summary) = Summary::of(&waits) {
        println!(
            "start -> registered (ListAndWatch open): {}",
            summary.line()
        );
    }
    sleep_until(before.at + Duration::from_secs(args.start_jitter + args.burst_seconds)).await;
    let burst_end = mark(cp_pid, &pids)?;

    println!("\n== steady window, {} s ==", args.steady_seconds);
    sleep_until(burst_end.at + Duration::from_secs(args.steady_seconds)).await;
    let steady_end = mark(cp_pid, &pids)?;
    let requests = audit::parse(&api.audit_text()?);
    let watches = audit::open_watches(&requests, &credentials);
    let port = api
        .url
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse::<u16>().ok())
        .context("the API server's URL has no port")?;
    let connections: Vec<usize> = pids
        .iter()
        .map(|pid| sockets::connections_to(*pid, port))
        .collect();
    let plugin_rss: Vec<u64> = pids
        .iter()
        .filter_map(|pid| procfs::sample(*pid).ok().map(|s| s.rss_kib))
        .collect();

    println!(
        "\n== fault storm: a fault on every node, held {} s, then cleared ==",
        args.storm_seconds
    );
    let storm_start = mark(cp_pid, &pids)?;
    for member in &members {
        member.node.set_fault(Some(0))?;
    }
    tokio::time::sleep(Duration::from_secs(args.storm_seconds)).await;
    for member in &members {
        member.node.set_fault(None)?;
    }
    tokio::time::sleep(Duration::from_secs(args.storm_seconds)).await;
    let storm_end = mark(cp_pid, &pids)?;

    println!("\n== Volcano Allocate ==");
    let alloc_start = mark(cp_pid, &pids)?;
    let latency = allocate_latency(args, &admin, &mut members).await;
    let alloc_end = mark(cp_pid, &pids)?;
    let requests_now = audit::parse(&api.audit_text()?);

    let mut ok = true;
    let burst = Window::of(&requests_now, &credentials, before.at_us, burst_end.at_us);
    let steady = Window::of(&requests, &credentials, burst_end.at_us, steady_end.at_us);
    let storm = Window::of(
        &requests_now,
        &credentials,
        storm_start.at_us,
        storm_end.at_us,
    );
    let alloc = Window::of(
        &requests_now,
        &credentials,
        alloc_start.at_us,
        alloc_end.at_us,
    );
    let n = args.nodes;

    println!("\n== report (N = {n}) ==");
    print_window("start burst", &burst, n, &before, &burst_end);
    let (peak, seconds) = burst.peak_per_second();
    println!(
        "  peak {peak} requests in one second; requests spread over {seconds} distinct seconds"
    );
    print_window("steady", &steady, n, &burst_end, &steady_end);
    let hours = args.steady_seconds as f64 / 3600.0;
    let rate = steady.total() as f64 / n as f64 / hours;
    let write_rate = steady.writes_per_node.iter().sum::<usize>() as f64 / n as f64 / hours;
    let renewals = if args.steady_seconds < WATCH_RENEWAL_SECONDS {
        mean_usize(&watches) * 3600.0 / WATCH_RENEWAL_SECONDS as f64
    } else {
        0.0
    };
    println!(
        "  per node-hour: {rate:.1} requests measured ({write_rate:.1} writes){}",
        if renewals > 0.0 {
            format!(
                "; {:.1} with the watch renewals a window under {WATCH_RENEWAL_SECONDS} s cannot hold (2 per watch-hour)",
                rate + renewals
            )
        } else {
            String::new()
        }
    );
    println!(
        "  watches held per node: min {} max {} (mean {:.2})",
        watches.iter().min().unwrap_or(&0),
        watches.iter().max().unwrap_or(&0),
        mean_usize(&watches)
    );
    println!(
        "  TCP connections to the API server per node: min {} max {} (mean {:.2})",
        connections.iter().min().unwrap_or(&0),
        connections.iter().max().unwrap_or(&0),
        mean_usize(&connections)
    );
    println!(
        "  plugin RSS: mean {:.1} MB, max {:.1} MB",
        mean_u64(&plugin_rss) * 1.024 / 1000.0,
        plugin_rss.iter().max().copied().unwrap_or(0) as f64 * 1.024 / 1000.0
    );
    print_window("fault storm", &storm, n, &storm_start, &storm_end);
    print_window("Volcano Allocates", &alloc, n, &alloc_start, &alloc_end);
    let patches = audit::served(
        &requests_now,
        &credentials,
        "patch pods",
        alloc_start.at_us,
        alloc_end.at_us,
    );
    if let Some(summary) = Summary::of(&patches) {
        println!(
            "  the API server's own time for these pod patches (audit log, received -> complete): {}",
            summary.line()
        );
    }
    match &latency {
        Ok(latency) => latency.print(),
        Err(error) => println!("  Allocate measurement failed: {error:#}"),
    }
    let gets = requests_now
        .iter()
        .filter(|r| r.user == USER && r.verb == "get")
        .count();
    let unattributed = audit::unattributed(&requests_now, USER, &credentials);
    println!(
        "plugin GETs (reads must come from watches): {gets}; requests not attributable to a node: {unattributed}"
    );
    println!(
        "SUMMARY N={n} jitter={}s burst/node={:.2} peak_rps={peak} steady/node-hour={rate:.1} (+renewals {:.1}) writes/node-hour={write_rate:.1} watches/node={:.2} connections/node={:.2} storm/node={:.2} cp_rss_mb={:.1} cp_cpu_steady_pct={:.2}",
        args.start_jitter,
        burst.total() as f64 / n as f64,
        rate + renewals,
        mean_usize(&watches),
        mean_usize(&connections),
        storm.total() as f64 / n as f64,
        steady_end.cp.rss_kib as f64 * 1.024 / 1000.0,
        cpu_percent(&burst_end, &steady_end, |m| m.cp.cpu_ticks),
    );

    if args.check {
        ok &= check(
            args,
            &burst,
            &steady,
            &watches,
            gets,
            unattributed,
            &latency,
        );
    }
    for mut member in members {
        // The plugins exit on SIGTERM; a failure here changes no number.
        let _ = member.node.stop().await;
    }
    Ok(ok)
}

async fn create_member(
    args: &ScaleArgs,
    artifacts: &Artifacts,
    work: &Path,
    admin: &Admin,
    account: &str,
    i: usize,
) -> anyhow::Result<Member> {
    let name = format!("scale-{i:03}");
    let root = work.join(&name);
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    let ip = format!("10.0.{}.{}", i / 250, i % 250 + 1);
    let identity = admin.node(&name, &ip, account, &root).await?;
    let setup = Setup {
        topology: "910-8".to_owned(),
        args: vec![
            "-volcanoType=true".to_owned(),
            "-presetVirtualDevice=true".to_owned(),
            "-logLevel=0".to_owned(),
            format!("--kubeconfig={}", identity.kubeconfig.display()),
            format!("--state-dir={}", root.join("state").display()),
            format!("--api-start-jitter={}", args.start_jitter),
        ],
        no_events: false,
        env: vec![
            ("NODE_NAME".to_owned(), name.clone()),
            ("HOST_IP".to_owned(), ip),
            ("ASCEND_DOCKER_RUNTIME".to_owned(), "True".to_owned()),
        ],
    };
    let node = Node::create(work, &name, setup, artifacts).await?;
    let pod_resources = PodResources::start(&root.join("kubelet/pod-resources/kubelet.sock"))
        .await
        .context("cannot start the pod-resources fake")?;
    Ok(Member {
        node,
        identity,
        _pod_resources: pod_resources,
        client: None,
        _watch: None,
        registered_after: Duration::ZERO,
    })
}

/// Waits for every node's registration of huawei.com/Ascend910, then opens
/// ListAndWatch as kubelet does and reads the first list.
async fn register_all(
    members: Vec<Member>,
    started: Instant,
    limit: Duration,
) -> anyhow::Result<Vec<Member>> {
    let mut set = JoinSet::new();
    for (i, mut member) in members.into_iter().enumerate() {
        set.spawn(async move {
            let result = async {
                loop {
                    let registration = member.node.registration(limit).await?;
                    if registration.resource_name == ASCEND910 {
                        member.registered_after = started.elapsed();
                        let (client, watch, _) = member.node.open(&registration.endpoint).await?;
                        member.client = Some(client);
                        member._watch = Some(watch);
                        return Ok::<_, anyhow::Error>(());
                    }
                }
            }
            .await;
            (i, member, result)
        });
    }
    let mut done = Vec::new();
    while let Some(joined) = set.join_next().await {
        let (i, member, result) = joined.context("a registration task panicked")?;
        result.with_context(|| format!("node {}", member.identity.name))?;
        done.push((i, member));
    }
    done.sort_by_key(|(i, _)| *i);
    Ok(done.into_iter().map(|(_, m)| m).collect())
}

fn mark(cp_pid: u32, plugins: &[u32]) -> anyhow::Result<Mark> {
    let cp = procfs::sample(cp_pid).context("cannot sample the control plane")?;
    let plugin_ticks = plugins
        .iter()
        .filter_map(|pid| procfs::sample(*pid).ok())
        .map(|s| s.cpu_ticks)
        .sum();
    Ok(Mark {
        at_us: now_us(),
        at: Instant::now(),
        cp,
        plugin_ticks,
    })
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

async fn sleep_until(at: Instant) {
    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
}

/// CPU of `ticks` between two marks, in percent of one CPU.
fn cpu_percent(from: &Mark, to: &Mark, ticks: impl Fn(&Mark) -> u64) -> f64 {
    let seconds = to.at.duration_since(from.at).as_secs_f64();
    let used = ticks(to).saturating_sub(ticks(from)) as f64 / procfs::ticks_per_second() as f64;
    if seconds > 0.0 {
        100.0 * used / seconds
    } else {
        0.0
    }
}

fn mean_usize(values: &[usize]) -> f64 {
    values.iter().sum::<usize>() as f64 / values.len().max(1) as f64
}

fn mean_u64(values: &[u64]) -> f64 {
    values.iter().sum::<u64>() as f64 / values.len().max(1) as f64
}

fn print_window(what: &str, window: &Window, n: usize, from: &Mark, to: &Mark) {
    let seconds = to.at.duration_since(from.at).as_secs_f64();
    println!(
        "{what} ({seconds:.0} s): {} requests, per node min {} mean {:.2} max {}; writes per node mean {:.2}",
        window.total(),
        window.per_node.iter().min().unwrap_or(&0),
        mean_usize(&window.per_node),
        window.per_node.iter().max().unwrap_or(&0),
        mean_usize(&window.writes_per_node),
    );
    for (kind, count) in &window.by_kind {
        println!("  {kind:<24} {:.2} per node", *count as f64 / n as f64);
    }
    let cp_cpu = to.cp.cpu_ticks.saturating_sub(from.cp.cpu_ticks) as f64
        / procfs::ticks_per_second() as f64;
    println!(
        "  control plane: {cp_cpu:.2} s CPU ({:.1}% of one CPU), RSS {:.1} -> {:.1} MB; all plugins: {:.1}% of one CPU",
        cpu_percent(from, to, |m| m.cp.cpu_ticks),
        from.cp.rss_kib as f64 * 1.024 / 1000.0,
        to.cp.rss_kib as f64 * 1.024 / 1000.0,
        cpu_percent(from, to, |m| m.plugin_ticks),
    );
}

/// Allocate latencies of both kinds, and how many failed.
#[derive(Debug, Default)]
struct Latency {
    cached: Vec<Duration>,
    late_total: Vec<Duration>,
    late_after_pod: Vec<Duration>,
    failures: Vec<String>,
}

impl Latency {
    fn print(&self) {
        if let Some(s) = Summary::of(&self.cached) {
            println!("  Allocate, pod already in the watch cache: {}", s.line());
        }
        if let Some(s) = Summary::of(&self.late_total) {
            println!(
                "  Allocate, pod created after the call, whole call: {}",
                s.line()
            );
        }
        if let Some(s) = Summary::of(&self.late_after_pod) {
            println!(
                "  Allocate, pod created after the call, pod created -> answer: {}",
                s.line()
            );
        }
        println!("  failed Allocates: {}", self.failures.len());
        for failure in self.failures.iter().take(5) {
            println!("    {failure}");
        }
    }
}

/// Volcano Allocates round-robin over the nodes, one chip each; each pod is
/// deleted after its Allocate. A (node, chip) pair comes back only after
/// every other pair was used, long after the plugin's 10 s grace for
/// forgetting an ID kubelet no longer lists.
async fn allocate_latency(
    args: &ScaleArgs,
    admin: &Admin,
    members: &mut [Member],
) -> anyhow::Result<Latency> {
    let mut latency = Latency::default();
    let n = members.len();
    for rep in 0..args.allocate_reps + args.late_reps {
        let index = rep % n;
        let chip = u32::try_from((rep / n) % CHIPS as usize).unwrap_or(0);
        let member = &mut members[index];
        let node = member.identity.name.clone();
        let client = member.client.as_mut().context("no kubelet connection")?;
        let pod = format!("alloc-{rep}");
        let ids = vec![vec![format!("Ascend910-{chip}")]];
        if rep < args.allocate_reps {
            admin.volcano_pod(&pod, &node, chip).await?;
            // The watch brings a new pod in milliseconds; leave it ample time.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let sent = Instant::now();
            match client.allocate(ids).await {
                Ok(_) => latency.cached.push(sent.elapsed()),
                Err(error) => latency.failures.push(format!("{node} {pod}: {error}")),
            }
        } else {
            let sent = Instant::now();
            let call = client.allocate(ids);
            let create = async {
                tokio::time::sleep(Duration::from_millis(args.late_ms)).await;
                admin.volcano_pod(&pod, &node, chip).await?;
                Ok::<_, anyhow::Error>(Instant::now())
            };
            let (answer, created) = tokio::join!(call, create);
            let answered = Instant::now();
            let created = created?;
            match answer {
                Ok(_) => {
                    latency.late_total.push(answered.duration_since(sent));
                    latency
                        .late_after_pod
                        .push(answered.saturating_duration_since(created));
                }
                Err(error) => latency
                    .failures
                    .push(format!("{node} {pod} (late): {error}")),
            }
        }
        admin.delete_pod(&pod).await?;
    }
    Ok(latency)
}

/// The smoke's assertions; prints each violation.
fn check(
    args: &ScaleArgs,
    burst: &Window,
    steady: &Window,
    watches: &[usize],
    gets: usize,
    unattributed: usize,
    latency: &anyhow::Result<Latency>,
) -> bool {
    let mut problems = Vec::new();
    for (i, &count) in burst.per_node.iter().enumerate() {
        if count == 0 {
            problems.push(format!("node {i}: no request attributed to its token"));
        }
        if count > VOLCANO_START_BUDGET {
            problems.push(format!(
                "node {i}: {count} requests in the start burst, budget {VOLCANO_START_BUDGET}"
            ));
        }
    }
    let heartbeats = args.steady_seconds.div_ceil(HEARTBEAT_SECONDS) as usize;
    let renewals = VOLCANO_WATCHES * args.steady_seconds.div_ceil(WATCH_RENEWAL_SECONDS) as usize;
    for (i, (&count, &writes)) in steady
        .per_node
        .iter()
        .zip(&steady.writes_per_node)
        .enumerate()
    {
        if writes > heartbeats || count > heartbeats + renewals {
            problems.push(format!(
                "node {i}: {count} requests ({writes} writes) in the steady {} s, budget {} ({heartbeats} writes)",
                args.steady_seconds,
                heartbeats + renewals
            ));
        }
    }
    for (i, &held) in watches.iter().enumerate() {
        if held != VOLCANO_WATCHES {
            problems.push(format!(
                "node {i}: {held} watches held, expected {VOLCANO_WATCHES}"
            ));
        }
    }
    if gets > 0 {
        problems.push(format!("{gets} GET requests: reads come from watches"));
    }
    if unattributed > 0 {
        problems.push(format!(
            "{unattributed} plugin requests not attributable to a node"
        ));
    }
    match latency {
        Ok(latency) if latency.failures.is_empty() => {}
        Ok(latency) => problems.push(format!("{} Allocates failed", latency.failures.len())),
        Err(error) => problems.push(format!("the Allocate measurement failed: {error:#}")),
    }
    if problems.is_empty() {
        println!("check: every request attributed to its node and within the Volcano budget");
        return true;
    }
    for problem in &problems {
        println!("check FAILED: {problem}");
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(steady_seconds: u64) -> ScaleArgs {
        ScaleArgs {
            nodes: 2,
            start_jitter: 0,
            burst_seconds: 30,
            steady_seconds,
            storm_seconds: 5,
            allocate_reps: 1,
            late_reps: 1,
            late_ms: 100,
            check: true,
        }
    }

    fn window(per_node: &[usize], writes: &[usize]) -> Window {
        Window {
            per_node: per_node.to_vec(),
            writes_per_node: writes.to_vec(),
            ..Window::default()
        }
    }

    #[test]
    fn the_smoke_passes_nodes_within_the_volcano_budget() {
        let ok = check(
            &args(20),
            &window(&[10, 10], &[2, 2]),
            &window(&[0, 0], &[0, 0]),
            &[4, 4],
            0,
            0,
            &Ok(Latency::default()),
        );
        assert!(ok);
    }

    #[test]
    fn the_smoke_fails_on_every_kind_of_violation() {
        let good_burst = window(&[10, 10], &[2, 2]);
        let quiet = window(&[0, 0], &[0, 0]);
        let fine = || Ok(Latency::default());
        // One node silent (its requests went under another token), one
        // over its start budget.
        assert!(!check(
            &args(20),
            &window(&[0, 20], &[0, 4]),
            &quiet,
            &[4, 4],
            0,
            0,
            &fine()
        ));
        // Polling: 2 writes in 20 s where one heartbeat is the most.
        assert!(!check(
            &args(20),
            &good_burst,
            &window(&[2, 0], &[2, 0]),
            &[4, 4],
            0,
            0,
            &fine()
        ));
        // A watch missing, a GET, an unattributed request.
        assert!(!check(
            &args(20),
            &good_burst,
            &quiet,
            &[3, 4],
            0,
            0,
            &fine()
        ));
        assert!(!check(
            &args(20),
            &good_burst,
            &quiet,
            &[4, 4],
            1,
            0,
            &fine()
        ));
        assert!(!check(
            &args(20),
            &good_burst,
            &quiet,
            &[4, 4],
            0,
            1,
            &fine()
        ));
        // A failed Allocate.
        let failed = Latency {
            failures: vec!["scale-000 alloc-0: refused".to_owned()],
            ..Latency::default()
        };
        assert!(!check(
            &args(20),
            &good_burst,
            &quiet,
            &[4, 4],
            0,
            0,
            &Ok(failed)
        ));
        // 600 s hold two heartbeats and no renewal.
        assert!(check(
            &args(600),
            &good_burst,
            &window(&[2, 2], &[2, 2]),
            &[4, 4],
            0,
            0,
            &fine()
        ));
        assert!(!check(
            &args(600),
            &good_burst,
            &window(&[3, 2], &[3, 2]),
            &[4, 4],
            0,
            0,
            &fine()
        ));
    }
}
