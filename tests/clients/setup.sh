#!/bin/sh
# Independent test clients for Cradle's streaming server:
#  - Python websocket-client (PyPI) for tests/clients/ws_client.py
#  - a Go SPDY client built on Debian's moby/spdystream (tests/clients/spdy/),
#    and gorilla/websocket for SPDY tunneled through a WebSocket
# Installs what is missing and builds the Go client into $OUT (default
# /tmp/cradle-test-clients). Idempotent.
set -eu
OUT=${OUT:-/tmp/cradle-test-clients}
HERE=$(cd "$(dirname "$0")" && pwd)
if ! command -v go >/dev/null || [ ! -d /usr/share/gocode/src/github.com/moby/spdystream ] ||
    [ ! -d /usr/share/gocode/src/github.com/gorilla/websocket ]; then
    apt-get install -y golang-go golang-github-docker-spdystream-dev golang-github-gorilla-websocket-dev
fi
if ! python3 -c 'import websocket' 2>/dev/null; then
    python3 -m pip install websocket-client
fi
mkdir -p "$OUT"
cd "$HERE/spdy"
GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$OUT/go-cache" \
    go build -o "$OUT/spdyclient" main.go
echo "$OUT/spdyclient"
