//! OCI lifecycle hooks: which run when, in which namespaces, with what.
//!
//! Following runtime-spec 1.2 and runc:
//! - `prestart` (deprecated) and `createRuntime`: run by `create`, in the
//!   runtime's namespaces, once the init has done its mounts and before it
//!   pivots (the init asks for them over the sync socket and waits);
//! - `createContainer`: run by the init itself, in the container's
//!   namespaces, right after that, still before pivot_root;
//! - `startContainer`: run by the init after `start` released it, after
//!   pivot_root and with the process's credentials, just before execve;
//! - `poststart`: run by `start` once the process runs;
//! - `poststop`: run by `delete` after the container is gone.
//!
//! `poststart` and `poststop` come from the state recorded at create, never
//! from config.json as it is later: after create, changes to the bundle's
//! config must not affect the container.
//!
//! Each hook gets the OCI state JSON on stdin, exactly its `env`, `args`
//! (with `args[0]` as argv0) and, when given, a `timeout` in seconds after
//! which it is killed. A failing hook fails its verb, except `poststart`
//! and `poststop`, whose failures are only logged (the spec: the remaining
//! hooks and the lifecycle continue as if the hook had succeeded). Output goes to a memfd (never a pipe
//! that a chatty hook could fill) and is quoted in the error.

use std::collections::HashMap;
use std::io::{Read, Seek, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::memfd::{MFdFlags, memfd_create};

use crate::oci::error::{OciError, Result};
use crate::oci::log;
use crate::spec::{Hook, Spec};

/// The points of the lifecycle where hooks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Prestart => "prestart",
            Phase::CreateRuntime => "createRuntime",
            Phase::CreateContainer => "createContainer",
            Phase::StartContainer => "startContainer",
            Phase::Poststart => "poststart",
            Phase::Poststop => "poststop",
        }
    }
}

/// The spec's hooks of one phase (empty when none).
pub(crate) fn of(spec: &Spec, phase: Phase) -> Vec<Hook> {
    let Some(h) = &spec.hooks else {
        return Vec::new();
    };
    let list = match phase {
        Phase::Prestart => &h.prestart,
        Phase::CreateRuntime => &h.create_runtime,
        Phase::CreateContainer => &h.create_container,
        Phase::StartContainer => &h.start_container,
        Phase::Poststart => &h.poststart,
        Phase::Poststop => &h.poststop,
    };
    list.clone().unwrap_or_default()
}

/// True when the spec has hooks that `create` must stop for.
pub(crate) fn any_at_create(spec: &Spec) -> bool {
    [
        Phase::Prestart,
        Phase::CreateRuntime,
        Phase::CreateContainer,
    ]
    .iter()
    .any(|p| !of(spec, *p).is_empty())
}

/// Runs the phase's hooks in order; the first failure stops the rest.
pub(crate) fn run(spec: &Spec, phase: Phase, state: &str) -> Result<()> {
    run_list(phase, &of(spec, phase), state)
}

/// Runs `hooks` (of `phase`, as recorded at create) in order; the first
/// failure stops the rest.
pub(crate) fn run_list(phase: Phase, hooks: &[Hook], state: &str) -> Result<()> {
    for (i, hook) in hooks.iter().enumerate() {
        run_one(hook, state).map_err(|e| {
            OciError::Setup(format!(
                "{} hook #{i} ({}): {e}",
                phase.name(),
                hook.path.display()
            ))
        })?;
    }
    Ok(())
}

/// Runs the phase's hooks, logging failures instead of stopping.
pub(crate) fn run_warn(spec: &Spec, phase: Phase, state: &str) {
    run_warn_list(phase, &of(spec, phase), state)
}

/// Runs `hooks` (of `phase`) in order; a failure is logged as a warning
/// and the rest still run: the spec's rule for poststart and poststop.
pub(crate) fn run_warn_list(phase: Phase, hooks: &[Hook], state: &str) {
    for (i, hook) in hooks.iter().enumerate() {
        if let Err(e) = run_one(hook, state) {
            log::warn(&format!(
                "{} hook #{i} ({}) failed: {e}",
                phase.name(),
                hook.path.display()
            ));
        }
    }
}

fn run_one(hook: &Hook, state: &str) -> std::result::Result<(), String> {
    let output = memfd_create("cradle-oci-hook", MFdFlags::MFD_CLOEXEC)
        .map_err(|e| format!("memfd_create: {e}"))?;
    let mut output = std::fs::File::from(output);
    let args = hook.args.clone().unwrap_or_default();
    let mut cmd = Command::new(&hook.path);
    if let Some(argv0) = args.first() {
        cmd.arg0(argv0);
    }
    cmd.args(args.iter().skip(1)).env_clear();
    for kv in hook.env.as_deref().unwrap_or(&[]) {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    let out = output.try_clone().map_err(|e| e.to_string())?;
    let err = output.try_clone().map_err(|e| e.to_string())?;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its state closes the pipe: not an error.
        let _ = stdin.write_all(state.as_bytes());
    }
    let status = match hook.timeout.filter(|t| *t > 0) {
        None => child.wait().map_err(|e| e.to_string())?,
        Some(secs) => {
            let deadline = Instant::now() + Duration::from_secs(secs.unsigned_abs());
            loop {
                if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                    break status;
                }
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("timed out after {secs}s"));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut text = String::new();
    let _ = output.rewind();
    let _ = Read::by_ref(&mut output)
        .take(1024)
        .read_to_string(&mut text);
    Err(format!("{status}: {}", text.trim()))
}

/// The state JSON a hook reads: as `state` prints it, with the status and
/// pid of the moment.
pub(crate) fn state_json(
    id: &str,
    status: &str,
    pid: i32,
    bundle: &std::path::Path,
    annotations: &HashMap<String, String>,
) -> String {
    serde_json::json!({
        "ociVersion": "1.2.0",
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle,
        "annotations": annotations,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(hooks: serde_json::Value) -> Spec {
        Spec {
            hooks: Some(serde_json::from_value(hooks).unwrap()),
            ..Spec::default()
        }
    }

    #[test]
    fn hooks_get_state_args_env_and_run_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        // argv0 shows in /proc/self/cmdline; $0 and $1 are the extra args.
        let script = format!(
            "cat >>{0}; echo \" $(cut -d '' -f1 /proc/$$/cmdline) $0 $1 $X $HOME\" >>{0}",
            out.display()
        );
        let s = spec(serde_json::json!({"createRuntime": [
            {"path": "/bin/sh", "args": ["first", "-c", script, "one", "1"], "env": ["X=a"]},
            {"path": "/bin/sh", "args": ["second", "-c", script, "two", "2"], "env": ["X=b"]}
        ]}));
        run(&s, Phase::CreateRuntime, "{\"id\":\"c\"}").unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "{\"id\":\"c\"} first one 1 a \n{\"id\":\"c\"} second two 2 b \n"
        );
    }

    #[test]
    fn failing_and_slow_hooks_are_errors_with_their_output() {
        let s = spec(serde_json::json!({"poststart": [
            {"path": "/bin/sh", "args": ["sh", "-c", "echo broken >&2; exit 3"]}
        ]}));
        let e = run(&s, Phase::Poststart, "{}").unwrap_err().to_string();
        assert!(
            e.contains("poststart hook #0") && e.contains("broken"),
            "{e}"
        );
        let s = spec(serde_json::json!({"createContainer": [
            {"path": "/bin/sh", "args": ["sh", "-c", "sleep 5"], "timeout": 1}
        ]}));
        let started = Instant::now();
        let e = run(&s, Phase::CreateContainer, "{}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("timed out"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(4));
        // poststop failures are only warnings.
        let s = spec(serde_json::json!({"poststop": [{"path": "/nonexistent"}]}));
        run_warn(&s, Phase::Poststop, "{}");
    }
}
