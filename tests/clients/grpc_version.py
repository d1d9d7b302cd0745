#!/usr/bin/env python3
"""A CRI client built on grpc C-core (Python's grpcio), as third-party
tools are: RuntimeService/Version over `unix://SOCKET` with grpcio's own
default :authority (the percent-encoded socket path), no override.

The request and reply are protobuf bytes written and read by hand
(VersionRequest{version: "v1"} is field 1, a string), so no generated code
is needed. Prints the reply's runtime_name (field 2) and
runtime_api_version (field 4), one per line; exits 1 with the gRPC error.
"""
import sys

import grpc


def fields(data):
    """The length-delimited fields of a flat protobuf message."""
    out, i = {}, 0
    while i < len(data):
        key = data[i]
        i += 1
        number, wire = key >> 3, key & 7
        if wire != 2:
            raise ValueError(f"unexpected wire type {wire}")
        length, shift = 0, 0
        while True:
            b = data[i]
            i += 1
            length |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        out[number] = data[i:i + length].decode()
        i += length
    return out


def main():
    socket = sys.argv[1]
    with grpc.insecure_channel("unix://" + socket) as channel:
        version = channel.unary_unary(
            "/runtime.v1.RuntimeService/Version",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        try:
            reply = version(b"\x0a\x02v1", timeout=10)
        except grpc.RpcError as e:
            print(f"{e.code()}: {e.details()}", file=sys.stderr)
            return 1
    reply = fields(reply)
    print(reply.get(2, ""))
    print(reply.get(4, ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
