#!/usr/bin/env python3
"""Minimal Kubernetes WebSocket streaming client (websocket-client from PyPI),
independent of Cradle's server code; used by Cradle's streaming tests.

  ws_client.py exec URL PROTOCOL [--stdin] [--resize WxH]
      a terminal size on the resize channel first (if --resize);
      stdin (if --stdin) from our stdin, closed with the v5 close message;
      stdout/stderr to ours; the error channel printed to stderr as
      "STATUS <text>"; exits with the remote exit code (v4/v5 Status).
  ws_client.py portforward URL PORT SIZE [--report]
      sends SIZE pseudo-random bytes on the port's data channel (from a
      thread, while reading), expects them echoed back; prints "ok" (with
      --report: "ok sent BYTES sha256 HEX received BYTES sha256 HEX") or
      the error channel's text (exit 1).
"""
import base64
import hashlib
import json
import random
import sys
import threading

import websocket


def connect(url, protocol):
    ws_url = "ws" + url[len("http"):]
    return websocket.create_connection(ws_url, subprotocols=[protocol], timeout=30)


def frames(ws, b64):
    """Yields (channel, payload) until the server closes."""
    while True:
        try:
            opcode, data = ws.recv_data(control_frame=False)
        except (websocket.WebSocketConnectionClosedException, OSError):
            return
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return
        if not data:
            continue
        if b64:
            yield data[0] - ord("0"), base64.b64decode(data[1:])
        else:
            yield data[0], data[1:]


def send(ws, b64, channel, payload):
    if b64:
        ws.send(chr(ord("0") + channel) + base64.b64encode(payload).decode())
    else:
        ws.send_binary(bytes([channel]) + payload)


def exec_(url, protocol, with_stdin, resize=None):
    b64 = "base64" in protocol
    ws = connect(url, protocol)
    if resize:
        width, height = (int(v) for v in resize.split("x"))
        send(ws, b64, 4, json.dumps({"Width": width, "Height": height}).encode())
    if with_stdin:
        data = sys.stdin.buffer.read()
        for i in range(0, len(data), 32768):
            send(ws, b64, 0, data[i:i + 32768])
        ws.send_binary(bytes([255, 0]))
    status = b""
    for channel, payload in frames(ws, b64):
        if channel == 1:
            sys.stdout.buffer.write(payload)
            sys.stdout.buffer.flush()
        elif channel == 2:
            sys.stderr.buffer.write(payload)
        elif channel == 3:
            status += payload
    sys.stdout.buffer.flush()
    if status:
        sys.stderr.write("STATUS %s\n" % status.decode())
    if not (protocol.startswith("v4.") or protocol.startswith("v5.")):
        sys.exit(1 if status else 0)
    st = json.loads(status)
    if st.get("status") == "Success":
        sys.exit(0)
    for cause in st.get("details", {}).get("causes", []):
        if cause.get("reason") == "ExitCode":
            sys.exit(int(cause["message"]))
    sys.exit(1)


def portforward(url, port, size, report=False):
    ws = connect(url, "v4.channel.k8s.io")
    payload = random.Random(size).randbytes(size)
    got = bytearray()
    seen_port = {}
    sender = None
    error = b""

    def send_all():
        for i in range(0, size, 32768):
            send(ws, False, 0, payload[i:i + 32768])

    for channel, data in frames(ws, False):
        if channel not in seen_port:
            seen_port[channel] = int.from_bytes(data[:2], "little")
            assert seen_port[channel] == port, seen_port
            data = data[2:]
        if channel == 0:
            got += data
        elif channel == 1:
            error += data
        # Send while reading: an echo server stalls if nobody reads its answer.
        if len(seen_port) == 2 and sender is None:
            sender = threading.Thread(target=send_all, daemon=True)
            sender.start()
        if error or len(got) >= size:
            break
    if sender is not None:
        sender.join(timeout=30)
    ws.close()
    if error:
        print("ERROR", error.decode(), file=sys.stderr)
        sys.exit(1)
    if bytes(got) != payload:
        print("ERROR echo mismatch: got %d of %d bytes" % (len(got), size), file=sys.stderr)
        sys.exit(1)
    if not report:
        print("ok")
        return
    print("ok sent %d sha256 %s received %d sha256 %s" % (
        size, hashlib.sha256(payload).hexdigest(), len(got), hashlib.sha256(got).hexdigest()))


if __name__ == "__main__":
    if sys.argv[1] == "exec":
        rest = sys.argv[4:]
        size = rest[rest.index("--resize") + 1] if "--resize" in rest else None
        exec_(sys.argv[2], sys.argv[3], "--stdin" in rest, size)
    elif sys.argv[1] == "portforward":
        portforward(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), "--report" in sys.argv[5:])
    else:
        sys.exit("unknown mode")
