//! What execve gets: the working directory entered, the executable looked
//! up on the spec's `PATH`, and argv/envp built as C strings before the
//! point of no return (the init's and `exec`'s).

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::oci::error::{OciError, Result};
use crate::oci::security::hardening;
use crate::oci::syscall::Syscall;
use crate::spec::Process;

/// The value of `PATH` in the spec's environment (runc's default otherwise).
pub(crate) fn env_path(env: &[String]) -> String {
    env.iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .to_string()
}

/// Resolves `arg0` like execvp: a name with `/` is taken as is (relative
/// to the cwd), otherwise the first executable regular file on `path`.
pub(crate) fn find_executable(arg0: &str, path: &str) -> Result<PathBuf> {
    let is_exec = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        return if is_exec(&p) {
            Ok(p)
        } else {
            Err(OciError::Setup(format!(
                "exec: {arg0:?}: no such executable file"
            )))
        };
    }
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(arg0))
        .find(|p| is_exec(p))
        .ok_or_else(|| {
            OciError::Setup(format!(
                "exec: {arg0:?}: executable file not found in $PATH"
            ))
        })
}

/// chdir to the process's cwd (checked inside the root), and the
/// executable and C strings for execve, prepared while errors can still
/// be reported.
pub(crate) fn enter_cwd_and_find_exe(sys: &impl Syscall, proc_: &Process) -> Result<ExecArgs> {
    let cwd = &proc_.cwd;
    sys.chdir(cwd)
        .map_err(|e| OciError::sys(format!("chdir to cwd {}", cwd.display()), e))?;
    hardening::check_cwd_in_root()?;
    let args = proc_.args.clone().unwrap_or_default();
    let arg0 = args
        .first()
        .ok_or_else(|| OciError::Unsupported("process.args is empty".into()))?;
    let env = proc_.env.clone().unwrap_or_default();
    let exe = find_executable(arg0, &env_path(&env))?;
    ExecArgs::new(&exe, &args, &env)
}

/// Prepared argv/envp, built before the point of no return so exec itself
/// cannot fail on a NUL byte.
pub(crate) struct ExecArgs {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

impl ExecArgs {
    /// Builds the C strings.
    pub(crate) fn new(path: &Path, args: &[String], env: &[String]) -> Result<Self> {
        let c = |s: &str| {
            CString::new(s).map_err(|_| OciError::Unsupported(format!("NUL byte in {s:?}")))
        };
        Ok(ExecArgs {
            path: c(&path.to_string_lossy())?,
            argv: args.iter().map(|a| c(a)).collect::<Result<_>>()?,
            envp: env.iter().map(|e| c(e)).collect::<Result<_>>()?,
        })
    }

    /// Replaces the process image; returns only on failure.
    pub(crate) fn exec(&self) -> OciError {
        match nix::unistd::execve(&self.path, &self.argv, &self.envp) {
            Err(e) => OciError::sys(format!("exec {:?}", self.path), e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executable_lookup_uses_path_and_reports_missing() {
        assert_eq!(
            find_executable("sh", "/nonexistent:/bin").unwrap(),
            PathBuf::from("/bin/sh")
        );
        let err = find_executable("no-such-binary-xyz", "/bin").unwrap_err();
        assert!(err.to_string().contains("executable file not found"));
    }

    #[test]
    fn path_comes_from_env_or_default() {
        assert_eq!(env_path(&["A=1".into(), "PATH=/x".into()]), "/x");
        assert!(env_path(&[]).contains("/usr/bin"));
    }
}
