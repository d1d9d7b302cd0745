//! The configuration reference: one entry per key of `config.toml`, the
//! single place its documentation is written. `cradled
//! --print-default-config` and `docs/config.md` are rendered from it
//! ([`super::render`]), and `runtime-daemon/tests/config_reference.rs`
//! fails when a field of [`super::Config`] (or of a table it nests) has no
//! entry here, or an entry names a key that does not exist.

/// What a key holds, as the reference shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// A file or directory path (a TOML string).
    Path,
    /// A list of paths.
    Paths,
    /// A string.
    Text,
    /// A list of strings.
    Texts,
    /// A non-negative integer.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// An `ip:port` socket address (a TOML string).
    Address,
    /// A Go-style duration string: `"4h"`, `"30s"`, `"1m30s"`, `"0s"`.
    Duration,
    /// One of the listed strings.
    Choice(&'static [&'static str]),
    /// A table of named keys (`[registry]`).
    Table,
    /// A table of tables, one per name the user picks
    /// (`[runtime_handlers.<name>]`); its entry's child is the
    /// `<name>` entry.
    Tables,
}

impl Type {
    /// The type as the reference's "type" column says it.
    pub fn describe(self) -> String {
        match self {
            Type::Path => "path".into(),
            Type::Paths => "list of paths".into(),
            Type::Text => "string".into(),
            Type::Texts => "list of strings".into(),
            Type::Integer => "integer".into(),
            Type::Boolean => "boolean".into(),
            Type::Address => "address (`ip:port`)".into(),
            Type::Duration => "duration (`\"30s\"`, `\"1m30s\"`)".into(),
            Type::Choice(choices) => choices
                .iter()
                .map(|c| format!("`\"{c}\"`"))
                .collect::<Vec<_>>()
                .join(" or "),
            Type::Table => "table".into(),
            Type::Tables => "tables by name".into(),
        }
    }

    /// Whether the key heads a table (its own `[header]`) rather than
    /// holding a value.
    pub fn is_table(self) -> bool {
        matches!(self, Type::Table | Type::Tables)
    }
}

/// The documentation of one key.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// The dotted key path from the top of the file (`registry.hosts`).
    /// A `<name>` segment stands for the names of a [`Type::Tables`]
    /// table (`runtime_handlers.<name>.runtime`).
    pub key: &'static str,
    /// What it holds.
    pub ty: Type,
    /// One paragraph: what it does, what its absence or default means.
    pub doc: &'static str,
    /// A TOML value shown (commented out) where the default is empty or
    /// absent; for a `<name>` entry, the name the example uses.
    pub example: Option<&'static str>,
    /// The `cradled` flag that overrides it.
    pub flag: Option<&'static str>,
}

impl Entry {
    /// The key's path as segments (`<name>` segments kept).
    pub fn segments(&self) -> Vec<&'static str> {
        self.key.split('.').collect()
    }

    /// The last segment is a `<name>` placeholder.
    pub fn is_name(&self) -> bool {
        self.key.ends_with('>')
    }
}

const fn key(key: &'static str, ty: Type, doc: &'static str) -> Entry {
    Entry {
        key,
        ty,
        doc,
        example: None,
        flag: None,
    }
}

const fn with_flag(entry: Entry, flag: &'static str) -> Entry {
    Entry {
        flag: Some(flag),
        ..entry
    }
}

const fn with_example(entry: Entry, example: &'static str) -> Entry {
    Entry {
        example: Some(example),
        ..entry
    }
}

/// Every key, in the order the rendered config file and `docs/config.md`
/// show them (a table's own keys before the tables it holds).
pub const REFERENCE: &[Entry] = &[
    with_flag(
        key(
            "socket",
            Type::Path,
            "The CRI socket the kubelet (and crictl) connect to; created at start, \
             replacing a stale socket file.",
        ),
        "--socket",
    ),
    with_flag(
        key(
            "root",
            Type::Path,
            "Persistent state: the metadata store, the content store, snapshots, \
             pod directories and container bundles. Kept across reboots.",
        ),
        "--root",
    ),
    with_flag(
        key(
            "state_dir",
            Type::Path,
            "Volatile state: shim state directories, namespace pins, the OCI runtimes' \
             state and the admin socket. Belongs on a tmpfs such as /run.",
        ),
        "--state-dir",
    ),
    with_flag(
        key(
            "cni_conf_dir",
            Type::Path,
            "Where the CNI network configuration is read from: the first valid \
             `*.conflist`, `*.conf` or `*.json` file by name.",
        ),
        "--cni-conf-dir",
    ),
    with_flag(
        key(
            "cni_bin_dirs",
            Type::Paths,
            "Directories searched in order for CNI plugin binaries. The flag takes \
             them `:`-separated.",
        ),
        "--cni-bin-dir",
    ),
    with_flag(
        key(
            "insecure_registries",
            Type::Texts,
            "Registries (`host` or `host:port`) spoken to over plain HTTP; a \
             shorthand for the list of the same name in `[registry]`, the two \
             merged. Loopback registries are plain HTTP without being listed. \
             Each flag adds one.",
        ),
        "--insecure-registry",
    ),
    with_flag(
        key(
            "log_level",
            Type::Text,
            "The `tracing` filter of the daemon's log: a level (`info`, `debug`) or \
             directives such as `cradle_daemon=debug,info`.",
        ),
        "--log-level",
    ),
    with_flag(
        key(
            "log_format",
            Type::Choice(&["text", "json"]),
            "How log lines are written to stderr: `text`, human-readable, or `json`, \
             one object a line carrying the span fields (rpc, pod and container ids).",
        ),
        "--log-format",
    ),
    with_example(
        key(
            "metrics_address",
            Type::Address,
            "Where the Prometheus endpoint (`/metrics`) listens. Absent, the \
             default: no endpoint. The endpoint has no authentication, so a \
             non-loopback address is logged as a warning.",
        ),
        "\"127.0.0.1:9795\"",
    ),
    with_example(
        key(
            "shim_path",
            Type::Path,
            "The `cradle-shim` binary. Absent: the one next to the daemon's \
             executable.",
        ),
        "\"/usr/local/bin/cradle-shim\"",
    ),
    with_example(
        key(
            "oci_runtime_path",
            Type::Path,
            "The `cradle-oci` binary, also the `cradle-oci` handler's runtime when its \
             table names none. Absent: the one next to the daemon's executable.",
        ),
        "\"/usr/local/bin/cradle-oci\"",
    ),
    key(
        "default_cgroup_parent",
        Type::Text,
        "The cgroup parent of pods whose config names none. Under \
         `cgroup_driver = \"systemd\"` it must be a slice name such as \
         `system.slice`, except the built-in `/cradle`, which stands for \
         `system.slice` there.",
    ),
    key(
        "cdi_spec_dirs",
        Type::Paths,
        "Directories of CDI spec files (`*.json`, `*.yaml`), read at each \
         CreateContainer that asks for CDI devices; a device defined in a later \
         directory overrides one of the same name in an earlier one.",
    ),
    key(
        "default_runtime_handler",
        Type::Text,
        "The RuntimeClass handler a pod without one (`runtime_handler: \"\"`) runs \
         with; it must be a configured (or built-in) handler.",
    ),
    key(
        "cgroup_driver",
        Type::Choice(&["cgroupfs", "systemd"]),
        "How cgroups are managed, as the kubelet's `cgroupDriver` (reported by \
         RuntimeConfig): `cgroupfs`, cgroup parents are paths; `systemd`, parents \
         are slices, containers get transient scopes and every handler gets \
         `--systemd-cgroup`. `systemd` needs systemd running on the host.",
    ),
    key(
        "registry",
        Type::Table,
        "Where and how images are pulled: credentials, per-host mirrors, plain \
         HTTP and CAs, download concurrency and stall timeout.",
    ),
    key(
        "registry.insecure_registries",
        Type::Texts,
        "Registries (`host` or `host:port`) spoken to over plain HTTP, as \
         `plain_http` in `hosts` says for one. Loopback registries are too, \
         unless they have a `hosts` entry.",
    ),
    with_example(
        key(
            "registry.credentials_file",
            Type::Path,
            "A docker `config.json` whose `auths` (identity tokens too), \
             `credHelpers` and `credsStore` supply credentials for hosts the pull \
             request's auth does not cover. Read at each pull, so edits apply \
             without a restart. Absent: only the request's auth.",
        ),
        "\"/etc/cradle/auth.json\"",
    ),
    with_example(
        key(
            "registry.credential_helpers_dir",
            Type::Path,
            "Where the `docker-credential-<name>` helpers named by the credentials \
             file are. Absent: the daemon's `PATH`.",
        ),
        "\"/usr/local/bin\"",
    ),
    key(
        "registry.max_concurrent_downloads",
        Type::Integer,
        "Layers one pull downloads at the same time.",
    ),
    key(
        "registry.stall_timeout_secs",
        Type::Integer,
        "A layer download that receives no byte for this many seconds is \
         cancelled (at least 1).",
    ),
    key(
        "registry.hosts",
        Type::Tables,
        "Settings per registry host, by `host` or `host:port` (`docker.io` for \
         Docker Hub). Empty by default.",
    ),
    with_example(
        key(
            "registry.hosts.<host>",
            Type::Table,
            "One registry host's mirrors and connection settings.",
        ),
        "docker.io",
    ),
    with_example(
        key(
            "registry.hosts.<host>.mirrors",
            Type::Texts,
            "Hosts serving the same content (`host:port`, or a URL whose `http://` \
             or `https://` decides the protocol), tried in order before the host \
             itself. A mirror's own connection settings come from its own `hosts` \
             entry.",
        ),
        "[\"mirror.local:5000\"]",
    ),
    key(
        "registry.hosts.<host>.plain_http",
        Type::Boolean,
        "Speak plain HTTP to this host.",
    ),
    with_example(
        key(
            "registry.hosts.<host>.ca",
            Type::Path,
            "A PEM file of CA certificates trusted, besides the system's, for this \
             host. Absent: the system's only.",
        ),
        "\"/etc/cradle/certs/registry-ca.pem\"",
    ),
    key(
        "registry.hosts.<host>.skip_verify",
        Type::Boolean,
        "Accept any TLS certificate from this host (testing only).",
    ),
    key(
        "streaming",
        Type::Table,
        "The streaming server behind Exec, Attach and PortForward (SPDY/3.1 and \
         WebSocket): where it listens, TLS, session limits.",
    ),
    key(
        "streaming.address",
        Type::Address,
        "Where the streaming server listens; port 0 picks a free one. Loopback by \
         default: the URLs carry one-time tokens, but no other authentication.",
    ),
    with_example(
        key(
            "streaming.tls_cert",
            Type::Path,
            "A PEM certificate: serve HTTPS. Needs `tls_key`. Absent: plain HTTP.",
        ),
        "\"/etc/cradle/stream.crt\"",
    ),
    with_example(
        key(
            "streaming.tls_key",
            Type::Path,
            "The PEM private key of `tls_cert`.",
        ),
        "\"/etc/cradle/stream.key\"",
    ),
    key(
        "streaming.stream_idle_timeout",
        Type::Duration,
        "A session without traffic for this long is closed; `\"0s\"`: never.",
    ),
    key(
        "streaming.stream_creation_timeout",
        Type::Duration,
        "How long a client has, after the upgrade, to open a session's streams; \
         above zero.",
    ),
    key(
        "streaming.stream_ping_interval",
        Type::Duration,
        "How often SPDY sessions are PINGed by the server; `\"0s\"`: never.",
    ),
    key(
        "runtime_handlers",
        Type::Tables,
        "The RuntimeClass handlers (the `handler` of a Kubernetes RuntimeClass): \
         OCI runtimes with the runc command line, by name. Empty, the default: the \
         built-ins, `cradle-oci` plus `runc` and `crun` where found in `PATH` at \
         start. Configured tables replace the built-ins.",
    ),
    with_example(
        key(
            "runtime_handlers.<name>",
            Type::Table,
            "One handler; its name must be a lowercase RFC 1123 label, as \
             RuntimeClass handlers are.",
        ),
        "runc",
    ),
    with_example(
        key(
            "runtime_handlers.<name>.runtime",
            Type::Path,
            "The OCI runtime binary: a path, or a name looked up in `PATH` at start. \
             Absent: Cradle's launcher (`oci_runtime_path`) for `cradle-oci`, else \
             the handler's own name in `PATH`.",
        ),
        "\"runc\"",
    ),
    with_example(
        key(
            "runtime_handlers.<name>.root",
            Type::Path,
            "The runtime's state root (`--root`). Absent: \
             `<state_dir>/runtime/<name>`.",
        ),
        "\"/run/cradle/runtime/runc\"",
    ),
    with_example(
        key(
            "runtime_handlers.<name>.systemd_cgroup",
            Type::Boolean,
            "Pass `--systemd-cgroup`. Absent: as `cgroup_driver` says; present, it \
             must agree with it.",
        ),
        "false",
    ),
    with_example(
        key(
            "runtime_handlers.<name>.extra_args",
            Type::Texts,
            "More global flags, put before the verb of every invocation of the \
             runtime.",
        ),
        "[\"--debug\"]",
    ),
];

/// The entry of `key` (dotted, `<name>` segments as written in the
/// reference).
pub fn entry(key: &str) -> Option<&'static Entry> {
    REFERENCE.iter().find(|e| e.key == key)
}
