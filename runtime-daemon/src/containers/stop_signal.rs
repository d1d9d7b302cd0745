//! The signal that stops a container, from its image's STOPSIGNAL.

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
}
