//! `cradle-shim` driving `cradle-oci` as its OCI runtime: the container
//! cases of `shim_harness` (run with runc by `shim_lifecycle.rs`) with
//! cradle-oci as the handler, so the two binaries of this crate are known to
//! fit together. Root only; guards clean up.

mod shim_harness;

#[test]
fn container_runs_logs_exits_and_is_deleted_through_cradle_oci() {
    shim_harness::container_runs_logs_exits_and_is_deleted(&shim_harness::cradle_oci());
}

#[test]
fn running_container_is_killed_by_forced_delete() {
    shim_harness::running_container_is_killed_by_forced_delete(&shim_harness::cradle_oci());
}

#[test]
fn oom_killed_container_is_recorded_as_oom_killed() {
    shim_harness::oom_killed_container_is_recorded_as_oom_killed(&shim_harness::cradle_oci());
}

#[test]
fn failed_create_reports_the_error_and_leaves_nothing_behind() {
    shim_harness::failed_create_reports_the_error_and_leaves_nothing_behind(
        &shim_harness::cradle_oci(),
    );
}

#[test]
fn host_pid_leftovers_die_with_the_init() {
    shim_harness::host_pid_leftovers_die_with_the_init(&shim_harness::cradle_oci());
}
