#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The `:authority` rewrite over real unix sockets: clients that send the
//! socket path as `:authority` (grpc-go kubelets before 1.26, grpcio) are
//! served, and everything else still works.

mod raw_client;
mod support;

use std::path::Path;
use std::time::Duration;

use ascend_device_plugin::proto::deviceplugin::Empty;
use ascend_device_plugin::proto::deviceplugin::device_plugin_client::DevicePluginClient;
use raw_client::{
    CONTINUATION, DATA, END_HEADERS, END_STREAM, Framing, HEADERS, PREFACE, PROTOCOL_ERROR,
    RawClient, Response, frame_bytes, grpc_message, grpc_request_fields,
};
use support::{OPTIONS_PATH, TestServer, WATCH_UPDATES, options, options_bytes};
use tokio::io::AsyncWriteExt;
use tonic::transport::{Channel, Endpoint, Uri};

const TIMEOUT: Duration = Duration::from_secs(10);

fn path_authority(server: &TestServer) -> String {
    server.socket.display().to_string()
}

fn assert_options_served(response: &Response) {
    assert_eq!(response.header(":status"), Some("200"), "{response:?}");
    assert_eq!(response.trailer("grpc-status"), Some("0"), "{response:?}");
    assert_eq!(response.messages(), vec![options_bytes()], "{response:?}");
}

async fn tonic_client(socket: &Path) -> DevicePluginClient<Channel> {
    let channel = Endpoint::from_shared(format!("unix://{}", socket.display()))
        .unwrap()
        .origin(Uri::from_static("http://localhost"))
        .connect()
        .await
        .unwrap();
    DevicePluginClient::new(channel)
}

/// A literal header field without indexing (RFC 7541 §6.2.2), so a big field
/// does not flush the client's dynamic table.
fn literal_without_indexing(name: &str, value: &str) -> Vec<u8> {
    let mut out = vec![0x00];
    for text in [name, value] {
        out.extend(loona_hpack::encoder::encode_integer(text.len(), 7));
        out.extend_from_slice(text.as_bytes());
    }
    out
}

#[tokio::test]
async fn a_client_that_sends_the_socket_path_as_authority_is_served() {
    let server = TestServer::start(true).await;
    let mut client = RawClient::connect(&server.socket).await;
    let fields = grpc_request_fields(OPTIONS_PATH, &path_authority(&server));
    assert!(fields[3].1.starts_with('/') && fields[3].1.ends_with("x.sock"));

    let response = client.unary(&fields, &Framing::default()).await;

    assert_options_served(&response);
    let seen = server.plugin.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].peer_pid,
        Some(std::process::id() as i32),
        "UdsConnectInfo reaches the service"
    );
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn a_plain_tonic_server_resets_a_request_whose_authority_is_the_socket_path() {
    let server = TestServer::start(false).await;
    let mut client = RawClient::connect(&server.socket).await;

    let refused = client
        .unary(
            &grpc_request_fields(OPTIONS_PATH, &path_authority(&server)),
            &Framing::default(),
        )
        .await;
    assert_eq!(
        refused.reset,
        Some(PROTOCOL_ERROR),
        "h2 refuses a path authority: {refused:?}"
    );
    assert!(refused.headers.is_empty());
    assert!(server.plugin.seen().is_empty());

    // Same client, same connection, `localhost`: served. Only the authority
    // made the difference.
    let served = client
        .unary(
            &grpc_request_fields(OPTIONS_PATH, "localhost"),
            &Framing::default(),
        )
        .await;
    assert_options_served(&served);
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn a_tonic_client_is_served_through_the_rewrite_including_an_open_server_stream() {
    let server = TestServer::start(true).await;
    let mut client = tonic_client(&server.socket).await;

    let reply = tokio::time::timeout(TIMEOUT, client.get_device_plugin_options(Empty {}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.into_inner(), options());

    let mut watch = client.list_and_watch(Empty {}).await.unwrap().into_inner();
    for i in 0..WATCH_UPDATES {
        let update = tokio::time::timeout(TIMEOUT, watch.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(update.devices[0].id, format!("npu-{i}"));
    }
    // The stream stays open, and other calls share the connection meanwhile.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), watch.message())
            .await
            .is_err()
    );
    for _ in 0..20 {
        let reply = tokio::time::timeout(TIMEOUT, client.get_device_plugin_options(Empty {})).await;
        assert_eq!(reply.unwrap().unwrap().into_inner(), options());
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(100), watch.message())
            .await
            .is_err()
    );
    assert_eq!(server.plugin.seen().len(), 22);
    drop(watch);
    drop(client);
    server.stop().await;
}

/// A literal header field with incremental indexing (RFC 7541 §6.2.1),
/// naming static entry `name_index`, or carrying `name` when that is 0.
fn literal_with_indexing(name_index: usize, name: &str, value: &str) -> Vec<u8> {
    let mut out = loona_hpack::encoder::encode_integer(name_index, 6);
    out[0] |= 0x40;
    let texts = if name_index == 0 {
        vec![name, value]
    } else {
        vec![value]
    };
    for text in texts {
        out.extend(loona_hpack::encoder::encode_integer(text.len(), 7));
        out.extend_from_slice(text.as_bytes());
    }
    out
}

#[tokio::test]
async fn a_header_block_larger_than_one_frame_is_served_and_the_client_dynamic_table_is_kept() {
    let server = TestServer::start(true).await;
    let mut client = RawClient::connect(&server.socket).await;
    let authority = path_authority(&server);
    let big = "b".repeat(20_000);
    // First request: every field but the big one enters the dynamic table,
    // the way grpc-go indexes them (:method POST and :scheme http are static).
    let first = [
        vec![0x83, 0x86],
        literal_with_indexing(4, "", OPTIONS_PATH),
        literal_with_indexing(1, "", &authority),
        literal_with_indexing(31, "", "application/grpc"),
        literal_with_indexing(0, "te", "trailers"),
        literal_with_indexing(0, "x-small", "kept"),
    ]
    .concat();
    // Second request: the same fields as dynamic table references, newest
    // first: x-small 62, te 63, content-type 64, :authority 65, :path 66.
    // Only a decoder that kept the connection's state can read it.
    let second = vec![
        0x83,
        0x86,
        0x80 | 66,
        0x80 | 65,
        0x80 | 64,
        0x80 | 63,
        0x80 | 62,
    ];

    for indexed in [first, second] {
        let block = [indexed, literal_without_indexing("x-big", &big)].concat();
        let stream_id = client.next_stream_id();
        let frames = RawClient::header_frames(stream_id, &block, false, &Framing::default());
        assert_eq!(frames[3], HEADERS);
        assert_eq!(
            frames[9 + 16_384 + 3],
            CONTINUATION,
            "the block spans two frames"
        );
        client.send_raw(&frames).await;
        client.send_data(stream_id, &grpc_message(&[]), true).await;
        assert_options_served(&client.response(stream_id).await);
    }

    let seen = server.plugin.seen();
    assert_eq!(seen.len(), 2);
    for request in seen {
        assert_eq!(request.metadata["x-small"], "kept");
        assert_eq!(request.metadata["te"], "trailers");
        assert_eq!(request.metadata["x-big"], big);
    }
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn client_trailers_go_through_the_same_decoder_as_requests() {
    let server = TestServer::start(true).await;
    let mut client = RawClient::connect(&server.socket).await;
    let fields = grpc_request_fields(OPTIONS_PATH, &path_authority(&server));

    let stream_id = client
        .send_headers(&fields, false, &Framing::default())
        .await;
    client.send_data(stream_id, &grpc_message(&[]), false).await;
    // Trailers whose field enters the client's dynamic table...
    let trailers = client.encode(&[("x-trace".into(), "abc".into())]);
    client
        .send_raw(&frame_bytes(
            HEADERS,
            END_HEADERS | END_STREAM,
            stream_id,
            &trailers,
        ))
        .await;
    assert_options_served(&client.response(stream_id).await);

    // ...and the next request refers to it by index.
    let mut next = fields.clone();
    next.push(("x-trace".into(), "abc".into()));
    assert_options_served(&client.unary(&next, &Framing::default()).await);
    assert_eq!(server.plugin.seen()[1].metadata["x-trace"], "abc");
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn headers_with_padding_and_priority_are_served() {
    let server = TestServer::start(true).await;
    let mut client = RawClient::connect(&server.socket).await;
    let fields = grpc_request_fields(OPTIONS_PATH, &path_authority(&server));
    let framings = [
        Framing {
            padding: Some(17),
            ..Framing::default()
        },
        Framing {
            padding: Some(0),
            ..Framing::default()
        },
        Framing {
            priority: Some([0, 0, 0, 0, 15]),
            ..Framing::default()
        },
        Framing {
            padding: Some(255),
            priority: Some([0x80, 0, 0, 0, 200]),
            ..Framing::default()
        },
    ];
    for framing in &framings {
        assert_options_served(&client.unary(&fields, framing).await);
    }
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn a_header_block_in_many_small_continuation_frames_is_served() {
    let server = TestServer::start(true).await;
    let mut client = RawClient::connect(&server.socket).await;
    let fields = grpc_request_fields(OPTIONS_PATH, &path_authority(&server));
    let framing = Framing {
        max_frame: Some(40),
        padding: Some(3),
        priority: Some([0, 0, 0, 0, 1]),
    };
    for _ in 0..3 {
        assert_options_served(&client.unary(&fields, &framing).await);
    }
    drop(client);
    server.stop().await;
}

/// Sends `bytes` after the preface (or instead of it), optionally half-closes,
/// and asserts the server closes the connection without answering stream 1.
async fn assert_connection_closed(
    server: &TestServer,
    bytes: &[u8],
    with_preface: bool,
    half_close: bool,
) {
    let mut client = if with_preface {
        RawClient::connect(&server.socket).await
    } else {
        let mut stream = tokio::net::UnixStream::connect(&server.socket)
            .await
            .unwrap();
        stream.write_all(bytes).await.unwrap();
        // Whatever the server wrote first (its SETTINGS), it then closes.
        let mut sink = Vec::new();
        let closed = tokio::time::timeout(
            TIMEOUT,
            tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut sink),
        )
        .await;
        assert!(
            closed.is_ok(),
            "the server keeps a non-HTTP/2 connection open"
        );
        return;
    };
    // The server may close while we are still writing: ignore write errors.
    let _ = client.stream.write_all(bytes).await;
    if half_close {
        let _ = client.stream.shutdown().await;
    }
    let mut frames = Vec::new();
    while let Some(frame) = client.read_frame().await {
        frames.push(frame);
    }
    assert!(
        frames.iter().all(|f| f.stream_id != 1),
        "no response for a malformed request: {frames:?}"
    );
}

#[tokio::test]
async fn malformed_input_closes_only_that_connection() {
    let server = TestServer::start(true).await;
    let authority = path_authority(&server);
    let fields = grpc_request_fields(OPTIONS_PATH, &authority);
    let mut survivor = RawClient::connect(&server.socket).await;
    assert_options_served(&survivor.unary(&fields, &Framing::default()).await);

    let headers_frame = |payload: &[u8], flags: u8| frame_bytes(HEADERS, flags, 1, payload);
    // Truncated frame header, then end of stream.
    assert_connection_closed(
        &server,
        &headers_frame(&[0x82], END_HEADERS)[..5],
        true,
        true,
    )
    .await;
    // Frame header promising 100 octets, only 10 sent.
    let mut truncated = frame_bytes(HEADERS, END_HEADERS, 1, &[0x82; 100]);
    truncated.truncate(19);
    assert_connection_closed(&server, &truncated, true, true).await;
    // HPACK: index 0, a truncated integer, a reference past the tables,
    // Huffman with zero padding, a table size update above 4096.
    for block in [
        &[0x80][..],
        &[0xff],
        &[0xbe],
        &[0x00, 0x81, 0x00, 0x00],
        &[0x3f, 0xe2, 0x1f, 0x82],
    ] {
        assert_connection_closed(&server, &headers_frame(block, END_HEADERS), true, false).await;
    }
    // Padding longer than the payload.
    assert_connection_closed(
        &server,
        &headers_frame(&[9, 0x82], END_HEADERS | 0x8),
        true,
        false,
    )
    .await;
    // CONTINUATION with no HEADERS; DATA inside a header block.
    assert_connection_closed(
        &server,
        &frame_bytes(CONTINUATION, END_HEADERS, 1, &[0x82]),
        true,
        false,
    )
    .await;
    let interrupted = [headers_frame(&[0x82], 0), frame_bytes(DATA, 0, 1, &[0; 5])].concat();
    assert_connection_closed(&server, &interrupted, true, false).await;
    // A header block over 1 MiB.
    let mut huge = headers_frame(&[0u8; 16_000], 0);
    for _ in 0..70 {
        huge.extend(frame_bytes(CONTINUATION, 0, 1, &[0u8; 16_000]));
    }
    assert_connection_closed(&server, &huge, true, false).await;
    // Not HTTP/2 at all.
    assert_connection_closed(&server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", false, false).await;
    let mut wrong_version = PREFACE.to_vec();
    wrong_version[13] = b'1';
    assert_connection_closed(&server, &wrong_version, false, false).await;

    // The connection opened before, and a new one, are still served.
    assert_options_served(&survivor.unary(&fields, &Framing::default()).await);
    let mut fresh = RawClient::connect(&server.socket).await;
    assert_options_served(&fresh.unary(&fields, &Framing::default()).await);
    assert_eq!(server.plugin.seen().len(), 3);
    drop((survivor, fresh));
    server.stop().await;
}
