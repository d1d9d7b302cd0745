//! The container manager's logic against the platform fakes, without root:
//! name reservations at create, the state machine driven by Start, Stop,
//! the shim's exit reports and a lost shim, and Remove.

use super::*;
use crate::core::error::Error;
use crate::core::ids::{ContainerId, SandboxId};
use crate::core::testbed::{TestBed, container_config, pod_config, until_state};
use crate::pods::SandboxManager;
use cradle_proto::cri;
use cradle_proto::shim::ProcessStatus;
use std::sync::Arc;

/// A test bed and a container manager over it.
fn bed_and_manager() -> (TestBed, ContainerManager) {
    let bed = TestBed::new();
    let containers = ContainerManager::new(bed.ctx.clone());
    (bed, containers)
}

/// A container of the tests' sandbox in `state`, known to the manager and
/// the store, whose shim serves with its process in the matching status:
/// what CreateContainer (and Start) would have left.
fn known(
    bed: &TestBed,
    containers: &ContainerManager,
    name: &str,
    state: ContainerState,
) -> ContainerId {
    let id = bed.plant_container(&SandboxId::new("sandbox-of-tests"), name, state);
    containers.restore(bed.stored_container(&id).unwrap());
    let status = match state {
        ContainerState::Created => ProcessStatus::Created,
        _ => ProcessStatus::Running,
    };
    bed.shims.plant(&id, status);
    id
}

#[tokio::test]
async fn create_with_an_absent_image_fails_and_releases_the_name() {
    let bed = TestBed::new();
    let pods = SandboxManager::new(bed.ctx.clone());
    let containers = ContainerManager::new(bed.ctx.clone());
    let sandbox_id = pods.run(pod_config("web"), "").await.unwrap();
    let sandbox = pods.get(&sandbox_id).unwrap();
    bed.journal.clear();
    for _ in 0..2 {
        let err = containers
            .create(&sandbox, container_config("app"))
            .await
            .unwrap_err();
        // A retry fails the same way, not with AlreadyExists: the name was released.
        assert!(
            matches!(err, Error::ImageNotFound(_) | Error::ImagesUnavailable(_)),
            "{err:?}"
        );
    }
    assert!(containers.list().is_empty());
    assert!(bed.journal.calls().is_empty(), "{:?}", bed.journal.calls());
    assert_eq!(bed.entries("root/containers"), 0);
}

#[tokio::test]
async fn create_in_a_pod_that_is_not_ready_is_refused_before_anything_is_built() {
    let bed = TestBed::new();
    let pods = SandboxManager::new(bed.ctx.clone());
    let containers = ContainerManager::new(bed.ctx.clone());
    let sandbox_id = pods.run(pod_config("web"), "").await.unwrap();
    pods.stop(&crate::core::ids::SandboxId::new(sandbox_id.clone()))
        .await
        .unwrap();
    let sandbox = pods.get(&sandbox_id).unwrap();
    bed.journal.clear();
    let err = containers
        .create(&sandbox, container_config("app"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::FailedPrecondition(_)), "{err:?}");
    assert!(bed.journal.calls().is_empty());
}

#[tokio::test]
async fn start_of_a_missing_container_is_not_found() {
    let (bed, containers) = bed_and_manager();
    let err = containers
        .start(&ContainerId::new("feedface"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert!(bed.journal.calls().is_empty());
}

#[tokio::test]
async fn start_runs_the_container_and_its_exit_is_recorded_from_the_shim() {
    let (bed, containers) = bed_and_manager();
    let mut events = bed.ctx.events.subscribe();
    let id = known(&bed, &containers, "app", ContainerState::Created);
    containers.start(&id).await.unwrap();
    let record = containers.get(&id).unwrap();
    assert_eq!(record.state, ContainerState::Running);
    assert!(record.started_at > 0);
    assert_eq!(
        bed.stored_container(&id).unwrap().state,
        ContainerState::Running,
        "persisted"
    );
    let started = events.recv().await.unwrap();
    assert_eq!(started.kind, cri::ContainerEventType::ContainerStartedEvent);
    // The exit monitor parks on the shim's Wait; the process ends.
    bed.shims.exit(id.as_str(), 3);
    until_state(&containers, &id, ContainerState::Exited).await;
    let record = containers.get(&id).unwrap();
    assert_eq!((record.exit_code, record.reason.as_str()), (3, "Error"));
    assert_eq!(bed.stored_container(&id).unwrap().exit_code, 3);
    let stopped = events.recv().await.unwrap();
    assert_eq!(stopped.kind, cri::ContainerEventType::ContainerStoppedEvent);
    assert_eq!(bed.steps(&id)[..2], ["start", "wait"]);
}

#[tokio::test]
async fn start_of_a_running_container_is_failed_precondition_without_a_shim_call() {
    let (bed, containers) = bed_and_manager();
    let id = known(&bed, &containers, "app", ContainerState::Running);
    let err = containers.start(&id).await.unwrap_err();
    assert!(matches!(err, Error::FailedPrecondition(_)), "{err:?}");
    assert!(bed.journal.calls().is_empty());
}

#[tokio::test]
async fn a_failed_start_kills_what_half_started_and_ends_as_cannot_run() {
    let (bed, containers) = bed_and_manager();
    let id = known(&bed, &containers, "app", ContainerState::Created);
    bed.journal.fail("start");
    containers.start(&id).await.unwrap_err();
    assert_eq!(bed.steps(&id), ["start", "kill 9"]);
    let record = containers.get(&id).unwrap();
    assert_eq!(record.state, ContainerState::Exited);
    assert_eq!(record.reason, "ContainerCannotRun");
    assert_eq!(record.exit_code, 128);
}

#[tokio::test]
async fn stop_sends_the_stop_signal_and_records_the_exit() {
    let (bed, containers) = bed_and_manager();
    let id = known(&bed, &containers, "app", ContainerState::Running);
    containers.stop(&id, 10).await.unwrap();
    assert_eq!(bed.steps(&id), ["kill 15", "wait"]);
    let record = containers.get(&id).unwrap();
    assert_eq!(record.state, ContainerState::Exited);
    assert_eq!(record.exit_code, 128 + libc::SIGTERM);
    // Stopping an exited container asks nothing of the shim.
    bed.journal.clear();
    containers.stop(&id, 10).await.unwrap();
    assert!(bed.journal.calls().is_empty());
}

#[tokio::test]
async fn stop_kills_a_container_that_ignores_its_stop_signal_after_the_grace_period() {
    let (bed, containers) = bed_and_manager();
    let id = known(&bed, &containers, "app", ContainerState::Running);
    bed.shims.ignore(id.as_str(), libc::SIGTERM);
    containers.stop(&id, 1).await.unwrap();
    assert_eq!(bed.steps(&id), ["kill 15", "wait", "kill 9", "wait"]);
    assert_eq!(containers.get(&id).unwrap().exit_code, 128 + libc::SIGKILL);
}

#[tokio::test]
async fn stop_of_a_container_whose_shim_is_gone_takes_the_exit_it_left() {
    let (bed, containers) = bed_and_manager();
    let id = known(&bed, &containers, "app", ContainerState::Running);
    bed.shims.crash(
        id.as_str(),
        Some(crate::platform::fakes::exit_record(7, None)),
    );
    containers.stop(&id, 10).await.unwrap();
    // Nothing to signal through a dead shim.
    assert!(bed.steps(&id).is_empty(), "{:?}", bed.steps(&id));
    let record = containers.get(&id).unwrap();
    assert_eq!(
        (record.state, record.exit_code),
        (ContainerState::Exited, 7)
    );
}

#[tokio::test]
async fn a_shim_lost_while_running_ends_the_container_as_unknown() {
    let (bed, containers) = bed_and_manager();
    let id = known(&bed, &containers, "app", ContainerState::Created);
    containers.start(&id).await.unwrap();
    bed.shims.crash(id.as_str(), None);
    until_state(&containers, &id, ContainerState::Exited).await;
    let record = containers.get(&id).unwrap();
    assert_eq!((record.exit_code, record.reason.as_str()), (255, "Unknown"));
    assert!(
        record.message.contains("lost the shim"),
        "{}",
        record.message
    );
}

#[tokio::test]
async fn stop_and_remove_of_an_unknown_container_succeed_without_a_call() {
    let (bed, containers) = bed_and_manager();
    let id = ContainerId::new("feedface");
    containers.stop(&id, 10).await.unwrap();
    containers.remove(&id).await.unwrap();
    assert!(bed.journal.calls().is_empty());
}

#[tokio::test]
async fn remove_of_a_running_container_kills_it_deletes_the_shim_and_forgets_it() {
    let (bed, containers) = bed_and_manager();
    let mut events = bed.ctx.events.subscribe();
    let id = known(&bed, &containers, "app", ContainerState::Running);
    containers.remove(&id).await.unwrap();
    assert_eq!(bed.steps(&id), ["kill 9", "wait", "delete force"]);
    assert!(matches!(containers.get(&id), Err(Error::NotFound { .. })));
    assert!(bed.stored_container(&id).is_none());
    assert!(!bed.ctx.shim_dir(&id).exists());
    let kinds: Vec<_> = std::iter::from_fn(|| events.try_recv().ok())
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            cri::ContainerEventType::ContainerStoppedEvent,
            cri::ContainerEventType::ContainerDeletedEvent
        ]
    );
    // Idempotent.
    containers.remove(&id).await.unwrap();
}

#[tokio::test]
async fn reopen_log_asks_the_shim_of_a_running_container_only() {
    let (bed, containers) = bed_and_manager();
    let running = known(&bed, &containers, "app", ContainerState::Running);
    let created = known(&bed, &containers, "other", ContainerState::Created);
    containers.reopen_log(&running).await.unwrap();
    let err = containers.reopen_log(&created).await.unwrap_err();
    assert!(matches!(err, Error::FailedPrecondition(_)), "{err:?}");
    assert_eq!(bed.steps(&running), ["reopen_log"]);
    assert!(bed.steps(&created).is_empty());
}

#[tokio::test]
async fn the_exit_monitor_of_a_restored_container_records_its_exit() {
    let (bed, containers) = bed_and_manager();
    let id = known(&bed, &containers, "app", ContainerState::Running);
    let entry = containers.restore(containers.get(&id).unwrap());
    containers.watch(Arc::clone(&entry));
    bed.shims.exit(id.as_str(), 0);
    until_state(&containers, &id, ContainerState::Exited).await;
    assert_eq!(containers.get(&id).unwrap().reason, "Completed");
}
