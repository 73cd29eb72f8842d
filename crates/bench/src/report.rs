//! Timing samples and the JSON figures printed on stdout.

use crate::env::Backend;
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};

/// Latencies of one side of a comparison, in microseconds.
#[derive(Debug, Default, Clone)]
pub struct Samples(Vec<f64>);

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d.as_secs_f64() * 1e6);
    }

    pub fn from_durations(durations: &[Duration]) -> Self {
        let mut s = Self::default();
        for d in durations {
            s.push(*d);
        }
        s
    }

    pub fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Nearest-rank percentile (`p` in 0..=100); 0 for no samples.
    pub fn percentile(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    pub fn median(&self) -> f64 {
        self.percentile(50.0)
    }

    pub fn p95(&self) -> f64 {
        self.percentile(95.0)
    }

    pub fn max(&self) -> f64 {
        self.0.iter().copied().fold(0.0, f64::max)
    }
}

/// Times one future.
pub async fn timed<T, F: Future<Output = T>>(f: F) -> (T, Duration) {
    let start = Instant::now();
    let out = f.await;
    (out, start.elapsed())
}

/// A figure's target: a bound on `ratio` (met when the ratio is at most `max_ratio`), or only a
/// condition checked by the scenario ([`Figure::require`]).
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub max_ratio: Option<f64>,
    pub text: &'static str,
}

impl Target {
    pub const fn at_most(max_ratio: f64, text: &'static str) -> Self {
        Self {
            max_ratio: Some(max_ratio),
            text,
        }
    }

    pub const fn condition(text: &'static str) -> Self {
        Self {
            max_ratio: None,
            text,
        }
    }
}

/// One line of output.
#[derive(Debug, Clone)]
pub struct Figure {
    pub scenario: &'static str,
    pub backend: Backend,
    pub rows: u64,
    pub metric: String,
    pub median_us: f64,
    pub p95_us: Option<f64>,
    pub baseline_median_us: Option<f64>,
    pub target: Option<Target>,
    /// Extra conditions of the target besides the ratio (no lost update, an index is used…);
    /// `false` fails the target whatever the ratio.
    pub also_required: Option<bool>,
    /// Whether both sides produced the same result (`None` when the figure compares no results,
    /// e.g. two sizes of the product's own side). `false` fails the bench run.
    pub same_result: Option<bool>,
    pub notes: String,
    pub extra: Map<String, Value>,
}

impl Figure {
    pub fn new(scenario: &'static str, backend: Backend, rows: u64, metric: &str) -> Self {
        Self {
            scenario,
            backend,
            rows,
            metric: metric.to_owned(),
            median_us: 0.0,
            p95_us: None,
            baseline_median_us: None,
            target: None,
            also_required: None,
            same_result: None,
            notes: String::new(),
            extra: Map::new(),
        }
    }

    /// Ours against a baseline, both from samples.
    pub fn compare(mut self, ours: &Samples, baseline: &Samples) -> Self {
        self.median_us = ours.median();
        self.p95_us = Some(ours.p95());
        self.baseline_median_us = Some(baseline.median());
        self.extra
            .insert("baseline_p95_us".into(), json!(round(baseline.p95())));
        self.extra
            .insert("samples".into(), json!(ours.len().min(baseline.len())));
        self
    }

    /// Ours against a baseline, one measurement each (a job that runs once).
    pub fn once(mut self, ours: Duration, baseline: Option<Duration>) -> Self {
        self.median_us = ours.as_secs_f64() * 1e6;
        self.baseline_median_us = baseline.map(|b| b.as_secs_f64() * 1e6);
        self
    }

    /// Ours against a baseline, each side run `ours.len()` times on identical copies: the
    /// medians, every sample, and the ratio of each repetition (`ours[i] / baseline[i]`).
    pub fn repeated(mut self, ours: &[Duration], baseline: &[Duration]) -> Self {
        let (o, b) = (
            Samples::from_durations(ours),
            Samples::from_durations(baseline),
        );
        self.median_us = o.median();
        self.baseline_median_us = Some(b.median());
        let us = |d: &[Duration]| {
            d.iter()
                .map(|x| round(x.as_secs_f64() * 1e6))
                .collect::<Vec<_>>()
        };
        let ratios: Vec<f64> = ours
            .iter()
            .zip(baseline)
            .map(|(a, b)| {
                (a.as_secs_f64() / b.as_secs_f64().max(f64::MIN_POSITIVE) * 1000.0).round() / 1000.0
            })
            .collect();
        self.extra
            .insert("samples".into(), json!(ours.len().min(baseline.len())));
        self.extra.insert("ours_us".into(), json!(us(ours)));
        self.extra.insert("baseline_us".into(), json!(us(baseline)));
        self.extra.insert("ratios".into(), json!(ratios));
        self
    }

    /// Records whether both sides produced the same result.
    pub fn same(mut self, same: bool) -> Self {
        self.same_result = Some(self.same_result.unwrap_or(true) && same);
        self
    }

    pub fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    pub fn require(mut self, condition: bool) -> Self {
        self.also_required = Some(self.also_required.unwrap_or(true) && condition);
        self
    }

    pub fn note(mut self, note: impl AsRef<str>) -> Self {
        if !self.notes.is_empty() {
            self.notes.push_str("; ");
        }
        self.notes.push_str(note.as_ref());
        self
    }

    pub fn extra(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }

    pub fn ratio(&self) -> Option<f64> {
        self.baseline_median_us
            .filter(|b| *b > 0.0)
            .map(|b| self.median_us / b)
    }

    pub fn met(&self) -> Option<bool> {
        let ratio_ok = match (self.target.and_then(|t| t.max_ratio), self.ratio()) {
            (Some(max), Some(r)) => Some(r <= max),
            (Some(_), None) => Some(false),
            (None, _) => self.target.map(|_| true),
        };
        match (ratio_ok, self.also_required) {
            (Some(a), Some(b)) => Some(a && b),
            (Some(a), None) => Some(a),
            (None, b) => b,
        }
    }

    /// The figure as one JSON object, keys in a fixed, readable order.
    pub fn to_json(&self) -> String {
        let mut fields: Vec<(String, Value)> = vec![
            ("scenario".into(), json!(self.scenario)),
            ("backend".into(), json!(self.backend.as_str())),
            ("rows".into(), json!(self.rows)),
            ("metric".into(), json!(self.metric)),
            ("median_us".into(), json!(round(self.median_us))),
            ("p95_us".into(), json!(self.p95_us.map(round))),
            (
                "baseline_median_us".into(),
                json!(self.baseline_median_us.map(round)),
            ),
            (
                "ratio".into(),
                json!(self.ratio().map(|r| (r * 1000.0).round() / 1000.0)),
            ),
            ("target".into(), json!(self.target.map(|t| t.text))),
            ("met".into(), json!(self.met())),
            ("same_result".into(), json!(self.same_result)),
            ("notes".into(), json!(self.notes)),
        ];
        fields.extend(self.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}:{v}", Value::String(k.clone())))
            .collect::<Vec<_>>()
            .join(",");
        format!("{{{body}}}")
    }
}

fn round(us: f64) -> f64 {
    (us * 10.0).round() / 10.0
}

/// Progress for the operator, on stderr.
#[macro_export]
macro_rules! progress {
    ($($arg:tt)*) => {
        eprintln!("[bench] {}", format_args!($($arg)*))
    };
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn samples(values: &[u64]) -> Samples {
        let mut s = Samples::default();
        for v in values {
            s.push(Duration::from_micros(*v));
        }
        s
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let s = samples(&[5, 1, 4, 2, 3]);
        assert_eq!(s.median(), 3.0);
        assert_eq!(s.p95(), 5.0);
        assert_eq!(s.max(), 5.0);
        assert_eq!(Samples::default().median(), 0.0);
    }

    #[test]
    fn a_target_is_met_only_with_its_extra_conditions() {
        let f = Figure::new("x", Backend::Sqlite, 1, "m")
            .compare(&samples(&[12]), &samples(&[10]))
            .target(Target::at_most(1.5, "ratio <= 1.5"));
        assert_eq!(f.met(), Some(true));
        assert_eq!(f.clone().require(false).met(), Some(false));
        let slow = Figure::new("x", Backend::Sqlite, 1, "m")
            .compare(&samples(&[16]), &samples(&[10]))
            .target(Target::at_most(1.5, "ratio <= 1.5"));
        assert_eq!(slow.met(), Some(false));
        let untargeted = Figure::new("x", Backend::Sqlite, 1, "m");
        assert_eq!(untargeted.met(), None);
        let parsed: Value = serde_json::from_str(&untargeted.to_json()).unwrap();
        assert_eq!(parsed["ratio"], Value::Null);
        assert_eq!(parsed["scenario"], "x");
        assert!(
            untargeted
                .to_json()
                .starts_with(r#"{"scenario":"x","backend":"sqlite""#)
        );
    }
}
