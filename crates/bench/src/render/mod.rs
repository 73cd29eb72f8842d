//! BENCHMARKS.md's tables, rendered from the results files (`bench-results/<backend>.jsonl`):
//! the prose is written by hand between marked regions
//! (`<!-- generated:NAME -->` … `<!-- /generated:NAME -->`), the tables never are.
//!
//! Backends are columns (or rows) only because a results file names them: a
//! `mariadb.jsonl` next to the others adds its column without a change here.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

mod chart;
mod sections;

pub use chart::growth_svg;
use sections::{figures, growth, machine, provenance, row_by_row, summary};

/// Known backends, in column order, with their display names; others follow by name.
const BACKENDS: [(&str, &str); 3] = [
    ("postgres", "PostgreSQL"),
    ("mariadb", "MariaDB"),
    ("sqlite", "SQLite"),
];

/// The scenarios with a figures table, in the order of the document.
pub const SCENARIOS: [&str; 8] = [
    "start",
    "progress",
    "backfill",
    "history",
    "monitoring",
    "http_list",
    "purge",
    "cutover_live",
];

/// The summary's rows: scenario, how the metric is recognised, label.
const SUMMARY: [(&str, &str, &str); 15] = [
    (
        "start",
        "distinct_identities",
        "`start`, distinct identities, one task",
    ),
    (
        "start",
        "contended_identity_16_tasks",
        "`start`, one identity from 16 tasks",
    ),
    (
        "progress",
        "increment_one_task",
        "`progress`, one task, distinct runs",
    ),
    (
        "progress",
        "increment_16_tasks",
        "`progress`, 16 tasks on one run",
    ),
    (
        "backfill",
        "step3_vs_hand_written",
        "`backfill`, step 3 vs hand-written `UPDATE … FROM`",
    ),
    (
        "backfill",
        "step3_vs_row_by_row",
        "`backfill`, step 3 vs row by row",
    ),
    (
        "history",
        "large_vs_small_table",
        "`history`, large vs small table",
    ),
    (
        "monitoring",
        "*_vs_page_1",
        "`monitoring`, far page vs page 1",
    ),
    (
        "http_list",
        "json_page_1",
        "`http_list`, JSON list vs the use cases it calls",
    ),
    (
        "http_list",
        "html_page_1",
        "`http_list`, HTML list vs the use cases it calls",
    ),
    (
        "http_list",
        "*_vs_page_1",
        "`http_list`, JSON far page vs page 1",
    ),
    (
        "purge",
        "batched_vs_single_delete",
        "`purge`, batched vs one `DELETE`",
    ),
    ("purge", "longest_statement", "`purge`, longest statement"),
    (
        "cutover_live",
        "cutover_vs_single_transaction",
        "`cutover_live`, live vs one transaction",
    ),
    (
        "cutover_live",
        "longest_writer_block",
        "`cutover_live`, longest writer operation",
    ),
];

/// The growth table's rows: scenario, metric, label.
const GROWTH: [(&str, &str, &str); 3] = [
    (
        "start",
        "distinct_identities",
        "`start`, distinct identities",
    ),
    ("history", "page_large_table", "`history`, a page of 50"),
    (
        "purge",
        "batched_vs_single_delete",
        "`purge`, batched vs one `DELETE`",
    ),
];

/// The latest figure of each (backend, scenario, metric, rows), from every results file.
#[derive(Debug, Default)]
pub struct Results {
    /// Backends in column order.
    backends: Vec<String>,
    /// Keyed by (backend, scenario, metric, rows); in each backend's file order of first
    /// appearance through `order`.
    latest: BTreeMap<(String, String, String, u64), Value>,
    order: BTreeMap<(String, String), Vec<String>>,
}

fn backend_rank(name: &str) -> (usize, String) {
    let rank = BACKENDS
        .iter()
        .position(|(b, _)| *b == name)
        .unwrap_or(BACKENDS.len());
    (rank, name.to_owned())
}

fn display(name: &str) -> String {
    BACKENDS
        .iter()
        .find(|(b, _)| *b == name)
        .map_or_else(|| name.to_owned(), |(_, d)| (*d).to_owned())
}

impl Results {
    /// Reads every `*.jsonl` file of `dir` (none when the directory does not exist).
    pub fn load(dir: &Path) -> Result<Self> {
        let mut results = Self::default();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(results);
        };
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            for (n, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let record: Value = serde_json::from_str(line)
                    .with_context(|| format!("{}:{}", path.display(), n + 1))?;
                results.add(record);
            }
        }
        Ok(results)
    }

    fn add(&mut self, record: Value) {
        let text = |k: &str| record[k].as_str().unwrap_or_default().to_owned();
        let (backend, scenario, metric) = (text("backend"), text("scenario"), text("metric"));
        let rows = record["rows"].as_u64().unwrap_or(0);
        if !self.backends.contains(&backend) {
            self.backends.push(backend.clone());
            self.backends.sort_by_key(|b| backend_rank(b));
        }
        let order = self
            .order
            .entry((backend.clone(), scenario.clone()))
            .or_default();
        if !order.contains(&metric) {
            order.push(metric.clone());
        }
        self.latest
            .insert((backend, scenario, metric, rows), record);
    }

    /// The sizes `backend` measured a metric at, ascending.
    fn sizes(&self, backend: &str, scenario: &str, metric: &str) -> Vec<u64> {
        self.latest
            .keys()
            .filter(|(b, s, m, _)| b == backend && s == scenario && m == metric)
            .map(|k| k.3)
            .collect()
    }

    /// The figure at the largest size measured.
    fn headline(&self, backend: &str, scenario: &str, metric: &str) -> Option<&Value> {
        let rows = *self.sizes(backend, scenario, metric).last()?;
        self.latest.get(&(
            backend.to_owned(),
            scenario.to_owned(),
            metric.to_owned(),
            rows,
        ))
    }

    /// The metrics of a scenario, in the order the runs emitted them (first backend first).
    fn metrics(&self, scenario: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for b in &self.backends {
            for m in self
                .order
                .get(&(b.clone(), scenario.to_owned()))
                .into_iter()
                .flatten()
            {
                if !out.contains(m) {
                    out.push(m.clone());
                }
            }
        }
        out
    }

    /// The headline figure of the metric matching `pattern` (`*suffix` or a name); when several
    /// match (`page_1800_vs_page_1` at one size, `page_2000_vs_page_1` at another), the one
    /// measured at the most rows.
    fn matching(&self, backend: &str, scenario: &str, pattern: &str) -> Option<&Value> {
        self.order
            .get(&(backend.to_owned(), scenario.to_owned()))?
            .iter()
            .filter(|m| match pattern.strip_prefix('*') {
                Some(suffix) => m.ends_with(suffix),
                None => *m == pattern,
            })
            .filter_map(|m| self.headline(backend, scenario, m))
            .max_by_key(|f| f["rows"].as_u64().unwrap_or(0))
    }
}

/// Microseconds as a readable duration.
pub fn duration(us: f64) -> String {
    if us < 0.0 {
        return format!("−{}", duration(-us));
    }
    let ms = us / 1e3;
    if us >= 1e7 {
        format!("{:.1} s", us / 1e6)
    } else if us >= 1e6 {
        format!("{:.2} s", us / 1e6)
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else if ms >= 1.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.3} ms")
    }
}

fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// A side's cell: median, then p95, the spread of repetitions, the throughput.
fn side(r: &Value, median: &str, p95: &str, all: &str, throughput: &str) -> String {
    let Some(m) = num(&r[median]) else {
        return String::new();
    };
    let mut cell = duration(m);
    if let Some(p) = num(&r[p95]) {
        let _ = write!(cell, " (p95 {})", duration(p));
    }
    if let Some(list) = r[all].as_array() {
        let v: Vec<f64> = list.iter().filter_map(Value::as_f64).collect();
        let (lo, hi) = (
            v.iter().copied().fold(f64::INFINITY, f64::min),
            v.iter().copied().fold(0.0, f64::max),
        );
        if !v.is_empty() {
            let _ = write!(cell, " ({}–{}, n={})", duration(lo), duration(hi), v.len());
        }
    }
    if let Some(t) = num(&r[throughput]) {
        let _ = write!(cell, ", {}/s", count(t.round() as u64));
    }
    cell
}

fn ratio(r: &Value) -> String {
    let Some(x) = num(&r["ratio"]) else {
        return String::new();
    };
    let mut cell = format!("{x:.3}");
    if let Some(list) = r["ratios"].as_array() {
        let v: Vec<String> = list
            .iter()
            .filter_map(Value::as_f64)
            .map(|x| format!("{x:.2}"))
            .collect();
        let _ = write!(cell, " (each: {})", v.join(", "));
    }
    if let Some(s) = num(&r["speedup"]) {
        let _ = write!(cell, " ({s:.1}× faster)");
    }
    cell
}

fn verdict(r: &Value) -> &'static str {
    match r["met"].as_bool() {
        Some(true) => "met",
        Some(false) => "missed",
        None => "reported",
    }
}

fn same(r: &Value) -> &'static str {
    match r["same_result"].as_bool() {
        Some(true) => "yes",
        Some(false) => "**NO**",
        None => "",
    }
}

fn table(head: &[impl Borrow<str>], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return "_No results yet._\n".to_owned();
    }
    let mut out = format!("| {} |\n|{}\n", head.join(" | "), "---|".repeat(head.len()));
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out
}

/// Every table, by region name.
pub fn tables(r: &Results) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    out.insert("summary".to_owned(), summary(r));
    out.insert("machine".to_owned(), machine(r));
    out.insert("provenance".to_owned(), provenance(r));
    out.insert("growth".to_owned(), growth(r));
    out.insert("row-by-row".to_owned(), row_by_row(r));
    for scenario in SCENARIOS {
        out.insert(format!("figures-{scenario}"), figures(r, scenario));
    }
    out
}

/// `markdown` with every marked region's content replaced by its table.
///
/// # Errors
/// A region without its end marker, or naming no table.
pub fn fill(markdown: &str, tables: &BTreeMap<String, String>) -> Result<String> {
    const OPEN: &str = "<!-- generated:";
    let mut out = String::with_capacity(markdown.len());
    let mut rest = markdown;
    while let Some(at) = rest.find(OPEN) {
        let after = &rest[at + OPEN.len()..];
        let Some(end_name) = after.find(" -->") else {
            bail!("an unterminated region marker");
        };
        let name = &after[..end_name];
        let Some(table) = tables.get(name) else {
            bail!("BENCHMARKS.md names a table `{name}` that the report does not render");
        };
        let close = format!("<!-- /generated:{name} -->");
        let body_start = at + OPEN.len() + end_name + " -->".len();
        let Some(body_len) = rest[body_start..].find(&close) else {
            bail!("region `{name}` has no `{close}`");
        };
        out.push_str(&rest[..body_start]);
        out.push('\n');
        out.push_str(table);
        out.push_str(&close);
        rest = &rest[body_start + body_len + close.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Renders `markdown`'s regions from the results in `dir`, and the growth chart.
///
/// # Errors
/// Unreadable results, or a malformed region.
pub fn render(dir: &Path, markdown: &str) -> Result<(String, String)> {
    let results = Results::load(dir)?;
    Ok((fill(markdown, &tables(&results))?, growth_svg(&results)))
}

/// The growth chart's file, next to the results.
pub fn chart_path(dir: &Path) -> std::path::PathBuf {
    dir.join("growth.svg")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn figure(backend: &str, scenario: &str, metric: &str, rows: u64, ratio: f64) -> Value {
        json!({
            "scenario": scenario, "backend": backend, "rows": rows, "metric": metric,
            "median_us": 1500.0 * ratio, "p95_us": 2000.0, "baseline_median_us": 1500.0,
            "ratio": ratio, "target": "ratio <= 1.5", "met": ratio <= 1.5,
            "same_result": true,
            "run": {"id": "r1", "commit": "abc", "started_at": "2026-01-01T00:00:00Z",
                    "profile": "release", "server": "x", "scenario_load_start": [1.0, 1.0, 1.0],
                    "scenario_load_end": [2.0, 1.0, 1.0], "scenario_seconds": 3.0,
                    "machine": {"cores": 2}, "settings": {"pool_max_connections": 10}}
        })
    }

    #[test]
    fn a_backend_with_a_results_file_gets_its_column_in_the_known_order() {
        let mut r = Results::default();
        r.add(figure("sqlite", "start", "distinct_identities", 1000, 1.2));
        r.add(figure(
            "postgres",
            "start",
            "distinct_identities",
            1000,
            1.1,
        ));
        let without = summary(&r);
        assert!(
            without.starts_with("| figure | target | PostgreSQL | SQLite |"),
            "{without}"
        );
        r.add(figure("mariadb", "start", "distinct_identities", 1000, 1.3));
        let with = summary(&r);
        assert!(
            with.starts_with("| figure | target | PostgreSQL | MariaDB | SQLite |"),
            "{with}"
        );
        assert!(
            with.contains("| 1.100 — met | 1.300 — met | 1.200 — met |"),
            "{with}"
        );
    }

    #[test]
    fn the_latest_figure_wins_and_smaller_sizes_feed_the_growth_table() {
        let mut r = Results::default();
        r.add(figure(
            "postgres",
            "start",
            "distinct_identities",
            10_000,
            2.0,
        ));
        r.add(figure(
            "postgres",
            "start",
            "distinct_identities",
            1_000_000,
            1.6,
        ));
        r.add(figure(
            "postgres",
            "start",
            "distinct_identities",
            1_000_000,
            1.4,
        ));
        let s = summary(&r);
        assert!(s.contains("1.400 — met"), "{s}");
        assert!(!s.contains("1.600"), "{s}");
        let g = growth(&r);
        assert!(g.contains("10,000 rows | 1,000,000 rows"), "{g}");
        assert!(g.contains("(2.00)") && g.contains("(1.40)"), "{g}");
    }

    #[test]
    fn each_machine_a_backend_was_measured_on_gets_its_row() {
        let mut r = Results::default();
        r.add(figure("mariadb", "start", "distinct_identities", 1000, 1.1));
        let mut later = figure("mariadb", "purge", "batched_vs_single_delete", 1000, 1.2);
        later["run"]["started_at"] = json!("2026-02-01T00:00:00Z");
        later["run"]["machine"]["cpu"] = json!("Other CPU");
        r.add(later);
        r.add(figure(
            "mariadb",
            "history",
            "large_vs_small_table",
            1000,
            1.3,
        ));
        let m = machine(&r);
        let rows: Vec<&str> = m.lines().filter(|l| l.starts_with("| MariaDB")).collect();
        assert_eq!(rows.len(), 2, "{m}");
        assert!(rows[0].ends_with("| `start`, `history` |"), "{m}");
        assert!(
            rows[1].contains("(Other CPU)") && rows[1].ends_with("| `purge` |"),
            "{m}"
        );
    }

    #[test]
    fn a_far_page_figure_at_more_rows_heads_the_summary() {
        let mut r = Results::default();
        for (metric, rows, ratio) in [
            ("json_page_1800_vs_page_1", 100_000, 1.4),
            ("json_page_2000_vs_page_1", 1_000_000, 1.2),
        ] {
            r.add(figure("sqlite", "http_list", metric, rows, ratio));
        }
        let s = summary(&r);
        assert!(s.contains("| 1.200 — met |"), "{s}");
        assert!(!s.contains("1.400"), "{s}");
    }

    #[test]
    fn a_mismatch_is_shown_not_hidden() {
        let mut r = Results::default();
        let mut f = figure("postgres", "purge", "batched_vs_single_delete", 100, 1.0);
        f["same_result"] = json!(false);
        r.add(f);
        assert!(figures(&r, "purge").contains("**NO**"));
        assert!(summary(&r).contains("results DIFFER"));
    }

    #[test]
    fn regions_are_replaced_and_prose_is_kept() {
        let mut t = BTreeMap::new();
        t.insert("a".to_owned(), "| x |\n".to_owned());
        let md = "prose\n<!-- generated:a -->\nold\n<!-- /generated:a -->\nmore prose\n";
        let filled = fill(md, &t).unwrap();
        assert_eq!(
            filled,
            "prose\n<!-- generated:a -->\n| x |\n<!-- /generated:a -->\nmore prose\n"
        );
        assert_eq!(fill(&filled, &t).unwrap(), filled);
        assert!(fill("<!-- generated:b -->\n<!-- /generated:b -->", &t).is_err());
        assert!(fill("<!-- generated:a -->\nno end", &t).is_err());
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(439.0), "0.439 ms");
        assert_eq!(duration(12_345.0), "12.3 ms");
        assert_eq!(duration(188_000.0), "188 ms");
        assert_eq!(duration(1_234_000.0), "1.23 s");
        assert_eq!(duration(110_800_000.0), "110.8 s");
        assert_eq!(duration(-14_191_903.0), "−14.2 s");
        assert_eq!(count(1_000_000), "1,000,000");
    }

    /// BENCHMARKS.md's tables are exactly what the committed results render: a typed figure,
    /// or results committed without re-rendering, fails here.
    #[test]
    fn benchmarks_md_is_rendered_from_the_committed_results() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let md = std::fs::read_to_string(root.join("BENCHMARKS.md")).unwrap();
        let dir = root.join("bench-results");
        let (rendered, chart) = render(&dir, &md).unwrap();
        assert!(
            rendered == md,
            "BENCHMARKS.md's tables differ from what bench-results/ renders; run \
             `cargo run -p operation-runs-bench -- report` and commit the result"
        );
        let committed = std::fs::read_to_string(chart_path(&dir)).unwrap_or_default();
        assert!(
            committed == chart,
            "bench-results/growth.svg differs from what bench-results/ renders; run the report"
        );
    }
}
