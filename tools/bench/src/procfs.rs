//! What the benchmark reads from /proc: the machine it runs on (printed at
//! the top so numbers travel with their machine) and one process's resident
//! memory and CPU time. Parsing is pure and tested; reading is thin.

use std::path::Path;

use anyhow::{Context as _, anyhow};

/// Facts about the machine, for the report header.
#[derive(Debug, Clone)]
pub struct Machine {
    /// Logical CPUs this process may use.
    pub cpus: usize,
    /// `model name` (x86) or `Model`/`CPU part` (Arm) from /proc/cpuinfo.
    pub cpu_model: String,
    /// `MemTotal` in KiB.
    pub mem_total_kib: u64,
    /// /proc/sys/kernel/osrelease.
    pub kernel: String,
    /// The three load averages from /proc/loadavg.
    pub load: String,
}

impl Machine {
    /// Reads the facts; anything unreadable prints as "unknown".
    pub fn read() -> Machine {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let meminfo = read("/proc/meminfo");
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            cpu_model: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown".to_string()),
            mem_total_kib: kib_field(&meminfo, "MemTotal").unwrap_or(0),
            kernel: known(read("/proc/sys/kernel/osrelease").trim()),
            load: known(
                &read("/proc/loadavg")
                    .split_whitespace()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        }
    }

    /// The header lines.
    pub fn describe(&self) -> String {
        format!(
            "machine: {} CPUs ({}), {:.1} GiB RAM, kernel {}, load average at start {}",
            self.cpus,
            self.cpu_model,
            self.mem_total_kib as f64 / (1024.0 * 1024.0),
            self.kernel,
            self.load
        )
    }
}

fn known(text: &str) -> String {
    if text.is_empty() {
        "unknown".to_string()
    } else {
        text.to_string()
    }
}

/// The CPU model line of /proc/cpuinfo.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    ["model name", "Model", "CPU part"].iter().find_map(|key| {
        cpuinfo.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            (name.trim() == *key && !value.trim().is_empty()).then(|| value.trim().to_string())
        })
    })
}

/// The number of a `Name:   1234 kB` field of /proc/meminfo or
/// /proc/<pid>/status (KiB for sizes; `Threads:` has no unit).
pub fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        if key != name {
            return None;
        }
        value.split_whitespace().next()?.parse().ok()
    })
}

/// utime + stime (clock ticks) from the text of /proc/<pid>/stat. The
/// command name may hold spaces and parentheses, so fields are counted
/// after its last `)`: field 3 (state) is the first there, utime is field
/// 14 and stime field 15.
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// One look at a process.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// VmRSS, KiB.
    pub rss_kib: u64,
    /// VmHWM (peak RSS since start), KiB.
    pub hwm_kib: u64,
    /// RssAnon (heap, stacks), KiB.
    pub anon_kib: u64,
    /// RssFile (mapped binary and libraries), KiB.
    pub file_kib: u64,
    /// Threads.
    pub threads: u64,
    /// utime + stime, clock ticks.
    pub cpu_ticks: u64,
}

/// Reads /proc/<pid>/status and /proc/<pid>/stat.
pub fn sample(pid: u32) -> anyhow::Result<Sample> {
    let dir = Path::new("/proc").join(pid.to_string());
    let status = std::fs::read_to_string(dir.join("status"))
        .with_context(|| format!("cannot read /proc/{pid}/status (did the plugin exit?)"))?;
    let stat = std::fs::read_to_string(dir.join("stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    let field =
        |name| kib_field(&status, name).ok_or_else(|| anyhow!("/proc/{pid}/status has no {name}"));
    Ok(Sample {
        rss_kib: field("VmRSS")?,
        hwm_kib: field("VmHWM")?,
        anon_kib: field("RssAnon")?,
        file_kib: field("RssFile")?,
        threads: kib_field(&status, "Threads").unwrap_or(0),
        cpu_ticks: cpu_ticks(&stat).ok_or_else(|| anyhow!("cannot parse /proc/{pid}/stat"))?,
    })
}

/// utime + stime (clock ticks) of the threads of `pid` named `comm`
/// (/proc/<pid>/task/*/comm); 0 when there are none.
pub fn thread_ticks(pid: u32, comm: &str) -> u64 {
    let tasks = Path::new("/proc").join(pid.to_string()).join("task");
    let Ok(entries) = std::fs::read_dir(&tasks) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.trim_end() == comm)
        })
        .filter_map(|task| std::fs::read_to_string(task.path().join("stat")).ok())
        .filter_map(|stat| cpu_ticks(&stat))
        .sum()
}

/// Clock ticks per second for /proc/<pid>/stat times.
pub fn ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn cpu_time_is_read_after_a_command_name_with_spaces_and_parens() {
        let stat = "4242 (odd) name)) S 1 4242 4242 0 -1 4194560 1200 0 0 0 37 15 0 0 20 0 \
                    4 0 123456 15000000 2500 18446744073709551615";
        assert_eq!(cpu_ticks(stat), Some(52));
    }

    #[test]
    fn a_truncated_stat_line_gives_nothing() {
        assert_eq!(cpu_ticks("4242 (x) S 1 2 3"), None);
        assert_eq!(cpu_ticks("no parenthesis"), None);
    }

    #[test]
    fn kib_fields_come_from_status_and_meminfo_lines() {
        let status = "Name:\tascend-device-p\nVmHWM:\t   14000 kB\nVmRSS:\t   12345 kB\n";
        assert_eq!(kib_field(status, "VmRSS"), Some(12345));
        assert_eq!(kib_field(status, "VmHWM"), Some(14000));
        assert_eq!(kib_field(status, "VmSwap"), None);
        assert_eq!(
            kib_field("MemTotal:       24684096 kB\n", "MemTotal"),
            Some(24684096)
        );
    }

    #[test]
    fn the_cpu_model_comes_from_model_name_first() {
        let x86 = "processor\t: 0\nmodel\t\t: 85\nmodel name\t: Intel(R) Xeon(R)\n";
        assert_eq!(cpu_model(x86).unwrap(), "Intel(R) Xeon(R)");
        let arm = "processor\t: 0\nCPU part\t: 0xd0c\n";
        assert_eq!(cpu_model(arm).unwrap(), "0xd0c");
        assert!(cpu_model("").is_none());
    }

    #[test]
    fn this_process_can_be_sampled() {
        let sample = sample(std::process::id()).unwrap();
        assert!(sample.rss_kib > 0 && sample.hwm_kib >= sample.rss_kib);
        assert!(sample.threads >= 1);
        assert!(ticks_per_second() > 0);
    }

    #[test]
    fn threads_are_found_by_name() {
        let spinner = std::thread::Builder::new()
            .name("bench-spin".into())
            .spawn(|| {
                let started = std::time::Instant::now();
                while started.elapsed() < std::time::Duration::from_millis(300) {
                    std::hint::spin_loop();
                }
                thread_ticks(std::process::id(), "bench-spin")
            })
            .unwrap();
        assert!(spinner.join().unwrap() > 0);
        assert_eq!(thread_ticks(std::process::id(), "no-such-thread"), 0);
    }
}
