//! The Linux security modules pods may ask for: AppArmor (detected as the
//! daemon does, [`crate::platform::apparmor`]) and SELinux. Whether they
//! are enabled is information, not a problem; AppArmor enabled without
//! `apparmor_parser` is, since RuntimeDefault then cannot be loaded.

use std::path::Path;

use super::report::{Check, Status};
use crate::platform::apparmor::{AppArmorHost as _, NodeAppArmor, find_parser};

/// AppArmor under `<sys>/module/apparmor` and `<sys>/kernel/security`,
/// SELinux by `<sys>/fs/selinux/enforce`.
pub fn security_modules(sys_root: &Path) -> Check {
    const NAME: &str = "apparmor/selinux";
    let apparmor = NodeAppArmor::detect(
        &sys_root.join("module/apparmor/parameters/enabled"),
        &sys_root.join("kernel/security/apparmor"),
    )
    .enabled();
    let selinux = match std::fs::read_to_string(sys_root.join("fs/selinux/enforce")) {
        Ok(mode) if mode.trim() == "1" => "SELinux enforcing",
        Ok(_) => "SELinux permissive",
        Err(_) => "SELinux disabled",
    };
    if !apparmor {
        return Check::ok(NAME, format!("AppArmor disabled, {selinux}"));
    }
    match find_parser(std::env::var_os("PATH").as_deref()) {
        Some(parser) => Check::ok(
            NAME,
            format!(
                "AppArmor enabled ({} loads the RuntimeDefault profile), {selinux}",
                parser.display()
            ),
        ),
        None => Check::new(
            NAME,
            Status::Warn,
            format!(
                "AppArmor enabled but apparmor_parser is missing: containers under \
                 RuntimeDefault fail to start; {selinux}"
            ),
            "install the apparmor package (apparmor_parser)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_modules_are_information_not_problems() {
        let sys = tempfile::tempdir().unwrap();
        let check = security_modules(sys.path());
        assert_eq!(check.status, Status::Ok);
        assert_eq!(check.detail, "AppArmor disabled, SELinux disabled");
        std::fs::create_dir_all(sys.path().join("fs/selinux")).unwrap();
        std::fs::write(sys.path().join("fs/selinux/enforce"), "1").unwrap();
        assert!(
            security_modules(sys.path())
                .detail
                .contains("SELinux enforcing")
        );
    }

    #[test]
    fn enabled_apparmor_is_reported_with_or_without_its_parser() {
        let sys = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(sys.path().join("module/apparmor/parameters")).unwrap();
        std::fs::write(sys.path().join("module/apparmor/parameters/enabled"), "Y\n").unwrap();
        std::fs::create_dir_all(sys.path().join("kernel/security/apparmor")).unwrap();
        let check = security_modules(sys.path());
        assert!(check.detail.contains("AppArmor enabled"), "{check:?}");
        let parser = find_parser(std::env::var_os("PATH").as_deref());
        assert_eq!(check.status == Status::Ok, parser.is_some(), "{check:?}");
    }
}
