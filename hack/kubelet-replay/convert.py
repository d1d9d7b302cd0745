#!/usr/bin/env python3
"""Turn a recording of a kubelet's CRI calls into Cradle's replay fixtures.

Input: a directory of JSON-lines recordings, one scenario per file, as a
logging gRPC proxy between a kubelet and a runtime writes them (protojson with
proto field names and defaults emitted; see docs/kubelet-replay.md).
Output: one `<scenario>.jsonl` per recording in the output directory, holding
only what `tests/tests/kubelet_replay.rs` needs to replay it:

* a header line: the scenario, where it came from, and the images the
  recorded runtime reported (tags, id, digests; `preloaded` when the runtime
  already had the image before the scenario pulled it);
* one line per kept call: `seq`, `method` (without the service), `request`
  exactly as recorded, the recorded `code` (`OK` or the gRPC code name), the
  start of the recorded error message, and `facts`: the few response values
  later requests refer to (ids, image refs) or that say what state the
  runtime was in (container state and exit code, sandbox state, ExecSync's
  exit code, whether a streaming URL came back).

Bulky response bodies are dropped, and read-only calls that repeat an
earlier call exactly (same request, same outcome, same facts) with no
state-changing call in between are collapsed into that earlier line's
`repeat` count: the kubelet's periodic relists and status polls add nothing
once they have been seen. Usage:

    hack/kubelet-replay/convert.py RECORDING_DIR OUT_DIR
"""

import json
import pathlib
import sys

# Calls that change nothing in the runtime: candidates for collapsing.
READ_ONLY = {
    "Version", "Status", "RuntimeConfig", "ImageFsInfo", "ListImages",
    "ImageStatus", "ListPodSandbox", "PodSandboxStatus", "ListContainers",
    "ContainerStatus", "ListContainerStats", "ContainerStats",
    "PodSandboxStats", "ListPodSandboxStats",
}
ERROR_CHARS = 200


def facts(method, response):
    """The response values a replay needs; None when the call failed."""
    if response is None:
        return None
    if method == "RunPodSandbox":
        return {"pod_sandbox_id": response["pod_sandbox_id"]}
    if method == "CreateContainer":
        return {"container_id": response["container_id"]}
    if method == "PullImage":
        return {"image_ref": response["image_ref"]}
    if method == "ImageStatus":
        image = response.get("image")
        return {"present": bool(image and image.get("id"))}
    if method == "ContainerStatus":
        s = response.get("status") or {}
        return {
            "id": s.get("id", ""),
            "state": s.get("state", ""),
            "exit_code": s.get("exit_code", 0),
            "reason": s.get("reason", ""),
        }
    if method == "PodSandboxStatus":
        s = response.get("status") or {}
        return {"id": s.get("id", ""), "state": s.get("state", "")}
    if method == "ListContainers":
        return {"containers": sorted(
            [c["id"], c["state"]] for c in response.get("containers", []))}
    if method == "ListPodSandbox":
        return {"items": sorted(
            [p["id"], p["state"]] for p in response.get("items", []))}
    if method == "ExecSync":
        return {"exit_code": response.get("exit_code", 0)}
    if method in ("Exec", "Attach", "PortForward"):
        return {"url": bool(response.get("url"))}
    if method == "Status":
        conds = (response.get("status") or {}).get("conditions", [])
        return {"conditions": {c["type"]: c["status"] for c in conds}}
    return {}


def images(records):
    """Every image the recorded runtime reported, keyed by its id."""
    out = {}
    pulled = set()
    for r in records:
        method = r["method"].rsplit("/", 1)[-1]
        resp = r.get("response") or {}
        if method == "PullImage" and resp:
            pulled.add(resp["image_ref"])
        image = resp.get("image") if method == "ImageStatus" else None
        for img in ([image] if image else []) + (
                resp.get("images", []) if method == "ListImages" else []):
            entry = out.setdefault(img["id"], {
                "id": img["id"],
                "repo_tags": img.get("repo_tags", []),
                "repo_digests": img.get("repo_digests", []),
                # Present before the scenario pulled it (or never pulled).
                "preloaded": img["id"] not in pulled,
            })
            entry["used"] = entry.get("used", False) or method == "ImageStatus"
    # Only images the kubelet asked about matter (not the sandbox image
    # the recorded runtime listed).
    return [e for e in out.values() if e.pop("used")]


def convert(src, dst):
    records = [json.loads(line) for line in src.open()]
    kept = []
    seen = {}  # collapse key -> index in kept, reset by state changes
    for r in records:
        method = r["method"].rsplit("/", 1)[-1]
        error = r.get("error") or ""
        code = error.split(":", 1)[0] if error else "OK"
        call = {"seq": r["seq"], "method": method, "request": r["request"],
                "code": code}
        if error:
            call["error"] = error[:ERROR_CHARS]
        f = facts(method, r.get("response"))
        if f:
            call["facts"] = f
        if r.get("phase"):
            call["phase"] = r["phase"]
        if method not in READ_ONLY:
            seen = {}
            kept.append(call)
            continue
        key = json.dumps([method, r["request"], code, f], sort_keys=True)
        if key in seen:
            kept[seen[key]]["repeat"] = kept[seen[key]].get("repeat", 1) + 1
            continue
        seen[key] = len(kept)
        kept.append(call)
    header = {
        "scenario": src.stem,
        "source": "kubelet v1.36.2 in front of containerd 1.6.20 "
                  "(shared/kubelet-cri-v1.36)",
        "calls_recorded": len(records),
        "calls_kept": len(kept),
        "images": images(records),
    }
    with dst.open("w") as out:
        for line in [header] + kept:
            out.write(json.dumps(line, separators=(",", ":")) + "\n")
    return len(records), len(kept)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src_dir, dst_dir = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    dst_dir.mkdir(parents=True, exist_ok=True)
    for src in sorted(src_dir.glob("*.jsonl")):
        recorded, kept = convert(src, dst_dir / src.name)
        print(f"{src.name}: {recorded} calls -> {kept}")


if __name__ == "__main__":
    main()
