//! The error-stream payloads of the remotecommand protocols, byte-compatible
//! with what the kubelet writes: v4 and later send a JSON `metav1.Status`
//! (success included); older protocols send only failure text.

/// Exit code or error of an exec/attach, as the error stream reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Exited(i32),
    Failed(String),
}

/// v4+ JSON Status, field for field in the order Go's encoding/json writes
/// `metav1.Status` and `StatusCause` (so clients comparing bytes agree too).
pub fn v4_status(outcome: &Outcome) -> Vec<u8> {
    let q = |s: &str| serde_json::Value::from(s).to_string();
    match outcome {
        Outcome::Exited(0) => r#"{"metadata":{},"status":"Success"}"#.to_string(),
        Outcome::Exited(code) => format!(
            r#"{{"metadata":{{}},"status":"Failure","message":{},"reason":"NonZeroExitCode","details":{{"causes":[{{"reason":"ExitCode","message":"{code}"}}]}}}}"#,
            q(&format!(
                "command terminated with non-zero exit code: exit status {code}"
            )),
        ),
        Outcome::Failed(message) => format!(
            r#"{{"metadata":{{}},"status":"Failure","message":{},"reason":"InternalError","details":{{"causes":[{{"message":{}}}]}},"code":500}}"#,
            q(&format!("Internal error occurred: {message}")),
            q(message),
        ),
    }
    .into_bytes()
}

/// Pre-v4 error text; nothing on success.
pub fn v1_status(outcome: &Outcome) -> Option<Vec<u8>> {
    match outcome {
        Outcome::Exited(0) => None,
        Outcome::Exited(code) => Some(
            format!("command terminated with non-zero exit code: exit status {code}").into_bytes(),
        ),
        Outcome::Failed(message) => {
            Some(format!("Internal error occurred: {message}").into_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_is_the_kubelet_bytes() {
        assert_eq!(
            v4_status(&Outcome::Exited(0)),
            br#"{"metadata":{},"status":"Success"}"#
        );
        assert_eq!(v1_status(&Outcome::Exited(0)), None);
    }

    #[test]
    fn exit_42_carries_the_exit_code_cause() {
        let text = String::from_utf8(v4_status(&Outcome::Exited(42))).unwrap();
        assert_eq!(
            text,
            r#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: exit status 42","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"42"}]}}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["details"]["causes"][0]["reason"], "ExitCode");
    }

    #[test]
    fn failures_are_internal_errors() {
        let parsed: serde_json::Value =
            serde_json::from_slice(&v4_status(&Outcome::Failed("no such container".into())))
                .unwrap();
        assert_eq!(parsed["reason"], "InternalError");
        assert_eq!(parsed["code"], 500);
    }
}
