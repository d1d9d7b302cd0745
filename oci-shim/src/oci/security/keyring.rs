//! The container's session keyring, as runc gives it: unless `create
//! --no-new-keyring`, the init joins a new session keyring named
//! `_ses.<id>` (so it does not inherit the caller's: containerd's, the
//! shim's, the host's), made searchable by the container's uid (or by
//! "other" in a user namespace, where the owner is unmapped); `exec` joins
//! the same keyring by name. A kernel without keyrings (ENOSYS) is not an
//! error, as in runc: the protection is best effort.

use crate::oci::error::{OciError, Result};

// <linux/keyctl.h>
const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
const KEYCTL_SETPERM: libc::c_long = 5;
const KEYCTL_DESCRIBE: libc::c_long = 6;
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
pub(crate) fn join_new_session(name: &str, in_user_ns: bool) -> Result<()> {
    let Some(serial) = join(name)? else {
        return Ok(());
    };
    let perm = permissions(serial)?;
    let add = if in_user_ns { OTH_SEARCH } else { USR_SEARCH };
    // SAFETY: keyctl(KEYCTL_SETPERM, serial, perm) takes two integers.
    let rc = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_SETPERM, serial, perm | add) };
    nix::errno::Errno::result(rc)
        .map(drop)
        .map_err(|e| OciError::sys(format!("keyctl setperm of session keyring {name}"), e))
}

/// `exec`'s part: joins the container's session keyring `name`.
pub(crate) fn join_existing_session(name: &str) -> Result<()> {
    join(name).map(drop)
}

/// KEYCTL_JOIN_SESSION_KEYRING; `None` when the kernel has no keyrings.
fn join(name: &str) -> Result<Option<i32>> {
    let c_name = std::ffi::CString::new(name)
        .map_err(|_| OciError::Setup(format!("keyring name {name:?} contains NUL")))?;
    // SAFETY: keyctl(KEYCTL_JOIN_SESSION_KEYRING, name) reads the
    // NUL-terminated string, which outlives the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            c_name.as_ptr(),
        )
    };
    match nix::errno::Errno::result(rc) {
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
fn permissions(serial: i32) -> Result<u32> {
    let mut buf = [0u8; 512];
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_DESCRIBE,
            serial,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    let len = nix::errno::Errno::result(rc)
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
    use super::*;

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
