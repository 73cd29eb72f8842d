//! BENCHMARKS.md's tables, rendered from the results files (`bench-results/<backend>.jsonl`):
//! the prose is written by hand between marked regions
//! (`<!-- generated:NAME -->` … `<!-- /generated:NAME -->`), the tables never are.
//!
//! Backends are columns (or rows) only because a results file names them: a
//! `mariadb.jsonl` next to the others adds its column without a change here.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

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

    fn matching(&self, backend: &str, scenario: &str, pattern: &str) -> Option<&Value> {
        let metric = self
            .order
            .get(&(backend.to_owned(), scenario.to_owned()))?
            .iter()
            .find(|m| match pattern.strip_prefix('*') {
                Some(suffix) => m.ends_with(suffix),
                None => *m == pattern,
            })?;
        self.headline(backend, scenario, metric)
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

fn table(head: &[String], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return "_No results yet._\n".to_owned();
    }
    let mut out = format!("| {} |\n|{}\n", head.join(" | "), "---|".repeat(head.len()));
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out
}

fn summary(r: &Results) -> String {
    let mut head = vec!["figure".to_owned(), "target".to_owned()];
    head.extend(r.backends.iter().map(|b| display(b)));
    let mut rows = Vec::new();
    for (scenario, pattern, label) in SUMMARY {
        let figures: Vec<Option<&Value>> = r
            .backends
            .iter()
            .map(|b| r.matching(b, scenario, pattern))
            .collect();
        if figures.iter().all(Option::is_none) {
            continue;
        }
        let targets: BTreeSet<&str> = figures
            .iter()
            .flatten()
            .filter_map(|f| f["target"].as_str())
            .collect();
        // One target, or each backend's when they differ.
        let target = if targets.len() > 1 {
            r.backends
                .iter()
                .zip(&figures)
                .filter_map(|(b, f)| {
                    Some(format!(
                        "{}: {}",
                        display(b),
                        f.as_ref()?["target"].as_str()?
                    ))
                })
                .collect::<Vec<_>>()
                .join("; ")
        } else {
            targets.into_iter().collect::<Vec<_>>().join("")
        };
        let mut row = vec![label.to_owned(), target];
        let most = |b: &str| {
            r.latest
                .keys()
                .filter(|k| k.0 == b)
                .map(|k| k.3)
                .max()
                .unwrap_or(0)
        };
        for (b, f) in r.backends.iter().zip(&figures) {
            row.push(match f {
                None => "not measured".to_owned(),
                Some(f) => {
                    // A condition (a bound on a time) shows the time, a ratio target the ratio.
                    let condition = f["target"]
                        .as_str()
                        .is_some_and(|t| !t.starts_with("ratio"));
                    let value = if f["ratio"].is_null() || condition {
                        duration(num(&f["median_us"]).unwrap_or(0.0))
                    } else {
                        ratio(&json_without(f, "ratios"))
                    };
                    let mut cell = format!("{value} — {}", verdict(f));
                    let rows = f["rows"].as_u64().unwrap_or(0);
                    if rows < most(b) {
                        let _ = write!(cell, " (at {} rows)", count(rows));
                    }
                    if f["same_result"] == Value::Bool(false) {
                        cell.push_str(", results DIFFER");
                    }
                    cell
                }
            });
        }
        rows.push(row);
    }
    table(&head, &rows)
}

fn json_without(v: &Value, key: &str) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove(key);
    }
    v
}

fn figures(r: &Results, scenario: &str) -> String {
    let head: Vec<String> = [
        "figure",
        "backend",
        "rows",
        "ours",
        "baseline",
        "ratio",
        "target",
        "",
        "same result",
    ]
    .map(str::to_owned)
    .to_vec();
    let mut rows = Vec::new();
    for metric in r.metrics(scenario) {
        for b in &r.backends {
            let Some(f) = r.headline(b, scenario, &metric) else {
                continue;
            };
            rows.push(vec![
                format!("`{metric}`"),
                display(b),
                count(f["rows"].as_u64().unwrap_or(0)),
                side(f, "median_us", "p95_us", "ours_us", "throughput_per_s"),
                side(
                    f,
                    "baseline_median_us",
                    "baseline_p95_us",
                    "baseline_us",
                    "baseline_throughput_per_s",
                ),
                ratio(f),
                f["target"].as_str().unwrap_or_default().to_owned(),
                if f["target"].is_null() {
                    String::new()
                } else {
                    verdict(f).to_owned()
                },
                same(f).to_owned(),
            ]);
        }
    }
    table(&head, &rows)
}

fn growth(r: &Results) -> String {
    let mut sizes = BTreeSet::new();
    for (scenario, metric, _) in GROWTH {
        for b in &r.backends {
            sizes.extend(r.sizes(b, scenario, metric));
        }
    }
    let mut head = vec!["figure".to_owned(), "backend".to_owned()];
    head.extend(sizes.iter().map(|n| format!("{} rows", count(*n))));
    let mut rows = Vec::new();
    for (scenario, metric, label) in GROWTH {
        for b in &r.backends {
            if r.sizes(b, scenario, metric).is_empty() {
                continue;
            }
            let mut row = vec![label.to_owned(), display(b)];
            for n in &sizes {
                let key = (b.clone(), scenario.to_owned(), metric.to_owned(), *n);
                row.push(match r.latest.get(&key) {
                    None => "—".to_owned(),
                    Some(f) => format!(
                        "{} / {} ({})",
                        duration(num(&f["median_us"]).unwrap_or(0.0)),
                        duration(num(&f["baseline_median_us"]).unwrap_or(0.0)),
                        num(&f["ratio"]).map_or_else(String::new, |x| format!("{x:.2}"))
                    ),
                });
            }
            rows.push(row);
        }
    }
    table(&head, &rows)
}

/// A size, the product's time and the baseline's there.
type Point = (f64, f64, f64);

/// The growth table as a small chart: time against rows, both on log scales, one solid line
/// per figure and backend for the product and a dashed one for its baseline.
pub fn growth_svg(r: &Results) -> String {
    const PALETTE: [&str; 6] = [
        "#1b6ca8", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#2c3e50",
    ];
    let mut series: Vec<(String, Vec<Point>)> = Vec::new();
    for (scenario, metric, label) in GROWTH {
        for b in &r.backends {
            let points: Vec<Point> = r
                .sizes(b, scenario, metric)
                .into_iter()
                .filter_map(|n| {
                    let f =
                        r.latest
                            .get(&(b.clone(), scenario.to_owned(), metric.to_owned(), n))?;
                    Some((
                        n as f64,
                        num(&f["median_us"])?,
                        num(&f["baseline_median_us"])?,
                    ))
                })
                .filter(|(n, o, b)| *n > 0.0 && *o > 0.0 && *b > 0.0)
                .collect();
            if !points.is_empty() {
                let name = label.replace('`', "");
                series.push((format!("{name}, {}", display(b)), points));
            }
        }
    }
    let all = || series.iter().flat_map(|(_, p)| p.iter());
    let (x0, x1) = all().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (y0, y1) = all().fold((f64::MAX, f64::MIN), |(a, b), p| {
        (a.min(p.1.min(p.2)), b.max(p.1.max(p.2)))
    });
    let scale = |v: f64, lo: f64, hi: f64, from: f64, to: f64| {
        let (l, h) = (lo.log10(), hi.log10());
        if h - l < 1e-9 {
            (from + to) / 2.0
        } else {
            from + (v.log10() - l) / (h - l) * (to - from)
        }
    };
    let x = |v: f64| scale(v, x0, x1, 70.0, 470.0);
    let y = |v: f64| scale(v, y0, y1, 300.0, 20.0);
    let mut svg = String::from(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"820\" height=\"340\" \
         font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"820\" height=\"340\" fill=\"white\"/>\n\
         <line x1=\"70\" y1=\"300\" x2=\"470\" y2=\"300\" stroke=\"black\"/>\n\
         <line x1=\"70\" y1=\"20\" x2=\"70\" y2=\"300\" stroke=\"black\"/>\n",
    );
    if series.is_empty() {
        svg.push_str("<text x=\"80\" y=\"160\">No results yet.</text>\n</svg>\n");
        return svg;
    }
    let sizes: BTreeSet<u64> = all().map(|p| p.0 as u64).collect();
    for n in sizes {
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"318\" text-anchor=\"middle\">{} rows</text>",
            x(n as f64),
            count(n)
        );
    }
    for (v, anchor) in [(y0, "end"), (y1, "end")] {
        let _ = writeln!(
            svg,
            "<text x=\"64\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
            y(v) + 4.0,
            duration(v)
        );
    }
    for (i, (name, points)) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        for (dash, pick) in [("", 1), (" stroke-dasharray=\"4 3\"", 2)] {
            let path: Vec<String> = points
                .iter()
                .map(|p| {
                    let v = if pick == 1 { p.1 } else { p.2 };
                    format!("{:.1},{:.1}", x(p.0), y(v))
                })
                .collect();
            let _ = writeln!(
                svg,
                "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash} points=\"{}\"/>",
                path.join(" ")
            );
        }
        let ly = 30.0 + 18.0 * i as f64;
        let _ = writeln!(
            svg,
            "<line x1=\"490\" y1=\"{ly:.1}\" x2=\"510\" y2=\"{ly:.1}\" stroke=\"{color}\" \
             stroke-width=\"2\"/><text x=\"516\" y=\"{:.1}\">{name}</text>",
            ly + 4.0
        );
    }
    let ly = 30.0 + 18.0 * series.len() as f64 + 6.0;
    let _ = writeln!(
        svg,
        "<text x=\"490\" y=\"{ly:.1}\">solid: the product; dashed: the baseline</text>\n</svg>"
    );
    svg
}

fn row_by_row(r: &Results) -> String {
    let head: Vec<String> = [
        "backend",
        "row by row / step 3, measured",
        "fit (row by row)",
        "row by row at full size",
        "step 3 at full size",
        "step 3 faster by",
    ]
    .map(str::to_owned)
    .to_vec();
    let mut rows = Vec::new();
    for b in &r.backends {
        let Some(f) = r.headline(b, "backfill", "step3_vs_row_by_row") else {
            continue;
        };
        let list = |k: &str| -> Vec<f64> {
            f[k].as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default()
        };
        let (sizes, rb, ours) = (list("sizes"), list("row_by_row_us"), list("step3_us"));
        let measured: Vec<String> = sizes
            .iter()
            .zip(rb.iter().zip(&ours))
            .map(|(n, (a, o))| {
                format!(
                    "{} rows: {} / {}",
                    count(*n as u64),
                    duration(*a),
                    duration(*o)
                )
            })
            .collect();
        let fit = if f["fit_through_origin"] == Value::Bool(true) {
            format!(
                "{:.1} µs × rows (through the origin: the least-squares slope was not positive)",
                num(&f["fit_per_row_us"]).unwrap_or(0.0)
            )
        } else {
            format!(
                "{} + {:.1} µs × rows (r² {:.4})",
                duration(num(&f["fit_intercept_us"]).unwrap_or(0.0)),
                num(&f["fit_per_row_us"]).unwrap_or(0.0),
                num(&f["fit_r2"]).unwrap_or(0.0)
            )
        };
        let full = count(f["full_rows"].as_u64().unwrap_or(0));
        rows.push(vec![
            display(b),
            measured.join("; "),
            fit,
            format!(
                "{} at {full} rows (extrapolated)",
                duration(num(&f["baseline_median_us"]).unwrap_or(0.0))
            ),
            format!(
                "{} (measured)",
                duration(num(&f["median_us"]).unwrap_or(0.0))
            ),
            format!("{:.1}× — {}", num(&f["speedup"]).unwrap_or(0.0), verdict(f)),
        ]);
    }
    table(&head, &rows)
}

fn load(v: &Value) -> String {
    v.as_array()
        .and_then(|a| a.first())
        .and_then(Value::as_f64)
        .map_or_else(|| "?".to_owned(), |x| format!("{x:.1}"))
}

fn provenance(r: &Results) -> String {
    let head: Vec<String> = [
        "backend",
        "scenario",
        "rows",
        "commit",
        "run started (UTC)",
        "build",
        "load (1 min) start → end",
        "took",
    ]
    .map(str::to_owned)
    .to_vec();
    let mut seen = BTreeSet::new();
    let mut rows = Vec::new();
    for b in &r.backends {
        for scenario in SCENARIOS {
            for ((rb, rs, _, n), f) in &r.latest {
                if rb != b || rs != scenario {
                    continue;
                }
                let run = &f["run"];
                let key = (b.clone(), scenario, *n, run["id"].to_string());
                if run.is_null() || !seen.insert(key) {
                    continue;
                }
                let dirty = if run["dirty"] == Value::Bool(true) {
                    " (modified)"
                } else {
                    ""
                };
                rows.push(vec![
                    display(b),
                    format!("`{scenario}`"),
                    count(*n),
                    format!("`{}`{dirty}", run["commit"].as_str().unwrap_or("?")),
                    run["started_at"].as_str().unwrap_or("?").replace('T', " "),
                    run["profile"].as_str().unwrap_or("?").to_owned(),
                    format!(
                        "{} → {}",
                        load(&run["scenario_load_start"]),
                        load(&run["scenario_load_end"])
                    ),
                    format!("{:.0} s", num(&run["scenario_seconds"]).unwrap_or(0.0)),
                ]);
            }
        }
    }
    table(&head, &rows)
}

fn machine(r: &Results) -> String {
    let head: Vec<String> = ["backend", "server", "machine", "settings"]
        .map(str::to_owned)
        .to_vec();
    let mut rows = Vec::new();
    for b in &r.backends {
        // The machine and settings of the newest run among the rendered figures.
        let Some(run) = r
            .latest
            .iter()
            .filter(|(k, _)| &k.0 == b)
            .map(|(_, f)| &f["run"])
            .filter(|run| !run.is_null())
            .max_by_key(|run| run["started_at"].as_str().unwrap_or_default().to_owned())
        else {
            continue;
        };
        let m = &run["machine"];
        let machine = format!(
            "{} cores ({}), {:.1} GiB RAM, Linux {}",
            m["cores"],
            m["cpu"].as_str().unwrap_or("?"),
            num(&m["mem_total_kib"]).unwrap_or(0.0) / 1024.0 / 1024.0,
            m["kernel"].as_str().unwrap_or("?")
        );
        let settings = run["settings"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| format!("{k} = {}", v.to_string().trim_matches('"')))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        rows.push(vec![
            display(b),
            run["server"].as_str().unwrap_or("?").to_owned(),
            machine,
            settings,
        ]);
    }
    table(&head, &rows)
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
