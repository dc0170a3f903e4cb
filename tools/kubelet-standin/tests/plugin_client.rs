//! kubelet's calls into a plugin: options, ListAndWatch, preferred, Allocate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fake_plugin;

use std::time::Duration;

use fake_plugin::{FakePlugin, OPTIONS, device};
use kubelet_standin::proto::deviceplugin::Device;
use kubelet_standin::{Error, Kubelet, UNHEALTHY};
use tonic::Code;

const WAIT: Duration = Duration::from_secs(5);

fn three() -> Vec<Device> {
    vec![
        device("fake-0", 0),
        device("fake-1", 0),
        device("fake-2", 1),
    ]
}

fn unhealthy(mut device: Device) -> Device {
    device.health = UNHEALTHY.to_string();
    device
}

async fn setup() -> (tempfile::TempDir, Kubelet, FakePlugin) {
    let temp = tempfile::tempdir().unwrap();
    let kubelet = Kubelet::start(temp.path()).await.unwrap();
    let plugin = FakePlugin::serve(temp.path(), "fake.sock", three()).await;
    (temp, kubelet, plugin)
}

#[tokio::test]
async fn options_return_what_the_plugin_advertises() {
    let (_temp, kubelet, _plugin) = setup().await;
    let mut client = kubelet.connect("fake.sock").await.unwrap();
    assert_eq!(client.options().await.unwrap(), OPTIONS);
}

#[tokio::test]
async fn watch_next_returns_the_full_list_then_each_new_list() {
    let (_temp, kubelet, plugin) = setup().await;
    let mut watch = kubelet
        .connect("fake.sock")
        .await
        .unwrap()
        .watch()
        .await
        .unwrap();
    assert_eq!(watch.next(WAIT).await.unwrap(), three());

    let mut changed = three();
    changed[1] = unhealthy(changed[1].clone());
    plugin.set(changed.clone());
    assert_eq!(watch.next(WAIT).await.unwrap(), changed);
    assert_eq!(watch.last(), Some(changed.as_slice()));
}

#[tokio::test]
async fn watch_until_skips_lists_until_the_check_passes() {
    let (_temp, kubelet, plugin) = setup().await;
    let mut watch = kubelet
        .connect("fake.sock")
        .await
        .unwrap()
        .watch()
        .await
        .unwrap();
    watch.next(WAIT).await.unwrap();
    let publisher = tokio::spawn(async move {
        for step in 0..3 {
            tokio::time::sleep(Duration::from_millis(30)).await;
            let mut list = three();
            list.truncate(3 - step);
            plugin.set(list);
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
        plugin.set(vec![unhealthy(device("fake-2", 1))]);
        plugin
    });
    let found = watch
        .until(WAIT, |list| list.iter().any(|d| d.health == UNHEALTHY))
        .await
        .unwrap();
    assert_eq!(found, vec![unhealthy(device("fake-2", 1))]);
    drop(publisher.await.unwrap());
}

#[tokio::test]
async fn watch_next_times_out_naming_the_plugin_socket() {
    let (_temp, kubelet, plugin) = setup().await;
    let mut watch = kubelet
        .connect("fake.sock")
        .await
        .unwrap()
        .watch()
        .await
        .unwrap();
    watch.next(WAIT).await.unwrap();
    let error = watch.next(Duration::from_millis(100)).await.unwrap_err();
    assert!(error.is_timeout());
    let message = error.to_string();
    assert!(message.contains("ListAndWatch list on"), "{message}");
    assert!(
        message.contains(&plugin.socket().display().to_string()),
        "{message}"
    );
}

#[tokio::test]
async fn watch_until_times_out_showing_the_last_list_seen() {
    let (_temp, kubelet, _plugin) = setup().await;
    let mut watch = kubelet
        .connect("fake.sock")
        .await
        .unwrap()
        .watch()
        .await
        .unwrap();
    let error = watch
        .until(Duration::from_millis(200), |list| list.is_empty())
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(error.is_timeout(), "{message}");
    assert!(message.contains("timed out after 200ms"), "{message}");
    assert!(
        message.contains("fake-0 Healthy, fake-1 Healthy, fake-2 Healthy"),
        "{message}"
    );
}

#[tokio::test]
async fn watch_next_reports_a_stream_that_ended() {
    let (_temp, kubelet, mut plugin) = setup().await;
    let mut watch = kubelet
        .connect("fake.sock")
        .await
        .unwrap()
        .watch()
        .await
        .unwrap();
    watch.next(WAIT).await.unwrap();
    plugin.end_streams();
    let error = watch.next(WAIT).await.unwrap_err();
    assert!(matches!(error, Error::StreamEnded { .. }), "{error}");
    assert!(error.to_string().contains("fake.sock ended"), "{error}");
}

#[tokio::test]
async fn preferred_and_allocate_round_trip_through_the_plugin() {
    let (_temp, kubelet, _plugin) = setup().await;
    let mut client = kubelet.connect("fake.sock").await.unwrap();
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let chosen = client
        .preferred(ids(&["fake-0", "fake-1", "fake-2"]), ids(&["fake-2"]), 2)
        .await
        .unwrap();
    assert_eq!(chosen, ids(&["fake-2", "fake-0"]));

    let response = client
        .allocate(vec![ids(&["fake-0"]), ids(&["fake-1", "fake-2"])])
        .await
        .unwrap();
    let visible: Vec<_> = response
        .container_responses
        .iter()
        .map(|c| c.envs["FAKE_VISIBLE_DEVICES"].clone())
        .collect();
    assert_eq!(visible, ["fake-0", "fake-1,fake-2"]);
}

#[tokio::test]
async fn allocate_errors_carry_the_plugins_status() {
    let (_temp, kubelet, _plugin) = setup().await;
    let mut client = kubelet.connect("fake.sock").await.unwrap();
    let error = client
        .allocate(vec![vec!["nope".into()]])
        .await
        .unwrap_err();
    let status = error.status().expect("a gRPC status");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(error.to_string().starts_with("Allocate on "), "{error}");
    assert!(error.to_string().contains("unknown device nope"), "{error}");
}

#[tokio::test]
async fn every_call_sends_localhost_as_authority() {
    let (_temp, kubelet, plugin) = setup().await;
    let mut client = kubelet.connect("fake.sock").await.unwrap();
    client.options().await.unwrap();
    client.watch().await.unwrap().next(WAIT).await.unwrap();
    client.pre_start(vec!["fake-0".into()]).await.unwrap();
    assert_eq!(plugin.authorities(), vec!["localhost"; 3]);
}

#[tokio::test]
async fn connect_names_the_socket_it_could_not_dial() {
    let (temp, kubelet, _plugin) = setup().await;
    let error = kubelet.connect("absent.sock").await.unwrap_err();
    let expected = temp.path().join("absent.sock");
    assert!(
        matches!(error, Error::Connect { ref path, .. } if *path == expected),
        "{error}"
    );
    assert!(error.to_string().contains("absent.sock"), "{error}");
}

#[tokio::test]
async fn connect_refuses_an_endpoint_outside_the_directory() {
    let (_temp, kubelet, _plugin) = setup().await;
    let error = kubelet.connect("../fake.sock").await.unwrap_err();
    assert!(matches!(error, Error::BadEndpoint { .. }), "{error}");
}
