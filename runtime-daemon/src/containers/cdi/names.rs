//! CDI device names: `vendor.com/class=name`, and the devices a container
//! asks for (its `CDI_devices` plus the `cdi.k8s.io/*` annotations, as
//! containerd reads them).

use cradle_proto::cri;

/// The annotation prefix whose values list CDI devices (comma-separated).
pub const ANNOTATION_PREFIX: &str = "cdi.k8s.io/";

/// The fully-qualified names a container asks for: its `cdi.k8s.io/*`
/// annotations (in key order), then `CDI_devices`, each name once.
pub fn requested(config: &cri::ContainerConfig) -> Vec<String> {
    let mut annotated: Vec<(&String, &String)> = config
        .annotations
        .iter()
        .filter(|(k, _)| k.starts_with(ANNOTATION_PREFIX))
        .collect();
    annotated.sort();
    let mut out: Vec<String> = Vec::new();
    let from_annotations = annotated
        .into_iter()
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let from_config = config.cdi_devices.iter().map(|d| d.name.clone());
    for name in from_annotations.chain(from_config) {
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// Splits `vendor.com/class=name` into kind (`vendor.com/class`) and name.
pub fn parse_qualified(qualified: &str) -> Result<(&str, &str), String> {
    let (kind, name) = qualified.split_once('=').ok_or_else(|| {
        format!("{qualified:?} is not a fully-qualified CDI device name (vendor.com/class=name)")
    })?;
    check_kind(kind).map_err(|e| format!("{qualified:?}: {e}"))?;
    check_device_name(name).map_err(|e| format!("{qualified:?}: {e}"))?;
    Ok((kind, name))
}

/// `vendor/class`: each starts with a letter, ends in a letter or digit
/// and holds letters, digits, `-`, `_` and `.` (a dot in the class needs
/// cdiVersion 0.6.0).
pub fn check_kind(kind: &str) -> Result<(), String> {
    let (vendor, class) = kind
        .split_once('/')
        .ok_or_else(|| format!("kind {kind:?} is not vendor/class"))?;
    check_part("vendor", vendor, &['-', '_', '.'], true)?;
    check_part("class", class, &['-', '_', '.'], true)
}

/// A device name: letters, digits, `-`, `_`, `.` and `:`, starting and
/// ending with a letter or digit.
pub fn check_device_name(name: &str) -> Result<(), String> {
    check_part("device name", name, &['-', '_', '.', ':'], false)
}

fn check_part(what: &str, s: &str, extra: &[char], letter_first: bool) -> Result<(), String> {
    let bad = || Err(format!("invalid {what} {s:?}"));
    let (Some(first), Some(last)) = (s.chars().next(), s.chars().last()) else {
        return bad();
    };
    let first_ok = if letter_first {
        first.is_ascii_alphabetic()
    } else {
        first.is_ascii_alphanumeric()
    };
    if !first_ok || !last.is_ascii_alphanumeric() {
        return bad();
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
    {
        return bad();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_split_and_bad_ones_are_named() {
        assert_eq!(
            parse_qualified("vendor.com/gpu=gpu0").unwrap(),
            ("vendor.com/gpu", "gpu0")
        );
        assert_eq!(
            parse_qualified("nvidia.com/gpu=GPU-1:2").unwrap(),
            ("nvidia.com/gpu", "GPU-1:2")
        );
        for bad in [
            "gpu0",
            "vendor.com=gpu0",
            "vendor.com/gpu=",
            "1v.com/gpu=a",
            "v/g=-a",
        ] {
            let err = parse_qualified(bad).unwrap_err();
            assert!(err.contains(bad) || err.contains("invalid"), "{bad}: {err}");
        }
    }

    #[test]
    fn annotations_then_cdi_devices_each_once() {
        let mut config = cri::ContainerConfig::default();
        config
            .annotations
            .insert("cdi.k8s.io/b".into(), "v.com/c=two, v.com/c=one".into());
        config
            .annotations
            .insert("cdi.k8s.io/a".into(), "v.com/c=one".into());
        config
            .annotations
            .insert("other".into(), "v.com/c=x".into());
        config.cdi_devices = vec![
            cri::CdiDevice {
                name: "v.com/c=three".into(),
            },
            cri::CdiDevice {
                name: "v.com/c=two".into(),
            },
        ];
        assert_eq!(
            requested(&config),
            ["v.com/c=one", "v.com/c=two", "v.com/c=three"]
        );
    }
}
