#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ (docs/fuzzing.md).

The seeds are committed; this script says how each was made, so a seed can
be changed or added by editing it here and running it again (it rewrites
every seed it knows and leaves other files alone). Needs python3 and, for
the zstd layer seed, the zstd command.
"""
import gzip
import io
import json
import os
import re
import struct
import subprocess
import tarfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
# The unpack target's fixed sandbox (fuzz_targets/unpack_layer.rs).
SANDBOX = "/tmp/cradle-fuzz-unpack"


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    assert len(data) <= 64 * 1024, (target, name, len(data))
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- unpack_layer: tar layers ------------------------------------------------

def tar(entries, fmt=tarfile.GNU_FORMAT):
    """entries: (name, type, data-or-linkname, extra dict) tuples."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for name, kind, arg, extra in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = extra.get("mode", 0o755 if kind == tarfile.DIRTYPE else 0o644)
            info.mtime = 1_000_000
            info.pax_headers = extra.get("pax", {})
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = arg
                t.addfile(info)
            elif kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
                info.devmajor, info.devminor = arg
                t.addfile(info)
            elif kind == tarfile.REGTYPE:
                info.size = len(arg)
                t.addfile(info, io.BytesIO(arg))
            else:
                t.addfile(info)
    return buf.getvalue()


D, F, S, H = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
plain = tar([
    ("./", D, None, {}),
    ("bin/", D, None, {}),
    ("bin/busybox", F, b"\x7fELF not really\n", {"mode": 0o4755}),
    ("bin/sh", H, "bin/busybox", {}),
    ("bin/ls", S, "busybox", {}),
    ("etc/passwd", F, b"root:x:0:0:root:/root:/bin/sh\n", {}),
    ("lib", S, "usr/lib", {}),
    ("usr/lib/libc.so", F, b"libc", {}),
    ("lib/ld.so", F, b"through an inside symlink", {}),
])
write("unpack_layer", "plain-files-links", plain)
write("unpack_layer", "plain-files-links.gz", gzip.compress(plain, mtime=0))
try:
    zst = subprocess.run(["zstd", "-q", "-c"], input=plain, capture_output=True, check=True).stdout
    write("unpack_layer", "plain-files-links.zst", zst)
except (OSError, subprocess.CalledProcessError):
    print("zstd missing: the .zst seed is left as it is")
write("unpack_layer", "whiteouts", tar([
    ("a/", D, None, {}),
    ("a/old", F, b"x", {}),
    ("a/.wh.old", F, b"", {}),
    ("a/.wh..wh..opq", F, b"", {}),
    (".wh.gone", F, b"", {}),
    (".wh..wh.plnk/", D, None, {}),
    ("b/.wh..", F, b"", {}),
]))
write("unpack_layer", "escapes", tar([
    ("../escape", F, b"out", {}),
    ("/abs", F, b"abs", {}),
    ("up", S, "../outside", {}),
    ("up/canary", F, b"overwritten", {}),
    ("abs", S, SANDBOX + "/outside", {}),
    ("abs/canary", F, b"overwritten", {}),
    ("hl", H, "../outside/canary", {}),
    ("loop", S, "loop", {}),
    ("loop/x", F, b"", {}),
]))
write("unpack_layer", "symlink-then-hardlink", tar([
    ("d/", D, None, {}),
    ("lnk", S, "d/../..", {}),
    ("lnk2", H, "lnk/outside/canary", {}),
    ("dir", S, "up/../../outside", {}),
    ("dir/canary", F, b"x", {}),
    ("d", S, "../outside", {}),
    ("d/canary", F, b"x", {}),
]))
write("unpack_layer", "pax-xattrs-longnames-devices", tar([
    ("cap", F, b"#!/bin/sh\n", {"pax": {"SCHILY.xattr.user.note": "hi",
                                       "SCHILY.xattr.trusted.overlay.opaque": "y"}}),
    ("l" * 120 + "/" + "n" * 120, F, b"long name", {}),
    ("null", tarfile.CHRTYPE, (1, 3), {}),
    ("blk", tarfile.BLKTYPE, (7, 0), {}),
    ("fifo", tarfile.FIFOTYPE, None, {}),
    ("dir-then-file/", D, None, {}),
    ("dir-then-file", F, b"replaces the dir", {}),
], fmt=tarfile.PAX_FORMAT))

# ---- image_manifest / image_config -------------------------------------------

def digest(c):
    return "sha256:" + (c * 64)[:64]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
write("image_manifest", "oci-manifest.json", json.dumps({
    "schemaVersion": 2, "mediaType": OCI_MANIFEST,
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest("a"), "size": 1469},
    "layers": [
        {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest("b"), "size": 2},
        {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": digest("c"), "size": 3},
    ],
    "annotations": {"org.opencontainers.image.ref.name": "latest"},
}, indent=2))
write("image_manifest", "docker-manifest.json", json.dumps({
    "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": digest("d"), "size": 7},
    "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": digest("e"),
                "size": 9, "urls": ["https://example.invalid/x"]}],
}))
write("image_manifest", "oci-index.json", json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": digest("1"), "size": 1,
         "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
        {"mediaType": OCI_MANIFEST, "digest": digest("2"), "size": 1,
         "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": OCI_MANIFEST, "digest": digest("3"), "size": 1,
         "platform": {"architecture": "amd64", "os": "windows", "os.version": "10.0"}},
    ],
}))
write("image_manifest", "docker-manifest-list.json", json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
    "manifests": [{"mediaType": DOCKER_MANIFEST, "digest": digest("4"), "size": 1,
                   "platform": {"architecture": "amd64", "os": "linux"}}],
}))
write("image_manifest", "index-without-media-type.json", json.dumps({
    "schemaVersion": 2, "manifests": [{"digest": "sha256:short", "size": 1, "mediaType": OCI_MANIFEST,
                                       "platform": {"architecture": "amd64", "os": "linux"}}],
}))
write("image_manifest", "bad-layer-type.json", json.dumps({
    "schemaVersion": 2, "mediaType": OCI_MANIFEST,
    "config": {"mediaType": "x", "digest": digest("a"), "size": -1},
    "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": digest("f"), "size": 1}],
}))

write("image_config", "oci-config.json", json.dumps({
    "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
    "config": {"User": "1000:1000", "Env": ["PATH=/usr/bin:/bin"], "Entrypoint": ["/bin/sh"],
               "Cmd": ["-c", "echo hi"], "WorkingDir": "/work", "StopSignal": "SIGQUIT",
               "Labels": {"a": "b"}, "ExposedPorts": {"80/tcp": {}}, "Volumes": {"/data": {}}},
    "rootfs": {"type": "layers", "diff_ids": [digest("0"), digest("9")]},
    "history": [{"created_by": "fuzz"}],
}, indent=1))
write("image_config", "docker-config-nulls.json", json.dumps({
    "architecture": "amd64", "os": "linux",
    "config": {"User": "", "Env": None, "Entrypoint": None, "Cmd": None, "WorkingDir": "", "Labels": None},
    "rootfs": {"type": "layers", "diff_ids": []},
}))
write("image_config", "named-user-no-arch.json", json.dumps({
    "config": {"User": "nobody:nogroup"}, "rootfs": {"diff_ids": [digest("7")]},
}))
write("image_config", "other-platform.json", json.dumps({
    "architecture": "arm64", "os": "windows", "rootfs": {"type": "layers", "diff_ids": ["sha256:UPPER"]},
}))

# ---- cni_result ---------------------------------------------------------------
write("cni_result", "bridge-1.0.0.json", json.dumps({
    "cniVersion": "1.0.0",
    "interfaces": [{"name": "cni0", "mac": "aa:bb:cc:dd:ee:ff"},
                   {"name": "veth1", "mac": "aa:bb:cc:dd:ee:00"},
                   {"name": "eth0", "mac": "aa:bb:cc:dd:ee:01", "sandbox": "/run/netns/x", "mtu": 1500}],
    "ips": [{"address": "10.88.0.5/16", "gateway": "10.88.0.1", "interface": 2},
            {"address": "fd00::5/64", "gateway": "fd00::1", "interface": 2},
            {"address": "10.88.0.1/16", "interface": 0}],
    "routes": [{"dst": "0.0.0.0/0", "gw": "10.88.0.1"}, {"dst": "::/0"}],
    "dns": {"nameservers": ["10.96.0.10"], "domain": "cluster.local", "search": ["svc"], "options": ["ndots:5"]},
}, indent=2))
write("cni_result", "ptp-0.4.0.json", json.dumps({
    "cniVersion": "0.4.0", "ips": [{"version": "4", "address": "10.1.0.2/16"},
                                    {"version": "6", "address": "fd00::2/64"}], "dns": {},
}))
write("cni_result", "loopback-and-duplicates.json", json.dumps({
    "cniVersion": "1.1.0", "interfaces": [{"name": "lo", "sandbox": "/run/netns/x"}],
    "ips": [{"address": "127.0.0.1/8", "interface": 0}, {"address": "fd00::9/64"},
            {"address": "10.0.0.9/24", "interface": 7}, {"address": "10.0.0.9/24"}, {"address": "garbage"}],
}))
write("cni_result", "error.json", json.dumps({
    "cniVersion": "1.0.0", "code": 11, "msg": "failed to allocate", "details": "range full",
}))
write("cni_result", "not-an-object.json", "[1, 2, 3]")

# ---- spdy_frames --------------------------------------------------------------

def spdy_dictionary():
    src = open(os.path.join(HERE, "..", "runtime-daemon", "src", "streaming", "spdy", "dictionary.rs")).read()
    body = src.split("&[", 1)[1].split("];", 1)[0]
    return bytes(int(x, 16) for x in re.findall(r"0x([0-9a-fA-F]{2})", body))


def header_block(z, headers):
    plain = struct.pack(">I", len(headers))
    for name, value in headers:
        plain += struct.pack(">I", len(name)) + name.encode()
        plain += struct.pack(">I", len(value)) + value.encode()
    return z.compress(plain) + z.flush(zlib.Z_SYNC_FLUSH)


def control(kind, flags, payload):
    return struct.pack(">HHB", 0x8003, kind, flags) + len(payload).to_bytes(3, "big") + payload


def data(stream, flags, payload):
    return struct.pack(">IB", stream, flags) + len(payload).to_bytes(3, "big") + payload


DICT = spdy_dictionary()
z = zlib.compressobj(zdict=DICT)
exec_session = b"".join([
    control(4, 0, struct.pack(">I", 1) + struct.pack(">II", 7, 65536)),
    control(1, 0, struct.pack(">IIBB", 1, 0, 0, 0) + header_block(z, [("streamtype", "error")])),
    control(1, 0, struct.pack(">IIBB", 3, 0, 0, 0) + header_block(z, [("streamtype", "stdin")])),
    control(1, 1, struct.pack(">IIBB", 5, 0, 0, 0) + header_block(z, [("StreamType", "stdout"), ("x", "a\0b")])),
    data(3, 0, b"echo hi\n"),
    data(3, 1, b""),
    control(9, 0, struct.pack(">II", 3, 1 << 16)),
    control(6, 0, struct.pack(">I", 1)),
    control(3, 0, struct.pack(">II", 5, 5)),
    control(7, 0, struct.pack(">II", 5, 0)),
])
write("spdy_frames", "exec-session", exec_session)
z = zlib.compressobj(zdict=DICT)
write("spdy_frames", "portforward-and-headers", b"".join([
    control(1, 0, struct.pack(">IIBB", 1, 0, 0x60, 0) + header_block(z, [("streamtype", "error"), ("port", "8080"), ("requestid", "0")])),
    control(1, 0, struct.pack(">IIBB", 3, 0, 0, 0) + header_block(z, [("streamtype", "data"), ("port", "8080"), ("requestid", "0")])),
    control(8, 0, struct.pack(">I", 3) + header_block(z, [])),
    control(2, 0, struct.pack(">I", 1) + header_block(z, [("a", "b")])),
    data(3, 0, b"GET / HTTP/1.0\r\n\r\n"),
    control(10, 0, b"unknown"),
]))
write("spdy_frames", "bad-version", control(6, 0, struct.pack(">I", 1)).replace(b"\x80\x03", b"\x80\x02", 1))
write("spdy_frames", "short-frames", control(1, 0, b"\x00\x00") + control(4, 0, struct.pack(">I", 1000)))
write("spdy_frames", "garbage-header-block", control(1, 0, struct.pack(">IIBB", 1, 0, 0, 0) + b"not zlib at all"))

# ---- websocket_channel: [kind][len u16 LE][payload], kind bit0 text, bit1 base64 ----

def ws(kind, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return bytes([kind]) + struct.pack("<H", len(payload)) + payload


write("websocket_channel", "binary-exec", b"".join([
    ws(0, b"\x00echo hi\n"),
    ws(0, b"\x04" + b'{"Width":80,"Height":24}\n{"Width":100,'),
    ws(0, b"\x04" + b'"Height":40}'),
    ws(0, b"\xff\x00"),
    ws(0, b""),
    ws(1, "text in a binary session"),
]))
write("websocket_channel", "base64-exec", b"".join([
    ws(3, "0ZWNobyBoaQo="),
    ws(3, "4eyJXaWR0aCI6ODAsIkhlaWdodCI6MjR9"),
    ws(3, "0not base64!"),
    ws(3, ""),
    ws(2, b"\x00binary in a base64 session"),
]))
write("websocket_channel", "portforward", b"".join([
    ws(0, b"\x00GET / HTTP/1.0\r\n\r\n"),
    ws(0, b"\x02second port"),
    ws(0, b"\x01errors are never uploaded"),
    ws(3, "2c2Vjb25k"),
]))
write("websocket_channel", "ports-query", "ports=80%2C8080&port=443&ports=x,70000")

# ---- cri_log: [secs u32 LE][nanos u32 LE] then [stream][len u16 LE][bytes] ------

def log(secs, nanos, chunks):
    out = struct.pack("<II", secs, nanos)
    for stream, chunk in chunks:
        out += bytes([stream]) + struct.pack("<H", len(chunk)) + chunk
    return out


write("cri_log", "lines-and-fragments", log(1_767_366_245, 123_456_789, [
    (0, b"hello\nworld\n"), (1, b"oops\nhal"), (1, b"f\n"), (0, b"\n"), (0, b"no newline"),
]))
write("cri_log", "long-line", log(0, 0, [(0, b"a" * 20000 + b"\n" + b"b" * 16384), (0, b"\n")]))
write("cri_log", "binary-and-crlf", log(4_000_000_000, 999_999_999, [
    (1, b"\r\n\x00\xff\xfe  spaces  \n"), (0, "ünïcödé\n".encode()), (2, b"\x1b[31mred\x1b[0m\r"),
]))
print("seeds written under", CORPUS)
