//! The sync protocol between `create` and its children, one line per
//! message: the intermediate reports the init's `pid` (after `maps` when it
//! made user or time namespaces); `create` answers `go` once the init is in
//! its cgroup (after `state`, for hooks); the init may ask for the `hooks`
//! to run, sends `warn`ings, and ends with `ready` or `error <message>`.

/// A message on the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Msg {
    /// Host pid of the init (intermediate → create).
    Pid(i32),
    /// The init may continue (create → init).
    Go,
    /// The init is set up and waits on the exec FIFO (init → create).
    Ready,
    /// Setup failed (intermediate or init → create).
    Error(String),
    /// A warning for `create` to log (init → create).
    Warn(String),
    /// Mounts are done: run the prestart and createRuntime hooks, then
    /// answer `go` (init → create).
    Hooks,
    /// New user/time namespaces are unshared: write their maps and
    /// offsets, then answer `go` (intermediate → create).
    Maps,
    /// The OCI state JSON for the init's own hooks, sent before the first
    /// `go` when the spec has hooks (create → init).
    State(String),
}

impl Msg {
    pub(crate) fn encode(&self) -> String {
        match self {
            Msg::Pid(p) => format!("pid {p}\n"),
            Msg::Go => "go\n".into(),
            Msg::Ready => "ready\n".into(),
            Msg::Error(e) => format!("error {}\n", e.replace('\n', " ")),
            Msg::Warn(e) => format!("warn {}\n", e.replace('\n', " ")),
            Msg::Hooks => "hooks\n".into(),
            Msg::Maps => "maps\n".into(),
            Msg::State(json) => format!("state {}\n", json.replace('\n', " ")),
        }
    }

    pub(crate) fn decode(line: &str) -> Option<Msg> {
        let line = line.trim_end_matches('\n');
        let (head, rest) = line.split_once(' ').unwrap_or((line, ""));
        match head {
            "pid" => rest.parse().ok().map(Msg::Pid),
            "go" => Some(Msg::Go),
            "ready" => Some(Msg::Ready),
            "error" => Some(Msg::Error(rest.to_string())),
            "warn" => Some(Msg::Warn(rest.to_string())),
            "hooks" => Some(Msg::Hooks),
            "maps" => Some(Msg::Maps),
            "state" => Some(Msg::State(rest.to_string())),
            _ => None,
        }
    }
}
