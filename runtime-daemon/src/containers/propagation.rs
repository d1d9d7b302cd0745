//! Mount propagation asks something of the host side too.
//!
//! A HostToContainer mount sees later host mounts only if its host path is
//! on a shared or slave mount; a Bidirectional one must be on a shared
//! mount for the container's mounts to reach the host. Without that the
//! container would silently get a private mount, so the request is refused
//! before anything is made, as containerd and CRI-O do (with their words).

use std::path::{Path, PathBuf};

use cradle_proto::cri;

/// One line of `/proc/self/mountinfo`, the parts that matter here.
struct MountEntry {
    mount_point: PathBuf,
    shared: bool,
    slave: bool,
}

/// Refuses a mount whose propagation its host path cannot give.
pub fn check(mounts: &[cri::Mount]) -> Result<(), String> {
    let wanted: Vec<_> = mounts
        .iter()
        .filter_map(|m| match cri::MountPropagation::try_from(m.propagation) {
            Ok(cri::MountPropagation::PropagationHostToContainer) => Some((m, false)),
            Ok(cri::MountPropagation::PropagationBidirectional) => Some((m, true)),
            _ => None,
        })
        .filter(|(m, _)| !m.host_path.is_empty())
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("reading /proc/self/mountinfo: {e}"))?;
    let table = parse(&mountinfo);
    for (m, bidirectional) in wanted {
        let path = std::fs::canonicalize(&m.host_path)
            .map_err(|e| format!("mount host_path {}: {e}", m.host_path))?;
        let Some(entry) = containing(&table, &path) else {
            return Err(format!("path {:?} is on no mount", m.host_path));
        };
        let mount_point = entry.mount_point.display();
        if bidirectional && !entry.shared {
            return Err(format!(
                "path {:?} is mounted on {mount_point:?} but it is not a shared mount \
                 (Bidirectional propagation needs one)",
                m.host_path
            ));
        }
        if !bidirectional && !entry.shared && !entry.slave {
            return Err(format!(
                "path {:?} is mounted on {mount_point:?} but it is not a shared or slave mount \
                 (HostToContainer propagation needs one)",
                m.host_path
            ));
        }
    }
    Ok(())
}

/// The mount `path` is on: the longest mount point above it, the last
/// mounted of equals (it hides the others).
fn containing<'a>(table: &'a [MountEntry], path: &Path) -> Option<&'a MountEntry> {
    table
        .iter()
        .enumerate()
        .filter(|(_, e)| path.starts_with(&e.mount_point))
        .max_by_key(|(i, e)| (e.mount_point.as_os_str().len(), *i))
        .map(|(_, e)| e)
}

/// `id parent major:minor root mount-point options [optional...] - type ...`
fn parse(mountinfo: &str) -> Vec<MountEntry> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, _) = line.split_once(" - ")?;
            let mut fields = left.split(' ');
            let mount_point = fields.nth(4)?;
            let optional: Vec<&str> = fields.skip(1).collect();
            Some(MountEntry {
                mount_point: PathBuf::from(unescape(mount_point)),
                shared: optional.iter().any(|f| f.starts_with("shared:")),
                slave: optional.iter().any(|f| f.starts_with("master:")),
            })
        })
        .collect()
}

/// The kernel writes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|o| o.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(o)) => {
                out.push((o[0] - b'0') * 64 + (o[1] - b'0') * 8 + (o[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:26 / /tmp rw - tmpfs tmpfs rw
31 30 0:27 / /tmp/shared rw shared:7 - tmpfs tmpfs rw
32 30 0:28 / /tmp/slave rw master:7 - tmpfs tmpfs rw
33 30 0:29 / /tmp/with\\040space rw shared:9 master:7 - tmpfs tmpfs rw
34 30 0:30 / /tmp/shared rw - tmpfs tmpfs rw
";

    fn entry<'a>(table: &'a [MountEntry], path: &str) -> &'a MountEntry {
        containing(table, Path::new(path)).unwrap()
    }

    #[test]
    fn the_innermost_and_last_mount_of_a_path_decides() {
        let table = parse(MOUNTINFO);
        assert!(entry(&table, "/var/lib").shared, "the root is shared");
        let tmp = entry(&table, "/tmp/private/x");
        assert_eq!(tmp.mount_point, Path::new("/tmp"));
        assert!(!tmp.shared && !tmp.slave);
        assert!(entry(&table, "/tmp/slave/x").slave);
        let spaced = entry(&table, "/tmp/with space/x");
        assert!(spaced.shared && spaced.slave);
        // Mounted over the shared one: the private mount on top decides.
        assert!(!entry(&table, "/tmp/shared").shared);
        assert!(
            !entry(&table, "/tmp/sharedness").shared,
            "a prefix of a name is no parent"
        );
    }

    #[test]
    fn escapes_are_undone() {
        assert_eq!(unescape("/a\\040b\\134c"), "/a b\\c");
        assert_eq!(unescape("/plain\\"), "/plain\\");
    }
}
