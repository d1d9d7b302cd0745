//! The container's session keyring, as runc gives it: unless `create
//! --no-new-keyring`, the init joins a new session keyring named
//! `_ses.<id>` (so it does not inherit the caller's: containerd's, the
//! shim's, the host's), made searchable by the container's uid (or by
//! "other" in a user namespace, where the owner is unmapped); `exec` joins
//! the same keyring by name. A kernel without keyrings (ENOSYS) is not an
//! error, as in runc: the protection is best effort. The keyctl calls go
//! through the [`Syscall`] seam.

use crate::oci::error::{OciError, Result};
use crate::oci::syscall::Syscall;

/// KEY_USR_SEARCH: the owner may search it.
const USR_SEARCH: u32 = 0x0008_0000;
/// KEY_OTH_SEARCH: anyone may search it.
const OTH_SEARCH: u32 = 0x0000_0008;

/// The keyring's name for container `id`, as runc names it.
pub fn session_name(id: &str) -> String {
    format!("_ses.{id}")
}

/// The init's part: joins a new (or the existing) session keyring `name`
/// and makes it searchable; `in_user_ns` picks who may search.
pub(crate) fn join_new_session(sys: &impl Syscall, name: &str, in_user_ns: bool) -> Result<()> {
    let Some(serial) = join(sys, name)? else {
        return Ok(());
    };
    let perm = permissions(sys, serial)?;
    let add = if in_user_ns { OTH_SEARCH } else { USR_SEARCH };
    sys.set_key_permissions(serial, perm | add)
        .map_err(|e| OciError::sys(format!("keyctl setperm of session keyring {name}"), e))
}

/// `exec`'s part: joins the container's session keyring `name`.
pub(crate) fn join_existing_session(sys: &impl Syscall, name: &str) -> Result<()> {
    join(sys, name).map(drop)
}

/// KEYCTL_JOIN_SESSION_KEYRING; `None` when the kernel has no keyrings.
fn join(sys: &impl Syscall, name: &str) -> Result<Option<i32>> {
    let c_name = std::ffi::CString::new(name)
        .map_err(|_| OciError::Setup(format!("keyring name {name:?} contains NUL")))?;
    match sys.join_session_keyring(&c_name) {
        Ok(serial) => i32::try_from(serial)
            .map(Some)
            .map_err(|_| OciError::Setup(format!("keyctl returned serial {serial}"))),
        Err(nix::errno::Errno::ENOSYS) => Ok(None),
        Err(e) => Err(OciError::sys(
            format!("unable to join session keyring {name}"),
            e,
        )),
    }
}

/// The keyring's permission mask, from KEYCTL_DESCRIBE's
/// `type;uid;gid;perm;description` (perm in hex).
fn permissions(sys: &impl Syscall, serial: i32) -> Result<u32> {
    let mut buf = [0u8; 512];
    let len = sys
        .describe_key(serial, &mut buf)
        .map_err(|e| OciError::sys(format!("keyctl describe of keyring {serial}"), e))?;
    let len = usize::try_from(len).unwrap_or(0).min(buf.len());
    let text = String::from_utf8_lossy(&buf[..len]);
    parse_perm(text.trim_end_matches('\0')).ok_or_else(|| {
        OciError::Setup(format!("keyring {serial}: unexpected description {text:?}"))
    })
}

fn parse_perm(description: &str) -> Option<u32> {
    let perm = description.split(';').nth(3)?;
    u32::from_str_radix(perm, 16).ok()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::oci::syscall::{Call, KEYRING_SERIAL, Recorder};

    #[test]
    fn the_init_joins_its_keyring_and_lets_the_containers_uid_search_it() {
        let sys = Recorder::new(Path::new("/"));
        join_new_session(&sys, &session_name("c1"), false).unwrap();
        assert_eq!(
            sys.log(),
            [
                Call::JoinSessionKeyring("_ses.c1".into()),
                Call::SetKeyPermissions(KEYRING_SERIAL, 0x3f01_0000 | USR_SEARCH),
            ]
        );
    }

    #[test]
    fn in_a_user_namespace_the_keyring_is_searchable_by_other() {
        let sys = Recorder::new(Path::new("/"));
        *sys.key_description.borrow_mut() = "keyring;0;0;3f030000;_ses.c1".into();
        join_new_session(&sys, "_ses.c1", true).unwrap();
        assert_eq!(
            sys.log()[1],
            Call::SetKeyPermissions(KEYRING_SERIAL, 0x3f03_0000 | OTH_SEARCH)
        );
    }

    #[test]
    fn a_kernel_without_keyrings_is_not_an_error_and_nothing_else_is_asked() {
        let sys = Recorder::new(Path::new("/"));
        sys.fail("join_session_keyring", nix::Error::ENOSYS);
        join_new_session(&sys, "_ses.c1", false).unwrap();
        join_existing_session(&sys, "_ses.c1").unwrap();
        assert!(sys.log().is_empty());
        sys.fail("join_session_keyring", nix::Error::EDQUOT);
        let e = join_existing_session(&sys, "_ses.c1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unable to join session keyring _ses.c1"), "{e}");
    }

    #[test]
    fn exec_joins_the_containers_keyring_without_changing_it() {
        let sys = Recorder::new(Path::new("/"));
        join_existing_session(&sys, "_ses.c1").unwrap();
        assert_eq!(sys.log(), [Call::JoinSessionKeyring("_ses.c1".into())]);
        *sys.key_description.borrow_mut() = "keyring;0;0".into();
        let e = join_new_session(&sys, "_ses.c1", false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unexpected description"), "{e}");
    }

    #[test]
    fn the_permission_mask_is_the_fourth_field_in_hex() {
        assert_eq!(
            parse_perm("keyring;0;0;3f1b0000;_ses.c1"),
            Some(0x3f1b_0000)
        );
        assert_eq!(parse_perm("keyring;0;0"), None);
        assert_eq!(parse_perm("keyring;0;0;zz;_ses"), None);
    }

    #[test]
    fn the_keyring_is_named_after_the_container_as_runc_names_it() {
        assert_eq!(session_name("abc"), "_ses.abc");
    }
}
