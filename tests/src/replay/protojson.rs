//! Canonical proto3 JSON (protojson, proto field names, defaults emitted, as
//! the recorded corpus holds it) into the `cradle_proto::cri` prost types.
//!
//! The `cri` types derive serde with its default shape, which differs
//! from protojson in a few ways; this deserializer bridges them without a
//! descriptor set:
//! - 64-bit integers arrive as strings: parsed where a number is asked for;
//! - enums arrive as value names where prost has an `i32`: looked up in one
//!   table of every CRI enum (their value names are unique across enums);
//! - `bytes` arrive as base64: decoded where bytes are asked for, and in
//!   `KeyValue.value` (`bytes` since cri-api 0.34), whose serde form in the
//!   `cri` types is text (the daemon's records keep env values as strings);
//! - `uidMappings`/`gidMappings` are camel case in the `.proto` itself:
//!   a key that is not a field name is matched to the field its snake case
//!   names;
//! - a field the recording lacks (an older or newer cri-api) gets its
//!   default, as a missing field does on the wire; fields the `cri`
//!   types lack are ignored, as prost ignores unknown fields.

use anyhow::anyhow;
use cradle_proto::cri;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess,
    Visitor,
};
use serde_json::Value;

type Error = de::value::Error;

/// Decodes one protojson message into `T`.
pub fn decode<T: DeserializeOwned>(value: &Value) -> anyhow::Result<T> {
    T::deserialize(Json(Some(value))).map_err(|e| anyhow!("protojson: {e}"))
}

/// The numeric value of a CRI enum value name.
fn enum_value(name: &str) -> Option<i32> {
    cri::Protocol::from_str_name(name)
        .map(|v| v as i32)
        .or_else(|| cri::MountPropagation::from_str_name(name).map(|v| v as i32))
        .or_else(|| cri::NamespaceMode::from_str_name(name).map(|v| v as i32))
        .or_else(|| cri::SupplementalGroupsPolicy::from_str_name(name).map(|v| v as i32))
        .or_else(|| cri::security_profile::ProfileType::from_str_name(name).map(|v| v as i32))
        .or_else(|| cri::PodSandboxState::from_str_name(name).map(|v| v as i32))
        .or_else(|| cri::ContainerState::from_str_name(name).map(|v| v as i32))
        .or_else(|| cri::ContainerEventType::from_str_name(name).map(|v| v as i32))
        .or_else(|| cri::MetricType::from_str_name(name).map(|v| v as i32))
        .or_else(|| cri::CgroupDriver::from_str_name(name).map(|v| v as i32))
        .or_else(|| cri::Signal::from_str_name(name).map(|v| v as i32))
}

/// Standard base64 (with or without padding), as protojson writes bytes.
pub fn base64_decode(text: &str) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return Err(de::Error::custom(format!("not base64: {text:?}"))),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).unwrap_or_default());
        }
    }
    Ok(out)
}

/// A protojson value, or `None` for a field the message left out.
struct Json<'a>(Option<&'a Value>);

impl Json<'_> {
    fn number<T: std::str::FromStr>(&self) -> Option<Result<T, Error>> {
        match self.0 {
            Some(Value::String(s)) => Some(
                s.parse()
                    .map_err(|_| de::Error::custom(format!("not a number: {s:?}"))),
            ),
            _ => None,
        }
    }
}

macro_rules! number_from_string {
    ($($method:ident $ty:ty => $visit:ident),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            if self.0.is_none() {
                return visitor.$visit(<$ty>::default());
            }
            match self.number::<$ty>() {
                Some(n) => visitor.$visit(n?),
                None => self.deserialize_any(visitor),
            }
        }
    )*};
}

impl<'de> Deserializer<'de> for Json<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            None | Some(Value::Null) => visitor.visit_unit(),
            Some(Value::Bool(b)) => visitor.visit_bool(*b),
            Some(Value::Number(n)) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => visitor.visit_i64(i),
                (None, Some(u)) => visitor.visit_u64(u),
                _ => visitor.visit_f64(n.as_f64().unwrap_or_default()),
            },
            Some(Value::String(s)) => visitor.visit_str(s),
            Some(Value::Array(items)) => visitor.visit_seq(Seq(items.iter())),
            Some(Value::Object(map)) => visitor.visit_map(Fields::new(map, &[], false)),
        }
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            None => visitor.visit_i32(0),
            Some(Value::String(s)) => match enum_value(s) {
                Some(v) => visitor.visit_i32(v),
                None => visitor.visit_i32(
                    s.parse()
                        .map_err(|_| de::Error::custom(format!("unknown enum value {s:?}")))?,
                ),
            },
            _ => self.deserialize_any(visitor),
        }
    }

    number_from_string!(
        deserialize_i64 i64 => visit_i64,
        deserialize_u64 u64 => visit_u64,
        deserialize_u32 u32 => visit_u32,
        deserialize_f64 f64 => visit_f64,
        deserialize_f32 f32 => visit_f32
    );

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            None => visitor.visit_bool(false),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            None => visitor.visit_str(""),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            None | Some(Value::Null) => visitor.visit_none(),
            Some(_) => visitor.visit_some(self),
        }
    }

    /// `Vec<u8>` (proto `bytes`) asks for a sequence: base64 text becomes one.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            None => visitor.visit_seq(Seq([].iter())),
            Some(Value::String(s)) => {
                let bytes = base64_decode(s)?;
                visitor.visit_seq(de::value::SeqDeserializer::new(bytes.into_iter()))
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Some(Value::String(s)) => visitor.visit_byte_buf(base64_decode(s)?),
            None => visitor.visit_byte_buf(Vec::new()),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_byte_buf(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            None => visitor.visit_map(Fields::new(&serde_json::Map::new(), &[], false)),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let empty = serde_json::Map::new();
        match self.0 {
            None => visitor.visit_map(Fields::new(&empty, fields, false)),
            Some(Value::Object(map)) => {
                visitor.visit_map(Fields::new(map, fields, name == "KeyValue"))
            }
            _ => self.deserialize_any(visitor),
        }
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i128 u8 u16 u128 char unit unit_struct newtype_struct tuple
        tuple_struct enum identifier ignored_any
    }
}

struct Seq<'a>(std::slice::Iter<'a, Value>);

impl<'de> SeqAccess<'de> for Seq<'_> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0
            .next()
            .map(|v| seed.deserialize(Json(Some(v))))
            .transpose()
    }
}

/// An object's entries, with each key turned into the field name it means,
/// followed by the struct's fields the object left out (as absent values).
struct Fields<'a> {
    entries: Vec<(String, Option<&'a Value>)>,
    next: usize,
    /// `KeyValue`: its `value` is base64 text of the bytes it stands for.
    key_value: bool,
}

impl<'a> Fields<'a> {
    fn new(
        map: &'a serde_json::Map<String, Value>,
        fields: &'static [&'static str],
        key_value: bool,
    ) -> Self {
        let mut entries: Vec<(String, Option<&Value>)> = map
            .iter()
            .map(|(k, v)| (field_name(k, fields), Some(v)))
            .collect();
        for field in fields {
            if !entries.iter().any(|(k, _)| k == field) {
                entries.push((field.to_string(), None));
            }
        }
        Fields {
            entries,
            next: 0,
            key_value,
        }
    }
}

/// `key` itself, or the snake-case field it spells in camel case.
fn field_name(key: &str, fields: &[&str]) -> String {
    if fields.is_empty() || fields.contains(&key) {
        return key.to_string();
    }
    let mut snake = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            snake.push('_');
            snake.push(c.to_ascii_lowercase());
        } else {
            snake.push(c);
        }
    }
    if fields.contains(&snake.as_str()) {
        snake
    } else {
        key.to_string()
    }
}

impl<'de> MapAccess<'de> for Fields<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, _)) = self.entries.get(self.next) else {
            return Ok(None);
        };
        seed.deserialize(key.clone().into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (key, value) = self
            .entries
            .get(self.next)
            .ok_or_else(|| de::Error::custom("value without a key"))?;
        self.next += 1;
        if self.key_value
            && key == "value"
            && let Some(Value::String(text)) = value
        {
            let bytes = base64_decode(text)?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            return seed.deserialize(text.into_deserializer());
        }
        seed.deserialize(Json(*value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_enums_int64_strings_base64_env_and_camel_case_mounts() {
        let json = serde_json::json!({
            "metadata": {"name": "app", "attempt": 1},
            "envs": [{"key": "PLAIN", "value": "eA=="}],
            "mounts": [{"container_path": "/c", "host_path": "/h",
                        "propagation": "PROPAGATION_BIDIRECTIONAL",
                        "uidMappings": [{"host_id": 1000, "container_id": 0, "length": 1}],
                        "some_future_field": true}],
            "linux": {"resources": {"cpu_quota": "50000",
                                    "hugepage_limits": [{"page_size": "2MB", "limit": "0"}]},
                      "security_context": {"seccomp": {"profile_type": "RuntimeDefault"},
                                           "run_as_user": {"value": "0"}}}
        });
        let config: cri::ContainerConfig = decode(&json).expect("decode");
        assert_eq!(config.metadata.as_ref().map(|m| m.attempt), Some(1));
        assert_eq!(config.envs[0].value, b"x");
        assert_eq!(
            config.mounts[0].propagation,
            cri::MountPropagation::PropagationBidirectional as i32
        );
        assert_eq!(config.mounts[0].uid_mappings[0].host_id, 1000);
        let linux = config.linux.expect("linux");
        assert_eq!(linux.resources.as_ref().map(|r| r.cpu_quota), Some(50000));
        let sc = linux.security_context.expect("security context");
        assert_eq!(sc.run_as_user.map(|u| u.value), Some(0));
        assert!(sc.run_as_group.is_none(), "absent sub-messages stay unset");
    }
}
