//! The ratio table: criterion's estimates for Rampart and for a peer on the same input,
//! turned into commands per second, bytes per second and Rampart's speed-up.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One comparison: a criterion group holding a `rampart` benchmark and a peer's, both doing
/// one iteration over the same input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// What is compared, for the table.
    pub name: String,
    /// The criterion group.
    pub group: String,
    /// The peer's benchmark id within the group (Rampart's is always `rampart`).
    pub peer: String,
    /// Commands (or replies, or responses) handled by one iteration.
    pub elements: u64,
    /// Bytes handled by one iteration.
    pub bytes: u64,
}

/// The benchmark id of Rampart's side in every group.
pub const RAMPART: &str = "rampart";

/// Where criterion writes its results: `$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`,
/// else `<workspace>/target/criterion`. The benchmark hands this to criterion explicitly, so
/// the table is read from where the estimates were written.
pub fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("criterion")
}

/// The median time of one iteration in nanoseconds, from
/// `<dir>/<group>/<bench>/new/estimates.json`. The median rather than criterion's slope or
/// mean: on a shared machine a burst of other work inflates a few samples, and the median
/// ignores them. `None` when the file is missing, unreadable, or older than `since` (left by
/// an earlier run that this one filtered out).
pub fn median_ns(dir: &Path, group: &str, bench: &str, since: SystemTime) -> Option<f64> {
    let path = dir.join(group).join(bench).join("new/estimates.json");
    let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
    if modified < since {
        return None;
    }

    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    json.get("median")?.get("point_estimate")?.as_f64()
}

/// The Markdown table of every comparison whose two estimates `time_ns` can give.
pub fn table(
    comparisons: &[Comparison],
    time_ns: impl Fn(&str, &str) -> Option<f64>,
) -> Option<String> {
    let mut out = String::from(
        "| name | rampart cmd/s | peer cmd/s | ratio | rampart MiB/s | peer MiB/s |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    let mut rows = 0;
    for comparison in comparisons {
        let (Some(ours), Some(theirs)) = (
            time_ns(&comparison.group, RAMPART),
            time_ns(&comparison.group, &comparison.peer),
        ) else {
            continue;
        };

        let per_second = |count: u64, ns: f64| count as f64 * 1e9 / ns;
        let mib = |ns: f64| per_second(comparison.bytes, ns) / f64::from(1 << 20);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.2}× | {:.1} | {:.1} |",
            comparison.name,
            grouped(per_second(comparison.elements, ours)),
            grouped(per_second(comparison.elements, theirs)),
            theirs / ours,
            mib(ours),
            mib(theirs),
        );
        rows += 1;
    }
    (rows > 0).then_some(out)
}

/// A count with thousands separators: `1,234,567`.
fn grouped(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comparison() -> Comparison {
        Comparison {
            name: "SMTP commands vs smtp-proto 0.2.5".into(),
            group: "smtp-commands".into(),
            peer: "smtp-proto-0.2.5".into(),
            elements: 20,
            bytes: 1 << 20,
        }
    }

    #[test]
    fn rows_give_rates_and_the_ratio() {
        let table = table(&[comparison()], |_, bench| {
            Some(if bench == RAMPART { 1e6 } else { 2e6 })
        })
        .unwrap();
        let row = table.lines().nth(2).unwrap();
        assert_eq!(
            row,
            "| SMTP commands vs smtp-proto 0.2.5 | 20,000 | 10,000 | 2.00× | 1000.0 | 500.0 |"
        );
    }

    #[test]
    fn comparisons_without_estimates_are_left_out() {
        assert_eq!(table(&[comparison()], |_, _| None), None);
    }

    #[test]
    fn estimates_are_read_from_criterion_files() {
        let dir = std::env::temp_dir().join(format!("benches-report-{}", std::process::id()));
        let new = dir.join("group/rampart/new");
        std::fs::create_dir_all(&new).unwrap();
        let json = r#"{"mean":{"point_estimate":130.0},"median":{"point_estimate":120.5}}"#;
        std::fs::write(new.join("estimates.json"), json).unwrap();

        let long_ago = SystemTime::UNIX_EPOCH;
        assert_eq!(median_ns(&dir, "group", "rampart", long_ago), Some(120.5));
        assert_eq!(median_ns(&dir, "group", "peer", long_ago), None);
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        assert_eq!(median_ns(&dir, "group", "rampart", later), None);

        std::fs::write(new.join("estimates.json"), "{}").unwrap();
        assert_eq!(median_ns(&dir, "group", "rampart", long_ago), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0.4), "0");
        assert_eq!(grouped(999.0), "999");
        assert_eq!(grouped(1000.0), "1,000");
        assert_eq!(grouped(4_215_337.2), "4,215,337");
    }
}
