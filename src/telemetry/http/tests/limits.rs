//! Bounds: concurrent connections, stalled and oversized request heads.

use std::time::Instant;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_connections_are_all_answered() {
    let server = start().await;
    let clients: Vec<_> = (0..300)
        .map(|i| {
            let path = ["/healthz", "/metrics", "/readyz"][i % 3];
            tokio::spawn(get(server.addr, path))
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
