//! How long streaming sessions may wait and idle, and how often the server
//! pings SPDY clients. The defaults are the kubelet's streaming server's: a
//! session idle for 4 hours is closed, and a client has 30 seconds to open
//! the streams of a session (or of a port-forward pair).
//!
//! Idle means no frame from the client (its PINGs included, as kubectl's
//! port-forward pings to keep a quiet session open; its answers to our PINGs
//! excluded, or our own keepalive would keep every session alive forever)
//! and no data or stream reply from us.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The kubelet's `StreamIdleTimeout`.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(4 * 3600);
/// The kubelet's `StreamCreationTimeout`.
pub const DEFAULT_CREATION: Duration = Duration::from_secs(30);
/// How often the server PINGs a SPDY client (as the API server's
/// SPDY upgrader with pings does), so proxies and NATs on the way see traffic.
pub const DEFAULT_PING: Duration = Duration::from_secs(30);

/// Limits of one streaming session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimeouts {
    /// Close a session idle this long (`None`: never).
    pub idle: Option<Duration>,
    /// How long the client has to open the streams a session needs.
    pub creation: Duration,
    /// Send a SPDY PING this often (`None`: never).
    pub ping: Option<Duration>,
}

impl Default for SessionTimeouts {
    fn default() -> Self {
        SessionTimeouts {
            idle: Some(DEFAULT_IDLE),
            creation: DEFAULT_CREATION,
            ping: Some(DEFAULT_PING),
        }
    }
}

/// When a session last saw traffic that keeps it from being idle; cheap to
/// clone (the clones share the time).
#[derive(Debug, Clone)]
pub struct Activity(Arc<Mutex<Instant>>);

impl Default for Activity {
    fn default() -> Self {
        Activity(Arc::new(Mutex::new(Instant::now())))
    }
}

impl Activity {
    /// Traffic now.
    pub fn touch(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// The last traffic.
    pub fn last(&self) -> Instant {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolves once there has been no traffic for `limit`; never without one.
    pub async fn idle_for(&self, limit: Option<Duration>) {
        let Some(limit) = limit else {
            return std::future::pending().await;
        };
        loop {
            let due = self.last() + limit;
            if Instant::now() >= due {
                return;
            }
            tokio::time::sleep_until(due).await;
        }
    }
}

/// Parses a Go-style duration as containerd's and the kubelet's configs
/// write them: `4h`, `30s`, `4h0m0s`, `1.5m`, `500ms` (units ns, us, µs,
/// ms, s, m, h; a bare `0` is zero).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration like \"30s\", \"4h\" or \"1m30s\"");
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let number: f64 = rest[..number_len].parse().map_err(|_| bad())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total += number * seconds;
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_duration("4h").unwrap(), DEFAULT_IDLE);
        assert_eq!(parse_duration("4h0m0s").unwrap(), DEFAULT_IDLE);
        assert_eq!(parse_duration("30s").unwrap(), DEFAULT_CREATION);
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
    }

    #[tokio::test]
    async fn activity_postpones_idleness() {
        let activity = Activity::default();
        let limit = Some(Duration::from_millis(150));
        let toucher = activity.clone();
        let started = Instant::now();
        let touching = async move {
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                toucher.touch();
            }
        };
        tokio::join!(activity.idle_for(limit), touching);
        assert!(started.elapsed() >= Duration::from_millis(350));
        let never = tokio::time::timeout(Duration::from_millis(50), activity.idle_for(None)).await;
        assert!(never.is_err());
    }

    #[test]
    fn junk_is_refused() {
        for junk in ["", "30", "s", "4 hours", "1x", "-1s", "1h-5m"] {
            assert!(parse_duration(junk).is_err(), "{junk:?} parsed");
        }
    }
}
