//! Column-aligned tables for humans, and the cell formats they share: ids
//! shortened as crictl does, ages ("5m ago"), sizes ("1.2MB").

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The length ids are cut to in tables (crictl's).
pub const SHORT_ID: usize = 13;

/// A table: a header row and data rows, rendered with every column as wide
/// as its widest cell and three spaces between columns.
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column names.
    pub fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are blank, extra ones dropped.
    pub fn row(&mut self, cells: Vec<String>) {
        let mut cells = cells;
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }

    /// The rendered table, one line per row, each ending in a newline; no
    /// trailing spaces.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut text = String::new();
            for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
                if i > 0 {
                    text.push_str("   ");
                }
                text.push_str(cell);
                if i + 1 < row.len() {
                    text.extend(std::iter::repeat_n(' ', width - cell.chars().count()));
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `id` without a `sha256:` prefix, cut to [`SHORT_ID`] characters.
pub fn short_id(id: &str) -> String {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    id.chars().take(SHORT_ID).collect()
}

/// How long ago `nanos` (Unix time in nanoseconds) was, as "5m ago";
/// "" for 0 (unset).
pub fn age(nanos: i64) -> String {
    age_at(nanos, SystemTime::now())
}

/// [`age`] against the given `now`.
pub fn age_at(nanos: i64, now: SystemTime) -> String {
    let Ok(nanos) = u64::try_from(nanos) else {
        return String::new();
    };
    if nanos == 0 {
        return String::new();
    }
    let then = UNIX_EPOCH + Duration::from_nanos(nanos);
    let secs = now.duration_since(then).unwrap_or_default().as_secs();
    let (value, unit) = match secs {
        0..60 => (secs, "s"),
        60..3_600 => (secs / 60, "m"),
        3_600..86_400 => (secs / 3_600, "h"),
        _ => (secs / 86_400, "d"),
    };
    format!("{value}{unit} ago")
}

/// A byte count in decimal units as crictl prints sizes: "512B", "1.2kB",
/// "3.45MB".
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        // Three significant digits, trailing zeros dropped.
        let text = format!(
            "{value:.*}",
            if value < 10.0 {
                2
            } else if value < 100.0 {
                1
            } else {
                0
            }
        );
        let text = if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            text
        };
        format!("{text}{}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned_without_trailing_spaces() {
        let mut table = Table::new(&["A", "LONGER", "C"]);
        table.row(vec!["xyz".into(), "1".into(), "end".into()]);
        table.row(vec!["q".into(), "".into()]);
        assert_eq!(table.render(), "A     LONGER   C\nxyz   1        end\nq\n");
    }

    #[test]
    fn ids_lose_the_digest_prefix_and_are_cut() {
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789abc");
        assert_eq!(short_id("abc"), "abc");
    }

    #[test]
    fn ages_pick_the_largest_unit() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let ago = |secs: u64| ((1_000_000 - secs) * 1_000_000_000) as i64;
        assert_eq!(age_at(ago(5), now), "5s ago");
        assert_eq!(age_at(ago(300), now), "5m ago");
        assert_eq!(age_at(ago(7_200), now), "2h ago");
        assert_eq!(age_at(ago(3 * 86_400), now), "3d ago");
        assert_eq!(age_at(0, now), "");
    }

    #[test]
    fn sizes_use_decimal_units() {
        assert_eq!(size(512), "512B");
        assert_eq!(size(1_200), "1.2kB");
        assert_eq!(size(3_450_000), "3.45MB");
        assert_eq!(size(123_400_000), "123MB");
        assert_eq!(size(1_000_000), "1MB");
    }
}
