//! Bounds: concurrent connections, stalled and oversized request heads.

use std::time::Instant;

use super::*;

/// A connection from loopback address 127.0.<a>.<b> (every 127/8 address
/// is local), so one test can play many peers.
async fn connect_from(addr: SocketAddr, a: u8, b: u8) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from(([127, 0, a, b], 0))).unwrap();
    socket.connect(addr).await.unwrap()
}

async fn get_from(addr: SocketAddr, a: u8, b: u8, path: &str) -> Reply {
    let stream = connect_from(addr, a, b).await;
    exchange(stream, &request_bytes("GET", path)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_connections_are_all_answered() {
    let server = start().await;
    // 300 at once from 100 peers: a burst of busy clients waits its turn.
    let clients: Vec<_> = (0..300)
        .map(|i| {
            let path = ["/healthz", "/metrics", "/readyz"][i % 3];
            let peer = u8::try_from(i % 100).unwrap() + 1;
            tokio::spawn(get_from(server.addr, 2, peer, path))
        })
        .collect();
    let mut statuses = BTreeMap::new();
    for client in clients {
        *statuses.entry(client.await.unwrap().status).or_insert(0) += 1;
    }
    assert_eq!(statuses, BTreeMap::from([(200, 200), (503, 100)]));
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let options = ServeOptions {
        max_connections: 2,
        header_read_timeout: Duration::from_secs(30),
        ..ServeOptions::default()
    };
    let server = start_with(options, true).await;
    let idle_a = TcpStream::connect(server.addr).await.unwrap();
    let _idle_b = TcpStream::connect(server.addr).await.unwrap();
    // Let the server accept both before the third arrives.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = tokio::spawn(get(server.addr, "/healthz"));
    let waited = tokio::time::timeout(Duration::from_millis(400), &mut third).await;
    assert!(
        waited.is_err(),
        "a third connection was served beyond the cap"
    );

    drop(idle_a);
    let reply = tokio::time::timeout(Duration::from_secs(5), third)
        .await
        .expect("the third connection never got the freed slot")
        .unwrap();
    assert_eq!(reply.status, 200);
}

/// Reads until the server closes; returns how long that took.
async fn time_until_closed(mut stream: TcpStream) -> Duration {
    let started = Instant::now();
    let mut sink = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut sink));
    let _ = read
        .await
        .expect("the server kept a stalled connection open");
    started.elapsed()
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let options = ServeOptions {
        header_read_timeout: Duration::from_millis(300),
        ..ServeOptions::default()
    };
    let server = start_with(options, true).await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        .await
        .unwrap();
    let elapsed = time_until_closed(slow).await;
    assert!(
        elapsed >= Duration::from_millis(250),
        "closed after {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(5), "closed after {elapsed:?}");

    let silent = TcpStream::connect(server.addr).await.unwrap();
    let elapsed = time_until_closed(silent).await;
    assert!(elapsed < Duration::from_secs(5), "closed after {elapsed:?}");
    assert_eq!(get(server.addr, "/healthz").await.status, 200);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let options = ServeOptions {
        header_read_timeout: Duration::from_millis(300),
        ..ServeOptions::default()
    };
    let server = start_with(options, true).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    stream.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let elapsed = time_until_closed(stream).await;
    assert!(elapsed < Duration::from_secs(5), "closed after {elapsed:?}");
}

#[tokio::test]
async fn an_oversized_request_head_is_refused() {
    let server = start().await;
    let huge = format!(
        "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    // The server may close before reading everything; a reset write is fine.
    let _ = stream.write_all(huge.as_bytes()).await;
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut bytes));
    assert!(
        read.await.is_ok(),
        "the server waited for the rest of a 64 KiB head"
    );
    // The answer may be lost to a reset (we sent more than it read).
    if !bytes.is_empty() {
        assert_eq!(parse_reply(&bytes).status, 431);
    }
    let many = format!(
        "GET /healthz HTTP/1.1\r\nHost: t\r\n{}Connection: close\r\n\r\n",
        (0..80).map(|i| format!("X-{i}: v\r\n")).collect::<String>()
    );
    let stream = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(exchange(stream, many.as_bytes()).await.status, 431);
    assert_eq!(get(server.addr, "/healthz").await.status, 200);
}

/// The liveness probe of deploy/base/daemonset.yaml gives up after 3 s.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_liveness_probe_is_answered_while_200_slow_or_silent_clients_are_connected() {
    let server = start().await;
    let mut held = Vec::new();
    // 100 silent clients, each from its own address.
    for b in 1..=100 {
        held.push(connect_from(server.addr, 3, b).await);
    }
    // 100 slow ones: half from their own addresses, half from the probe's
    // own (the node's address is shared with hostNetwork pods).
    for i in 0..100u8 {
        let mut slow = if i % 2 == 0 {
            connect_from(server.addr, 4, i + 1).await
        } else {
            connect_from(server.addr, 0, 1).await
        };
        let _ = slow
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")
            .await;
        held.push(slow);
    }
    for round in 0..3 {
        let started = Instant::now();
        let reply = tokio::time::timeout(PROBE_TIMEOUT, get_from(server.addr, 0, 1, "/healthz"))
            .await
            .unwrap_or_else(|_| panic!("probe {round} not answered within {PROBE_TIMEOUT:?}"));
        assert_eq!(reply.status, 200);
        assert!(started.elapsed() < PROBE_TIMEOUT);
    }
    drop(held);
}

#[tokio::test]
async fn one_peer_cannot_hold_more_than_its_share_of_connections() {
    let options = ServeOptions {
        max_connections_per_peer: 2,
        header_read_timeout: Duration::from_secs(30),
        ..ServeOptions::default()
    };
    let server = start_with(options, true).await;
    let oldest = connect_from(server.addr, 5, 1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _second = connect_from(server.addr, 5, 1).await;
    let other_peer = connect_from(server.addr, 5, 2).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The third from 127.0.5.1 closes that peer's least recently active one.
    let reply = get_from(server.addr, 5, 1, "/healthz").await;
    assert_eq!(reply.status, 200);
    let elapsed = time_until_closed(oldest).await;
    assert!(elapsed < Duration::from_secs(2), "closed after {elapsed:?}");
    // Another peer's connection is untouched.
    let mut other_peer = other_peer;
    let reply = exchange(&mut other_peer, &request_bytes("GET", "/healthz")).await;
    assert_eq!(reply.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_responses_is_disconnected() {
    let options = ServeOptions {
        write_timeout: Duration::from_millis(300),
        header_read_timeout: Duration::from_secs(30),
        ..ServeOptions::default()
    };
    let server = start_with(options, true).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(server.addr).await.unwrap();
    // Pipelined requests whose answers far exceed both socket buffers.
    let request = b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n".repeat(20_000);
    let (mut reader, mut writer) = stream.split();
    let _ = tokio::time::timeout(Duration::from_secs(3), writer.write_all(&request)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut sink = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut sink)).await;
    assert!(
        read.is_ok(),
        "the server kept writing to a client that did not read"
    );
    assert_eq!(get(server.addr, "/healthz").await.status, 200);
}
