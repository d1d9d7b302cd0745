//! One-time tokens: each URL the CRI hands out names exactly one request, can
//! be used once, and expires after [`TOKEN_TTL`]. The token, not the query
//! string, decides what a connection runs.

use crate::request::{AttachRequest, ExecRequest, PortForwardRequest};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a minted URL stays valid (the kubelet's streaming cache uses one minute).
pub const TOKEN_TTL: Duration = Duration::from_secs(60);

/// The request a token stands for.
#[derive(Debug, Clone, PartialEq)]
pub enum Pending {
    /// An exec URL.
    Exec(ExecRequest),
    /// An attach URL.
    Attach(AttachRequest),
    /// A port-forward URL.
    PortForward(PortForwardRequest),
}

impl Pending {
    /// The URL path segment of this kind of request.
    pub fn kind(&self) -> &'static str {
        match self {
            Pending::Exec(_) => "exec",
            Pending::Attach(_) => "attach",
            Pending::PortForward(_) => "portforward",
        }
    }
}

/// Why a token cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Never minted, or minted for another kind of request (HTTP 404).
    #[error("unknown streaming token")]
    Unknown,
    /// Used already or expired (HTTP 410).
    #[error("streaming token already used or expired")]
    Gone,
}

enum Slot {
    Live(Pending),
    Spent,
}

/// Minted tokens, each with its deadline. Spent and expired tokens are
/// remembered until their deadline so a second use gets 410, not 404.
pub struct TokenStore {
    ttl: Duration,
    slots: Mutex<HashMap<String, (Instant, Slot)>>,
}

impl Default for TokenStore {
    fn default() -> Self {
        Self::new(TOKEN_TTL)
    }
}

impl TokenStore {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Mints a random token for `pending`.
    pub fn mint(&self, pending: Pending) -> String {
        let token = hex::encode(rand::random::<[u8; 16]>());
        let now = Instant::now();
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        // Forget tokens long past their deadline (kept one extra TTL for 410s).
        slots.retain(|_, (deadline, _)| *deadline + self.ttl > now);
        slots.insert(token.clone(), (now + self.ttl, Slot::Live(pending)));
        token
    }

    /// Takes the request of `token` if it is live and of `kind`; it cannot be
    /// taken again.
    pub fn redeem(&self, kind: &str, token: &str) -> Result<Pending, TokenError> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let Some((deadline, slot)) = slots.get_mut(token) else {
            return Err(TokenError::Unknown);
        };
        match slot {
            Slot::Spent => Err(TokenError::Gone),
            Slot::Live(pending) if pending.kind() != kind => Err(TokenError::Unknown),
            Slot::Live(_) if Instant::now() >= *deadline => {
                *slot = Slot::Spent;
                Err(TokenError::Gone)
            }
            Slot::Live(_) => match std::mem::replace(slot, Slot::Spent) {
                Slot::Live(pending) => Ok(pending),
                Slot::Spent => Err(TokenError::Gone),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec() -> Pending {
        Pending::Exec(ExecRequest {
            container_id: "c1".into(),
            cmd: vec!["true".into()],
            stdout: true,
            ..Default::default()
        })
    }

    #[test]
    fn token_works_once_then_is_gone() {
        let store = TokenStore::default();
        let token = store.mint(exec());
        assert_eq!(token.len(), 32);
        assert_eq!(store.redeem("exec", &token), Ok(exec()));
        assert_eq!(store.redeem("exec", &token), Err(TokenError::Gone));
    }

    #[test]
    fn unknown_token_and_wrong_kind_are_unknown() {
        let store = TokenStore::default();
        assert_eq!(store.redeem("exec", "nope"), Err(TokenError::Unknown));
        let token = store.mint(exec());
        assert_eq!(store.redeem("attach", &token), Err(TokenError::Unknown));
        // A wrong-kind attempt does not burn the token.
        assert!(store.redeem("exec", &token).is_ok());
    }

    #[test]
    fn expired_token_is_gone() {
        let store = TokenStore::new(Duration::from_millis(1));
        let token = store.mint(exec());
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(store.redeem("exec", &token), Err(TokenError::Gone));
    }

    #[test]
    fn tokens_are_distinct() {
        let store = TokenStore::default();
        assert_ne!(store.mint(exec()), store.mint(exec()));
    }
}
