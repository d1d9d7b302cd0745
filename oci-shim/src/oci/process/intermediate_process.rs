//! The intermediate process, forked by `create` ([`super::main_process`]):
//! it makes itself non-dumpable, joins the spec's namespaces by path,
//! unshares the new ones (the user namespace first; `create` writes its id
//! maps and time offsets meanwhile), becomes root of a user namespace,
//! then forks the init (so a new pid namespace applies to it), reports the
//! init's pid and exits.

use nix::unistd::{ForkResult, fork};

use crate::oci::error::Result;
use crate::oci::process::channel::Channel;
use crate::oci::process::init_process::{self, InitConfig};
use crate::oci::process::message::Msg;
use crate::oci::process::namespaces::{self, NsPlan};
use crate::oci::process::userns;
use crate::oci::security::hardening;
use crate::oci::syscall::{Kernel, Syscall};

fn exit(code: i32) -> ! {
    // SAFETY: _exit ends the forked intermediate without running
    // destructors that belong to the `create` process (its rollback).
    unsafe { libc::_exit(code) }
}

/// Runs the intermediate; never returns.
pub(crate) fn run(cfg: &InitConfig, chan: &mut Channel) -> ! {
    // Before joining anything: the host binary behind our /proc/<pid>/exe
    // must not be reachable from the container (CVE-2019-5736 class).
    if let Err(e) = hardening::make_non_dumpable() {
        let _ = chan.send(&Msg::Error(e.to_string()));
        exit(1);
    }
    if let Err(e) = enter_namespaces(&Kernel, &cfg.ns, chan) {
        let _ = chan.send(&Msg::Error(e.to_string()));
        exit(1);
    }
    // SAFETY: cradle-oci is single-threaded (no async runtime, no threads
    // spawned), so the child is a complete copy and may run Rust code.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => init_process::run(cfg, chan),
        Ok(ForkResult::Parent { child }) => {
            let code = if chan.send(&Msg::Pid(child.as_raw())).is_ok() {
                0
            } else {
                1
            };
            exit(code)
        }
        Err(e) => {
            let _ = chan.send(&Msg::Error(format!("fork init: {e}")));
            exit(1)
        }
    }
}

/// Joins, then unshares; hands over to `create` for the id maps and time
/// offsets of new user and time namespaces; becomes root of the user
/// namespace, new or joined.
fn enter_namespaces(sys: &impl Syscall, ns: &NsPlan, chan: &mut Channel) -> Result<()> {
    namespaces::join(sys, ns)?;
    namespaces::unshare(sys, ns)?;
    if ns.new_user || ns.new_time {
        userns::request_maps(chan)?;
    }
    if ns.new_user || ns.join_user {
        userns::become_root(sys)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use nix::sched::CloneFlags;

    use super::*;
    use crate::oci::syscall::{Call, Recorder};

    #[test]
    fn in_a_joined_user_namespace_the_intermediate_becomes_its_root_after_the_joins() {
        let ns = namespaces::plan(
            &serde_json::from_str::<Vec<_>>(
                r#"[{"type":"user","path":"/proc/self/ns/user"},{"type":"pid"}]"#,
            )
            .unwrap(),
        )
        .unwrap();
        let (mut chan, _peer) = Channel::pair().unwrap();
        let sys = Recorder::new(std::path::Path::new("/"));
        enter_namespaces(&sys, &ns, &mut chan).unwrap();
        let log = sys.log();
        assert!(matches!(&log[0], Call::Setns(CloneFlags::CLONE_NEWUSER, _)));
        assert_eq!(
            log[1..],
            [
                Call::Unshare(CloneFlags::CLONE_NEWPID),
                Call::Setresgid(0),
                Call::Setresuid(0),
            ]
        );
    }

    #[test]
    fn without_a_user_namespace_the_ids_stay_as_they_are() {
        let ns = namespaces::plan(
            &serde_json::from_str::<Vec<_>>(r#"[{"type":"mount"},{"type":"ipc"}]"#).unwrap(),
        )
        .unwrap();
        let (mut chan, _peer) = Channel::pair().unwrap();
        let sys = Recorder::new(std::path::Path::new("/"));
        enter_namespaces(&sys, &ns, &mut chan).unwrap();
        assert_eq!(
            sys.log(),
            [Call::Unshare(
                CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWIPC
            )]
        );
    }
}
