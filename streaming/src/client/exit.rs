//! The remote command's exit code from the status a v4+ server sends on
//! channel 3 (see [`crate::status`] for the server's side).

use super::error::ClientError;
use serde_json::Value;

/// The exit code a `metav1.Status` reports: 0 for `Success`, the
/// `ExitCode` cause of a `NonZeroExitCode` failure; any other failure is
/// [`ClientError::Remote`] with its message.
pub fn exit_code(status: &[u8]) -> Result<i32, ClientError> {
    let unreadable = || ClientError::BadStatus(String::from_utf8_lossy(status).into_owned());
    let value: Value = serde_json::from_slice(status).map_err(|_| unreadable())?;
    match value.get("status").and_then(Value::as_str) {
        Some("Success") => return Ok(0),
        Some("Failure") => {}
        _ => return Err(unreadable()),
    }
    if value.get("reason").and_then(Value::as_str) == Some("NonZeroExitCode") {
        let causes = value
            .pointer("/details/causes")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        return causes
            .iter()
            .filter(|c| c.get("reason").and_then(Value::as_str) == Some("ExitCode"))
            .find_map(|c| c.get("message")?.as_str()?.trim().parse().ok())
            .ok_or_else(unreadable);
    }
    let message = value
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("the command failed");
    Err(ClientError::Remote(message.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{Outcome, v4_status};

    #[test]
    fn the_servers_statuses_give_back_their_exit_codes() {
        assert_eq!(exit_code(&v4_status(&Outcome::Exited(0))).unwrap(), 0);
        assert_eq!(exit_code(&v4_status(&Outcome::Exited(42))).unwrap(), 42);
        let failed = exit_code(&v4_status(&Outcome::Failed("no such file".into())));
        match failed {
            Err(ClientError::Remote(message)) => assert!(message.contains("no such file")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_is_an_unreadable_status() {
        for status in [
            &b"not json"[..],
            br#"{"status":"Failure","reason":"NonZeroExitCode"}"#,
        ] {
            assert!(matches!(exit_code(status), Err(ClientError::BadStatus(_))));
        }
    }
}
