//! Compiles the repository's kubelet protos (device plugin v1beta1, pod
//! resources v1) with protox, so no `protoc` is needed. Client and server code
//! for both: the stand-in serves Registration and PodResourcesLister and calls
//! DevicePlugin, and its tests do the opposite.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let include = "../../proto";
    let protos = [
        "deviceplugin/v1beta1/api.proto",
        "podresources/v1/api.proto",
    ];
    for proto in protos {
        println!("cargo:rerun-if-changed={include}/{proto}");
    }
    let descriptors = protox::compile(protos, [include])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
