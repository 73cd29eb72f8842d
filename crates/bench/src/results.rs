//! The results files: every figure of a run, appended as one JSON line with the provenance a
//! reader needs to judge it (commit, server, machine, load, settings), so that BENCHMARKS.md's
//! tables are rendered from measurements rather than typed (see `render`).

use crate::report::Figure;
use anyhow::{Context, Result};
use serde_json::{Value, json};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What every figure of one bench process shares.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// `<UTC start time>-<pid>`: tells two runs of the same commit apart.
    pub id: String,
    pub started_at: String,
    pub commit: String,
    /// Whether the code differed from the commit (results files and BENCHMARKS.md excepted).
    pub dirty: Option<bool>,
    pub profile: &'static str,
    pub server: String,
    pub machine: Value,
    pub settings: Value,
}

impl RunInfo {
    pub fn collect(server: String, settings: Value) -> Self {
        let started_at = chrono::Utc::now();
        Self {
            id: format!(
                "{}-{}",
                started_at.format("%Y%m%dT%H%M%SZ"),
                std::process::id()
            ),
            started_at: started_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            commit: git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into()),
            dirty: git(&[
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":!bench-results",
                ":!BENCHMARKS.md",
            ])
            .map(|out| !out.is_empty()),
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            server,
            machine: machine(),
            settings,
        }
    }
}

/// One scenario's execution: its own load average before and after (the machine is shared).
#[derive(Debug, Clone)]
pub struct ScenarioRun {
    pub load_start: Option<[f64; 3]>,
    pub load_end: Option<[f64; 3]>,
    pub seconds: f64,
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `/proc/loadavg`'s three load averages (1, 5 and 15 minutes).
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
    });
    let mem_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    });
    json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "cpu": cpu,
        "mem_total_kib": mem_kib,
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_owned()),
    })
}

/// The results file of `backend` in `dir`.
pub fn file_of(dir: &Path, backend: &str) -> PathBuf {
    dir.join(format!("{backend}.jsonl"))
}

/// One results line: the figure's own JSON with the run's provenance under `"run"`.
pub fn line(figure: &Figure, info: &RunInfo, scenario: &ScenarioRun, rows: u64) -> String {
    let run = json!({
        "id": info.id,
        "started_at": info.started_at,
        "commit": info.commit,
        "dirty": info.dirty,
        "profile": info.profile,
        "server": info.server,
        "rows": rows,
        "machine": info.machine,
        "settings": info.settings,
        "scenario_load_start": scenario.load_start,
        "scenario_load_end": scenario.load_end,
        "scenario_seconds": (scenario.seconds * 10.0).round() / 10.0,
    });
    let figure = figure.to_json();
    let body = figure.strip_suffix('}').unwrap_or(&figure);
    format!("{body},\"run\":{run}}}")
}

/// Appends one scenario's figures to `backend`'s results file in `dir`.
pub fn append(
    dir: &Path,
    backend: &str,
    info: &RunInfo,
    scenario: &ScenarioRun,
    rows: u64,
    figures: &[Figure],
) -> Result<()> {
    if figures.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = file_of(dir, backend);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let mut text = String::new();
    for figure in figures {
        text.push_str(&line(figure, info, scenario, rows));
        text.push('\n');
    }
    file.write_all(text.as_bytes())
        .with_context(|| format!("appending to {}", path.display()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::env::Backend;

    #[test]
    fn a_line_is_the_figure_with_its_provenance() {
        let info = RunInfo {
            id: "x-1".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            commit: "abc".into(),
            dirty: Some(false),
            profile: "release",
            server: "15.2".into(),
            machine: json!({"cores": 2}),
            settings: json!({"pool_max_connections": 10}),
        };
        let scenario = ScenarioRun {
            load_start: Some([1.0, 2.0, 3.0]),
            load_end: None,
            seconds: 1.25,
        };
        let figure = Figure::new("start", Backend::Postgres, 10, "m").same(false);
        let parsed: Value = serde_json::from_str(&line(&figure, &info, &scenario, 10)).unwrap();
        assert_eq!(parsed["metric"], "m");
        assert_eq!(parsed["same_result"], false);
        assert_eq!(parsed["run"]["commit"], "abc");
        assert_eq!(parsed["run"]["scenario_load_start"][1], 2.0);
        assert_eq!(parsed["run"]["settings"]["pool_max_connections"], 10);
    }
}
