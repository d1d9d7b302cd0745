//! The rules one request field is checked against, each refusing with
//! InvalidArgument that names the field and the rule broken.
//!
//! The bounds are the kubelet's own (DNS-1123 subdomains of 253 bytes, labels
//! of 63, 256 KiB of annotations), loosened where the CRI's other clients
//! go further: critest names containers and pods with capitals and a
//! 36-character UUID (`container-with-RunAsGroup-test-<uuid>`), so names
//! allow either case and `_`, up to 253 bytes. What every rule refuses is
//! what no kubelet sends: NUL bytes (C strings end there, so a path or an
//! argument would silently mean something else), megabyte strings, and
//! paths that are relative where the runtime needs them absolute.

use std::path::{Component, Path};
use tonic::Status;

/// Longest pod or container name: a DNS-1123 subdomain.
pub(crate) const NAME_MAX: usize = 253;
/// Longest namespace: a DNS-1123 label.
pub(crate) const NAMESPACE_MAX: usize = 63;
/// Longest pod uid (the kubelet's are UUIDs or 32-hex config hashes).
pub(crate) const UID_MAX: usize = 253;
/// Longest hostname: the kernel's UTS limit (`HOST_NAME_MAX`).
pub(crate) const HOSTNAME_MAX: usize = 64;
/// Longest path: the kernel's `PATH_MAX`.
pub(crate) const PATH_MAX: usize = 4096;
/// Most bytes of keys and values in one labels or annotations map: twice
/// the kubelet's 256 KiB of pod annotations, for the ones it adds.
pub(crate) const MAP_MAX: usize = 512 * 1024;

fn refuse(field: &str, rule: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{field}: {rule}"))
}

/// A string that reaches a path, an argument vector or the environment:
/// a NUL byte would cut it short.
pub(crate) fn no_nul(field: &str, value: &str) -> Result<(), Status> {
    match value.find('\0') {
        Some(at) => Err(refuse(field, format!("contains a NUL byte (at {at})"))),
        None => Ok(()),
    }
}

/// A value the CRI carries as `bytes` but that becomes text (an environment
/// variable): it must be UTF-8, as it had to be while the CRI sent a string.
pub(crate) fn utf8<'a>(field: &str, value: &'a [u8]) -> Result<&'a str, Status> {
    std::str::from_utf8(value)
        .map_err(|e| refuse(field, format!("is not UTF-8 (at {})", e.valid_up_to())))
}

fn max_len(field: &str, value: &str, max: usize) -> Result<(), Status> {
    if value.len() > max {
        return Err(refuse(
            field,
            format!("is {} bytes long, more than {max}", value.len()),
        ));
    }
    Ok(())
}

/// A pod, namespace or container name: 1..=`max` bytes of ASCII letters,
/// digits, `-`, `.` and `_`, beginning and ending with a letter or digit.
pub(crate) fn name(field: &str, value: &str, max: usize) -> Result<(), Status> {
    if value.is_empty() {
        return Err(refuse(field, "must not be empty"));
    }
    no_nul(field, value)?;
    max_len(field, value, max)?;
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
    {
        return Err(refuse(
            field,
            format!("{c:?} is not allowed in a name (letters, digits, '-', '.', '_')"),
        ));
    }
    let alnum_ends = value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !alnum_ends {
        return Err(refuse(
            field,
            format!("{value:?} must begin and end with a letter or digit"),
        ));
    }
    Ok(())
}

/// A pod uid: present, at most [`UID_MAX`] bytes, printable ASCII (it is
/// part of the kubelet's log directory name and the pod's name key).
pub(crate) fn uid(field: &str, value: &str) -> Result<(), Status> {
    if value.is_empty() {
        return Err(refuse(field, "must not be empty"));
    }
    no_nul(field, value)?;
    max_len(field, value, UID_MAX)?;
    if let Some(c) = value.chars().find(|c| !c.is_ascii_graphic() || *c == '/') {
        return Err(refuse(field, format!("{c:?} is not allowed in a uid")));
    }
    Ok(())
}

/// A hostname (empty: the node's, for a host-network pod): at most
/// [`HOSTNAME_MAX`] bytes of dot-separated DNS labels.
pub(crate) fn hostname(field: &str, value: &str) -> Result<(), Status> {
    if value.is_empty() {
        return Ok(());
    }
    no_nul(field, value)?;
    max_len(field, value, HOSTNAME_MAX)?;
    for label in value.split('.') {
        let ok = !label.is_empty()
            && label.len() <= NAMESPACE_MAX
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(refuse(
                field,
                format!(
                    "{value:?} is not a hostname (dot-separated labels of letters, digits and '-')"
                ),
            ));
        }
    }
    Ok(())
}

/// An absolute path without NUL of at most [`PATH_MAX`] bytes.
pub(crate) fn absolute_path(field: &str, value: &str) -> Result<(), Status> {
    no_nul(field, value)?;
    max_len(field, value, PATH_MAX)?;
    if !Path::new(value).is_absolute() {
        return Err(refuse(field, format!("{value:?} is not an absolute path")));
    }
    Ok(())
}

/// A path relative to a directory that it must stay in (the kubelet's
/// `log_path`, `app/0.log`, relative to the pod's `log_directory`): not
/// absolute, and no `..` that climbs above where it started. Symlinks are
/// checked where the directory is known (`containers::log_path`).
pub(crate) fn contained_relative_path(field: &str, value: &str) -> Result<(), Status> {
    no_nul(field, value)?;
    max_len(field, value, PATH_MAX)?;
    let mut depth = 0usize;
    for component in Path::new(value).components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth = depth.checked_sub(1).ok_or_else(|| {
                    refuse(
                        field,
                        format!("{value:?} leaves its directory through \"..\""),
                    )
                })?;
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(refuse(
                    field,
                    format!("{value:?} is absolute; it must be relative to its directory"),
                ));
            }
        }
    }
    if depth == 0 {
        return Err(refuse(field, format!("{value:?} names no file")));
    }
    Ok(())
}

/// Labels or annotations: no NUL, no empty key, at most [`MAP_MAX`] bytes.
pub(crate) fn string_map(
    field: &str,
    map: &std::collections::HashMap<String, String>,
) -> Result<(), Status> {
    let mut total = 0usize;
    for (key, value) in map {
        if key.is_empty() {
            return Err(refuse(field, "has an empty key"));
        }
        no_nul(&format!("{field}[{key:?}]"), key)?;
        no_nul(&format!("{field}[{key:?}]"), value)?;
        total = total.saturating_add(key.len() + value.len());
    }
    if total > MAP_MAX {
        return Err(refuse(
            field,
            format!("holds {total} bytes of keys and values, more than {MAP_MAX}"),
        ));
    }
    Ok(())
}

/// An environment variable name: what the kubelet's relaxed validation
/// allows (printable ASCII), never `=` (it would end the name early).
pub(crate) fn env_key(field: &str, key: &str) -> Result<(), Status> {
    if key.is_empty() {
        return Err(refuse(field, "must not be empty"));
    }
    no_nul(field, key)?;
    if let Some(c) = key.chars().find(|c| !(' '..='~').contains(c) || *c == '=') {
        return Err(refuse(
            field,
            format!("{c:?} is not allowed in an environment variable name"),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
