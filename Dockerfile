# The plugin's container image: scripts/image.sh builds it (daemonless, with
# buildah); any OCI builder works:  buildah bud -t ascend-device-plugin:0.1.0 .
# Without a registry for the base images, scripts/image-oci.sh builds the
# equivalent image (the binary, entrypoint, user and labels as here, on
# Debian 12's glibc and libgcc alone) for amd64 and arm64 into an OCI archive.
#
# Two stages. The builder compiles the one binary the DaemonSet runs; the
# simulator library, the kubelet stand-in and the benchmark stay behind. The
# image holds that binary and the C runtime it links (glibc, libgcc), no
# shell and no package manager: distroless "cc". The driver library
# libdcmi.so is not in the image; it comes from the node, read-only
# (deploy/base/daemonset.yaml).
#
# Base images are build arguments so a mirror or a pinned digest can be used:
#   --build-arg BUILDER_IMAGE=<mirror>/rust:1.95-slim-bookworm
#   --build-arg RUNTIME_IMAGE=<mirror>/distroless/cc-debian12@sha256:<digest>
# Both are Debian 12 (glibc 2.36), so the binary runs on the C library it
# was linked against.
ARG BUILDER_IMAGE=docker.io/library/rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${BUILDER_IMAGE} AS builder
WORKDIR /build
# Only the workspace sources (.dockerignore lists what enters the context).
COPY . .
# protox compiles the kubelet protos in Rust: no protoc; rustls: no OpenSSL.
RUN cargo build --release --locked -p ascend-device-plugin --bin ascend-device-plugin \
 && install -D -m 0755 target/release/ascend-device-plugin /out/ascend-device-plugin

FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="ascend-device-plugin" \
      org.opencontainers.image.description="Kubernetes device plugin for Huawei Ascend NPUs, drop-in for the MindX DL Go plugin" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=builder /out/ascend-device-plugin /usr/local/bin/ascend-device-plugin
# The binary carries upstream's fault-code table: its NOTICE goes with it.
COPY NOTICE /usr/share/doc/ascend-device-plugin/NOTICE
# The image defaults to distroless's unprivileged user (65532), so running it
# anywhere by accident grants nothing. On a node the DaemonSet runs it as uid
# 0 with every capability dropped: kubelet's device-plugin directory and the
# NPU device nodes are root's (docs/security.md, "Why uid 0").
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ascend-device-plugin"]
