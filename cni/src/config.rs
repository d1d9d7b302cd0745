//! Network configuration discovery.
//!
//! Like every CNI-using runtime, Cradle takes the lexically first *valid* file
//! in the configuration directory ending in `.conflist`, `.conf` or `.json`.
//! A `.conflist` is a network with a list of plugins; a `.conf`/`.json` holds a
//! single plugin configuration and is wrapped as a one-plugin list. Invalid
//! files are skipped with the reason logged, so one broken file does not take
//! the node's network down if a valid one follows.

use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Errors of reading the configuration directory itself.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The directory exists but cannot be listed.
    #[error("reading CNI config dir {path}: {source}")]
    ReadDir {
        /// The configuration directory.
        path: PathBuf,
        /// Why it cannot be listed.
        source: std::io::Error,
    },
}

/// Why one file is not a usable network configuration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidConfig {
    /// The file cannot be read (the I/O error, as text so the type compares).
    #[error("cannot read: {0}")]
    Read(String),
    /// The file is not valid JSON (the parser's message).
    #[error("not JSON: {0}")]
    Json(String),
    /// The JSON is not an object.
    #[error("not a JSON object")]
    NotObject,
    /// A required string field (`cniVersion`, `name`, `type`) is absent or empty.
    #[error("missing or empty string field {0:?}")]
    MissingField(&'static str),
    /// A conflist without plugins.
    #[error("\"plugins\" must be a non-empty array")]
    NoPlugins,
    /// The plugin at this index of the list names no plugin binary.
    #[error("plugin {0} has no \"type\"")]
    PluginWithoutType(usize),
}

/// One plugin of a network: its type and its full configuration object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginConfig {
    /// The plugin binary's name, looked up in the plugin directories.
    #[serde(rename = "type")]
    pub plugin_type: String,
    /// The plugin's whole configuration object, as the file wrote it.
    pub config: Value,
}

/// A network configuration (always in list form).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkConfig {
    /// The spec version the configuration is written in.
    pub cni_version: String,
    /// The network's name (part of the cache key).
    pub name: String,
    /// The plugins, in the order ADD runs them (DEL runs them backwards).
    pub plugins: Vec<PluginConfig>,
    /// The file it came from.
    pub source: PathBuf,
}

/// Extensions that name network configuration files.
const EXTENSIONS: [&str; 3] = ["conflist", "conf", "json"];

/// The lexically first valid network configuration in `dir`; `None` when the
/// directory is missing or holds no valid configuration.
pub fn find_network_config(dir: &Path) -> Result<Option<NetworkConfig>, ConfigError> {
    let Some(files) = config_files(dir)? else {
        return Ok(None);
    };
    for path in files {
        match load_file(&path) {
            Ok(config) => return Ok(Some(config)),
            Err(reason) => {
                tracing::warn!("skipping CNI config {}: {reason}", path.display());
            }
        }
    }
    Ok(None)
}

/// The files of `dir` that name network configurations (`*.conflist`,
/// `*.conf`, `*.json`), sorted as [`find_network_config`] tries them;
/// `None` when the directory is missing.
pub fn config_files(dir: &Path) -> Result<Option<Vec<PathBuf>>, ConfigError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ConfigError::ReadDir {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| EXTENSIONS.contains(&e))
        })
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(Some(files))
}

/// Parses and validates one file (list form for `.conflist`, single plugin otherwise).
pub fn load_file(path: &Path) -> Result<NetworkConfig, InvalidConfig> {
    let bytes = std::fs::read(path).map_err(|e| InvalidConfig::Read(e.to_string()))?;
    let is_list = path.extension().and_then(|e| e.to_str()) == Some("conflist");
    parse(&bytes, is_list, path)
}

/// Parses configuration bytes; `is_list`: a conflist, else a single plugin config.
pub fn parse(bytes: &[u8], is_list: bool, source: &Path) -> Result<NetworkConfig, InvalidConfig> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| InvalidConfig::Json(e.to_string()))?;
    let object = value.as_object().ok_or(InvalidConfig::NotObject)?;
    let field = |name: &'static str| -> Result<String, InvalidConfig> {
        object
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or(InvalidConfig::MissingField(name))
    };
    let cni_version = field("cniVersion")?;
    let name = field("name")?;
    let plugins = if is_list {
        let list = object
            .get("plugins")
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty())
            .ok_or(InvalidConfig::NoPlugins)?;
        list.iter()
            .enumerate()
            .map(|(i, plugin)| plugin_config(plugin).ok_or(InvalidConfig::PluginWithoutType(i)))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        vec![plugin_config(&value).ok_or(InvalidConfig::MissingField("type"))?]
    };
    Ok(NetworkConfig {
        cni_version,
        name,
        plugins,
        source: source.to_path_buf(),
    })
}

fn plugin_config(value: &Value) -> Option<PluginConfig> {
    let plugin_type = value.get("type")?.as_str().filter(|t| !t.is_empty())?;
    Some(PluginConfig {
        plugin_type: plugin_type.to_string(),
        config: value.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = r#"{"cniVersion":"1.0.0","name":"podnet","plugins":[{"type":"bridge"},{"type":"portmap"}]}"#;
    const SINGLE: &str =
        r#"{"cniVersion":"0.4.0","name":"single","type":"bridge","bridge":"cni0"}"#;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn missing_or_empty_dir_has_no_config() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(
            find_network_config(&tmp.path().join("absent")).unwrap(),
            None
        );
        assert_eq!(find_network_config(tmp.path()).unwrap(), None);
    }

    #[test]
    fn conflist_is_parsed_with_its_plugins() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "10-pod.conflist", LIST);
        let config = find_network_config(tmp.path()).unwrap().unwrap();
        assert_eq!(config.name, "podnet");
        assert_eq!(config.cni_version, "1.0.0");
        let types: Vec<_> = config
            .plugins
            .iter()
            .map(|p| p.plugin_type.as_str())
            .collect();
        assert_eq!(types, ["bridge", "portmap"]);
    }

    #[test]
    fn single_plugin_conf_is_wrapped_as_a_list() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "20-single.conf", SINGLE);
        let config = find_network_config(tmp.path()).unwrap().unwrap();
        assert_eq!(config.name, "single");
        assert_eq!(config.plugins.len(), 1);
        assert_eq!(config.plugins[0].config["bridge"], "cni0");
    }

    #[test]
    fn lexically_first_valid_file_wins_and_invalid_ones_are_skipped() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "00-broken.conflist", "{not json");
        write(
            tmp.path(),
            "05-noplugins.conflist",
            r#"{"cniVersion":"1.0.0","name":"x","plugins":[]}"#,
        );
        write(
            tmp.path(),
            "07-notype.conf",
            r#"{"cniVersion":"1.0.0","name":"x"}"#,
        );
        write(tmp.path(), "08-ignored.txt", LIST);
        write(tmp.path(), "20-single.json", SINGLE);
        write(tmp.path(), "30-pod.conflist", LIST);
        let config = find_network_config(tmp.path()).unwrap().unwrap();
        assert_eq!(config.name, "single");
        assert_eq!(config.source, tmp.path().join("20-single.json"));
    }

    #[test]
    fn invalid_configs_name_their_reason() {
        let p = Path::new("x");
        assert_eq!(parse(b"[]", true, p), Err(InvalidConfig::NotObject));
        assert_eq!(
            parse(br#"{"name":"n","plugins":[{"type":"a"}]}"#, true, p),
            Err(InvalidConfig::MissingField("cniVersion"))
        );
        assert_eq!(
            parse(
                br#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"a"},{}]}"#,
                true,
                p
            ),
            Err(InvalidConfig::PluginWithoutType(1))
        );
    }
}
