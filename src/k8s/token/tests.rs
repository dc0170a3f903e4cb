#![allow(clippy::unwrap_used, clippy::expect_used)]

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// An HTTP server on a free local port that answers every request `ok` and
/// hands back the `Authorization` header of each.
async fn recording_server() -> (String, tokio::sync::mpsc::UnboundedReceiver<Option<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (seen, headers) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n")
                    && stream.read(&mut byte).await.is_ok_and(|n| n == 1)
                {
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let authorization = head.lines().find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("authorization")
                        .then(|| value.trim().to_owned())
                });
                let _ = seen.send(authorization);
                let answer = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    (format!("http://{address}"), headers)
}

fn config_with_token_file(server: &str, token_file: &Path) -> Config {
    let mut config = Config::new(server.parse().unwrap());
    config.auth_info.token_file = Some(token_file.display().to_string());
    config
}

async fn get(client: &Client) -> Result<String, kube::Error> {
    let request = http::Request::get("/healthz").body(Vec::new()).unwrap();
    client.request_text(request).await
}

#[tokio::test]
async fn a_token_file_with_a_trailing_newline_is_sent_trimmed() {
    let (server, mut headers) = recording_server().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "tok-4f1c9e\n").unwrap();
    let client = client_for(config_with_token_file(&server, &file)).unwrap();
    assert_eq!(get(&client).await.unwrap(), "ok");
    assert_eq!(
        headers.recv().await.unwrap().as_deref(),
        Some("Bearer tok-4f1c9e")
    );
}

#[tokio::test]
async fn an_inline_token_still_takes_precedence_over_the_file() {
    let (server, mut headers) = recording_server().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "from-file\n").unwrap();
    let mut config = config_with_token_file(&server, &file);
    config.auth_info.token = Some("inline".to_owned().into());
    let client = client_for(config).unwrap();
    get(&client).await.unwrap();
    assert_eq!(
        headers.recv().await.unwrap().as_deref(),
        Some("Bearer inline")
    );
}

#[test]
fn a_rotated_token_is_read_again_and_a_vanished_file_keeps_the_last_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "first\n").unwrap();
    let token = TokenFile::open(&file, Duration::ZERO).unwrap();
    assert_eq!(token.header(), "Bearer first");
    assert!(token.header().is_sensitive());
    std::fs::write(&file, "  second\r\n").unwrap();
    assert_eq!(token.header(), "Bearer second");
    std::fs::remove_file(&file).unwrap();
    assert_eq!(token.header(), "Bearer second");
    let cached = TokenFile::open(dir.path().join("t2").as_path(), REREAD_AFTER);
    assert!(cached.is_err(), "a missing file at start is an error");
}

#[test]
fn an_unusable_token_file_is_refused_naming_the_file_and_never_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, " \n\n").unwrap();
    let error = TokenFile::open(&empty, REREAD_AFTER)
        .unwrap_err()
        .to_string();
    assert!(error.contains(&empty.display().to_string()), "{error}");
    assert!(error.contains("no token"), "{error}");

    let garbled = dir.path().join("garbled");
    std::fs::write(&garbled, "secret-part\nsecond-line\n").unwrap();
    let error = TokenFile::open(&garbled, REREAD_AFTER)
        .unwrap_err()
        .to_string();
    assert!(error.contains(&garbled.display().to_string()), "{error}");
    assert!(!error.contains("secret-part"), "{error}");

    let missing = dir.path().join("missing");
    let Err(error) = client_for(config_with_token_file("http://127.0.0.1:1", &missing)) else {
        panic!("a missing token file was accepted");
    };
    let error = format!("{error:#}");
    assert!(error.contains("missing"), "{error}");
}
