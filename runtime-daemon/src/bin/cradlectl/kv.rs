//! `key=value` command-line arguments.

use anyhow::Context as _;
use std::collections::HashMap;

/// Parses repeated `key=value` arguments into a map.
pub fn pairs(items: &[String]) -> anyhow::Result<HashMap<String, String>> {
    items
        .iter()
        .map(|item| {
            item.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .with_context(|| format!("{item:?} is not key=value"))
        })
        .collect()
}
