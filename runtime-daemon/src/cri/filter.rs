//! List filters: id (or unique prefix), state, sandbox id and exact label
//! matches, all ANDed, as the kubelet and crictl send them.

use std::collections::HashMap;

/// Every `selector` pair is present in `labels` with the same value.
pub fn labels_match(labels: &HashMap<String, String>, selector: &HashMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// An id filter matches the full id or any prefix of it; empty matches all.
pub fn id_matches(id: &str, filter: &str) -> bool {
    filter.is_empty() || id.starts_with(filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_selector_requires_every_pair() {
        let labels: HashMap<String, String> = [
            ("app".to_string(), "web".to_string()),
            ("tier".to_string(), "a".to_string()),
        ]
        .into();
        let sel = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(labels_match(&labels, &sel(&[])));
        assert!(labels_match(&labels, &sel(&[("app", "web")])));
        assert!(!labels_match(
            &labels,
            &sel(&[("app", "web"), ("tier", "b")])
        ));
        assert!(!labels_match(&labels, &sel(&[("missing", "x")])));
    }

    #[test]
    fn id_filter_accepts_prefixes() {
        assert!(id_matches("abcdef", ""));
        assert!(id_matches("abcdef", "abc"));
        assert!(!id_matches("abcdef", "abd"));
    }
}
