#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::{debug, error, info, warn};
use tracing_subscriber::layer::SubscriberExt;

use super::*;

/// A temp dir that passes the directory rules whatever the umask (tempfile
/// creates it with 0777 minus the umask).
fn private_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let private = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o700);
    std::fs::set_permissions(dir.path(), private).unwrap();
    dir
}

/// A console stand-in the test can read back.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Shared {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn lines_with(text: &str, needle: &str) -> usize {
    text.lines().filter(|line| line.contains(needle)).count()
}

#[test]
fn go_log_levels_map_to_tracing_levels_with_critical_filtering_as_error() {
    let expected = [
        (-1, LevelFilter::DEBUG),
        (0, LevelFilter::INFO),
        (1, LevelFilter::WARN),
        (2, LevelFilter::ERROR),
        (3, LevelFilter::ERROR),
    ];
    for (flag, filter) in expected {
        assert_eq!(
            Level::from_go_flag(flag).unwrap().filter(),
            filter,
            "-logLevel={flag}"
        );
    }
    assert_eq!(Level::from_go_flag(3), Some(Level::Critical));
    assert_eq!(Level::from_go_flag(4), None);
    assert_eq!(Level::from_go_flag(-2), None);
}

#[test]
fn the_limiter_lets_the_burst_through_then_suppresses_the_rest() {
    let t0 = Instant::now();
    let mut limiter = RateLimiter::new(5, Duration::from_secs(10));
    let decisions: Vec<_> = (0..8u64)
        .map(|i| limiter.allow("chip0", t0 + Duration::from_millis(10 * i)))
        .collect();
    assert_eq!(decisions[..5], [Decision::Allow; 5]);
    assert_eq!(decisions[5..], [Decision::Suppress; 3]);
}

#[test]
fn the_next_window_reports_the_suppressed_count_once_and_starts_afresh() {
    let t0 = Instant::now();
    let mut limiter = RateLimiter::new(2, Duration::from_secs(10));
    for i in 0..10u64 {
        limiter.allow("chip0", t0 + Duration::from_millis(i));
    }
    let later = t0 + Duration::from_secs(10);
    assert_eq!(
        limiter.allow("chip0", later),
        Decision::AllowAfterSuppressed(8)
    );
    assert_eq!(limiter.allow("chip0", later), Decision::Allow);
    assert_eq!(limiter.allow("chip0", later), Decision::Suppress);
    let quiet = later + Duration::from_secs(10);
    assert_eq!(
        limiter.allow("chip0", quiet),
        Decision::AllowAfterSuppressed(1)
    );
    let calm = quiet + Duration::from_secs(10);
    assert_eq!(
        limiter.allow("chip0", calm),
        Decision::Allow,
        "nothing suppressed last window"
    );
}

#[test]
fn one_flapping_key_does_not_silence_another() {
    let t0 = Instant::now();
    let mut limiter = RateLimiter::new(1, Duration::from_secs(10));
    assert_eq!(limiter.allow("chip0", t0), Decision::Allow);
    assert_eq!(limiter.allow("chip0", t0), Decision::Suppress);
    assert_eq!(limiter.allow("chip1", t0), Decision::Allow);
}

#[test]
fn expiry_reports_ended_windows_that_suppressed_and_forgets_all_ended_windows() {
    let t0 = Instant::now();
    let mut limiter = RateLimiter::new(1, Duration::from_secs(10));
    for _ in 0..4 {
        limiter.allow("noisy", t0);
    }
    limiter.allow("quiet", t0);
    limiter.allow("young", t0 + Duration::from_secs(5));
    assert!(limiter.expire(t0 + Duration::from_secs(9)).is_empty());
    assert_eq!(limiter.expire(t0 + Duration::from_secs(10)), [("noisy", 3)]);
    assert_eq!(limiter.tracked(), 1, "only the young window is left");
    assert_eq!(
        limiter.allow("noisy", t0 + Duration::from_secs(11)),
        Decision::Allow
    );
}

#[test]
fn the_limiter_tracks_a_bounded_number_of_keys_and_lets_the_overflow_through() {
    let t0 = Instant::now();
    let mut limiter = RateLimiter::new(1, Duration::from_secs(10));
    for key in 0..MAX_KEYS + 10 {
        assert_eq!(limiter.allow(key, t0), Decision::Allow);
    }
    assert_eq!(limiter.tracked(), MAX_KEYS);
    assert_eq!(
        limiter.allow(MAX_KEYS + 5, t0),
        Decision::Allow,
        "untracked"
    );
}

fn storm_subscriber(window: Duration, out: &Shared) -> impl tracing::Subscriber + Send + Sync {
    let out = out.clone();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || out.clone()),
        )
        .with(StormLayer::new(3, window))
}

#[test]
fn a_flapping_chip_is_written_burst_times_then_summarised_in_one_line() {
    let out = Shared::default();
    let window = Duration::from_millis(400);
    tracing::subscriber::with_default(storm_subscriber(window, &out), || {
        for _ in 0..100 {
            warn!(chip = "Ascend910-3", code = "80E01801", "chip unhealthy");
        }
        for _ in 0..2 {
            warn!(chip = "Ascend910-4", "chip unhealthy");
        }
        std::thread::sleep(window + Duration::from_millis(50));
        warn!(chip = "Ascend910-3", "chip unhealthy");
    });
    let text = out.text();
    // Three of the storm, one in the next window.
    assert_eq!(lines_with(&text, "chip=\"Ascend910-3\""), 3 + 1, "{text}");
    assert_eq!(lines_with(&text, "chip=\"Ascend910-4\""), 2, "{text}");
    let summaries: Vec<_> = text
        .lines()
        .filter(|l| l.contains("similar messages"))
        .collect();
    assert_eq!(summaries.len(), 1, "{text}");
    assert!(
        summaries[0].contains("suppressed 97 similar messages"),
        "{}",
        summaries[0]
    );
    assert!(
        summaries[0].contains("key=\"chip=Ascend910-3\""),
        "{}",
        summaries[0]
    );
    assert!(summaries[0].contains("suppressed=97"), "{}", summaries[0]);
    assert!(summaries[0].contains("WARN"), "{}", summaries[0]);
}

#[test]
fn a_storm_that_stops_is_summarised_at_the_next_event_of_any_key() {
    let out = Shared::default();
    let window = Duration::from_millis(300);
    tracing::subscriber::with_default(storm_subscriber(window, &out), || {
        for _ in 0..10 {
            error!(chip = "Ascend910-0", "link down");
        }
        std::thread::sleep(window + Duration::from_millis(50));
        info!("an unrelated line");
    });
    let text = out.text();
    assert_eq!(
        lines_with(&text, "suppressed 7 similar messages"),
        1,
        "{text}"
    );
    assert_eq!(lines_with(&text, "an unrelated line"), 1, "{text}");
}

fn file_settings(dir: &std::path::Path, level: Level) -> LogSettings {
    LogSettings {
        level,
        file: Some(dir.join("devicePlugin").join("devicePlugin.log")),
        ..LogSettings::default()
    }
}

#[test]
fn the_subscriber_writes_the_same_filtered_lines_to_the_file_and_the_console() {
    let dir = private_tempdir();
    let settings = file_settings(dir.path(), Level::Info);
    let console = Shared::default();
    let (subscriber, guard) = subscriber(&settings, None, console.clone()).unwrap();
    tracing::subscriber::with_default(subscriber, || {
        info!(chip = "Ascend910-0", "chip found");
        debug!("debug detail");
        for _ in 0..50 {
            warn!(chip = "Ascend910-3", "chip flapping");
        }
    });
    drop(guard);
    let path = settings.file.unwrap();
    let file = std::fs::read_to_string(&path).unwrap();
    for text in [&file, &console.text()] {
        assert_eq!(lines_with(text, "chip found"), 1, "{text}");
        assert_eq!(lines_with(text, "debug detail"), 0, "{text}");
        assert_eq!(
            lines_with(text, "chip flapping"),
            DEFAULT_BURST as usize,
            "{text}"
        );
    }
    assert!(!file.contains('\u{1b}'), "no ANSI colour codes in the file");
    let mode = std::os::unix::fs::MetadataExt::mode(&std::fs::metadata(&path).unwrap());
    assert_eq!(mode & 0o777, 0o640);
}

#[test]
fn rust_log_replaces_the_log_level_when_set() {
    let dir = private_tempdir();
    let settings = file_settings(dir.path(), Level::Critical);
    let (subscriber, guard) = subscriber(&settings, Some("debug"), io::sink()).unwrap();
    tracing::subscriber::with_default(subscriber, || {
        debug!("visible because of RUST_LOG");
    });
    drop(guard);
    let file = std::fs::read_to_string(settings.file.unwrap()).unwrap();
    assert_eq!(
        lines_with(&file, "visible because of RUST_LOG"),
        1,
        "{file}"
    );
}

#[test]
fn an_empty_rust_log_leaves_the_log_level_in_charge() {
    let dir = private_tempdir();
    let settings = file_settings(dir.path(), Level::Warn);
    let (subscriber, guard) = subscriber(&settings, Some("  "), io::sink()).unwrap();
    tracing::subscriber::with_default(subscriber, || {
        info!("below warn");
        warn!("at warn");
    });
    drop(guard);
    let file = std::fs::read_to_string(settings.file.unwrap()).unwrap();
    assert_eq!(
        (
            lines_with(&file, "below warn"),
            lines_with(&file, "at warn")
        ),
        (0, 1)
    );
}

#[test]
fn an_invalid_rust_log_is_refused_without_echoing_its_value() {
    let value = "secret-token=[{";
    let result = subscriber(&LogSettings::default(), Some(value), io::sink());
    let err = result.err().unwrap();
    assert!(matches!(err, LogError::RustLog));
    let mut chain = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(inner) = source {
        chain.push_str(&inner.to_string());
        source = inner.source();
    }
    assert!(!chain.contains("secret-token"), "{chain}");
}

#[test]
fn a_refused_log_path_fails_setup_with_the_path_and_rule() {
    let settings = LogSettings {
        file: Some("var/log/devicePlugin.log".into()),
        ..LogSettings::default()
    };
    let err = subscriber(&settings, None, io::sink()).err().unwrap();
    let message = err.to_string();
    assert!(matches!(err, LogError::File(_)), "{message}");
    assert!(message.contains("var/log/devicePlugin.log") && message.contains("absolute"));
}
