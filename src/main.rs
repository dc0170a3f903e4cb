//! Wiring only: parse the configuration, set up logging, run.

use std::process::ExitCode;

use ascend_device_plugin::app;
use ascend_device_plugin::config::{Command, Config, Environment, ParseOutcome};
use ascend_device_plugin::telemetry::logging::{self, LogGuard, LogSettings};
use tracing_subscriber::util::SubscriberInitExt;

/// The daemon logs to stdout and `-logFile`; `inspect` only to stderr, so
/// its stdout stays clean for the table or JSON.
fn start_logging(config: &Config) -> Result<LogGuard, logging::LogError> {
    let mut settings = LogSettings {
        level: config.log.level,
        file: Some(config.log.file.clone()),
        max_backups: config.log.max_backups,
        max_age_days: config.log.max_age_days,
        ..LogSettings::default()
    };
    if matches!(config.command, None | Some(Command::Dra(_))) {
        return logging::init(&settings);
    }
    settings.file = None;
    let rust_log = std::env::var("RUST_LOG").ok();
    let (subscriber, guard) =
        logging::subscriber(&settings, rust_log.as_deref(), std::io::stderr())?;
    subscriber
        .try_init()
        .map_err(logging::LogError::AlreadyInstalled)?;
    Ok(guard)
}

fn main() -> ExitCode {
    let config = match Config::from_args(std::env::args(), &Environment::from_process()) {
        Ok(config) => config,
        Err(ParseOutcome::Clap(error)) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
        Err(ParseOutcome::Invalid(error)) => {
            eprintln!("ascend-device-plugin: {error}");
            return ExitCode::from(2);
        }
    };
    if config.print_version {
        println!("ascend-device-plugin {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let _log_guard = match start_logging(&config) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("ascend-device-plugin: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ascend-device-plugin: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match &config.command {
            Some(Command::Inspect { json }) => app::inspect(&config, *json).await,
            Some(Command::Dra(flags)) => app::run_dra(config.clone(), flags.clone()).await,
            None => app::run(config.clone()).await,
        }
    });
    // A driver call that hung past its timeout still holds a blocking thread;
    // do not let it hold the process too.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("ascend-device-plugin: {error:#}");
            ExitCode::FAILURE
        }
    }
}
