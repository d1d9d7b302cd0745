//! Which fields of the CRI requests that create things Cradle uses, refuses
//! or ignores on purpose, checked against `cri/runtime/v1/api.proto`.
//!
//! The table is the daemon's contract with the kubelet written down in one
//! place: a field the .proto gains (a newer cri-api) fails this test until
//! someone decides what Cradle does with it, instead of arriving unnoticed.
//! "Used" means the daemon acts on the field; "refused" that a request
//! setting it is answered with an error naming it; "ignored" lists why
//! dropping it is right for now.

use std::collections::BTreeSet;

/// What Cradle does with one field.
enum Use {
    /// The daemon acts on it.
    Used,
    /// A request that sets it is refused, naming the field.
    Refused(&'static str),
    /// Dropped on purpose, for the reason given.
    Ignored(&'static str),
}

use Use::{Ignored, Refused, Used};

const WINDOWS: Use = Ignored("Linux only");

/// (message, [(field, use)]), fields by their .proto names.
const TABLE: &[(&str, &[(&str, Use)])] = &[
    (
        "RunPodSandboxRequest",
        &[("config", Used), ("runtime_handler", Used)],
    ),
    (
        "PodSandboxConfig",
        &[
            ("metadata", Used),
            ("hostname", Used),
            ("log_directory", Used),
            ("dns_config", Used),
            ("port_mappings", Used),
            ("labels", Used),
            ("annotations", Used),
            ("linux", Used),
            ("windows", WINDOWS),
        ],
    ),
    (
        "LinuxPodSandboxConfig",
        &[
            ("cgroup_parent", Used),
            ("security_context", Used),
            ("sysctls", Used),
            (
                "overhead",
                Ignored("the kubelet sizes the pod cgroup (cgroup_parent) itself"),
            ),
            (
                "resources",
                Ignored("the kubelet sizes the pod cgroup (cgroup_parent) itself"),
            ),
        ],
    ),
    (
        "UserNamespace",
        &[
            (
                "mode",
                Refused("any mode but NODE: no handler supports user namespaces yet"),
            ),
            (
                "uids",
                Refused("any mapping: no handler supports user namespaces yet"),
            ),
            (
                "gids",
                Refused("any mapping: no handler supports user namespaces yet"),
            ),
        ],
    ),
    (
        "CreateContainerRequest",
        &[
            ("pod_sandbox_id", Used),
            ("config", Used),
            (
                "sandbox_config",
                Ignored("the daemon uses the config it recorded at RunPodSandbox"),
            ),
        ],
    ),
    (
        "ContainerConfig",
        &[
            ("metadata", Used),
            ("image", Used),
            ("command", Used),
            ("args", Used),
            ("working_dir", Used),
            ("envs", Used),
            ("mounts", Used),
            ("devices", Used),
            ("labels", Used),
            ("annotations", Used),
            ("log_path", Used),
            ("stdin", Used),
            ("stdin_once", Used),
            ("tty", Used),
            ("linux", Used),
            ("windows", WINDOWS),
            ("CDI_devices", Used),
            (
                "stop_signal",
                Ignored("the image's StopSignal (else SIGTERM) is used; issue 15, item 5"),
            ),
        ],
    ),
    (
        "Mount",
        &[
            ("container_path", Used),
            ("host_path", Used),
            ("readonly", Used),
            (
                "selinux_relabel",
                Ignored("Cradle does not label mount sources for SELinux"),
            ),
            ("propagation", Used),
            (
                "uidMappings",
                Refused("id-mapped mounts are not supported yet"),
            ),
            (
                "gidMappings",
                Refused("id-mapped mounts are not supported yet"),
            ),
            ("recursive_read_only", Used),
            ("image", Used),
            (
                "image_sub_path",
                Ignored("image volumes mount the image's root; issue 15, item 2"),
            ),
        ],
    ),
    (
        "ImageSpec",
        &[
            ("image", Used),
            (
                "annotations",
                Ignored("pulls and image volumes need only the name"),
            ),
            (
                "user_specified_image",
                Ignored("the user's spelling of the name; informational"),
            ),
            (
                "runtime_handler",
                Ignored("one image store serves every handler"),
            ),
            (
                "image_ref",
                Ignored("image volumes resolve the name; issue 15, item 2"),
            ),
        ],
    ),
    (
        "PullImageRequest",
        &[
            ("image", Used),
            ("auth", Used),
            (
                "sandbox_config",
                Ignored("images are pulled the same way for every pod"),
            ),
        ],
    ),
];

/// The field names of top-level `message` in the .proto text.
fn proto_fields(proto: &str, message: &str) -> BTreeSet<String> {
    let header = format!("message {message} {{");
    let mut lines = proto.lines().skip_while(|l| l.trim() != header);
    assert!(
        lines.next().is_some(),
        "message {message} not in the .proto"
    );
    let mut depth = 1;
    let mut fields = BTreeSet::new();
    for line in lines {
        let line = line.split("//").next().unwrap_or_default().trim();
        if depth == 1
            && let Some((declaration, _number)) = line.split_once('=')
            && let Some(name) = declaration.split_whitespace().last()
        {
            fields.insert(name.to_string());
        }
        depth += line.matches('{').count();
        depth -= line.matches('}').count();
        if depth == 0 {
            break;
        }
    }
    fields
}

#[test]
fn every_field_of_the_creating_requests_is_accounted_for() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/cri/runtime/v1/api.proto");
    let proto = std::fs::read_to_string(path).unwrap();
    let mut problems = Vec::new();
    for (message, uses) in TABLE {
        let listed: BTreeSet<String> = uses.iter().map(|(f, _)| f.to_string()).collect();
        let actual = proto_fields(&proto, message);
        for field in actual.difference(&listed) {
            problems.push(format!(
                "{message}.{field}: new in the .proto, not in the table"
            ));
        }
        for field in listed.difference(&actual) {
            problems.push(format!(
                "{message}.{field}: in the table, not in the .proto"
            ));
        }
        // The listing itself, for `cargo test -- --nocapture`.
        for (field, rule) in uses.iter() {
            match rule {
                Used => println!("{message}.{field}: used"),
                Refused(why) => println!("{message}.{field}: refused ({why})"),
                Ignored(why) => println!("{message}.{field}: ignored ({why})"),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
