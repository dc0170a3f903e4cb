//! The Registration side: recording, refusing, kubelet's checks, restarts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fake_plugin;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Duration;

use fake_plugin::{FakePlugin, OPTIONS, device};
use kubelet_standin::{KUBELET_SOCKET, Kubelet};
use tonic::Code;

const WAIT: Duration = Duration::from_secs(5);
const RESOURCE: &str = "example.com/fake";

#[tokio::test]
async fn start_creates_the_directory_and_a_private_kubelet_socket() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("kubelet/device-plugins");
    let kubelet = Kubelet::start(&dir).await.unwrap();
    assert_eq!(kubelet.dir(), dir);
    let mode = std::fs::metadata(dir.join(KUBELET_SOCKET))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    kubelet.stop().await;
}

#[tokio::test]
async fn a_register_call_is_recorded_and_counted() {
    let temp = tempfile::tempdir().unwrap();
    let mut kubelet = Kubelet::start(temp.path()).await.unwrap();
    let plugin = FakePlugin::serve(temp.path(), "fake.sock", vec![device("fake-0", 0)]).await;
    assert_eq!(kubelet.registration_count(), 0);

    plugin.register(plugin.request(RESOURCE)).await.unwrap();
    let first = kubelet.next_registration(WAIT).await.unwrap();
    assert_eq!(first.endpoint, "fake.sock");
    assert_eq!(first.resource_name, RESOURCE);
    assert_eq!(first.options, Some(OPTIONS));
    assert_eq!(kubelet.registration_count(), 1);

    plugin
        .register(plugin.request("example.com/other"))
        .await
        .unwrap();
    plugin.register(plugin.request(RESOURCE)).await.unwrap();
    assert_eq!(kubelet.registration_count(), 3);
    let queued = kubelet.next_registration(WAIT).await.unwrap();
    assert_eq!(queued.resource_name, "example.com/other", "oldest first");
    let last = kubelet.next_registration(WAIT).await.unwrap();
    assert_eq!(last.resource_name, RESOURCE);
    kubelet.stop().await;
}

#[tokio::test]
async fn register_dials_the_plugin_back_with_localhost_authority() {
    let temp = tempfile::tempdir().unwrap();
    let mut kubelet = Kubelet::start(temp.path()).await.unwrap();
    let plugin = FakePlugin::serve(temp.path(), "fake.sock", vec![]).await;
    plugin.register(plugin.request(RESOURCE)).await.unwrap();
    kubelet.next_registration(WAIT).await.unwrap();
    assert_eq!(plugin.authorities(), vec!["localhost".to_string()]);
    kubelet.stop().await;
}

#[tokio::test]
async fn refuse_mode_answers_failed_precondition_and_counts_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let mut kubelet = Kubelet::start(temp.path()).await.unwrap();
    let plugin = FakePlugin::serve(temp.path(), "fake.sock", vec![]).await;

    kubelet.set_refuse(Some("kubelet is busy".into()));
    let refused = plugin.register(plugin.request(RESOURCE)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(refused.message(), "kubelet is busy");
    assert_eq!(kubelet.registration_count(), 0);

    kubelet.set_refuse(None);
    plugin.register(plugin.request(RESOURCE)).await.unwrap();
    assert_eq!(
        kubelet.next_registration(WAIT).await.unwrap().resource_name,
        RESOURCE
    );
    assert_eq!(kubelet.registration_count(), 1);
    kubelet.stop().await;
}

#[tokio::test]
async fn register_is_rejected_like_kubelet_does_for_bad_version_name_or_endpoint() {
    let temp = tempfile::tempdir().unwrap();
    let kubelet = Kubelet::start(temp.path()).await.unwrap();
    let plugin = FakePlugin::serve(temp.path(), "fake.sock", vec![]).await;

    let mut old = plugin.request(RESOURCE);
    old.version = "v1alpha".into();
    let error = plugin.register(old).await.unwrap_err();
    assert!(
        error.message().contains("\"v1alpha\" is not supported"),
        "{error}"
    );

    let error = plugin.register(plugin.request("fake")).await.unwrap_err();
    assert!(
        error.message().contains("ResourceName \"fake\" is invalid"),
        "{error}"
    );

    let mut escaping = plugin.request(RESOURCE);
    escaping.endpoint = "../fake.sock".into();
    let error = plugin.register(escaping).await.unwrap_err();
    assert!(
        error.message().contains("not a socket file name"),
        "{error}"
    );

    assert_eq!(kubelet.registration_count(), 0);
    kubelet.stop().await;
}

#[tokio::test]
async fn register_fails_when_nothing_serves_the_endpoint() {
    let temp = tempfile::tempdir().unwrap();
    let kubelet = Kubelet::start(temp.path()).await.unwrap();
    let plugin = FakePlugin::serve(temp.path(), "fake.sock", vec![]).await;
    let mut absent = plugin.request(RESOURCE);
    absent.endpoint = "absent.sock".into();
    let error = plugin.register(absent).await.unwrap_err();
    assert!(
        error.message().contains("failed to dial device plugin"),
        "{error}"
    );
    assert!(error.message().contains("absent.sock"), "{error}");
    assert_eq!(kubelet.registration_count(), 0);
    kubelet.stop().await;
}

#[tokio::test]
async fn next_registration_times_out_naming_the_kubelet_socket() {
    let temp = tempfile::tempdir().unwrap();
    let mut kubelet = Kubelet::start(temp.path()).await.unwrap();
    let error = kubelet
        .next_registration(Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(error.is_timeout());
    let message = error.to_string();
    assert!(message.contains("timed out after 50ms"), "{message}");
    assert!(message.contains("Register call on"), "{message}");
    assert!(
        message.contains(&kubelet.socket().display().to_string()),
        "{message}"
    );
    kubelet.stop().await;
}

#[tokio::test]
async fn restart_deletes_every_socket_and_serves_a_new_kubelet_sock() {
    let temp = tempfile::tempdir().unwrap();
    let dir = &temp.path().join("device-plugins");
    let mut kubelet = Kubelet::start(dir).await.unwrap();
    let mut plugin = FakePlugin::serve(dir, "fake.sock", vec![device("fake-0", 0)]).await;
    plugin.register(plugin.request(RESOURCE)).await.unwrap();
    kubelet.next_registration(WAIT).await.unwrap();
    let _a = std::os::unix::net::UnixListener::bind(dir.join("other-a.sock")).unwrap();
    let _b = std::os::unix::net::UnixListener::bind(dir.join("other-b.sock")).unwrap();
    std::fs::write(dir.join("kubelet_internal_checkpoint"), "{}").unwrap();
    // A link outside the directory keeps the old inode from being reused.
    let old = temp.path().join("old-kubelet.sock");
    std::fs::hard_link(kubelet.socket(), &old).unwrap();
    let old_inode = std::fs::metadata(&old).unwrap().ino();

    kubelet.restart().await.unwrap();

    for gone in ["fake.sock", "other-a.sock", "other-b.sock"] {
        assert!(!dir.join(gone).exists(), "{gone} survived the restart");
    }
    assert!(
        dir.join("kubelet_internal_checkpoint").exists(),
        "only sockets are deleted"
    );
    let socket = std::fs::metadata(kubelet.socket()).unwrap();
    assert_ne!(socket.ino(), old_inode, "kubelet.sock is a new socket");
    assert_eq!(socket.permissions().mode() & 0o777, 0o600);

    plugin.reserve().await;
    plugin.register(plugin.request(RESOURCE)).await.unwrap();
    assert_eq!(
        kubelet.next_registration(WAIT).await.unwrap().endpoint,
        "fake.sock"
    );
    assert_eq!(kubelet.registration_count(), 2, "counted across restarts");
    kubelet.stop().await;
}

#[tokio::test]
async fn start_sweeps_stale_sockets_like_kubelet_does() {
    let temp = tempfile::tempdir().unwrap();
    let stale = temp.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    std::fs::write(temp.path().join("notes.txt"), "kept").unwrap();
    let kubelet = Kubelet::start(temp.path()).await.unwrap();
    assert!(!stale.exists());
    assert!(temp.path().join("notes.txt").exists());
    kubelet.stop().await;
}

#[tokio::test]
async fn twenty_restarts_in_a_row_each_serve_a_registration_and_leave_one_socket() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let mut kubelet = Kubelet::start(dir).await.unwrap();
    let mut plugin = FakePlugin::serve(dir, "fake.sock", vec![device("fake-0", 0)]).await;
    for round in 1..=20 {
        kubelet.restart().await.unwrap();
        assert!(
            !plugin.socket().exists(),
            "round {round}: plugin socket survived"
        );
        plugin.reserve().await;
        plugin.register(plugin.request(RESOURCE)).await.unwrap();
        kubelet.next_registration(WAIT).await.unwrap();
    }
    assert_eq!(kubelet.registration_count(), 20);
    kubelet.restart().await.unwrap();
    let mut left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, [KUBELET_SOCKET]);
    kubelet.stop().await;
}
