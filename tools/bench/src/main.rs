//! `adp-bench`: measures the device plugin on the simulator and prints the
//! numbers next to their targets (no pass/fail exit status). Wiring only:
//! arguments, the machine header, a private work dir, the sections, the
//! summary; child processes die with the run on every exit path.

mod api;
mod faults;
mod floor;
mod idle;
mod load;
mod node;
mod procfs;
mod reaper;
mod report;
mod run;
mod scale;
mod startup;
mod stats;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use kubelet_standin::interrupted;

use crate::node::Artifacts;
use crate::run::{Plan, Section};

/// Benchmarks ascend-device-plugin on the DCMI simulator and prints each
/// number next to its target.
#[derive(Debug, Parser)]
#[command(name = "adp-bench")]
struct Cli {
    #[command(subcommand)]
    command: Option<Internal>,
    /// The plugin binary [default: ascend-device-plugin beside adp-bench].
    #[arg(long)]
    plugin_bin: Option<PathBuf>,
    /// The simulator library [default: libdcmi.so beside adp-bench].
    #[arg(long)]
    sim_lib: Option<PathBuf>,
    /// The end-to-end suite's control-plane harness (tests/e2e/cmd/apiserver),
    /// for section idle-api.
    #[arg(long)]
    apiserver_bin: Option<PathBuf>,
    /// The RBAC manifest applied for the plugin's ServiceAccount there.
    #[arg(long)]
    rbac: Option<PathBuf>,
    /// Sections to run, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "allocate,event,poll,start,idle,idle-api"
    )]
    only: Vec<Section>,
    /// Idle sampling span in seconds.
    #[arg(long, default_value_t = 60)]
    idle_seconds: u64,
    /// Timed Allocate calls with 1 caller.
    #[arg(long, default_value_t = 2000)]
    requests_one: usize,
    /// Timed Allocate calls over all callers at the high concurrency.
    #[arg(long, default_value_t = 20000)]
    requests_many: usize,
    /// The high concurrency.
    #[arg(long, default_value_t = 64)]
    callers: usize,
    /// Alternating floor/plugin rounds each Allocate load is split into.
    #[arg(long, default_value_t = 4)]
    rounds: usize,
    /// Event-path repetitions (at 50 or fewer, p99 is the maximum).
    #[arg(long, default_value_t = 200)]
    event_reps: usize,
    /// Poll-path repetitions.
    #[arg(long, default_value_t = 10)]
    poll_reps: usize,
    /// Poll-path -listWatchPeriod in seconds (3..1800).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(3..=1800))]
    poll_period: u64,
    /// start -> registered repetitions.
    #[arg(long, default_value_t = 10)]
    start_reps: usize,
    /// Seed of the Allocate request sequence and the poll phases.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where the private (0700) work dir is created [default: the temp dir].
    #[arg(long)]
    work_base: Option<PathBuf>,
    /// Keep the work dir (plugin logs, sockets) instead of deleting it.
    #[arg(long)]
    keep: bool,
}

#[derive(Debug, Subcommand)]
enum Internal {
    /// Cluster scale: N simulated nodes against one real kube-apiserver
    /// (scripts/scale.sh N); prints requests per node by verb and resource,
    /// watches held, the API server's CPU and memory, Allocate latency.
    Scale(scale::ScaleArgs),
    /// The no-op floor server (started by the benchmark itself).
    #[command(hide = true)]
    ServeFloor {
        #[arg(long)]
        socket: PathBuf,
    },
    /// Kills the plugin `pid` when stdin closes (started by the benchmark).
    #[command(hide = true)]
    Reap {
        #[arg(long)]
        pid: u32,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Some(Internal::Reap { pid }) => reaper::reap(*pid).map(|()| ExitCode::SUCCESS),
        // The floor server copies the plugin's runtime (2 workers).
        Some(Internal::ServeFloor { socket }) => runtime(Some(floor::FLOOR_WORKERS))
            .and_then(|runtime| runtime.block_on(floor::serve(socket)))
            .map(|()| ExitCode::SUCCESS),
        Some(Internal::Scale(args)) => {
            runtime(None).and_then(|runtime| runtime.block_on(scale_run(&cli, args)))
        }
        // The load side takes the default: one worker per CPU.
        None => runtime(None).and_then(|runtime| runtime.block_on(bench(&cli))),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("adp-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime(workers: Option<usize>) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = workers {
        builder.worker_threads(workers);
    }
    builder
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The benchmark; SIGINT or SIGTERM stop it early with status 130 (dropping
/// the run kills its child processes, then the work dir is deleted).
async fn bench(cli: &Cli) -> anyhow::Result<ExitCode> {
    let machine = procfs::Machine::read();
    println!("adp-bench {}", env!("CARGO_PKG_VERSION"));
    println!("{}", machine.describe());
    let artifacts = locate(cli)?;
    println!("plugin: {}", artifacts.plugin_bin.display());
    println!("simulator: {}", artifacts.sim_lib.display());
    let work = work_dir(cli.work_base.as_deref())?;
    println!("work dir: {}", work.path().display());
    let plan = Plan {
        sections: cli.only.clone(),
        requests_one: cli.requests_one,
        requests_many: cli.requests_many,
        callers: cli.callers.max(1),
        rounds: cli.rounds,
        event_reps: cli.event_reps,
        poll_reps: cli.poll_reps,
        poll_period: cli.poll_period,
        start_reps: cli.start_reps,
        idle_seconds: cli.idle_seconds,
        seed: cli.seed,
    };
    let report = tokio::select! {
        report = run::run(&plan, &artifacts, work.path()) => report?,
        name = interrupted() => {
            eprintln!("adp-bench: interrupted by {name}");
            return Ok(ExitCode::from(130));
        }
    };
    println!("\n== summary ==");
    println!("load average at end: {}", procfs::Machine::read().load);
    print!("{}", report.table());
    let (met, missed) = report.tally();
    println!("{met} of {} targets met", met + missed);
    if cli.keep {
        let kept = work.keep();
        println!("kept {}", kept.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `adp-bench scale`: the machine, a private work dir, the run; exit 1 when
/// `--check` found a violation, 130 on SIGINT/SIGTERM.
async fn scale_run(cli: &Cli, args: &scale::ScaleArgs) -> anyhow::Result<ExitCode> {
    println!("adp-bench {} scale", env!("CARGO_PKG_VERSION"));
    println!("{}", procfs::Machine::read().describe());
    let artifacts = locate(cli)?;
    let work = work_dir(cli.work_base.as_deref())?;
    println!("work dir: {}", work.path().display());
    let ok = tokio::select! {
        ok = scale::run(args, &artifacts, work.path()) => ok?,
        name = interrupted() => {
            eprintln!("adp-bench: interrupted by {name}");
            return Ok(ExitCode::from(130));
        }
    };
    println!("load average at end: {}", procfs::Machine::read().load);
    if cli.keep {
        let kept = work.keep();
        println!("kept {}", kept.display());
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The plugin and the simulator library: given, or beside this executable
/// (`target/release/` after `cargo build --release`).
fn locate(cli: &Cli) -> anyhow::Result<Artifacts> {
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let beside = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    let artifacts = Artifacts {
        plugin_bin: cli
            .plugin_bin
            .clone()
            .unwrap_or_else(|| beside.join("ascend-device-plugin")),
        sim_lib: cli
            .sim_lib
            .clone()
            .unwrap_or_else(|| beside.join("libdcmi.so")),
        apiserver_bin: cli.apiserver_bin.clone(),
        rbac: cli.rbac.clone(),
    };
    for path in [&artifacts.plugin_bin, &artifacts.sim_lib] {
        if !path.is_file() {
            bail!(
                "{} is missing: run `cargo build --release -p ascend-device-plugin -p dcmi-sim` \
                 (scripts/bench.sh does) or pass --plugin-bin/--sim-lib",
                path.display()
            );
        }
    }
    Ok(artifacts)
}

/// A fresh 0700 directory under `base` (default: the temp dir). `base` and
/// its ancestors must not be writable by others unless sticky (like /tmp),
/// or the plugin's log writer refuses the paths.
fn work_dir(base: Option<&Path>) -> anyhow::Result<tempfile::TempDir> {
    let base = base.map_or_else(std::env::temp_dir, Path::to_path_buf);
    for dir in base.ancestors() {
        let mode = std::fs::metadata(dir)
            .with_context(|| format!("cannot inspect {}", dir.display()))?
            .permissions()
            .mode();
        if mode & 0o002 != 0 && mode & 0o1000 == 0 {
            bail!(
                "{} is writable by others without the sticky bit; pick another --work-base",
                dir.display()
            );
        }
    }
    let dir = tempfile::Builder::new()
        .prefix("adp-bench-")
        .tempdir_in(&base)
        .with_context(|| format!("cannot create a work dir in {}", base.display()))?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make {} private", dir.path().display()))?;
    Ok(dir)
}
