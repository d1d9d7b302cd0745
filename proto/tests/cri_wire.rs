//! Pins the CRI wire format of a few messages to hand-checked bytes, so a
//! change to `cri/runtime/v1/api.proto` that moves a field number or type
//! away from upstream cri-api fails here.
//!
//! A field's tag is one varint, `field_number << 3 | wire_type`; wire type 0
//! is a varint (ints, bools, enums), 2 is length-delimited (strings, bytes,
//! messages), followed by the length as a varint. Proto3 omits fields that
//! hold their default (0, false, "", empty), and prost writes fields in
//! field-number order, so each message encodes to exactly one byte string.
#![cfg(feature = "cri")]

use cradle_proto::cri;
use prost::Message;

/// Encodes `message`, checks it against `bytes`, and decodes `bytes` back.
fn pin<M: Message + Default + PartialEq + std::fmt::Debug>(message: &M, bytes: &[u8]) {
    assert_eq!(message.encode_to_vec(), bytes, "encoding of {message:?}");
    let decoded = M::decode(bytes).unwrap_or_else(|e| panic!("decoding {bytes:02x?}: {e}"));
    assert_eq!(&decoded, message, "decoding of {bytes:02x?}");
}

#[test]
fn version_request() {
    // version = 1, string: tag 1<<3|2 = 0x0a, length 2, "v1" = 76 31.
    let request = cri::VersionRequest {
        version: "v1".into(),
    };
    pin(&request, &[0x0a, 0x02, 0x76, 0x31]);
}

#[test]
fn pod_sandbox_metadata() {
    // name = 1, string:      0x0a, 1, "n" = 6e
    // uid = 2, string:       2<<3|2 = 0x12, 1, "u" = 75
    // namespace = 3, string: 3<<3|2 = 0x1a, 2, "ns" = 6e 73
    // attempt = 4, uint32:   4<<3|0 = 0x20, varint 1
    let metadata = cri::PodSandboxMetadata {
        name: "n".into(),
        uid: "u".into(),
        namespace: "ns".into(),
        attempt: 1,
    };
    pin(
        &metadata,
        &[
            0x0a, 0x01, 0x6e, 0x12, 0x01, 0x75, 0x1a, 0x02, 0x6e, 0x73, 0x20, 0x01,
        ],
    );
}

#[test]
fn image_volume_mount_with_image_ref_and_sub_path() {
    // What a v1.36 kubelet sends for an image volume with a subPath; the
    // k8s-cri bindings Cradle used before dropped image_ref and image_sub_path.
    // Mount:
    //   container_path = 1, string: 0x0a, 2, "/v" = 2f 76
    //   readonly = 3, bool:         3<<3|0 = 0x18, 1
    //   image = 9, ImageSpec:       9<<3|2 = 0x4a, length 7, then
    //     image = 1, string:        0x0a, 1, "i" = 69
    //     image_ref = 20, string:   20<<3|2 = 162, varint a2 01, 1, "r" = 72
    //   image_sub_path = 10, string: 10<<3|2 = 0x52, 1, "s" = 73
    let bytes = [
        0x0a, 0x02, 0x2f, 0x76, 0x18, 0x01, 0x4a, 0x07, 0x0a, 0x01, 0x69, 0xa2, 0x01, 0x01, 0x72,
        0x52, 0x01, 0x73,
    ];
    let mount = cri::Mount::decode(&bytes[..]).unwrap();
    assert_eq!(mount.image_sub_path, "s");
    let image = mount.image.as_ref().unwrap();
    assert_eq!((image.image.as_str(), image.image_ref.as_str()), ("i", "r"));
    pin(
        &cri::Mount {
            container_path: "/v".into(),
            readonly: true,
            image: Some(cri::ImageSpec {
                image: "i".into(),
                image_ref: "r".into(),
                ..Default::default()
            }),
            image_sub_path: "s".into(),
            ..Default::default()
        },
        &bytes,
    );
}

#[test]
fn namespace_mode_is_a_varint() {
    // network = 1, NamespaceMode: 1<<3|0 = 0x08, NODE = 2.
    let options = cri::NamespaceOption {
        network: cri::NamespaceMode::Node as i32,
        ..Default::default()
    };
    pin(&options, &[0x08, 0x02]);
}

#[test]
fn pod_user_namespace_options() {
    // A pod with hostUsers: false, as a v1.36 kubelet sends it.
    // IDMapping {host_id 65536, container_id 0, length 65536}:
    //   host_id = 1, uint32: 0x08, 65536 = 2^16 as a varint: 80 80 04
    //   container_id = 2: 0, omitted
    //   length = 3, uint32:  3<<3|0 = 0x18, 80 80 04            (8 bytes)
    // UserNamespace {mode POD (0, omitted), uids [m], gids [m]}:
    //   uids = 2: 2<<3|2 = 0x12, 8, m; gids = 3: 3<<3|2 = 0x1a, 8, m (20 bytes)
    // NamespaceOption:
    //   pid = 2, NamespaceMode CONTAINER = 1: 2<<3|0 = 0x10, 1
    //   userns_options = 5: 5<<3|2 = 0x2a, 20 = 0x14, the UserNamespace
    let mapping = cri::IdMapping {
        host_id: 65536,
        container_id: 0,
        length: 65536,
    };
    let options = cri::NamespaceOption {
        pid: cri::NamespaceMode::Container as i32,
        userns_options: Some(cri::UserNamespace {
            mode: cri::NamespaceMode::Pod as i32,
            uids: vec![mapping],
            gids: vec![mapping],
        }),
        ..Default::default()
    };
    pin(
        &options,
        &[
            0x10, 0x01, 0x2a, 0x14, 0x12, 0x08, 0x08, 0x80, 0x80, 0x04, 0x18, 0x80, 0x80, 0x04,
            0x1a, 0x08, 0x08, 0x80, 0x80, 0x04, 0x18, 0x80, 0x80, 0x04,
        ],
    );
}

#[test]
fn container_config_stop_signal() {
    // stop_signal = 18, Signal: 18<<3|0 = 144, varint 90 01; SIGKILL = 13 = 0x0d.
    let config = cri::ContainerConfig {
        stop_signal: cri::Signal::Sigkill as i32,
        ..Default::default()
    };
    pin(&config, &[0x90, 0x01, 0x0d]);
}

#[test]
fn env_value_is_bytes() {
    // KeyValue.value is `bytes` (cri-api 0.34): a value that is not UTF-8
    // decodes instead of failing the whole request.
    // key = 1, string: 0x0a, 1, "K" = 4b; value = 2, bytes: 0x12, 1, ff.
    let kv = cri::KeyValue {
        key: "K".into(),
        value: vec![0xff],
    };
    pin(&kv, &[0x0a, 0x01, 0x4b, 0x12, 0x01, 0xff]);
}
