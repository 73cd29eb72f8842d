//! The sections of BENCHMARKS.md built from the results: the summary, each scenario's figures,
//! growth, row by row, and the conditions of the runs.

use super::*;

pub(super) fn summary(r: &Results) -> String {
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

pub(super) fn figures(r: &Results, scenario: &str) -> String {
    let head = [
        "figure",
        "backend",
        "rows",
        "ours",
        "baseline",
        "ratio",
        "target",
        "",
        "same result",
    ];
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

pub(super) fn growth(r: &Results) -> String {
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
pub(super) fn row_by_row(r: &Results) -> String {
    let head = [
        "backend",
        "row by row / step 3, measured",
        "fit (row by row)",
        "row by row at full size",
        "step 3 at full size",
        "step 3 faster by",
    ];
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

pub(super) fn provenance(r: &Results) -> String {
    let head = [
        "backend",
        "scenario",
        "rows",
        "commit",
        "run started (UTC)",
        "build",
        "load (1 min) start → end",
        "took",
    ];
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

pub(super) fn machine(r: &Results) -> String {
    let head = ["backend", "server", "machine", "settings", "measured there"];
    let mut rows = Vec::new();
    for b in &r.backends {
        // One row per server, machine and settings the rendered figures were measured with
        // (they may come from several sessions), oldest first, with the scenarios of each.
        let mut places: Vec<(String, [String; 3], Vec<&str>)> = Vec::new();
        for scenario in SCENARIOS {
            for ((backend, s, _, _), figure) in &r.latest {
                let run = &figure["run"];
                if backend != b || s != scenario || run.is_null() {
                    continue;
                }
                let started = run["started_at"].as_str().unwrap_or_default().to_owned();
                let place = environment(run);
                match places.iter_mut().find(|(_, p, _)| *p == place) {
                    Some((first, _, scenarios)) => {
                        if !scenarios.contains(&scenario) {
                            scenarios.push(scenario);
                        }
                        *first = Ord::min(first.clone(), started);
                    }
                    None => places.push((started, place, vec![scenario])),
                }
            }
        }
        places.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, [server, machine, settings], scenarios) in places {
            let scenarios: Vec<String> = scenarios.iter().map(|s| format!("`{s}`")).collect();
            rows.push(vec![
                display(b),
                server,
                machine,
                settings,
                scenarios.join(", "),
            ]);
        }
    }
    table(&head, &rows)
}

/// A run's server, machine and settings, as the machine table shows them.
fn environment(run: &Value) -> [String; 3] {
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
    [
        run["server"].as_str().unwrap_or("?").to_owned(),
        machine,
        settings,
    ]
}
