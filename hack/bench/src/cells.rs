//! Cells and rows of the side-by-side tables, read from JSON reports
//! generically (reports of older builds still compare).

use std::fmt::Write;

use serde_json::Value;

/// The number at `path` in `v`.
pub fn f(v: &Value, path: &[&str]) -> Option<f64> {
    path.iter().try_fold(v, |v, k| v.get(*k))?.as_f64()
}

/// KiB as MiB with one decimal, or `-`.
pub fn mib(kib: Option<f64>) -> String {
    kib.map_or("-".into(), |k| format!("{:.1}", k / 1024.0))
}

/// Milliseconds with fewer decimals as they grow (the cells stay narrow).
pub fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// A summary's `median / p99` (ms), or `-`.
pub fn med_p99(summary: &Value) -> String {
    match (f(summary, &["median_ms"]), f(summary, &["p99_ms"])) {
        (Some(m), Some(p)) => format!("{} / {}", ms(m), ms(p)),
        _ => "-".into(),
    }
}

/// One row: a label, then right-aligned cells.
pub fn row(out: &mut String, label: &str, cells: &[String]) {
    let _ = write!(out, "{label:<34}");
    for c in cells {
        let _ = write!(out, " {c:>22}");
    }
    out.push('\n');
}

/// The first word of a report's runtime ("cradled", "containerd").
pub fn runtime_name(r: &Value) -> String {
    r["runtime"]
        .as_str()
        .unwrap_or("?")
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_lose_decimals_as_they_grow() {
        assert_eq!(ms(1.234), "1.23");
        assert_eq!(ms(12.34), "12.3");
        assert_eq!(ms(1234.5), "1234");
        let s = serde_json::json!({"median_ms": 0.5, "p99_ms": 150.0});
        assert_eq!(med_p99(&s), "0.50 / 150");
        assert_eq!(med_p99(&Value::Null), "-");
    }
}
