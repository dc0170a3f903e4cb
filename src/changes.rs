//! Waiting on `tokio::sync::watch` channels without spinning.
//!
//! `Receiver::changed` returns an error at once, and on every call after,
//! when its sender is gone. Inside a `select!` loop that ignores the result
//! that is a busy loop: the loop wakes, does its pass (an API request, say)
//! and wakes again, thousands of times a second. It happened (a device-info
//! writer whose Volcano-only input had no sender outside Volcano mode sent
//! ~800 GETs a second), so `changed` is banned by `clippy.toml` everywhere
//! but here: a closed channel simply never changes again.

use tokio::sync::watch;

/// Resolves when `receiver` sees a new value; never resolves once its
/// sender is gone (nothing can change any more).
pub async fn changed<T>(receiver: &mut watch::Receiver<T>) {
    #[allow(clippy::disallowed_methods)] // the one vetted call: see the module doc
    if receiver.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A receiver whose value never changes: for an input a mode does not have
/// (its sender is dropped at once, so [`changed`] on it never resolves).
pub fn constant<T>(value: T) -> watch::Receiver<T> {
    watch::channel(value).1
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_closed_channel_never_reports_a_change() {
        let mut receiver = constant(1_u8);
        let waited = tokio::time::timeout(Duration::from_millis(50), changed(&mut receiver)).await;
        assert!(waited.is_err(), "a channel without sender must stay quiet");
    }

    #[tokio::test]
    async fn a_sent_value_is_reported_once() {
        let (sender, mut receiver) = watch::channel(0_u8);
        sender.send_replace(1);
        let first = tokio::time::timeout(Duration::from_millis(50), changed(&mut receiver)).await;
        assert!(first.is_ok());
        assert_eq!(*receiver.borrow_and_update(), 1);
        let second = tokio::time::timeout(Duration::from_millis(50), changed(&mut receiver)).await;
        assert!(second.is_err(), "no second wake without a new value");
    }
}
