#!/usr/bin/env python3
"""A stand-in for cradle-shim in the daemon's tests: speaks the shim protocol
(proto/src/shim.rs) on <state-dir>/shim.sock without running any container.

It binds the socket, forks (the parent exits 0: "ready"), and the child answers
State, Start, Kill (records an exit as if the process died of the signal), Wait
(the exit, or an error while nothing has exited: tests kill before waiting),
ReopenLog and Delete (answers, removes the socket and exits).
"""
import json
import os
import socket
import sys
import time

args = sys.argv[1:]
state_dir = args[args.index("--state-dir") + 1]
sock_path = os.path.join(state_dir, "shim.sock")
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(sock_path)
server.listen(16)
if os.fork() > 0:
    os._exit(0)
os.setsid()
null = os.open("/dev/null", os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(null, fd)

exit_record = None
started_at = None


def answer(request):
    global exit_record, started_at
    op = request["op"]
    if op == "state":
        status = "exited" if exit_record else ("running" if started_at else "created")
        return {"result": "state", "pid": os.getpid(), "status": status,
                "started_at_ns": started_at, "exit": exit_record}
    if op == "start":
        started_at = time.time_ns()
        return {"result": "ok"}
    if op == "kill":
        if exit_record is None:
            exit_record = {"exit_code": 128 + request["signal"], "signal": request["signal"],
                           "exited_at_ns": time.time_ns(), "oom_killed": False}
        return {"result": "ok"}
    if op == "wait":
        if exit_record is None:
            return {"result": "error", "message": "fake shim: nothing has exited"}
        return dict({"result": "exited"}, **exit_record)
    if op in ("reopen_log", "delete"):
        return {"result": "ok"}
    return {"result": "error", "message": "fake shim: unknown op " + op}


while True:
    conn, _ = server.accept()
    with conn, conn.makefile("rwb") as stream:
        for line in stream:
            request = json.loads(line)
            stream.write((json.dumps(answer(request)) + "\n").encode())
            stream.flush()
            if request["op"] == "delete":
                os.unlink(sock_path)
                os._exit(0)
