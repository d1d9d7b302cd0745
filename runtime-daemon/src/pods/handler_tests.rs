//! RunPodSandbox's runtime handler: resolved from the configured ones,
//! recorded with the pod (so its containers and a restarted daemon use the
//! same), and an unknown one refused before anything is created.

use super::*;
use crate::core::error::Error;
use crate::core::handlers::HandlerConfig;
use crate::core::store::Kind;
use crate::core::testbed::{self, TestBed};

/// A bed whose configuration names two handlers, `fast` the default.
fn bed_with_handlers() -> (TestBed, SandboxManager) {
    let bed = TestBed::configured(|config| {
        for name in ["fast", "slow"] {
            let handler = HandlerConfig {
                runtime: Some("/bin/true".into()),
                ..HandlerConfig::default()
            };
            config.runtime_handlers.insert(name.into(), handler);
        }
        config.default_runtime_handler = "fast".into();
    });
    let pods = SandboxManager::new(bed.ctx.clone());
    (bed, pods)
}

#[tokio::test]
async fn the_handler_asked_for_is_recorded_and_reported() {
    let (bed, pods) = bed_with_handlers();
    let id = pods.run(testbed::pod_config("web"), "slow").await.unwrap();
    let record = pods.get(&id).unwrap();
    assert_eq!(record.runtime_handler, "slow");
    assert_eq!(record.to_status().runtime_handler, "slow");
    let stored: Vec<(String, SandboxRecord)> = bed.stored(Kind::Sandbox);
    assert_eq!(stored[0].1.runtime_handler, "slow", "kept for a restart");
}

#[tokio::test]
async fn the_empty_handler_runs_the_configured_default() {
    let (_bed, pods) = bed_with_handlers();
    let id = pods.run(testbed::pod_config("web"), "").await.unwrap();
    assert_eq!(pods.get(&id).unwrap().runtime_handler, "fast");
}

#[tokio::test]
async fn an_unknown_handler_is_refused_naming_the_configured_ones_before_anything_is_made() {
    let (bed, pods) = bed_with_handlers();
    let err = pods
        .run(testbed::pod_config("web"), "runc")
        .await
        .unwrap_err();
    let Error::InvalidArgument(message) = &err else {
        panic!("not InvalidArgument: {err:?}");
    };
    assert!(message.contains("\"runc\""), "{message}");
    assert!(message.contains("\"fast\", \"slow\""), "{message}");
    assert!(bed.journal.calls().is_empty(), "{:?}", bed.journal.calls());
    assert!(pods.list().is_empty());
    assert_eq!(bed.entries("state/shims"), 0);
    // The name stays free: the same pod runs once the handler is right.
    pods.run(testbed::pod_config("web"), "fast").await.unwrap();
}
