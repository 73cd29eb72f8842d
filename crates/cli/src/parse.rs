//! Value parsers of the command line; a value that does not parse is a usage error (exit 2).

use chrono::{DateTime, NaiveDate, Utc};
use operation_runs_domain::{Failure, FailureCode, RunContext, RunType};
use operation_runs_ports::RunCursor;

fn json(raw: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(raw).map_err(|e| format!("not valid JSON: {e}"))
}

/// A JSON object.
pub fn json_object(raw: &str) -> Result<serde_json::Value, String> {
    match json(raw)? {
        value @ serde_json::Value::Object(_) => Ok(value),
        other => Err(format!("expected a JSON object, got {other}")),
    }
}

/// A run context: a JSON object whose well-known keys have their proper types.
pub fn context(raw: &str) -> Result<RunContext, String> {
    RunContext::from_json(json_object(raw)?).map_err(|e| e.to_string())
}

/// `NAME=VALUE` with an integer value.
pub fn count_pair(raw: &str) -> Result<(String, i64), String> {
    let (name, value) = raw
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE, got `{raw}`"))?;
    let value = value
        .trim()
        .parse::<i64>()
        .map_err(|_| format!("count `{name}` must be an integer, got `{value}`"))?;
    Ok((name.trim().to_owned(), value))
}

/// Counts given as one JSON object (a newtype, so clap takes it as one value).
#[derive(Debug, Clone)]
pub struct CountsJson(pub Vec<(String, i64)>);

/// Failures given as one JSON array (a newtype, so clap takes it as one value).
#[derive(Debug, Clone)]
pub struct FailuresJson(pub Vec<Failure>);

/// A JSON object of integers.
pub fn counts_json(raw: &str) -> Result<CountsJson, String> {
    let serde_json::Value::Object(map) = json_object(raw)? else {
        return Err("expected a JSON object".to_owned());
    };
    map.into_iter()
        .map(|(name, value)| {
            value
                .as_i64()
                .map(|v| (name.clone(), v))
                .ok_or_else(|| format!("count `{name}` must be an integer, got {value}"))
        })
        .collect::<Result<_, _>>()
        .map(CountsJson)
}

fn failure(code: &str, message: &str) -> Result<Failure, String> {
    let code = FailureCode::parse(code.trim()).map_err(|e| e.to_string())?;
    Ok(Failure::new(code, message))
}

/// `CODE=MESSAGE` with a snake_case code.
pub fn failure_pair(raw: &str) -> Result<Failure, String> {
    let (code, message) = raw
        .split_once('=')
        .ok_or_else(|| format!("expected CODE=MESSAGE, got `{raw}`"))?;
    failure(code, message)
}

/// A JSON array of `{"code": …, "message": …}` objects.
pub fn failures_json(raw: &str) -> Result<FailuresJson, String> {
    let serde_json::Value::Array(items) = json(raw)? else {
        return Err("expected a JSON array of {\"code\": …, \"message\": …} objects".to_owned());
    };
    items
        .iter()
        .map(|item| {
            let code = item.get("code").and_then(|c| c.as_str());
            let message = item.get("message").and_then(|m| m.as_str()).unwrap_or("");
            match code {
                Some(code) => failure(code, message),
                None => Err(format!("failure {item} has no string `code`")),
            }
        })
        .collect::<Result<_, _>>()
        .map(FailuresJson)
}

/// A duration such as `90s`, `30m`, `2h`, `1d`, `1w` or `1h30m`.
pub fn duration(raw: &str) -> Result<chrono::Duration, String> {
    let bad = || format!("expected a duration such as 30m, 2h, 1d or 1h30m, got `{raw}`");
    let mut total = chrono::Duration::zero();
    let mut digits = String::new();
    let mut any = false;
    for c in raw.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        let unit = match c {
            's' => chrono::Duration::try_seconds(n),
            'm' => chrono::Duration::try_minutes(n),
            'h' => chrono::Duration::try_hours(n),
            'd' => chrono::Duration::try_days(n),
            'w' => chrono::Duration::try_weeks(n),
            _ => None,
        }
        .ok_or_else(bad)?;
        total = total.checked_add(&unit).ok_or_else(bad)?;
        any = true;
    }
    if !digits.is_empty() || !any {
        return Err(bad());
    }
    Ok(total)
}

/// A point in time: RFC 3339 (`2026-02-12T08:00:00Z`), a date (`2026-02-12`, midnight UTC), or
/// a duration ago (`2h`).
pub fn time(raw: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(date.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    if let Ok(ago) = duration(raw) {
        return Ok(Utc::now() - ago);
    }
    Err(format!(
        "expected a time as RFC 3339 (2026-02-12T08:00:00Z), a date (2026-02-12) or a duration ago (2h), got `{raw}`"
    ))
}

/// A page cursor as printed by a previous page.
pub fn cursor(raw: &str) -> Result<RunCursor, String> {
    RunCursor::decode(raw).ok_or_else(|| format!("`{raw}` is not a cursor printed by oprun"))
}

/// One of the three backup-schedule run types.
pub fn schedule_type(raw: &str) -> Result<RunType, String> {
    RunType::BACKUP_SCHEDULE_TYPES
        .iter()
        .find(|t| t.as_str() == raw)
        .cloned()
        .ok_or_else(|| {
            format!(
                "`{raw}` is not a schedule run type; use backup_schedule_run, backup_schedule_retention or backup_schedule_purge"
            )
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("30m").unwrap(), chrono::Duration::minutes(30));
        assert_eq!(duration("1h30m").unwrap(), chrono::Duration::minutes(90));
        assert_eq!(duration("2d").unwrap(), chrono::Duration::days(2));
        assert_eq!(duration("0s").unwrap(), chrono::Duration::zero());
        for bad in ["", "30", "m", "3x", "-1h", "1.5h"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times() {
        assert_eq!(
            time("2026-02-12").unwrap().to_rfc3339(),
            "2026-02-12T00:00:00+00:00"
        );
        assert_eq!(
            time("2026-02-12T08:00:00+01:00").unwrap().to_rfc3339(),
            "2026-02-12T07:00:00+00:00"
        );
        assert!(time("2h").unwrap() < Utc::now());
        assert!(time("yesterday").is_err());
    }

    #[test]
    fn pairs_and_json() {
        assert_eq!(count_pair("processed=5").unwrap(), ("processed".into(), 5));
        assert!(count_pair("processed").is_err());
        assert!(count_pair("processed=x").is_err());
        assert_eq!(
            counts_json(r#"{"a":1}"#).unwrap().0,
            vec![("a".to_owned(), 1)]
        );
        assert!(counts_json(r#"{"a":"1"}"#).is_err());
        assert!(json_object("[1]").is_err());
        assert!(json_object("{").is_err());
        let f = failure_pair("api_error=HTTP 500 = bad").unwrap();
        assert_eq!(
            (f.code().as_str(), f.message()),
            ("api_error", "HTTP 500 = bad")
        );
        assert!(failure_pair("Api Error=x").is_err());
        assert_eq!(
            failures_json(r#"[{"code":"a_b","message":"m"}]"#)
                .unwrap()
                .0
                .len(),
            1
        );
        assert!(failures_json(r#"[{"message":"m"}]"#).is_err());
    }
}
