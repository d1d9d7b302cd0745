//! Unpack tests on hand-built tars. Most need root (mknod, chown, trusted xattrs).

use super::*;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

fn is_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    cradle_testkit::skip("needs root");
    false
}

/// A tar under construction; allows names `tar::Builder` would refuse.
struct Tar(Vec<u8>);

impl Tar {
    fn new() -> Self {
        Tar(Vec::new())
    }

    fn push(&mut self, name: &str, kind: EntryType, mode: u32, link: Option<&str>, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        {
            let raw = &mut h.as_old_mut().name;
            raw[..name.len()].copy_from_slice(name.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_000_000);
        h.set_size(data.len() as u64);
        if let Some(l) = link {
            let raw = &mut h.as_old_mut().linkname;
            raw[..l.len()].copy_from_slice(l.as_bytes());
        }
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self.0.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.0.extend(std::iter::repeat_n(0u8, pad));
    }

    fn dir(mut self, name: &str) -> Self {
        self.push(name, EntryType::Directory, 0o755, None, b"");
        self
    }
    fn file(mut self, name: &str, data: &[u8]) -> Self {
        self.push(name, EntryType::Regular, 0o644, None, data);
        self
    }
    fn symlink(mut self, name: &str, target: &str) -> Self {
        self.push(name, EntryType::Symlink, 0o777, Some(target), b"");
        self
    }
    fn hardlink(mut self, name: &str, target: &str) -> Self {
        self.push(name, EntryType::Link, 0o644, Some(target), b"");
        self
    }
    fn finish(mut self) -> Vec<u8> {
        self.0.extend(std::iter::repeat_n(0u8, 1024));
        self.0
    }
}

/// A temp dir holding `layer.tar` and an empty `root/` (the layer) inside
/// `sandbox/`, so escapes would land in `sandbox/` where the test looks.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("sandbox/root")).unwrap();
        Fixture { dir }
    }
    fn root(&self) -> PathBuf {
        self.dir.path().join("sandbox/root")
    }
    fn unpack(&self, tar: &[u8]) -> Result<Unpacked, Error> {
        let blob = self.dir.path().join("layer.tar");
        fs::write(&blob, tar).unwrap();
        unpack_layer(&blob, "sha256:test", &self.root())
    }
    /// Everything in the sandbox outside the layer root.
    fn outside(&self) -> Vec<String> {
        fs::read_dir(self.dir.path().join("sandbox"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "root")
            .collect()
    }
}

fn get_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let cpath = CString::new(path.as_os_str().as_bytes()).unwrap();
    let cname = CString::new(name).unwrap();
    let mut buf = [0u8; 64];
    // SAFETY: valid C strings and a buffer of the given length.
    let n = unsafe {
        nix::libc::lgetxattr(
            cpath.as_ptr(),
            cname.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}

fn assert_refused(result: Result<Unpacked, Error>, entry: &str) {
    match result {
        Err(Error::UnsafeLayerEntry { entry: e, .. }) => assert_eq!(e, entry),
        other => panic!("expected entry {entry:?} to be refused, got {other:?}"),
    }
}

#[test]
fn whiteouts_and_opaque_dirs_become_overlay_whiteouts() {
    if !is_root() {
        return;
    }
    let fx = Fixture::new();
    let tar = Tar::new()
        .dir("etc/")
        .file("etc/.wh.passwd", b"")
        .dir("var/")
        .file("var/.wh..wh..opq", b"")
        .file("var/keep", b"kept")
        .finish();
    fx.unpack(&tar).unwrap();
    let wh = fs::symlink_metadata(fx.root().join("etc/passwd")).unwrap();
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert!(!fx.root().join("etc/.wh.passwd").exists());
    assert_eq!(
        get_xattr(&fx.root().join("var"), "trusted.overlay.opaque"),
        Some(b"y".to_vec())
    );
    assert!(!fx.root().join("var/.wh..wh..opq").exists());
    assert_eq!(fs::read(fx.root().join("var/keep")).unwrap(), b"kept");
}

#[test]
fn modes_owners_mtimes_symlinks_and_hardlinks_are_preserved() {
    if !is_root() {
        return;
    }
    let fx = Fixture::new();
    let mut tar = Tar::new().dir("bin/");
    tar.push("bin/busybox", EntryType::Regular, 0o4755, None, b"#!binary");
    let mut tar = tar
        .symlink("bin/sh", "busybox")
        .hardlink("bin/ls", "bin/busybox");
    // A file owned by 1000:1000.
    let mut h = tar::Header::new_gnu();
    h.set_path("home").unwrap();
    h.set_entry_type(EntryType::Regular);
    h.set_mode(0o600);
    h.set_uid(1000);
    h.set_gid(1000);
    h.set_mtime(1_234_567);
    h.set_size(0);
    h.set_cksum();
    tar.0.extend_from_slice(h.as_bytes());
    let tar = tar.finish();

    let out = fx.unpack(&tar).unwrap();
    assert_eq!(out.diff_id, Digest::of(&tar));
    assert_eq!(out.size, 8);
    let bb = fs::symlink_metadata(fx.root().join("bin/busybox")).unwrap();
    assert_eq!(bb.mode() & 0o7777, 0o4755);
    assert_eq!(bb.mtime(), 1_000_000);
    assert_eq!(
        fs::read_link(fx.root().join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    let ls = fs::symlink_metadata(fx.root().join("bin/ls")).unwrap();
    assert_eq!(ls.ino(), bb.ino());
    let home = fs::symlink_metadata(fx.root().join("home")).unwrap();
    assert_eq!(
        (home.uid(), home.gid(), home.mode() & 0o7777),
        (1000, 1000, 0o600)
    );
    assert_eq!(home.mtime(), 1_234_567);
    assert_eq!(
        fs::symlink_metadata(fx.root().join("bin")).unwrap().mtime(),
        1_000_000
    );
}

#[test]
fn gzip_layer_is_unpacked_and_its_diff_id_is_of_the_uncompressed_tar() {
    if !is_root() {
        return;
    }
    let fx = Fixture::new();
    let tar = Tar::new().dir("a/").file("a/b", b"hello").finish();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    let out = fx.unpack(&gz.finish().unwrap()).unwrap();
    assert_eq!(out.diff_id, Digest::of(&tar));
    assert_eq!(fs::read(fx.root().join("a/b")).unwrap(), b"hello");
}

#[test]
fn parent_dir_entry_is_refused_with_its_name() {
    let fx = Fixture::new();
    let tar = Tar::new().file("../escape", b"x").finish();
    assert_refused(fx.unpack(&tar), "../escape");
    assert!(fx.outside().is_empty(), "{:?}", fx.outside());
}

#[test]
fn absolute_path_entry_is_refused_with_its_name() {
    let fx = Fixture::new();
    let tar = Tar::new().file("/abs-escape", b"x").finish();
    assert_refused(fx.unpack(&tar), "/abs-escape");
    assert!(!Path::new("/abs-escape").exists());
}

#[test]
fn entry_through_escaping_relative_symlink_is_refused() {
    if !is_root() {
        return;
    }
    let fx = Fixture::new();
    let tar = Tar::new()
        .symlink("up", "..")
        .file("up/evil", b"x")
        .finish();
    assert_refused(fx.unpack(&tar), "up/evil");
    assert!(fx.outside().is_empty(), "{:?}", fx.outside());
}

#[test]
fn entry_through_absolute_symlink_is_refused() {
    if !is_root() {
        return;
    }
    let fx = Fixture::new();
    let sandbox = fx.dir.path().join("sandbox");
    let tar = Tar::new()
        .symlink("abs", sandbox.to_str().unwrap())
        .file("abs/evil", b"x")
        .finish();
    assert_refused(fx.unpack(&tar), "abs/evil");
    assert!(fx.outside().is_empty(), "{:?}", fx.outside());
}

#[test]
fn entry_through_symlink_inside_the_layer_is_followed() {
    if !is_root() {
        return;
    }
    let fx = Fixture::new();
    let tar = Tar::new()
        .dir("real/")
        .symlink("alias", "real")
        .file("alias/f", b"x")
        .finish();
    fx.unpack(&tar).unwrap();
    assert_eq!(fs::read(fx.root().join("real/f")).unwrap(), b"x");
    assert!(
        fs::symlink_metadata(fx.root().join("alias"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn hardlink_to_outside_the_layer_is_refused() {
    let fx = Fixture::new();
    fs::write(fx.dir.path().join("sandbox/secret"), b"s").unwrap();
    let tar = Tar::new().hardlink("h", "../secret").finish();
    assert_refused(fx.unpack(&tar), "h");
    let tar = Tar::new().hardlink("h2", "nonexistent").finish();
    assert_refused(fx.unpack(&tar), "h2");
    assert!(!fx.root().join("h").exists());
}

/// A hardlink through a symlink whose target is missing (`lnk -> dir`, no
/// `dir`, then `lnk2` linking to `lnk/x`) breaks the same rule as a link to
/// a missing file, and says so, instead of a bare ENOENT.
#[test]
fn hardlink_through_a_dangling_symlink_names_the_rule() {
    let fx = Fixture::new();
    let tar = Tar::new()
        .symlink("lnk", "dir")
        .hardlink("lnk2", "lnk/x")
        .finish();
    let result = fx.unpack(&tar);
    let message = format!("{result:?}");
    assert_refused(result, "lnk2");
    assert!(
        message.contains("hardlink target lnk/x is not in this layer"),
        "{message}"
    );
    assert!(!fx.root().join("lnk2").exists());
}

#[test]
fn symlink_file_entry_is_replaced_not_written_through() {
    if !is_root() {
        return;
    }
    let fx = Fixture::new();
    let target = fx.dir.path().join("sandbox/victim");
    let tar = Tar::new()
        .symlink("f", target.to_str().unwrap())
        .file("f", b"new")
        .finish();
    fx.unpack(&tar).unwrap();
    assert!(!target.exists());
    assert_eq!(fs::read(fx.root().join("f")).unwrap(), b"new");
}

#[test]
fn directory_replaced_by_escaping_symlink_does_not_get_its_metadata_applied_outside() {
    if !is_root() {
        return;
    }
    let fx = Fixture::new();
    let victim = fx.dir.path().join("sandbox/b");
    fs::create_dir(&victim).unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o700)).unwrap();
    let mut tar = Tar::new().dir("a/");
    tar.push("a/b/", EntryType::Directory, 0o777, None, b"");
    let tar = tar.symlink("a", "..").finish();
    fx.unpack(&tar).unwrap();
    assert_eq!(fs::metadata(&victim).unwrap().mode() & 0o7777, 0o700);
    assert!(
        fs::symlink_metadata(fx.root().join("a"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn pax_xattrs_are_applied_but_overlay_xattrs_from_the_layer_are_not() {
    if !is_root() {
        return;
    }
    let fx = Fixture::new();
    let mut b = tar::Builder::new(Vec::new());
    b.append_pax_extensions([
        ("SCHILY.xattr.user.note", b"hi".as_slice()),
        ("SCHILY.xattr.trusted.overlay.redirect", b"/etc".as_slice()),
    ])
    .unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(EntryType::Regular);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(1);
    b.append_data(&mut h, "f", b"x".as_slice()).unwrap();
    fx.unpack(&b.into_inner().unwrap()).unwrap();
    let f = fx.root().join("f");
    assert_eq!(get_xattr(&f, "user.note"), Some(b"hi".to_vec()));
    assert_eq!(get_xattr(&f, "trusted.overlay.redirect"), None);
}
