//! Stopping a driver program (the demo, the benchmark) cleanly on Ctrl-C.

use tokio::signal::unix::{SignalKind, signal};

/// Resolves on SIGINT (Ctrl-C) or SIGTERM, naming the signal.
pub async fn interrupted() -> &'static str {
    let sigint = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    match signal(SignalKind::terminate()) {
        Ok(mut sigterm) => tokio::select! {
            () = sigint => "SIGINT",
            _ = sigterm.recv() => "SIGTERM",
        },
        Err(_) => {
            sigint.await;
            "SIGINT"
        }
    }
}
