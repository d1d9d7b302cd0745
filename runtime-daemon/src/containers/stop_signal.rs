//! The signal that stops a container: the CRI config's `stop_signal` (the
//! pod spec's `lifecycle.stopSignal`, Kubernetes' ContainerStopSignals) when
//! set, else its image's STOPSIGNAL, else SIGTERM; and that signal as the
//! CRI's `Signal` enum for ContainerStatus.stop_signal.

use cradle_proto::cri;

/// The Linux number of glibc's SIGRTMIN (the kernel's 32 and 33 are kept by
/// the C library), the base of the CRI's `SIGRTMINPLUS<n>`, as containerd
/// and Docker number `RTMIN+<n>`.
const SIGRTMIN: i32 = 34;
/// The Linux number of SIGRTMAX, the base of the CRI's `SIGRTMAXMINUS<n>`.
const SIGRTMAX: i32 = 64;

/// The CRI's named, non-realtime signals and their Linux numbers. A number
/// with two names (SIGCHLD and SIGCLD, SIGABRT and SIGIOT, SIGIO and
/// SIGPOLL) is reported under the first.
const NAMED: &[(cri::Signal, i32)] = &[
    (cri::Signal::Sighup, libc::SIGHUP),
    (cri::Signal::Sigint, libc::SIGINT),
    (cri::Signal::Sigquit, libc::SIGQUIT),
    (cri::Signal::Sigill, libc::SIGILL),
    (cri::Signal::Sigtrap, libc::SIGTRAP),
    (cri::Signal::Sigabrt, libc::SIGABRT),
    (cri::Signal::Sigiot, libc::SIGIOT),
    (cri::Signal::Sigbus, libc::SIGBUS),
    (cri::Signal::Sigfpe, libc::SIGFPE),
    (cri::Signal::Sigkill, libc::SIGKILL),
    (cri::Signal::Sigusr1, libc::SIGUSR1),
    (cri::Signal::Sigsegv, libc::SIGSEGV),
    (cri::Signal::Sigusr2, libc::SIGUSR2),
    (cri::Signal::Sigpipe, libc::SIGPIPE),
    (cri::Signal::Sigalrm, libc::SIGALRM),
    (cri::Signal::Sigterm, libc::SIGTERM),
    (cri::Signal::Sigstkflt, libc::SIGSTKFLT),
    (cri::Signal::Sigchld, libc::SIGCHLD),
    (cri::Signal::Sigcld, libc::SIGCHLD),
    (cri::Signal::Sigcont, libc::SIGCONT),
    (cri::Signal::Sigstop, libc::SIGSTOP),
    (cri::Signal::Sigtstp, libc::SIGTSTP),
    (cri::Signal::Sigttin, libc::SIGTTIN),
    (cri::Signal::Sigttou, libc::SIGTTOU),
    (cri::Signal::Sigurg, libc::SIGURG),
    (cri::Signal::Sigxcpu, libc::SIGXCPU),
    (cri::Signal::Sigxfsz, libc::SIGXFSZ),
    (cri::Signal::Sigvtalrm, libc::SIGVTALRM),
    (cri::Signal::Sigprof, libc::SIGPROF),
    (cri::Signal::Sigwinch, libc::SIGWINCH),
    (cri::Signal::Sigio, libc::SIGIO),
    (cri::Signal::Sigpoll, libc::SIGPOLL),
    (cri::Signal::Sigpwr, libc::SIGPWR),
    (cri::Signal::Sigsys, libc::SIGSYS),
];

/// The signal StopContainer sends first: `config` (ContainerConfig's
/// `stop_signal`) unless it is the runtime's default, else the image's
/// STOPSIGNAL, else SIGTERM, the order containerd follows. A value outside
/// the CRI enum, which the service refuses before this, counts as unset.
pub fn stop_signal(config: i32, image: Option<&str>) -> i32 {
    cri::Signal::try_from(config)
        .ok()
        .and_then(signal_number)
        .unwrap_or_else(|| parse_stop_signal(image))
}

/// The Linux number of a CRI signal; `None` for `RUNTIME_DEFAULT`.
pub fn signal_number(signal: cri::Signal) -> Option<i32> {
    if signal == cri::Signal::RuntimeDefault {
        return None;
    }
    if let Some((_, number)) = NAMED.iter().find(|(named, _)| *named == signal) {
        return Some(*number);
    }
    let name = signal.as_str_name();
    let offset = |prefix: &str| name.strip_prefix(prefix)?.parse::<i32>().ok();
    match name {
        "SIGRTMIN" => Some(SIGRTMIN),
        "SIGRTMAX" => Some(SIGRTMAX),
        _ => offset("SIGRTMINPLUS")
            .map(|n| SIGRTMIN + n)
            .or_else(|| offset("SIGRTMAXMINUS").map(|n| SIGRTMAX - n)),
    }
}

/// A Linux signal number as the CRI's `Signal`, for ContainerStatus;
/// `RUNTIME_DEFAULT` for a number the enum has no name for (the realtime
/// signals below glibc's SIGRTMIN).
pub fn cri_signal(number: i32) -> cri::Signal {
    if let Some((signal, _)) = NAMED.iter().find(|(_, n)| *n == number) {
        return *signal;
    }
    let name = match number {
        SIGRTMIN => "SIGRTMIN".to_string(),
        SIGRTMAX => "SIGRTMAX".to_string(),
        n if (SIGRTMIN + 1..=SIGRTMIN + 15).contains(&n) => format!("SIGRTMINPLUS{}", n - SIGRTMIN),
        n if (SIGRTMAX - 14..SIGRTMAX).contains(&n) => format!("SIGRTMAXMINUS{}", SIGRTMAX - n),
        _ => return cri::Signal::RuntimeDefault,
    };
    cri::Signal::from_str_name(&name).unwrap_or(cri::Signal::RuntimeDefault)
}

/// Parses an image STOPSIGNAL (`SIGTERM`, `TERM`, or a number from 1 to
/// 64); SIGTERM when absent, or (with a warning naming it) when it is no
/// signal.
pub fn parse_stop_signal(value: Option<&str>) -> i32 {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return libc::SIGTERM;
    };
    let parsed = match value.parse::<i32>() {
        Ok(n) => Some(n).filter(|n| (1..=64).contains(n)),
        Err(_) => {
            let upper = value.to_ascii_uppercase();
            let name = if upper.starts_with("SIG") {
                upper
            } else {
                format!("SIG{upper}")
            };
            name.parse::<nix::sys::signal::Signal>()
                .ok()
                .map(|s| s as i32)
        }
    };
    parsed.unwrap_or_else(|| {
        tracing::warn!("image STOPSIGNAL {value:?} is not a signal: SIGTERM stops the container");
        libc::SIGTERM
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_signal_accepts_names_and_numbers() {
        assert_eq!(parse_stop_signal(None), libc::SIGTERM);
        assert_eq!(parse_stop_signal(Some("SIGINT")), libc::SIGINT);
        assert_eq!(parse_stop_signal(Some("quit")), libc::SIGQUIT);
        assert_eq!(parse_stop_signal(Some("9")), 9);
        assert_eq!(parse_stop_signal(Some("SIGBOGUS")), libc::SIGTERM);
        assert_eq!(parse_stop_signal(Some("SIGUSR1")), libc::SIGUSR1);
        assert_eq!(parse_stop_signal(Some("99")), libc::SIGTERM);
        assert_eq!(parse_stop_signal(Some("0")), libc::SIGTERM);
    }

    #[test]
    fn the_configs_signal_wins_over_the_images_which_wins_over_sigterm() {
        let quit = cri::Signal::Sigquit as i32;
        let default = cri::Signal::RuntimeDefault as i32;
        assert_eq!(stop_signal(quit, Some("SIGUSR1")), libc::SIGQUIT);
        assert_eq!(stop_signal(default, Some("SIGUSR1")), libc::SIGUSR1);
        assert_eq!(stop_signal(default, None), libc::SIGTERM);
        assert_eq!(stop_signal(9999, Some("SIGINT")), libc::SIGINT);
    }

    #[test]
    fn every_cri_signal_has_its_linux_number_and_maps_back() {
        let mut seen = std::collections::BTreeSet::new();
        for value in 1..=65 {
            let signal = cri::Signal::try_from(value).unwrap();
            let number = signal_number(signal)
                .unwrap_or_else(|| panic!("{} has no number", signal.as_str_name()));
            assert!((1..=64).contains(&number), "{signal:?} = {number}");
            let back = cri_signal(number);
            assert_eq!(signal_number(back), Some(number), "{signal:?} round trip");
            seen.insert(number);
        }
        // 31 classic signals (three with two names) and the 31 of glibc's
        // SIGRTMIN (34) to SIGRTMAX (64).
        assert_eq!(seen.len(), 62);
        assert_eq!(signal_number(cri::Signal::RuntimeDefault), None);
        assert_eq!(signal_number(cri::Signal::Sigrtmin), Some(34));
        assert_eq!(signal_number(cri::Signal::Sigrtminplus15), Some(49));
        assert_eq!(signal_number(cri::Signal::Sigrtmaxminus14), Some(50));
        assert_eq!(signal_number(cri::Signal::Sigrtmax), Some(64));
        assert_eq!(signal_number(cri::Signal::Sigcld), Some(libc::SIGCHLD));
        assert_eq!(cri_signal(libc::SIGCHLD), cri::Signal::Sigchld);
        assert_eq!(cri_signal(libc::SIGTERM), cri::Signal::Sigterm);
        assert_eq!(cri_signal(32), cri::Signal::RuntimeDefault);
    }
}
