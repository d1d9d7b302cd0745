use super::*;
use tonic::Code;

fn refused(result: Result<(), Status>, field: &str) -> String {
    let err = result.expect_err("refused");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().starts_with(&format!("{field}: ")),
        "{}",
        err.message()
    );
    err.message().to_string()
}

#[test]
fn names_the_kubelet_and_critest_send_are_accepted() {
    for ok in [
        "probes-recorder",
        "kube-apiserver-node-1",
        "a",
        "container-with-RunAsGroup-without-RunAsUser-1f2e3d4c-aaaa-bbbb-cccc-0123456789ab",
        "create-PodSandbox-for-container-1f2e3d4c-aaaa-bbbb-cccc-0123456789ab",
        "etcd.example.com",
        "under_score",
    ] {
        assert!(name("n", ok, NAME_MAX).is_ok(), "{ok}");
    }
}

#[test]
fn names_with_nul_odd_characters_or_too_long_are_refused() {
    refused(
        name("config.metadata.name", "", NAME_MAX),
        "config.metadata.name",
    );
    let m = refused(name("f", "a\0b", NAME_MAX), "f");
    assert!(m.contains("NUL"), "{m}");
    let m = refused(name("f", &"a".repeat(1 << 20), NAME_MAX), "f");
    assert!(m.contains("more than 253"), "{m}");
    refused(name("f", &"a".repeat(64), NAMESPACE_MAX), "f");
    assert!(name("f", &"a".repeat(63), NAMESPACE_MAX).is_ok());
    refused(name("f", "a/b", NAME_MAX), "f");
    refused(name("f", "../x", NAME_MAX), "f");
    refused(name("f", "-a", NAME_MAX), "f");
    refused(name("f", "a.", NAME_MAX), "f");
    refused(name("f", "a b", NAME_MAX), "f");
}

#[test]
fn uids_must_be_present_printable_and_bounded() {
    assert!(uid("u", "2daf3f8b03a0e94e00ab30b2297e23c1").is_ok());
    assert!(uid("u", "963df4a1-a46b-42f1-9982-63e59ca6f873").is_ok());
    refused(uid("u", ""), "u");
    refused(uid("u", "a\0"), "u");
    refused(uid("u", "a/b"), "u");
    refused(uid("u", &"a".repeat(UID_MAX + 1)), "u");
}

#[test]
fn hostnames_are_dns_names_within_the_kernels_limit() {
    for ok in [
        "",
        "probes-recorder",
        "custom-host",
        "web.default.svc.cluster.local",
    ] {
        assert!(hostname("h", ok).is_ok(), "{ok}");
    }
    refused(hostname("h", &"a".repeat(HOSTNAME_MAX + 1)), "h");
    assert!(hostname("h", &format!("{}.{}", "a".repeat(32), "b".repeat(31))).is_ok());
    refused(hostname("h", "a\0"), "h");
    refused(hostname("h", "a..b"), "h");
    refused(hostname("h", "a_b"), "h");
    refused(hostname("h", "-a"), "h");
}

#[test]
fn absolute_paths_are_required_where_asked() {
    assert!(absolute_path("p", "/data").is_ok());
    let m = refused(absolute_path("p", "data"), "p");
    assert!(m.contains("not an absolute path"), "{m}");
    refused(absolute_path("p", ""), "p");
    refused(absolute_path("p", "/a\0b"), "p");
    refused(
        absolute_path("p", &format!("/{}", "a".repeat(PATH_MAX))),
        "p",
    );
}

#[test]
fn contained_paths_stay_below_their_directory() {
    for ok in ["app/0.log", "c1.log", "./a.log", "a/../b.log"] {
        assert!(contained_relative_path("l", ok).is_ok(), "{ok}");
    }
    let m = refused(
        contained_relative_path("l", "../../../../etc/evil.log"),
        "l",
    );
    assert!(m.contains(".."), "{m}");
    refused(contained_relative_path("l", "a/../../b.log"), "l");
    let m = refused(contained_relative_path("l", "/etc/evil2.log"), "l");
    assert!(m.contains("absolute"), "{m}");
    refused(contained_relative_path("l", "."), "l");
    refused(contained_relative_path("l", "a\0.log"), "l");
}

#[test]
fn maps_refuse_nul_empty_keys_and_excess() {
    let map = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<std::collections::HashMap<_, _>>()
    };
    assert!(string_map("labels", &map(&[("io.kubernetes.pod.name", "web")])).is_ok());
    refused(string_map("labels", &map(&[("", "v")])), "labels");
    refused(string_map("labels", &map(&[("k", "v\0")])), "labels[\"k\"]");
    let big = "v".repeat(MAP_MAX);
    let m = refused(
        string_map("annotations", &map(&[("k", &big)])),
        "annotations",
    );
    assert!(m.contains("more than"), "{m}");
}

#[test]
fn env_names_are_printable_without_equals() {
    assert!(env_key("e", "PATH").is_ok());
    assert!(env_key("e", "my.var-1 x").is_ok());
    refused(env_key("e", ""), "e");
    refused(env_key("e", "A=B"), "e");
    refused(env_key("e", "A\0"), "e");
    refused(env_key("e", "A\n"), "e");
}
