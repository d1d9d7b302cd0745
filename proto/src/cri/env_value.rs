//! The JSON shape of `KeyValue.value` (an environment variable's value).
//!
//! The CRI made it `bytes` (cri-api 0.34), so prost holds it as `Vec<u8>`,
//! whose serde form is an array of numbers. The daemon keeps each
//! container's config as JSON in its records, written with the value as a
//! string; this keeps that shape (a string whenever the value is UTF-8, as
//! every value the daemon accepts is) and reads either form back, so records
//! written before and after the change both load.

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserializer, Serializer};
use std::fmt;

/// Writes the value as a string when it is UTF-8, else as its bytes.
pub fn serialize<S: Serializer>(value: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    match std::str::from_utf8(value) {
        Ok(text) => serializer.serialize_str(text),
        Err(_) => serializer.collect_seq(value),
    }
}

/// Reads a string, bytes, or an array of byte values.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    deserializer.deserialize_any(TextOrBytes)
}

struct TextOrBytes;

impl<'de> Visitor<'de> for TextOrBytes {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or a sequence of bytes")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
        Ok(v.as_bytes().to_vec())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Vec<u8>, E> {
        Ok(v.into_bytes())
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }

    /// A missing or null value: proto3's default, empty.
    fn visit_unit<E: de::Error>(self) -> Result<Vec<u8>, E> {
        Ok(Vec::new())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(byte) = seq.next_element::<u8>()? {
            bytes.push(byte);
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::super::KeyValue;

    #[test]
    fn utf8_values_stay_strings_and_both_forms_load() {
        let kv = KeyValue {
            key: "K".into(),
            value: b"v".to_vec(),
        };
        let json = serde_json::to_string(&kv).unwrap();
        assert_eq!(json, r#"{"key":"K","value":"v"}"#);
        let back: KeyValue = serde_json::from_str(&json).unwrap();
        assert_eq!(back, kv);
        let raw: KeyValue = serde_json::from_str(r#"{"key":"K","value":[255,0]}"#).unwrap();
        assert_eq!(raw.value, vec![255, 0]);
        assert_eq!(
            serde_json::to_string(&raw).unwrap(),
            r#"{"key":"K","value":[255,0]}"#
        );
        let missing: KeyValue = serde_json::from_str(r#"{"key":"K"}"#).unwrap();
        assert!(missing.value.is_empty());
    }
}
