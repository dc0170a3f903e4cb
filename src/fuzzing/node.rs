//! What reaches the plugin on its own node: its command line, its kubelet-ID
//! state file, the driver's strings and counts, and requests to its health
//! endpoint.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use super::assert_short_error;
use crate::config::{Config, Environment, ParseOutcome};
use crate::dcmi::text::{c_chars_as_bytes, c_text, chip_id, count};
use crate::k8s::assignments;
use crate::telemetry::http::PluginStatus;
use crate::telemetry::http::{HealthState, Heartbeat, serve_one};
use crate::telemetry::metrics::Metrics;

/// The command line: arguments split at NUL, after a first octet whose bits
/// choose the environment (in a pod, `NODE_NAME`, `ASCEND_DOCKER_RUNTIME`,
/// `HOST_IP`). Parsing never panics; an accepted configuration keeps every
/// range the flags table documents; a refusal names the flag briefly.
pub fn flags(data: &[u8]) {
    let Some((&env_bits, rest)) = data.split_first() else {
        return;
    };
    let env = Environment {
        in_cluster: env_bits & 1 != 0,
        node_name: (env_bits & 2 != 0).then(|| "node-a".to_owned()),
        ascend_docker_runtime: (env_bits & 4 != 0).then(|| "True".to_owned()),
        host_ip: (env_bits & 8 != 0).then(|| "192.0.2.1".to_owned()),
    };
    let text = String::from_utf8_lossy(rest);
    let argv = std::iter::once("device-plugin".to_owned()).chain(
        text.split('\0')
            .filter(|a| !a.is_empty())
            .map(str::to_owned),
    );
    match Config::from_args(argv, &env) {
        Ok(config) => {
            let period = config.list_watch_period.as_secs();
            assert!((3..=1800).contains(&period), "listWatchPeriod {period}");
            assert!((1..=100).contains(&config.share_dev_count));
            assert!((1..=30).contains(&config.linkdown_timeout.as_secs()));
            assert!((10..=600).contains(&config.device_reset_timeout.as_secs()));
            if config.mixed_insert_310p {
                assert!(
                    !config.volcano && config.share_dev_count == 1,
                    "mixed insert accepted"
                );
            }
            if !config.preset_virtual_device {
                assert!(
                    config.volcano && config.share_dev_count == 1,
                    "dynamic vNPU accepted"
                );
            }
            let log = &config.log.file;
            assert!(log.is_absolute(), "log file {log:?} accepted");
            assert!(
                !log.components()
                    .any(|c| c == std::path::Component::ParentDir)
            );
        }
        Err(ParseOutcome::Invalid(error)) => assert_short_error(&error),
        Err(ParseOutcome::Clap(_)) => {}
    }
}

/// The kubelet-ID state file (`volcano-map.json`): a map read back is of the
/// current format and survives being written and read again unchanged.
pub fn kubelet_id_state(data: &[u8]) {
    match assignments::decode(data) {
        Ok(map) => {
            let written = serde_json::to_vec_pretty(&map).expect("a read map serialises");
            assert_eq!(
                assignments::decode(&written),
                Ok(map),
                "not read back the same"
            );
        }
        Err(error) => assert_short_error(&error),
    }
}

/// The driver's strings and counts: three big-endian i64 (value, low, high)
/// then a C character array. A string is the octets before the first NUL,
/// only if they are UTF-8; a count is accepted only inside its range; a chip
/// id only in 0..=255; every refusal is short.
pub fn dcmi_text(data: &[u8]) {
    let mut numbers = [0i64; 3];
    let mut rest = data;
    for number in &mut numbers {
        if let Some((bytes, tail)) = rest.split_first_chunk::<8>() {
            *number = i64::from_be_bytes(*bytes);
            rest = tail;
        }
    }
    let [value, low, high] = numbers;
    match count("dcmi_fuzz", "count", value, low, high) {
        Ok(n) => assert!(low <= value && value <= high && i64::try_from(n) == Ok(value)),
        Err(error) => assert_short_error(&error),
    }
    match chip_id("dcmi_fuzz", "id", value) {
        Ok(id) => assert!(id <= 255 && i64::from(id) == value),
        Err(error) => assert_short_error(&error),
    }
    let chars: Vec<core::ffi::c_char> = rest
        .iter()
        .map(|&b| core::ffi::c_char::from_ne_bytes([b]))
        .collect();
    let bytes = c_chars_as_bytes(&chars);
    assert_eq!(bytes, rest, "c_char conversion changed octets");
    let end = rest.iter().position(|&b| b == 0);
    match c_text("dcmi_fuzz", "name", &bytes) {
        Ok(text) => assert_eq!(Some(text.as_bytes()), end.map(|end| &rest[..end])),
        Err(error) => {
            let valid = end.map(|end| std::str::from_utf8(&rest[..end]).is_ok());
            assert_ne!(valid, Some(true), "a valid string refused");
            assert_short_error(&error);
        }
    }
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
}

/// Bytes a client sends the health endpoint (then it closes its side): the
/// real connection handling answers with HTTP/1 responses only, with a
/// status the routes or the parser's limits give, and finishes.
pub fn health_request(data: &[u8]) {
    let (_status, receiver) = watch::channel(PluginStatus::default());
    let state = HealthState {
        heartbeat: Heartbeat::new(),
        tick: Duration::from_secs(5),
        status: receiver,
        dcmi_ready: data.first().is_some_and(|b| b & 1 != 0),
    };
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    let response = RUNTIME.with(|runtime| {
        runtime.block_on(async {
            let serve = serve_one(server, state, Metrics::new());
            let talk = async {
                let _ = client.write_all(data).await;
                let _ = client.shutdown().await;
                let mut response = Vec::new();
                let _ = client.read_to_end(&mut response).await;
                response
            };
            tokio::join!(serve, talk).1
        })
    });
    if response.is_empty() {
        return;
    }
    // hyper answers an HTTP/1.0 request in HTTP/1.0.
    let version = response.get(..9);
    assert!(
        version == Some(b"HTTP/1.1 ") || version == Some(b"HTTP/1.0 "),
        "not an HTTP/1 response: {:?}",
        String::from_utf8_lossy(&response[..response.len().min(40)])
    );
    let status = std::str::from_utf8(&response[9..12.min(response.len())]).unwrap_or("");
    let allowed = [
        "200", "400", "404", "405", "408", "413", "414", "431", "503", "505",
    ];
    assert!(allowed.contains(&status), "status {status:?}");
}
