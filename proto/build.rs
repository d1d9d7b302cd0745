//! Compiles Cradle's CRI v1 definition (`cri/runtime/v1/api.proto`) into
//! prost messages and tonic clients and servers, only with the `cri` feature:
//! the shim and the launcher build without protoc, tonic or prost.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    #[cfg(feature = "cri")]
    compile_cri()?;
    Ok(())
}

/// Generates `runtime.v1.rs` in `OUT_DIR`; `src/cri.rs` includes it.
#[cfg(feature = "cri")]
fn compile_cri() -> Result<(), Box<dyn std::error::Error>> {
    tonic_prost_build::configure()
        // The daemon stores requests (sandbox and container configs) as JSON
        // in its records, so every type derives serde, as k8s-cri's did.
        .type_attribute(".", "#[derive(serde::Serialize, serde::Deserialize)]")
        // A record written before a field existed still loads: the field
        // takes its proto3 default, as it would on the wire.
        .message_attribute(".", "#[serde(default)]")
        // Env values are `bytes` on the wire but stay strings in the records.
        .field_attribute(
            "runtime.v1.KeyValue.value",
            "#[serde(with = \"crate::cri::env_value\")]",
        )
        // Registry credentials must never reach a log through `{:?}` of a
        // PullImageRequest: src/cri/auth_debug.rs writes a redacting Debug.
        .skip_debug([".runtime.v1.AuthConfig"])
        .compile_protos(&["cri/runtime/v1/api.proto"], &["cri"])?;
    Ok(())
}
