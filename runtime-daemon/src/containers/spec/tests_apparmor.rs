//! Unit tests of the AppArmor choice: the CRI fields read, the profile
//! chosen on a fake node (with or without AppArmor, with its loaded
//! profiles), and the builder's check of what was chosen.

use std::sync::Mutex;

use cradle_proto::cri;

use super::super::tests::Fixture;
use super::*;
use crate::platform::apparmor::{AppArmorError, AppArmorHost, DEFAULT_PROFILE};

/// A node with AppArmor `enabled` or not, its `loaded` profiles, counting
/// the loads of the default profile (which fail when `broken_parser`).
#[derive(Default)]
struct FakeNode {
    enabled: bool,
    loaded: Mutex<Vec<String>>,
    default_loads: Mutex<u32>,
    broken_parser: bool,
}

impl FakeNode {
    fn with_apparmor(loaded: &[&str]) -> FakeNode {
        FakeNode {
            enabled: true,
            loaded: Mutex::new(loaded.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        }
    }

    fn loads(&self) -> u32 {
        *self.default_loads.lock().unwrap()
    }
}

impl AppArmorHost for FakeNode {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn is_loaded(&self, name: &str) -> Result<bool, AppArmorError> {
        Ok(self.loaded.lock().unwrap().iter().any(|n| n == name))
    }
    fn ensure_default_loaded(&self) -> Result<(), AppArmorError> {
        *self.default_loads.lock().unwrap() += 1;
        if self.broken_parser {
            return Err(AppArmorError::ParserMissing);
        }
        self.loaded.lock().unwrap().push(DEFAULT_PROFILE.into());
        Ok(())
    }
}

fn profile(kind: cri::security_profile::ProfileType, localhost_ref: &str) -> cri::SecurityProfile {
    cri::SecurityProfile {
        profile_type: kind as i32,
        localhost_ref: localhost_ref.into(),
    }
}

fn localhost(name: &str, field: &'static str) -> AppArmorChoice {
    AppArmorChoice::Localhost {
        name: name.into(),
        field,
    }
}

#[test]
#[allow(deprecated)]
fn the_choice_comes_from_the_profile_field_then_the_deprecated_string() {
    use cri::security_profile::ProfileType::*;
    let field = "linux.security_context.apparmor";
    let string_field = "linux.security_context.apparmor_profile";
    let mut sc = cri::LinuxContainerSecurityContext::default();
    assert_eq!(apparmor_choice(None).unwrap(), AppArmorChoice::Unset);
    assert_eq!(apparmor_choice(Some(&sc)).unwrap(), AppArmorChoice::Unset);
    for (string, want) in [
        ("runtime/default", AppArmorChoice::RuntimeDefault),
        ("docker/default", AppArmorChoice::RuntimeDefault),
        ("unconfined", AppArmorChoice::Unconfined),
        ("localhost/k8s-nginx", localhost("k8s-nginx", string_field)),
    ] {
        sc.apparmor_profile = string.into();
        assert_eq!(apparmor_choice(Some(&sc)).unwrap(), want, "{string}");
    }
    for bad in ["nginx", "localhost/"] {
        sc.apparmor_profile = bad.into();
        let err = apparmor_choice(Some(&sc)).unwrap_err().to_string();
        assert!(err.starts_with(string_field), "{err}");
    }
    // The field wins over the string.
    sc.apparmor_profile = "unconfined".into();
    for (p, want) in [
        (profile(RuntimeDefault, ""), AppArmorChoice::RuntimeDefault),
        (profile(Unconfined, ""), AppArmorChoice::Unconfined),
        (
            profile(Localhost, "k8s-nginx"),
            localhost("k8s-nginx", field),
        ),
        (
            profile(Localhost, "localhost/k8s-nginx"),
            localhost("k8s-nginx", field),
        ),
    ] {
        sc.apparmor = Some(p.clone());
        assert_eq!(apparmor_choice(Some(&sc)).unwrap(), want, "{p:?}");
    }
    sc.apparmor = Some(profile(Localhost, ""));
    let err = apparmor_choice(Some(&sc)).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{field}: ")), "{err}");
    sc.apparmor = Some(cri::SecurityProfile {
        profile_type: 7,
        localhost_ref: String::new(),
    });
    assert!(matches!(
        apparmor_choice(Some(&sc)),
        Err(AppArmorRefusal::Invalid { field: f, .. }) if f == field
    ));
}

/// (AppArmor on the node, privileged, choice, the profile or `Err` for a
/// refusal).
type Row = (bool, bool, AppArmorChoice, Result<Option<String>, ()>);

#[test]
fn the_profile_chosen_on_each_kind_of_node_is_containerds() {
    let field = "linux.security_context.apparmor";
    let default = Some(DEFAULT_PROFILE.to_string());
    let nginx = Some("k8s-nginx".to_string());
    let table: Vec<Row> = vec![
        (true, false, AppArmorChoice::Unset, Ok(default.clone())),
        (
            true,
            false,
            AppArmorChoice::RuntimeDefault,
            Ok(default.clone()),
        ),
        (true, false, AppArmorChoice::Unconfined, Ok(None)),
        (
            true,
            false,
            localhost("k8s-nginx", field),
            Ok(nginx.clone()),
        ),
        (true, false, localhost("not-loaded", field), Err(())),
        (true, true, AppArmorChoice::Unset, Ok(None)),
        (true, true, AppArmorChoice::RuntimeDefault, Ok(None)),
        (true, true, AppArmorChoice::Unconfined, Ok(None)),
        (true, true, localhost("k8s-nginx", field), Ok(nginx)),
        (true, true, localhost("not-loaded", field), Err(())),
        (false, false, AppArmorChoice::Unset, Ok(None)),
        (false, false, AppArmorChoice::RuntimeDefault, Ok(None)),
        (false, false, AppArmorChoice::Unconfined, Ok(None)),
        (false, false, localhost("k8s-nginx", field), Err(())),
        (false, true, AppArmorChoice::RuntimeDefault, Ok(None)),
        (false, true, localhost("k8s-nginx", field), Err(())),
    ];
    for (enabled, privileged, choice, want) in table {
        let node = if enabled {
            FakeNode::with_apparmor(&["k8s-nginx"])
        } else {
            FakeNode::default()
        };
        let got = apparmor_profile(&choice, privileged, &node);
        match (&got, &want) {
            (Ok(p), Ok(w)) => assert_eq!(p, w, "{enabled} {privileged} {choice:?}"),
            (Err(AppArmorRefusal::Invalid { field: f, why }), Err(())) => {
                assert_eq!(*f, field);
                let AppArmorChoice::Localhost { name, .. } = &choice else {
                    panic!("only Localhost is refused, not {choice:?}");
                };
                assert!(why.contains(name.as_str()), "{why}");
            }
            _ => panic!("{enabled} {privileged} {choice:?}: got {got:?}, want {want:?}"),
        }
        let default_loads = u32::from(
            enabled
                && !privileged
                && matches!(
                    choice,
                    AppArmorChoice::Unset | AppArmorChoice::RuntimeDefault
                ),
        );
        assert_eq!(
            node.loads(),
            default_loads,
            "{enabled} {privileged} {choice:?}"
        );
    }
}

#[test]
fn the_refusals_say_why_for_each_node() {
    let choice = localhost("k8s-nginx", "linux.security_context.apparmor");
    let absent = apparmor_profile(&choice, false, &FakeNode::default()).unwrap_err();
    assert_eq!(
        absent.to_string(),
        "linux.security_context.apparmor: profile \"k8s-nginx\" cannot be applied: \
         AppArmor is not enabled on this node"
    );
    let not_loaded = apparmor_profile(&choice, false, &FakeNode::with_apparmor(&[])).unwrap_err();
    assert!(
        not_loaded
            .to_string()
            .contains("profile \"k8s-nginx\" is not loaded on this node"),
        "{not_loaded}"
    );
}

#[test]
fn a_default_profile_that_cannot_be_loaded_is_a_node_error() {
    let node = FakeNode {
        enabled: true,
        broken_parser: true,
        ..Default::default()
    };
    let err = apparmor_profile(&AppArmorChoice::RuntimeDefault, false, &node).unwrap_err();
    assert!(
        matches!(&err, AppArmorRefusal::Node { profile, source } if profile == DEFAULT_PROFILE && matches!(**source, AppArmorError::ParserMissing)),
        "{err:?}"
    );
}

fn apparmor_of(f: &Fixture) -> Option<String> {
    f.build()
        .unwrap()
        .process()
        .as_ref()
        .unwrap()
        .apparmor_profile()
        .clone()
}

#[test]
#[allow(deprecated)]
fn the_spec_carries_the_resolved_profile_checked_against_the_request() {
    use cri::security_profile::ProfileType::*;
    let mut f = Fixture::new();
    assert_eq!(apparmor_of(&f), None, "nothing resolved, nothing asked");
    f.resolved.apparmor_profile = Some(DEFAULT_PROFILE.into());
    assert_eq!(apparmor_of(&f).as_deref(), Some(DEFAULT_PROFILE));
    f.security().apparmor = Some(profile(RuntimeDefault, ""));
    assert_eq!(apparmor_of(&f).as_deref(), Some(DEFAULT_PROFILE));

    f.security().apparmor = Some(profile(Localhost, "k8s-nginx"));
    let err = f.build().unwrap_err().to_string();
    assert!(
        err.contains("linux.security_context.apparmor") && err.contains("k8s-nginx"),
        "{err}"
    );
    f.resolved.apparmor_profile = Some("k8s-nginx".into());
    assert_eq!(apparmor_of(&f).as_deref(), Some("k8s-nginx"));

    f.security().apparmor = Some(profile(Unconfined, ""));
    assert!(f.build().is_err(), "Unconfined with a profile resolved");
    f.resolved.apparmor_profile = None;
    assert_eq!(apparmor_of(&f), None);

    f.security().apparmor = None;
    f.security().apparmor_profile = "localhost/k8s-nginx".into();
    let err = f.build().unwrap_err().to_string();
    assert!(
        err.contains("linux.security_context.apparmor_profile"),
        "{err}"
    );
}
