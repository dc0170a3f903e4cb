#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/ (committed; run again
only to change them). Each seed is a small valid or nearly valid input in the
shape its target reads (src/fuzzing/)."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# RFC 7541 Appendix C.3 and C.4: three requests on one connection, raw and Huffman.
C3 = ["828684410f7777772e6578616d706c652e636f6d",
      "828684be58086e6f2d6361636865",
      "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565"]
C4 = ["828684418cf1e3c2e5f23a6ba0ab90f4ff",
      "828684be5886a8eb10649cbf",
      "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf"]
HUFFMAN = ["f1e3c2e5f23a6ba0ab90f4ff", "a8eb10649cbf", "25a849e95ba97d7f",
           "25a849e95bb8e8b4bf", "", "ff", "fe3f"]


def integer(value, prefix, flags=0):
    top = (1 << prefix) - 1
    if value < top:
        return bytes([flags | value])
    out = [flags | top]
    value -= top
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def string(text):
    return integer(len(text), 7) + text


def literal(name, value, kind=0x40):
    """Literal with a new name: 0x40 incremental, 0x00 without, 0x10 never."""
    return bytes([kind]) + string(name) + string(value)


def request(path=b"/v1beta1.DevicePlugin/Allocate",
            authority=b"/var/lib/kubelet/device-plugins/Ascend910.sock"):
    block = bytes([0x83, 0x86])  # :method POST, :scheme http
    block += integer(4, 4) + string(path)  # :path, without indexing
    block += integer(1, 6, 0x40) + string(authority)  # :authority, indexed
    block += literal(b"content-type", b"application/grpc")
    block += literal(b"te", b"trailers", 0x00)
    block += literal(b"authorization", b"secret", 0x10)
    return block


def frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def blocks(*hexes):
    out = b""
    for h in hexes:
        b = bytes.fromhex(h) if isinstance(h, str) else h
        out += struct.pack(">H", len(b)) + b
    return out


def write(target, name, data):
    path = os.path.join(HERE, "corpus", target)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def main():
    settings = frame(0x4, 0, 0, b"")
    first = request()
    again = bytes([0x83, 0x86, 0xBE]) + integer(4, 4) + string(b"/v1beta1.DevicePlugin/ListAndWatch")
    data = frame(0x0, 0x1, 1, b"\x00\x00\x00\x00\x02\x08\x01")
    conn = (settings + frame(0x1, 0x4, 1, first) + data
            + frame(0x1, 0x5, 3, again) + frame(0x8, 0, 0, b"\x00\x00\x10\x00")
            + frame(0x6, 0, 0, b"12345678"))
    write("authority_frames", "grpc-calls", b"\x80\x7f" + conn)
    write("authority_frames", "byte-by-byte", b"\x80\x00" + conn)
    write("authority_frames", "explicit-preface", b"\x05\x03" + PREFACE + conn)
    padded = bytes([3]) + bytes([0, 0, 0, 0, 16]) + first + b"\x00\x00\x00"
    split = frame(0x1, 0x28, 5, padded[: len(padded) // 2])  # PADDED+PRIORITY, no END_HEADERS
    write("authority_frames", "padded-priority-continuation",
          b"\x81\x10" + split + frame(0x9, 0x4, 5, padded[len(padded) // 2 :]))
    write("authority_frames", "trailers", b"\x90\x20" + settings + frame(0x1, 0x4, 1, first)
          + frame(0x1, 0x5, 1, literal(b"grpc-status", b"0", 0x00)))
    write("authority_frames", "not-http2", b"\x80\x7fGET / HTTP/1.1\r\n\r\n")

    write("hpack_diff", "rfc7541-c3", blocks(*C3))
    write("hpack_diff", "rfc7541-c4-huffman", blocks(*C4))
    write("hpack_diff", "grpc-request", blocks(request(), request(b"/x", b"localhost")))
    write("hpack_diff", "size-update", blocks(b"\x3f\xe1\x1f" + bytes([0x82]), b"\x20\x82", b"\x3f\x00\x82"))
    big = literal(b"x-big", b"v" * 4000)
    write("hpack_diff", "table-eviction", blocks(big, literal(b"x-small", b"s") + bytes([0xBE, 0xBF])))
    for i, h in enumerate(HUFFMAN):
        write("huffman_diff", f"string-{i}", bytes.fromhex(h))

    write("volcano_annotations", "two-pods",
          "2\nvc-a|node-a|Pending|1700000000|2|Ascend910-0,Ascend910-3||1700000000\n"
          "vc-b|node-a|Pending|1600000000|2|Ascend910-1,Ascend910-2||1600000000\n"
          "vc-c|node-b|Running|1500000000|2|Ascend910-4,Ascend910-5||\n")
    write("volcano_annotations", "npu-core",
          "8\ncore-a|node-a||1700000000|8||0-vir08|1\ncore-b|node-a||1700000001|16||0,1|2\n"
          "core-c|node-a||1700000002|2||3-vir02_1c|3\n")
    write("volcano_annotations", "hostile",
          "1\nh|node-a|Pending|18446744073709551615|1|Ascend910-256\n"
          "i|node-a|Pending|01|+1|Ascend910-01\nj|node-a|Failed|1|1|Ascend310-0\n"
          "k|node-a||99999999999999999999|1e3|Ascend910-0,Ascend910-0\n")

    cfg = ('{"DeviceInfo":{"DeviceList":{"huawei.com/Ascend910":"Ascend910-0,Ascend910-2",'
           '"huawei.com/Ascend910-Fault":"[]","huawei.com/Ascend910-NetworkUnhealthy":"",'
           '"huawei.com/Ascend910-Recovering":"","huawei.com/Ascend910-Unhealthy":""},'
           '"UpdateTime":1700000001},"SuperPodID":-1,"ServerIndex":-1,"CheckCode":"0"}')
    write("deviceinfo_configmap", "cfg-and-separated",
          cfg + "\0" + cfg.replace("1700000001", "1700000002") + "\0Ascend910-3, Ascend910-1,,Ascend910-01,x")
    write("deviceinfo_configmap", "not-json", "{\"DeviceInfo\":\0[]\0Ascend910-0")

    write("fault_table", "levels",
          '{"NotHandleFaultCodes":["80E21007","80E38003"],"RestartBusinessCodes":["80C98009"],'
          '"SeparateNPUCodes":["80E01801","80E21007"],"PreSeparateNPUNetworkCodes":null,'
          '"Unknown":[1],"SubHealthFaultCodes":["1234567890ABCDEF"]}')
    write("fault_table", "bad-code", '{"RestartNPUCodes":["0x80E01801"]}')
    write("fault_table", "empty", '{}')

    write("kubelet_id_state", "map",
          '{"version":1,"resources":{"Ascend910":{"Ascend910-0":{"real_phy":3,"pod":"default/vc-a",'
          '"pod_uid":"6f1c","since":1700000000},"Ascend910-1":{"real_phy":4,"vdev_id":100,'
          '"pod":"default/vc-a","pod_uid":"6f1c","since":-1}}}}')
    write("kubelet_id_state", "old-version", '{"version":0,"resources":{}}')

    write("flags", "daemonset", b"\x03" + b"\0".join([
        b"-useAscendDocker=true", b"-volcanoType=true", b"-logFile=/var/log/mindx-dl/devicePlugin/devicePlugin.log",
        b"-logLevel=0", b"--listWatchPeriod", b"5", b"-presetVirtualDevice=false", b"-shareDevCount=1"]))
    write("flags", "kebab", b"\x00" + b"\0".join([
        b"--volcano-type", b"--share-dev-count=4", b"-enable-healthz", b"-healthz-address=127.0.0.1:11251",
        b"inspect", b"--json"]))
    write("flags", "bad", b"\x0f" + b"\0".join([b"-maxAge=1", b"-logFile=../x", b"-fdFlag=true"]))

    nums = lambda v, lo, hi: struct.pack(">qqq", v, lo, hi)
    write("dcmi_text", "name", nums(3, 0, 8) + b"Ascend910B\0junk")
    write("dcmi_text", "unterminated", nums(-1, 0, 255) + b"\xff\xfe")
    write("dcmi_text", "negative-range", nums(-9223372036854775808, -9223372036854775808, 9223372036854775807) + b"\0")

    write("health_request", "healthz", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\n\r\n")
    write("health_request", "metrics", b"HEAD /metrics HTTP/1.1\r\nConnection: close\r\n\r\n")
    write("health_request", "post-body", b"POST /healthz HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcdGET /x HTTP/1.0\r\n\r\n")
    write("health_request", "chunked", b"PUT /readyz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n")

    write("pod_decoding", "volcano-pod",
          '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"job-0","namespace":"ml","uid":"u-1",'
          '"resourceVersion":"7","creationTimestamp":"2026-01-01T00:00:00Z","annotations":'
          '{"huawei.com/Ascend910":"Ascend910-0,Ascend910-1","predicate-time":"100","example.com/x":"y"},'
          '"labels":{"app":"x"}},"spec":{"nodeName":"node-a","containers":[{"name":"main","image":"x",'
          '"env":[{"name":"A","value":"b"}],"resources":{"limits":{"huawei.com/Ascend910":"2","cpu":"1"}}}],'
          '"initContainers":[{"name":"i","image":"y"}]},"status":{"phase":"Running","reason":"r"}}')
    write("pod_decoding", "nulls",
          '{"metadata":{"name":"p","annotations":null},"spec":{"containers":[{"name":"c",'
          '"resources":{"limits":null}}]},"status":null}')
    write("pod_decoding", "empty", '{}')
    write("pod_decoding", "escaped-key",
          '{"metadata":{"name":"p","annotations":{"huawei.com\\/Ascend910":"Ascend910-3","predicate\\u002dtime":"5"}}}')
    write("pod_decoding", "duplicate-keys",
          '{"metadata":{"name":"p","annotations":{"predicate-time":"1","predicate-time":"2"}}}')


if __name__ == "__main__":
    main()
