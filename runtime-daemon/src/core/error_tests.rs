//! The status mapping: each case keeps its gRPC code, and the message
//! carries the whole cause chain.

use super::*;

#[test]
fn not_found_maps_to_grpc_not_found() {
    let status = tonic::Status::from(Error::NotFound {
        kind: "container",
        id: "abc".into(),
    });
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert!(status.message().contains("abc"));
}

#[test]
fn duplicate_name_maps_to_already_exists() {
    let status = tonic::Status::from(Error::AlreadyExists {
        kind: "sandbox",
        name: "n".into(),
        owner: "x".into(),
    });
    assert_eq!(status.code(), tonic::Code::AlreadyExists);
}

#[test]
fn snapshotter_refusals_map_to_their_codes() {
    let too_many = tonic::Status::from(Error::Image(cradle_snapshotter::Error::TooManyLayers {
        image: "img".into(),
        layers: 501,
        reason: "overlayfs stacks at most 500".into(),
    }));
    assert_eq!(too_many.code(), tonic::Code::FailedPrecondition);
    assert!(too_many.message().contains("501"));
    assert!(
        too_many.message().starts_with("image store: "),
        "{too_many:?}"
    );
    let no_layer = tonic::Status::from(Error::Image(cradle_snapshotter::Error::NoWritableLayer(
        "c1".into(),
    )));
    assert_eq!(no_layer.code(), tonic::Code::NotFound);
}

#[test]
fn a_three_level_chain_reaches_the_status_whole_and_keeps_its_code() {
    // Error::Shim -> ShimError::Connect -> io::Error: three levels.
    let err = Error::shim(
        &ShimId::new("c1"),
        ShimError::Connect {
            socket: PathBuf::from("/run/cradle/shims/c1/shim.sock"),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such socket"),
        },
    );
    let status = tonic::Status::from(err);
    assert_eq!(status.code(), tonic::Code::Internal);
    assert_eq!(
        status.message(),
        "shim c1: connecting to /run/cradle/shims/c1/shim.sock: no such socket"
    );
}

#[test]
fn a_cause_that_prints_its_own_source_is_not_repeated() {
    #[derive(Debug, thiserror::Error)]
    #[error("outer says: {source}")]
    struct Loud {
        source: std::io::Error,
    }
    let loud = Loud {
        source: std::io::Error::other("root cause"),
    };
    assert_eq!(Chain(&loud).to_string(), "outer says: root cause");
}

#[test]
fn io_errors_stay_internal_with_their_path_and_cause() {
    let status = tonic::Status::from(Error::io(
        "/var/lib/cradle/x",
        std::io::Error::from_raw_os_error(libc::EACCES),
    ));
    assert_eq!(status.code(), tonic::Code::Internal);
    assert!(
        status
            .message()
            .starts_with("I/O error at /var/lib/cradle/x: ")
            && status.message().contains("denied"),
        "{status:?}"
    );
}

#[test]
fn resource_updates_map_by_the_runtimes_answer() {
    let update = |source| {
        tonic::Status::from(Error::ResourceUpdate {
            id: "c1".into(),
            source,
        })
    };
    let refused = update(RuntimeCmdError::Refused("hugepage limit too small".into()));
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        refused.message(),
        "resources of container c1: hugepage limit too small"
    );
    let slow = update(RuntimeCmdError::TimedOut("update did not finish".into()));
    assert_eq!(slow.code(), tonic::Code::DeadlineExceeded);
    let broken = update(RuntimeCmdError::Run {
        what: "running runc update".into(),
        source: std::io::Error::from_raw_os_error(libc::ENOENT),
    });
    assert_eq!(broken.code(), tonic::Code::Internal);
    assert!(broken.message().contains("running runc update: "));
}

#[test]
fn every_plain_case_keeps_its_code() {
    let code = |err: Error| tonic::Status::from(err).code();
    assert_eq!(
        code(Error::InvalidArgument("x".into())),
        tonic::Code::InvalidArgument
    );
    assert_eq!(
        code(Error::AmbiguousId {
            kind: "container",
            prefix: "a".into()
        }),
        tonic::Code::InvalidArgument
    );
    assert_eq!(
        code(Error::ImageNotFound("i".into())),
        tonic::Code::NotFound
    );
    assert_eq!(
        code(Error::FailedPrecondition("x".into())),
        tonic::Code::FailedPrecondition
    );
    assert_eq!(
        code(Error::DeadlineExceeded("x".into())),
        tonic::Code::DeadlineExceeded
    );
    assert_eq!(
        code(Error::ImagesUnavailable(Arc::new(
            cradle_snapshotter::Error::Unimplemented("x")
        ))),
        tonic::Code::Unavailable
    );
    assert_eq!(
        code(Error::Spec(SpecError::NoCommand)),
        tonic::Code::InvalidArgument
    );
    assert_eq!(
        code(Error::Spec(SpecError::build("x"))),
        tonic::Code::Internal
    );
    assert_eq!(
        code(Error::CreateRefused {
            id: "c".into(),
            message: "m".into()
        }),
        tonic::Code::Internal
    );
}
