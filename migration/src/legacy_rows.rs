//! Rows of `operation_runs` the legacy product wrote without today's validation, by column and
//! class: what the cutover rewrites because it has exactly one right answer, and what it leaves
//! for the tolerant reads (the preflight reports both).
//!
//! Each class is a SQL predicate over `operation_runs AS r`, so the preflight counts exactly the
//! rows the cutover rewrites, and what is left is what a reader finds unreadable. Part of the
//! frozen history (step 1 applies the rewrites): change only by adding.

use crate::mysql_legacy as my;
use crate::names::ACTIVE;
use crate::sql::{self, Flavor};
use sea_orm_migration::sea_orm::{ConnectionTrait, DbErr};

/// A class of stored values of one `operation_runs` column.
pub(crate) struct RowClass {
    /// The column holding the value.
    pub column: &'static str,
    /// The class, a snake_case name.
    pub class: &'static str,
    /// The SQL predicate selecting the rows of `operation_runs AS r` in the class.
    pub predicate: fn(Flavor) -> String,
}

/// The outcomes a completed run may have.
const FINAL_OUTCOMES: &str = "('succeeded', 'partially_succeeded', 'failed', 'cancelled')";

/// `column` of `r` as JSON the JSON functions can read, if it is of JSON type `kind`
/// (`object` or `array`), else an empty one: SQLite's functions fail on text that is no JSON,
/// PostgreSQL's iterate only the kind they are made for.
fn json_of_kind(flavor: Flavor, column: &str, kind: &str) -> String {
    match flavor {
        Flavor::Sqlite => format!(
            "(CASE WHEN json_valid(r.{column}) AND json_type(r.{column}) = '{kind}' \
             THEN r.{column} END)"
        ),
        Flavor::Postgres => {
            let empty = if kind == "array" { "[]" } else { "{}" };
            format!(
                "(CASE WHEN jsonb_typeof(r.{column}) = '{kind}' THEN r.{column} \
                 ELSE '{empty}'::jsonb END)"
            )
        }
        Flavor::MySql => my::json_of_kind(column, &kind.to_ascii_uppercase()),
    }
}

/// The top-level entries of `column` of `r` (`e.key`, `e.value`), if it is an object.
fn object_entries(flavor: Flavor, column: &str) -> String {
    let object = json_of_kind(flavor, column, "object");
    match flavor {
        Flavor::Sqlite => format!("json_each({object}) AS e"),
        Flavor::Postgres => format!("jsonb_each({object}) AS e"),
        Flavor::MySql => my::object_entries(column),
    }
}

/// Whether `column` of `r` is not JSON of type `kind`.
fn not_of_kind(flavor: Flavor, column: &str, kind: &str) -> String {
    match flavor {
        Flavor::Sqlite => {
            format!("NOT (json_valid(r.{column}) AND json_type(r.{column}) IS '{kind}')")
        }
        Flavor::Postgres => format!("jsonb_typeof(r.{column}) IS DISTINCT FROM '{kind}'"),
        Flavor::MySql => my::not_of_kind(column, &kind.to_ascii_uppercase()),
    }
}

/// A top-level context key naming an id: `…_id`, letters, digits and underscores, and not an
/// external id (those are the other system's strings, whatever they look like).
fn id_key(flavor: Flavor) -> String {
    let plain = match flavor {
        Flavor::MySql => return my::id_key(),
        Flavor::Sqlite => "e.key NOT GLOB '*[^A-Za-z0-9_]*'",
        Flavor::Postgres => "e.key !~ '[^A-Za-z0-9_]'",
    };
    format!(
        "e.key LIKE '%\\_id' ESCAPE '\\' AND e.key NOT LIKE '%external\\_id' ESCAPE '\\' AND {plain}"
    )
}

/// A context entry `e` whose id is an integer written as a string (digits, no leading zero) or
/// as a float with no fraction: the integer is its one right value.
fn fixable_id(flavor: Flavor) -> String {
    let value = match flavor {
        Flavor::MySql => return my::fixable_id(),
        Flavor::Sqlite => {
            "((e.type = 'text' AND (e.value = '0' OR (e.value GLOB '[1-9]*' \
             AND e.value NOT GLOB '*[^0-9]*' AND length(e.value) <= 18))) \
             OR (e.type = 'real' AND e.value = CAST(e.value AS INTEGER) \
             AND abs(e.value) < 1e18))"
        }
        Flavor::Postgres => {
            "((jsonb_typeof(e.value) = 'string' AND (e.value #>> '{}') ~ '^(0|[1-9][0-9]{0,17})$') \
             OR (jsonb_typeof(e.value) = 'number' AND (e.value::text) ~ '^-?[0-9]{1,18}\\.0+$'))"
        }
    };
    format!("{} AND {value}", id_key(flavor))
}

/// The integer a [`fixable_id`] entry `e` holds, as a value for the JSON setter.
fn fixed_id(flavor: Flavor) -> String {
    match flavor {
        Flavor::Sqlite => "CAST(e.value AS INTEGER)".to_owned(),
        Flavor::Postgres => "to_jsonb(((e.value #>> '{}')::numeric)::bigint)".to_owned(),
        Flavor::MySql => my::fixed_id(),
    }
}

/// The JSON type of the `code` of a failure entry `e` (SQLite), null unless `e` is an object:
/// the JSON functions fail on an entry that is a bare string.
const SQLITE_CODE_TYPE: &str =
    "(CASE WHEN e.type = 'object' THEN json_type(e.value, '$.code') END)";

/// What the cutover rewrites, each with exactly one right answer.
pub(crate) const REWRITES: [RowClass; 4] = [
    RowClass {
        column: "run_identity_hash",
        class: "hash_upper_case",
        predicate: |flavor| match flavor {
            Flavor::Sqlite => "r.run_identity_hash <> lower(r.run_identity_hash) \
                 AND length(r.run_identity_hash) = 64 \
                 AND lower(r.run_identity_hash) NOT GLOB '*[^0-9a-f]*'"
                .to_owned(),
            Flavor::Postgres => "r.run_identity_hash <> lower(r.run_identity_hash) \
                 AND r.run_identity_hash ~ '^[0-9A-Fa-f]{64}$'"
                .to_owned(),
            Flavor::MySql => format!(
                "r.run_identity_hash <> LOWER(r.run_identity_hash) AND {}",
                my::HEX_HASH
            ),
        },
    },
    RowClass {
        column: "context",
        class: "id_as_string_or_float",
        predicate: |flavor| {
            format!(
                "EXISTS (SELECT 1 FROM {} WHERE {})",
                object_entries(flavor, "context"),
                fixable_id(flavor)
            )
        },
    },
    RowClass {
        column: "started_at",
        class: "running_without_started_at",
        predicate: |_| {
            "r.status = 'running' AND r.outcome = 'pending' AND r.started_at IS NULL".to_owned()
        },
    },
    RowClass {
        column: "completed_at",
        class: "completed_without_completed_at",
        predicate: |_| {
            format!(
                "r.status = 'completed' AND r.outcome IN {FINAL_OUTCOMES} \
                 AND r.completed_at IS NULL"
            )
        },
    },
];

/// What today's rules reject and the cutover leaves as it is (the tolerant reads show it as
/// unreadable). Rows the [`REWRITES`] fix are not in these classes.
pub(crate) const UNREADABLE: [RowClass; 13] = [
    RowClass {
        column: "failure_summary",
        class: "not_an_array",
        predicate: |flavor| not_of_kind(flavor, "failure_summary", "array"),
    },
    RowClass {
        column: "failure_summary",
        class: "entry_without_code_or_message",
        predicate: |flavor| {
            let array = json_of_kind(flavor, "failure_summary", "array");
            match flavor {
                Flavor::Sqlite => format!(
                    "EXISTS (SELECT 1 FROM json_each({array}) AS e WHERE e.type IS NOT 'object' \
                     OR {sqlite_code} IS NOT 'text' \
                     OR (CASE WHEN e.type = 'object' THEN json_type(e.value, '$.message') END) \
                     IS NOT 'text')",
                    sqlite_code = SQLITE_CODE_TYPE
                ),
                Flavor::Postgres => format!(
                    "EXISTS (SELECT 1 FROM jsonb_array_elements({array}) AS e(value) \
                     WHERE jsonb_typeof(e.value -> 'code') IS DISTINCT FROM 'string' \
                     OR jsonb_typeof(e.value -> 'message') IS DISTINCT FROM 'string')"
                ),
                Flavor::MySql => my::entry_without_code_or_message(),
            }
        },
    },
    RowClass {
        column: "failure_summary",
        class: "code_not_snake_case",
        predicate: |flavor| {
            let array = json_of_kind(flavor, "failure_summary", "array");
            match flavor {
                // `^[a-z][a-z0-9]*(_[a-z0-9]+)*$` in GLOBs: a lowercase letter first, only
                // lowercase letters, digits and underscores, no `__`, no `_` at the end.
                Flavor::Sqlite => format!(
                    "EXISTS (SELECT 1 FROM json_each({array}) AS e \
                     WHERE {SQLITE_CODE_TYPE} = 'text' AND ({code} NOT GLOB '[a-z]*' \
                     OR {code} GLOB '*[^a-z0-9_]*' OR {code} GLOB '*__*' OR {code} GLOB '*_'))",
                    code = "json_extract(e.value, '$.code')"
                ),
                Flavor::Postgres => format!(
                    "EXISTS (SELECT 1 FROM jsonb_array_elements({array}) AS e(value) \
                     WHERE jsonb_typeof(e.value -> 'code') = 'string' \
                     AND (e.value ->> 'code') !~ '^[a-z][a-z0-9]*(_[a-z0-9]+)*$')"
                ),
                Flavor::MySql => my::code_not_snake_case(),
            }
        },
    },
    RowClass {
        column: "summary_counts",
        class: "not_an_object",
        predicate: |flavor| not_of_kind(flavor, "summary_counts", "object"),
    },
    RowClass {
        column: "summary_counts",
        class: "count_not_a_non_negative_integer",
        predicate: |flavor| {
            let entries = object_entries(flavor, "summary_counts");
            match flavor {
                Flavor::Sqlite => format!(
                    "EXISTS (SELECT 1 FROM {entries} WHERE e.type IS NOT 'integer' OR e.value < 0)"
                ),
                Flavor::Postgres => format!(
                    "EXISTS (SELECT 1 FROM {entries} WHERE jsonb_typeof(e.value) <> 'number' \
                     OR (e.value::text) !~ '^[0-9]{{1,19}}$' \
                     OR (e.value::text)::numeric > 9223372036854775807)"
                ),
                Flavor::MySql => my::count_not_a_non_negative_integer(),
            }
        },
    },
    RowClass {
        column: "context",
        class: "not_an_object",
        // Text that is no JSON at all is in [`BLOCKING`] instead.
        predicate: |flavor| match flavor {
            Flavor::Sqlite => {
                "json_valid(r.context) AND json_type(r.context) IS NOT 'object'".to_owned()
            }
            Flavor::Postgres => not_of_kind(flavor, "context", "object"),
            Flavor::MySql => format!(
                "JSON_VALID(r.context) AND {}",
                not_of_kind(flavor, "context", "object")
            ),
        },
    },
    RowClass {
        column: "context",
        class: "id_not_an_integer",
        predicate: |flavor| {
            if flavor == Flavor::MySql {
                return my::id_not_an_integer();
            }
            let entries = object_entries(flavor, "context");
            let not_integer = match flavor {
                Flavor::MySql => "",
                Flavor::Sqlite => "e.type IS NOT 'integer'",
                Flavor::Postgres => {
                    "NOT (jsonb_typeof(e.value) = 'number' AND (e.value::text) ~ '^-?[0-9]+$')"
                }
            };
            // The ids today's rules check; the cutover makes integers of what it can.
            format!(
                "EXISTS (SELECT 1 FROM {entries} \
                 WHERE e.key IN ('backup_schedule_id', 'backup_set_id') AND {not_integer} \
                 AND NOT ({}))",
                fixable_id(flavor)
            )
        },
    },
    RowClass {
        column: "context",
        class: "time_not_rfc3339",
        predicate: |flavor| {
            let entries = object_entries(flavor, "context");
            match flavor {
                Flavor::Sqlite => format!(
                    "EXISTS (SELECT 1 FROM {entries} WHERE e.key = 'scheduled_for' \
                     AND (e.type IS NOT 'text' OR NOT (e.value GLOB \
                     '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9][Tt ][0-9][0-9]:[0-9][0-9]:[0-9][0-9]*' \
                     AND (e.value GLOB '*[Zz]' OR e.value GLOB '*[+-][0-9][0-9]:[0-9][0-9]'))))"
                ),
                Flavor::Postgres => format!(
                    "EXISTS (SELECT 1 FROM {entries} WHERE e.key = 'scheduled_for' \
                     AND (jsonb_typeof(e.value) <> 'string' OR (e.value #>> '{{}}') !~ \
                     '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}[Tt ][0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}(\\.[0-9]+)?([Zz]|[+-][0-9]{{2}}:[0-9]{{2}})$'))"
                ),
                Flavor::MySql => my::time_not_rfc3339(),
            }
        },
    },
    RowClass {
        column: "status",
        class: "status_unknown",
        predicate: |_| "r.status NOT IN ('queued', 'running', 'completed')".to_owned(),
    },
    RowClass {
        column: "outcome",
        class: "outcome_contradicts_status",
        predicate: |_| {
            format!(
                "(r.{ACTIVE} AND r.outcome <> 'pending') \
                 OR (r.status = 'completed' AND r.outcome NOT IN {FINAL_OUTCOMES})"
            )
        },
    },
    RowClass {
        column: "started_at",
        class: "running_without_started_at",
        predicate: |_| {
            "r.status = 'running' AND r.outcome <> 'pending' AND r.started_at IS NULL".to_owned()
        },
    },
    RowClass {
        column: "completed_at",
        class: "completed_without_completed_at",
        predicate: |_| {
            format!(
                "r.status = 'completed' AND r.outcome NOT IN {FINAL_OUTCOMES} \
                 AND r.completed_at IS NULL"
            )
        },
    },
    RowClass {
        column: "run_identity_hash",
        class: "hash_not_canonical",
        predicate: |flavor| match flavor {
            Flavor::Sqlite => "length(r.run_identity_hash) <> 64 \
                 OR lower(r.run_identity_hash) GLOB '*[^0-9a-f]*'"
                .to_owned(),
            Flavor::Postgres => "r.run_identity_hash !~ '^[0-9A-Fa-f]{64}$'".to_owned(),
            Flavor::MySql => format!("NOT ({})", my::HEX_HASH),
        },
    },
];

/// Values that would make a later cutover step fail: on SQLite, a `context` that is not JSON
/// breaks the schedule-history index of step 6 (`json_extract` refuses it), after steps 4 and 5
/// have dropped the legacy data. Step 1 refuses to start while there are any (PostgreSQL's
/// `jsonb` cannot hold such a value).
pub(crate) const BLOCKING: [RowClass; 1] = [RowClass {
    column: "context",
    class: "not_json",
    predicate: |flavor| match flavor {
        Flavor::Sqlite => "NOT json_valid(r.context)".to_owned(),
        // Both columns are `JSON` (with a `JSON_VALID` check): no such value can be stored.
        Flavor::Postgres | Flavor::MySql => "1 = 0".to_owned(),
    },
}];

/// Refuses, before anything is changed, to start the cutover while [`BLOCKING`] rows exist.
/// `refused` says what cannot happen.
pub(crate) async fn refuse_cutover_on_blocking_rows<C: ConnectionTrait + ?Sized>(
    db: &C,
    refused: &str,
) -> Result<(), DbErr> {
    let flavor = sql::flavor(db)?;
    let mut found = Vec::new();
    for class in &BLOCKING {
        let predicate = (class.predicate)(flavor);
        let rows = sql::scalar_i64(
            db,
            &format!("SELECT COUNT(*) FROM operation_runs AS r WHERE {predicate}"),
            vec![],
        )
        .await?
        .unwrap_or(0);
        if rows > 0 {
            found.push(format!(
                "{rows} operation_runs row(s) whose {} is {}",
                class.column, class.class
            ));
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    Err(DbErr::Migration(format!(
        "{refused}: {}. A later step indexes these values and would fail halfway. This \
         migration changed nothing. Run `oprun preflight` to see the rows, fix or delete them, \
         then migrate again.",
        found.join("; ")
    )))
}

/// The [`REWRITES`] class of upper-case identity hashes.
pub(crate) fn hash_upper_case() -> &'static RowClass {
    &REWRITES[0]
}

/// The statement applying `rewrite` (one of [`REWRITES`]) to the rows its predicate selects.
/// A context id is rewritten one key per statement (the first in key order), so a row with
/// several is written again until none is left.
fn rewrite_statement(flavor: Flavor, rewrite: &RowClass) -> String {
    let predicate = (rewrite.predicate)(flavor);
    let set = match rewrite.column {
        "run_identity_hash" => "run_identity_hash = lower(run_identity_hash)".to_owned(),
        "context" if flavor == Flavor::MySql => my::context_rewrite(),
        "context" => {
            let setter = match flavor {
                Flavor::MySql => "",
                Flavor::Sqlite => "json_set(r.context, '$.' || e.key, ",
                Flavor::Postgres => "jsonb_set(r.context, ARRAY[e.key], ",
            };
            format!(
                "context = (SELECT {setter}{}) FROM {} WHERE {} ORDER BY e.key LIMIT 1)",
                fixed_id(flavor),
                object_entries(flavor, "context"),
                fixable_id(flavor)
            )
        }
        // The start came after the row was created: its creation is the nearest time it has.
        "started_at" => "started_at = created_at".to_owned(),
        // The completion was the row's last write, and not before its start.
        _ => "completed_at = CASE WHEN started_at IS NOT NULL AND started_at > updated_at \
              THEN started_at ELSE updated_at END"
            .to_owned(),
    };
    format!("UPDATE operation_runs AS r SET {set} WHERE {predicate}")
}

/// Applies every [`REWRITES`] class set-based and returns, per class, the values rewritten (for
/// context ids, one per key). Each count is also a `tracing` event (`normalized legacy values`,
/// fields `table`, `column`, `class`, `rewritten`). Rows it rewrote no longer match, so running
/// it again rewrites nothing.
///
/// Hashes are lower-cased here, before step 6 resolves duplicate active identities and builds
/// the unique index, since two hashes differing only in case are one identity.
pub(crate) async fn normalize<C: ConnectionTrait + ?Sized>(
    db: &C,
) -> Result<Vec<(&'static str, &'static str, u64)>, DbErr> {
    let flavor = sql::flavor(db)?;
    let mut done = Vec::new();
    for rewrite in &REWRITES {
        let statement = rewrite_statement(flavor, rewrite);
        let mut rewritten = 0_u64;
        loop {
            let n = db.execute_unprepared(&statement).await?.rows_affected();
            rewritten += n;
            // Only context ids need another pass (the next key of the same rows).
            if n == 0 || rewrite.column != "context" {
                break;
            }
        }
        tracing::info!(
            table = "operation_runs",
            column = rewrite.column,
            class = rewrite.class,
            rewritten,
            "normalized legacy values"
        );
        done.push((rewrite.column, rewrite.class, rewritten));
    }
    Ok(done)
}

/// Rows whose `summary_counts` name a count their (registered) type does not declare:
/// `declared` maps each type to its count names. Types not in it are not judged. Not part of
/// [`UNREADABLE`]: the declarations are the host's, not the migration history's.
pub(crate) fn undeclared_count_predicate(
    flavor: Flavor,
    declared: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
) -> Option<String> {
    let literal = |text: &str| format!("'{}'", text.replace('\'', "''"));
    let per_type: Vec<String> = declared
        .iter()
        .map(|(run_type, names)| {
            let undeclared = if names.is_empty() {
                "TRUE".to_owned()
            } else {
                let names: Vec<String> = names.iter().map(|n| literal(n)).collect();
                format!("e.key NOT IN ({})", names.join(", "))
            };
            format!(
                "(r.type = {} AND EXISTS (SELECT 1 FROM {} WHERE {undeclared}))",
                literal(run_type),
                object_entries(flavor, "summary_counts")
            )
        })
        .collect();
    (!per_type.is_empty()).then(|| per_type.join(" OR "))
}
