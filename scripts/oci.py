"""Writes an OCI image archive (an OCI image layout in a tar file) with one
single-layer image per platform and an index over them; used by
scripts/image-oci.sh. Standard library only.

  oci.py OUT.tar VERSION CREATED_EPOCH PLATFORM=ROOTFS_DIR...

PLATFORM is amd64 or arm64 (os linux). The layout's index.json names one
image index, tagged VERSION, over one manifest per platform (how
multi-platform images are stored in OCI layouts). Each ROOTFS_DIR becomes one gzip
layer, reproducibly: entries sorted, owned by 0:0, mtime CREATED_EPOCH,
gzip without a name or timestamp. The image config carries the Dockerfile's
entrypoint, user and labels. Prints one line per platform: manifest digest,
layer size compressed and uncompressed.
"""

import datetime
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ENTRYPOINT = ["/usr/local/bin/ascend-device-plugin"]
# As the Dockerfile: an unprivileged default; the DaemonSet runs it as uid 0
# without capabilities (docs/security.md, "Why uid 0").
USER = "65532:65532"


def layer_tar(root, epoch):
    """The root filesystem as an uncompressed tar, deterministic."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        paths = []
        for directory, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(dirs + files):
                paths.append(os.path.join(directory, name))
        for path in sorted(paths, key=lambda p: os.path.relpath(p, root)):
            info = tar.gettarinfo(path, arcname=os.path.relpath(path, root))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = epoch
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            elif info.isdir() or info.issym():
                tar.addfile(info)
            else:
                sys.exit(f"oci.py: {path}: only files, directories and symlinks belong in the image")
    return buffer.getvalue()


def blob(blobs, data, media_type):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def image(blobs, platform, root, version, epoch):
    tar = layer_tar(root, epoch)
    compressed = gzip.compress(tar, compresslevel=9, mtime=0)
    layer = blob(blobs, compressed, MEDIA_LAYER)
    created = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    config = {
        "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "architecture": platform,
        "os": "linux",
        "config": {
            "User": USER,
            "Entrypoint": ENTRYPOINT,
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
            "Labels": {
                "org.opencontainers.image.title": "ascend-device-plugin",
                "org.opencontainers.image.description": "Kubernetes device plugin for Huawei Ascend NPUs, "
                "drop-in for the MindX DL Go plugin",
                "org.opencontainers.image.licenses": "Apache-2.0",
                "org.opencontainers.image.version": version,
            },
        },
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]},
        "history": [{"created": created.strftime("%Y-%m-%dT%H:%M:%SZ"), "created_by": "scripts/image-oci.sh"}],
    }
    config_desc = blob(blobs, json.dumps(config, sort_keys=True).encode(), MEDIA_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": config_desc,
        "layers": [layer],
    }
    desc = blob(blobs, json.dumps(manifest, sort_keys=True).encode(), MEDIA_MANIFEST)
    desc["platform"] = {"architecture": platform, "os": "linux"}
    print(f"{platform}: manifest {desc['digest']}, layer {len(compressed)} bytes gzip, {len(tar)} bytes tar")
    return desc


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    out, version, epoch = sys.argv[1], sys.argv[2], int(sys.argv[3])
    blobs, manifests = {}, []
    for spec in sys.argv[4:]:
        platform, _, root = spec.partition("=")
        if platform not in ("amd64", "arm64") or not os.path.isdir(root):
            sys.exit(f"oci.py: bad PLATFORM=ROOTFS_DIR {spec!r}")
        manifests.append(image(blobs, platform, root, version, epoch))
    # The multi-arch image is an index blob over the platforms' manifests;
    # the layout's index.json names it with the version as its tag.
    platforms = {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": manifests}
    image_index = blob(blobs, json.dumps(platforms, sort_keys=True).encode(), MEDIA_INDEX)
    print(f"index: {image_index['digest']} (tag {version})")
    index = {
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": [dict(image_index, annotations={"org.opencontainers.image.ref.name": version})],
    }
    files = {
        "oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
        "index.json": json.dumps(index, sort_keys=True).encode(),
    }
    for digest, data in blobs.items():
        files["blobs/sha256/" + digest.removeprefix("sha256:")] = data
    with tarfile.open(out + ".tmp", "w", format=tarfile.PAX_FORMAT) as tar:
        for directory in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, epoch
            tar.addfile(info)
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(files[name]), 0o644, epoch
            tar.addfile(info, io.BytesIO(files[name]))
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
