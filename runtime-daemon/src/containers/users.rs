//! Users and groups of a container image: `/etc/passwd` and `/etc/group`
//! read from the container's rootfs, for image `USER` names,
//! `run_as_username` and the Merge supplemental groups policy.
//!
//! The files are opened with `openat2(RESOLVE_IN_ROOT)` relative to the
//! rootfs, so a symlink in the image (`/etc/passwd -> /etc/shadow` of the
//! host, `..` chains) resolves inside the rootfs and no host file is ever
//! read. Missing files are empty databases, as with runc.

use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::Mode;
use std::io::Read;
use std::path::{Path, PathBuf};

/// At most this much of each file is read (a real /etc/group is a few KiB).
const MAX_FILE: u64 = 4 << 20;

/// Why the files could not be read.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// The file exists but could not be opened inside the rootfs.
    #[error("opening {} inside {}: {source}", path.display(), rootfs.display())]
    Open {
        /// The container's rootfs the path resolves in.
        rootfs: PathBuf,
        /// The file, relative to the rootfs.
        path: PathBuf,
        /// The `openat2` error.
        source: nix::Error,
    },
    /// The file was opened but reading it failed.
    #[error("reading {} inside {}: {source}", path.display(), rootfs.display())]
    Read {
        /// The container's rootfs the path resolves in.
        rootfs: PathBuf,
        /// The file, relative to the rootfs.
        path: PathBuf,
        /// The read error.
        source: std::io::Error,
    },
}

/// One `/etc/passwd` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passwd {
    /// The login name.
    pub name: String,
    /// The numeric user id.
    pub uid: u32,
    /// The primary group id.
    pub gid: u32,
}

/// One `/etc/group` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The group name.
    pub name: String,
    /// The numeric group id.
    pub gid: u32,
    /// User names listed as supplementary members.
    pub members: Vec<String>,
}

/// The user and group databases of one image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserDb {
    /// The `/etc/passwd` entries, in file order.
    pub users: Vec<Passwd>,
    /// The `/etc/group` entries, in file order.
    pub groups: Vec<Group>,
}

impl UserDb {
    /// Reads `/etc/passwd` and `/etc/group` confined to `rootfs`.
    pub fn read(rootfs: &Path) -> Result<UserDb, UsersError> {
        let passwd = read_confined(rootfs, Path::new("etc/passwd"))?;
        let group = read_confined(rootfs, Path::new("etc/group"))?;
        Ok(UserDb::parse(&passwd, &group))
    }

    /// Parses the two files; malformed lines are skipped, as libc does.
    pub fn parse(passwd: &str, group: &str) -> UserDb {
        let users = passwd
            .lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split(':').collect();
                if f.len() < 4 || f[0].is_empty() || line.starts_with('#') {
                    return None;
                }
                Some(Passwd {
                    name: f[0].to_string(),
                    uid: f[2].parse().ok()?,
                    gid: f[3].parse().ok()?,
                })
            })
            .collect();
        let groups = group
            .lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split(':').collect();
                if f.len() < 3 || f[0].is_empty() || line.starts_with('#') {
                    return None;
                }
                Some(Group {
                    name: f[0].to_string(),
                    gid: f[2].parse().ok()?,
                    members: f
                        .get(3)
                        .map(|m| {
                            m.split(',')
                                .filter(|s| !s.is_empty())
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default(),
                })
            })
            .collect();
        UserDb { users, groups }
    }

    /// The first user named `name` (as libc's `getpwnam` finds it).
    pub fn user_by_name(&self, name: &str) -> Option<&Passwd> {
        self.users.iter().find(|u| u.name == name)
    }

    /// The first user with `uid` (as libc's `getpwuid` finds it).
    pub fn user_by_uid(&self, uid: u32) -> Option<&Passwd> {
        self.users.iter().find(|u| u.uid == uid)
    }

    /// The first group named `name` (as libc's `getgrnam` finds it).
    pub fn group_by_name(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Gids of the groups listing `user` as a member, in file order.
    pub fn member_gids(&self, user: &str) -> Vec<u32> {
        self.groups
            .iter()
            .filter(|g| g.members.iter().any(|m| m == user))
            .map(|g| g.gid)
            .collect()
    }
}

/// The contents of `rel` inside `rootfs` (empty when absent), resolved as if
/// `rootfs` were `/`.
fn read_confined(rootfs: &Path, rel: &Path) -> Result<String, UsersError> {
    let root = match std::fs::File::open(rootfs) {
        Ok(f) => f,
        Err(source) => {
            return Err(UsersError::Read {
                rootfs: rootfs.to_path_buf(),
                path: PathBuf::from("/"),
                source,
            });
        }
    };
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK)
        .mode(Mode::empty())
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = match openat2(&root, rel, how) {
        Ok(fd) => fd,
        Err(nix::Error::ENOENT) | Err(nix::Error::ENOTDIR) => return Ok(String::new()),
        Err(source) => {
            return Err(UsersError::Open {
                rootfs: rootfs.to_path_buf(),
                path: rel.to_path_buf(),
                source,
            });
        }
    };
    let file = std::fs::File::from(fd);
    let read_err = |source| UsersError::Read {
        rootfs: rootfs.to_path_buf(),
        path: rel.to_path_buf(),
        source,
    };
    if !file.metadata().map_err(read_err)?.is_file() {
        return Ok(String::new()); // a FIFO or device is no user database
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n# comment\nbroken\nwww:x:33:33::/var/www:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:alice\nalice:x:1000:\nwheel:x:10:bob,alice\n";

    #[test]
    fn parses_users_groups_and_memberships() {
        let db = UserDb::parse(PASSWD, GROUP);
        assert_eq!(db.users.len(), 3);
        assert_eq!(
            db.user_by_name("www").map(|u| (u.uid, u.gid)),
            Some((33, 33))
        );
        assert_eq!(db.user_by_uid(1000).map(|u| u.name.as_str()), Some("alice"));
        assert_eq!(db.group_by_name("wheel").map(|g| g.gid), Some(10));
        assert_eq!(db.member_gids("alice"), vec![33, 10]);
        assert!(db.member_gids("nobody").is_empty());
    }

    #[test]
    fn reads_inside_the_rootfs_and_never_follows_a_symlink_out() {
        let host = tempfile::tempdir().unwrap();
        let secret = host.path().join("secret");
        std::fs::write(&secret, "evil:x:0:0::/:/bin/sh\n").unwrap();
        let rootfs = host.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("etc")).unwrap();
        // Absolute and relative escapes both resolve inside the rootfs.
        std::os::unix::fs::symlink(&secret, rootfs.join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("../../secret", rootfs.join("etc/group")).unwrap();
        let db = UserDb::read(&rootfs).unwrap();
        assert_eq!(db, UserDb::default(), "host files were read: {db:?}");

        std::fs::remove_file(rootfs.join("etc/passwd")).unwrap();
        std::fs::write(rootfs.join("etc/passwd"), PASSWD).unwrap();
        let db = UserDb::read(&rootfs).unwrap();
        assert_eq!(db.users.len(), 3);
    }

    #[test]
    fn missing_files_are_empty_databases() {
        let rootfs = tempfile::tempdir().unwrap();
        assert_eq!(UserDb::read(rootfs.path()).unwrap(), UserDb::default());
    }
}
