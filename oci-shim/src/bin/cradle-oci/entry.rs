//! The process entry: glibc's `main`, without std's runtime start-up.
//!
//! cradle-oci lives for milliseconds, and its peak RSS is mostly the code
//! pages it touches. std's `lang_start` would, before our `main`, install
//! the main thread's stack-overflow guard: `pthread_getattr_np` reads and
//! `sscanf`s /proc/self/maps (glibc's stdio, scanf and strtoull pages,
//! several 64 KiB fault-around windows of the static binary, plus the
//! read itself) and maps an alternate signal stack. A stack overflow here
//! is still a SIGSEGV, only without std's message. What else `lang_start`
//! does and the launcher relies on is done here: SIGPIPE ignored (writes to
//! a closed pipe fail with EPIPE instead of killing us; the container's
//! signals are reset before its execve, `oci::process::signals::reset_signals`), and
//! descriptors 0-2 opened on /dev/null when closed, so no file we open takes
//! their place. `std::env::args` still works: glibc hands argv to std's
//! `.init_array` hook before `main`.

use std::ffi::{c_char, c_int};

/// glibc's `main`. Never returns: stdout is flushed and the process exits
/// 0, as std's runtime does after a returning `main`.
#[unsafe(no_mangle)]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    sanitize_standard_fds();
    // SAFETY: SIG_IGN installs no handler code; nothing else in this
    // single-threaded process is changing signal dispositions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    super::main();
    let _ = std::io::Write::flush(&mut std::io::stdout());
    std::process::exit(0)
}

/// Opens /dev/null on each of 0, 1 and 2 that is closed, as std does.
fn sanitize_standard_fds() {
    for fd in 0..=2 {
        // SAFETY: F_GETFD only reads the descriptor's flags.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::EBADF)
        {
            // SAFETY: a NUL-terminated path; the lowest free descriptor,
            // `fd`, is the one opened, and it stays open for our lifetime.
            if unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) } == -1 {
                // As std: a process without its standard descriptors
                // cannot report anything.
                std::process::abort();
            }
        }
    }
}
