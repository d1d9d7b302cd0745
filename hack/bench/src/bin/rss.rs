//! cradle-bench-rss: runs one command and reports its true peak RSS.
//!
//! `CRADLE_BENCH_RSS_FD=N cradle-bench-rss PROGRAM [ARG…]` fork()s; the child
//! closes descriptor N, measures its own VmHWM and execvp()s PROGRAM (stdin,
//! stdout and stderr inherited); the parent waits for it with wait4 and
//! writes one line to descriptor N:
//!
//! ```text
//! maxrss_kib=<child's ru_maxrss> floor_kib=<child's VmHWM just before exec> status=<raw wait status>
//! ```
//!
//! then exits 0, whatever the child's status (the bench reads it from the
//! line). On its own errors it prints a message to stderr and exits 125;
//! when the exec fails the child prints why and exits 127.
//!
//! Why it exists: at execve the kernel records the OLD mm's high-water mark
//! into the process's `signal->maxrss` (fs/exec.c, exec_mmap:
//! `setmax_mm_hiwater_rss(&tsk->signal->maxrss, old_mm)`), and `ru_maxrss`
//! reports that maximum. A child that std's `Command` spawns with vfork or
//! posix_spawn (CLONE_VM) execs out of its parent's mm, so its `ru_maxrss`
//! can never be below the parent's peak RSS: the bench's 4 MiB became a floor
//! under every launcher figure. Here the child is a real fork: its mm is a
//! copy of ours whose high-water mark starts at the copy's RSS (kernel/fork.c,
//! dup_mm: `mm->hiwater_rss = get_mm_rss(mm)`), and that copy holds only our
//! anonymous pages (dup_mmap copies no page tables of file mappings that
//! were never written, such as our code), plus what the child faults in
//! before exec. The child reads its VmHWM (= what exec_mmap will record)
//! just before exec and sends it to us: that is the floor, reported beside
//! the figure. A `maxrss_kib` above `floor_kib` is the command's own peak;
//! one at or below it means "at most the floor".
//!
//! Build it static and non-PIE (hack/bench.sh does): no ld.so or shared libc
//! pages in the copy, so the floor stays small. libc only.
//! The bench's side of the line is `rss_trampoline.rs`.

use std::ffi::{CString, c_char};
use std::fs::File;
use std::io::Write;
use std::os::fd::FromRawFd;
use std::os::unix::ffi::OsStringExt;

/// The environment variable naming the report descriptor.
const FD_ENV: &str = "CRADLE_BENCH_RSS_FD";

fn main() {
    if let Err(msg) = run() {
        eprintln!("cradle-bench-rss: {msg}");
        std::process::exit(125);
    }
}

fn run() -> Result<(), String> {
    let fd = report_fd()?;
    // The command should not see our variable.
    // SAFETY: this process is single-threaded: nothing reads the environment
    // concurrently.
    unsafe { std::env::remove_var(FD_ENV) };
    let args: Vec<CString> = std::env::args_os()
        .skip(1)
        .map(|a| CString::new(a.into_vec()))
        .collect::<Result<_, _>>()
        .map_err(|_| "an argument contains a NUL byte".to_string())?;
    if args.is_empty() {
        return Err(format!(
            "usage: {FD_ENV}=FD cradle-bench-rss PROGRAM [ARG...]"
        ));
    }
    let mut argv: Vec<*const c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    // SAFETY: `fd` was checked open by report_fd and nothing else in this
    // process owns it; the File closes it once, at the end.
    let mut report = unsafe { File::from_raw_fd(fd) };
    let (floor_rx, floor_tx) = floor_pipe()?;

    // SAFETY: single-threaded, so the child may run any code; it allocates
    // nothing before exec, measures itself, and execs (or says why not and
    // _exits).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        child(fd, floor_tx, &argv, &args[0]);
    }
    // SAFETY: our copy of the write end, closed once, so that reading sees
    // EOF when the child has exec'd (the child's copy is close-on-exec).
    unsafe { libc::close(floor_tx) };
    let (status, maxrss_kib) = wait(pid)?;
    let floor_kib = read_floor(floor_rx)?;
    writeln!(
        report,
        "maxrss_kib={maxrss_kib} floor_kib={floor_kib} status={status}"
    )
    .map_err(|e| format!("writing the report to fd {fd}: {e}"))?;
    Ok(())
}

/// The forked child: closes the report descriptor, sends its own VmHWM just
/// before exec (the floor: what exec_mmap will record), then execs `argv`.
///
/// The measurement runs twice and the last value counts: the first run
/// faults in the code that reads, parses and writes (our text pages are not
/// copied by fork, the child faults them in again), so the second sees them.
/// Only the libc execvp wrapper runs after it.
fn child(report_fd: i32, floor_tx: i32, argv: &[*const c_char], program: &CString) -> ! {
    // SAFETY: closes the child's copy of the report descriptor.
    unsafe { libc::close(report_fd) };
    for _ in 0..2 {
        let Some(kib) = raw_vm_hwm_kib() else {
            die_in_child(
                c"cradle-bench-rss: cannot read VmHWM in /proc/self/status\n",
                126,
            );
        };
        let bytes = kib.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live local into our pipe.
        let n = unsafe { libc::write(floor_tx, bytes.as_ptr().cast(), bytes.len()) };
        if n != 8 {
            die_in_child(c"cradle-bench-rss: cannot send the floor\n", 126);
        }
    }
    // SAFETY: argv is a NULL-terminated array of pointers into CStrings
    // that the parent half of this process still owns.
    unsafe { libc::execvp(argv[0], argv.as_ptr()) };
    let err = std::io::Error::last_os_error();
    eprintln!("cradle-bench-rss: exec {program:?}: {err}");
    // SAFETY: ends the child without running exit handlers.
    unsafe { libc::_exit(127) }
}

/// Writes `msg` to stderr and ends the child (no allocation).
fn die_in_child(msg: &std::ffi::CStr, code: i32) -> ! {
    let b = msg.to_bytes();
    // SAFETY: writes from a static string; _exit ends the child.
    unsafe {
        libc::write(2, b.as_ptr().cast(), b.len());
        libc::_exit(code)
    }
}

/// A close-on-exec pipe: (read end, write end).
fn floor_pipe() -> Result<(i32, i32), String> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two descriptors into the live array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe2: {}", std::io::Error::last_os_error()));
    }
    Ok((fds[0], fds[1]))
}

/// The last value the child sent (it sends two, 8 bytes each).
fn read_floor(rx: i32) -> Result<u64, String> {
    use std::io::Read;
    // SAFETY: the read end is ours alone; the File closes it.
    let mut pipe = unsafe { File::from_raw_fd(rx) };
    let mut buf = Vec::new();
    pipe.read_to_end(&mut buf)
        .map_err(|e| format!("reading the floor: {e}"))?;
    let last = buf
        .len()
        .checked_sub(8)
        .map(|i| &buf[i..])
        .ok_or("the child sent no floor (exec not reached)")?;
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(last);
    Ok(u64::from_ne_bytes(bytes))
}

/// VmHWM of the calling process in KiB, read into a stack buffer: nothing is
/// allocated, so the measurement does not raise what it measures.
fn raw_vm_hwm_kib() -> Option<u64> {
    let mut buf = [0u8; 4096];
    // SAFETY: a static NUL-terminated path; the descriptor is closed below.
    let fd = unsafe {
        libc::open(
            c"/proc/self/status".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return None;
    }
    let mut len = 0;
    while len < buf.len() {
        // SAFETY: reads into the unused tail of the live buffer.
        let n = unsafe { libc::read(fd, buf[len..].as_mut_ptr().cast(), buf.len() - len) };
        if n <= 0 {
            break;
        }
        len += n as usize;
    }
    // SAFETY: closes the descriptor opened above.
    unsafe { libc::close(fd) };
    buf[..len]
        .split(|b| *b == b'\n')
        .find_map(|l| l.strip_prefix(b"VmHWM:"))
        .and_then(|v| {
            let digits: &[u8] = v.trim_ascii().split(|b| *b == b' ').next()?;
            digits.iter().try_fold(0u64, |n, d| {
                let d = d.is_ascii_digit().then(|| u64::from(d - b'0'))?;
                n.checked_mul(10)?.checked_add(d)
            })
        })
}

/// The report descriptor from the environment, checked to be open.
fn report_fd() -> Result<i32, String> {
    let text = std::env::var(FD_ENV).map_err(|_| format!("{FD_ENV} is not set"))?;
    let fd: i32 = text
        .parse()
        .map_err(|_| format!("{FD_ENV}={text:?} is not a descriptor number"))?;
    // SAFETY: F_GETFD only reads the descriptor's flags.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(format!("{FD_ENV}={fd}: descriptor is not open"));
    }
    Ok(fd)
}

/// Waits for `pid`: its raw wait status and peak RSS (KiB).
fn wait(pid: libc::pid_t) -> Result<(i32, i64), String> {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: all-zero is a valid rusage.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: wait4 writes only into the two live locals.
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc == pid {
            return Ok((status, usage.ru_maxrss));
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(format!("wait4({pid}): {err}"));
        }
    }
}
