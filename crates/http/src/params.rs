//! Query strings, bounded and validated: every refusal names the parameter and why.

use crate::error::Refusal;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use operation_runs_domain::{RunOutcome, RunStatus, RunType, RunTypeRegistry, TenantId};
use operation_runs_ports::{RunCursor, RunFilter};
use operation_runs_service::MAX_PAGE_SIZE;

/// Page size when none is asked for.
pub(crate) const DEFAULT_LIMIT: u32 = 50;
/// Longest accepted query value, in bytes.
const MAX_VALUE_LEN: usize = 200;
/// Most parameters a query may carry.
const MAX_PARAMS: usize = 16;

/// A workspace's list, as asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ListParams {
    pub(crate) filter: RunFilter,
    /// Runs older than this (the `next_cursor` of the page before).
    pub(crate) cursor: Option<RunCursor>,
    /// Runs newer than this (the `newer_cursor` of the page after), walking back.
    pub(crate) newer: Option<RunCursor>,
    pub(crate) limit: u32,
}

/// A schedule's history, as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HistoryParams {
    pub(crate) run_type: Option<RunType>,
    pub(crate) outcome: Option<RunOutcome>,
    pub(crate) cursor: Option<RunCursor>,
    pub(crate) limit: u32,
}

/// The pairs of a query string: at most [`MAX_PARAMS`], each key once and known, each value at
/// most [`MAX_VALUE_LEN`] bytes; empty values (an untouched form field) count as absent.
fn pairs(raw: Option<&str>, known: &[&str]) -> Result<Vec<(String, String)>, Refusal> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if out.len() >= MAX_PARAMS {
            return Err(bad(format!(
                "at most {MAX_PARAMS} query parameters are accepted"
            )));
        }
        if !known.contains(&key.as_ref()) {
            let key: String = key.chars().take(40).collect();
            return Err(bad(format!(
                "unknown query parameter `{key}`; accepted: {}",
                known.join(", ")
            )));
        }
        if value.len() > MAX_VALUE_LEN {
            return Err(bad(format!("`{key}` is longer than {MAX_VALUE_LEN} bytes")));
        }
        if out.iter().any(|(seen, _)| *seen == key) {
            return Err(bad(format!("`{key}` is given more than once")));
        }
        out.push((key.into_owned(), value.into_owned()));
    }
    out.retain(|(_, value)| !value.is_empty());
    Ok(out)
}

fn bad(reason: String) -> Refusal {
    Refusal::BadRequest(reason)
}

fn parse_status(value: &str) -> Result<RunStatus, Refusal> {
    value.parse().map_err(|_| {
        bad(format!(
            "`status` must be one of {}, got `{value}`",
            names(RunStatus::ALL.iter().map(|s| s.as_str()))
        ))
    })
}

fn parse_outcome(value: &str) -> Result<RunOutcome, Refusal> {
    value.parse().map_err(|_| {
        bad(format!(
            "`outcome` must be one of {}, got `{value}`",
            names(RunOutcome::ALL.iter().map(|o| o.as_str()))
        ))
    })
}

fn names<'a>(all: impl Iterator<Item = &'a str>) -> String {
    all.collect::<Vec<_>>().join(", ")
}

fn parse_cursor(value: &str) -> Result<RunCursor, Refusal> {
    RunCursor::decode(value)
        .filter(|cursor| cursor.0.get() > 0)
        .ok_or_else(|| {
            bad("`cursor` is not a cursor this list handed out (use its `next_cursor`)".to_owned())
        })
}

fn parse_limit(value: Option<&str>, max: u32) -> Result<u32, Refusal> {
    let Some(value) = value else {
        return Ok(DEFAULT_LIMIT);
    };
    value
        .parse::<u32>()
        .ok()
        .filter(|limit| (1..=max).contains(limit))
        .ok_or_else(|| {
            bad(format!(
                "`limit` must be a whole number from 1 to {max}, got `{value}`"
            ))
        })
}

/// An instant: RFC 3339, or a date and time without an offset (read as UTC, as a browser's
/// `datetime-local` field sends it), or a date (midnight UTC).
fn parse_time(key: &str, value: &str) -> Result<DateTime<Utc>, Refusal> {
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(at.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(at) = NaiveDateTime::parse_from_str(value, format) {
            return Ok(at.and_utc());
        }
    }
    if let Ok(day) = NaiveDate::parse_from_str(value, "%Y-%m-%d")
        && let Some(midnight) = day.and_hms_opt(0, 0, 0)
    {
        return Ok(midnight.and_utc());
    }
    Err(bad(format!(
        "`{key}` must be a time like 2026-02-12T10:00:00Z or a date like 2026-02-12, got `{value}`"
    )))
}

fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

impl ListParams {
    /// The accepted keys.
    pub(crate) const KEYS: [&'static str; 9] = [
        "type", "status", "outcome", "tenant", "from", "before", "cursor", "newer", "limit",
    ];

    /// Parses a list's query string. A type must be registered (a typo would otherwise show an
    /// empty list that looks like "no runs").
    pub(crate) fn parse(raw: Option<&str>, registry: &RunTypeRegistry) -> Result<Self, Refusal> {
        let pairs = pairs(raw, &Self::KEYS)?;
        let mut filter = RunFilter::default();
        if let Some(value) = get(&pairs, "type") {
            if !registry.is_registered(value) {
                return Err(bad(format!(
                    "`type` must be a registered run type ({}), got `{value}`",
                    names(registry.iter().map(|d| d.id().as_str()))
                )));
            }
            filter.run_type = Some(value.to_owned());
        }
        filter.status = get(&pairs, "status").map(parse_status).transpose()?;
        filter.outcome = get(&pairs, "outcome").map(parse_outcome).transpose()?;
        if let Some(value) = get(&pairs, "tenant") {
            let id = value
                .parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| bad(format!("`tenant` must be a tenant id, got `{value}`")))?;
            filter.tenant_id = Some(TenantId::new(id));
        }
        filter.created_from = get(&pairs, "from")
            .map(|v| parse_time("from", v))
            .transpose()?;
        filter.created_before = get(&pairs, "before")
            .map(|v| parse_time("before", v))
            .transpose()?;
        if let (Some(from), Some(before)) = (filter.created_from, filter.created_before)
            && from >= before
        {
            return Err(bad("`from` must be earlier than `before`".to_owned()));
        }
        let cursor = get(&pairs, "cursor").map(parse_cursor).transpose()?;
        let newer = get(&pairs, "newer").map(parse_cursor).transpose()?;
        if cursor.is_some() && newer.is_some() {
            return Err(bad(
                "`cursor` (older runs) and `newer` (newer runs) cannot both be given".to_owned(),
            ));
        }
        Ok(Self {
            filter,
            cursor,
            newer,
            limit: parse_limit(get(&pairs, "limit"), MAX_PAGE_SIZE)?,
        })
    }

    /// The query string of the same filters and limit at the page of runs newer than `cursor`.
    pub(crate) fn query_newer(&self, cursor: RunCursor) -> String {
        let mut out = self.query_at(None);
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str("newer=");
        out.push_str(&cursor.encode());
        out
    }

    /// The query string of the same filters and limit at another cursor (`None`: first page).
    pub(crate) fn query_at(&self, cursor: Option<RunCursor>) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        let f = &self.filter;
        if let Some(t) = &f.run_type {
            out.append_pair("type", t);
        }
        if let Some(s) = f.status {
            out.append_pair("status", s.as_str());
        }
        if let Some(o) = f.outcome {
            out.append_pair("outcome", o.as_str());
        }
        if let Some(t) = f.tenant_id {
            out.append_pair("tenant", &t.to_string());
        }
        if let Some(at) = f.created_from {
            out.append_pair("from", &at.to_rfc3339());
        }
        if let Some(at) = f.created_before {
            out.append_pair("before", &at.to_rfc3339());
        }
        if let Some(cursor) = cursor {
            out.append_pair("cursor", &cursor.encode());
        }
        if self.limit != DEFAULT_LIMIT {
            out.append_pair("limit", &self.limit.to_string());
        }
        out.finish()
    }
}

impl HistoryParams {
    /// The accepted keys.
    pub(crate) const KEYS: [&'static str; 4] = ["type", "outcome", "cursor", "limit"];

    /// Parses a history's query string.
    pub(crate) fn parse(raw: Option<&str>) -> Result<Self, Refusal> {
        let pairs = pairs(raw, &Self::KEYS)?;
        let run_type = match get(&pairs, "type") {
            None => None,
            Some(value) => Some(
                RunType::BACKUP_SCHEDULE_TYPES
                    .iter()
                    .find(|t| t.as_str() == value)
                    .cloned()
                    .ok_or_else(|| {
                        bad(format!(
                            "`type` must be one of {}, got `{value}`",
                            names(RunType::BACKUP_SCHEDULE_TYPES.iter().map(RunType::as_str))
                        ))
                    })?,
            ),
        };
        Ok(Self {
            run_type,
            outcome: get(&pairs, "outcome").map(parse_outcome).transpose()?,
            cursor: get(&pairs, "cursor").map(parse_cursor).transpose()?,
            limit: parse_limit(
                get(&pairs, "limit"),
                operation_runs_schedule_history::MAX_PAGE_SIZE,
            )?,
        })
    }

    /// The query string of the same filters and limit at another cursor.
    pub(crate) fn query_at(&self, cursor: Option<RunCursor>) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        if let Some(t) = &self.run_type {
            out.append_pair("type", t.as_str());
        }
        if let Some(o) = self.outcome {
            out.append_pair("outcome", o.as_str());
        }
        if let Some(cursor) = cursor {
            out.append_pair("cursor", &cursor.encode());
        }
        if self.limit != DEFAULT_LIMIT {
            out.append_pair("limit", &self.limit.to_string());
        }
        out.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(raw: &str) -> Result<ListParams, Refusal> {
        ListParams::parse(Some(raw), &RunTypeRegistry::with_builtins())
    }

    fn reason(result: Result<ListParams, Refusal>) -> String {
        match result {
            Err(Refusal::BadRequest(reason)) => reason,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn filters_parse_and_round_trip() {
        let parsed = list(
            "type=inventory_sync&status=completed&outcome=failed&tenant=3\
             &from=2026-02-01&before=2026-02-12T10:00:00Z&cursor=r40&limit=20",
        )
        .unwrap();
        assert_eq!(parsed.filter.run_type.as_deref(), Some("inventory_sync"));
        assert_eq!(parsed.filter.status, Some(RunStatus::Completed));
        assert_eq!(parsed.filter.tenant_id, Some(TenantId::new(3)));
        assert_eq!(parsed.cursor.map(RunCursor::encode).as_deref(), Some("r40"));
        assert_eq!(parsed.limit, 20);
        let again = list(&parsed.query_at(parsed.cursor)).unwrap();
        assert_eq!(again, parsed);
    }

    #[test]
    fn empty_values_are_absent_and_the_default_limit_applies() {
        let parsed = list("type=&status=&tenant=").unwrap();
        assert_eq!(
            parsed,
            ListParams {
                limit: DEFAULT_LIMIT,
                ..ListParams::default()
            }
        );
    }

    #[test]
    fn bad_values_are_refused_with_the_reason() {
        assert!(reason(list("status=done")).contains("`status` must be one of queued"));
        assert!(reason(list("outcome=ok")).contains("`outcome`"));
        assert!(reason(list("type=inventory.sync")).contains("registered run type"));
        assert!(reason(list("tenant=-1")).contains("`tenant`"));
        assert!(reason(list("cursor=abc")).contains("`cursor`"));
        assert!(reason(list("limit=0")).contains("from 1 to 500"));
        assert!(reason(list("limit=501")).contains("from 1 to 500"));
        assert!(reason(list("from=yesterday")).contains("`from`"));
        assert!(reason(list("from=2026-02-02&before=2026-02-01")).contains("earlier"));
        assert!(reason(list("colour=red")).contains("unknown query parameter `colour`"));
        assert!(reason(list("limit=1&limit=2")).contains("more than once"));
        assert!(reason(list(&format!("type={}", "a".repeat(201)))).contains("longer than"));
    }

    #[test]
    fn history_types_are_the_three_backup_schedule_types() {
        let parsed = HistoryParams::parse(Some("type=backup_schedule_purge")).unwrap();
        assert_eq!(parsed.run_type, Some(RunType::BACKUP_SCHEDULE_PURGE));
        assert!(matches!(
            HistoryParams::parse(Some("type=inventory_sync")),
            Err(Refusal::BadRequest(reason)) if reason.contains("backup_schedule_run")
        ));
    }
}
