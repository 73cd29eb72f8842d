//! The MariaDB spellings of the legacy row classes (`legacy_rows`): the same predicates over
//! `operation_runs AS r`, written with MariaDB's JSON functions.
//!
//! MariaDB has no `json_each`: an object's entries are its keys (`JSON_KEYS` read by
//! `JSON_TABLE`, MariaDB 10.6+) as `e.key`, and each value is extracted by its key
//! ([`value`]). An array's elements are read by position ([`element`]). No backslash appears in
//! these strings (MariaDB reads it as an escape inside literals): `[.]` instead of `\.`, `!` as
//! the `LIKE` escape. `REGEXP` follows the column's collation, so patterns that must tell cases
//! apart start with `(?-i)`.

/// `column` of `r` if it is JSON of type `kind` (`OBJECT` or `ARRAY`), else an empty one.
pub(crate) fn json_of_kind(column: &str, kind: &str) -> String {
    let empty = if kind == "ARRAY" { "[]" } else { "{}" };
    format!(
        "(CASE WHEN JSON_VALID(r.{column}) AND JSON_TYPE(r.{column}) = '{kind}' \
         THEN r.{column} ELSE '{empty}' END)"
    )
}

/// The keys of `column` of `r` as rows `e.key`, if it is an object.
pub(crate) fn object_entries(column: &str) -> String {
    format!(
        "JSON_TABLE(JSON_KEYS({}), '$[*]' COLUMNS (`key` VARCHAR(1024) CHARACTER SET utf8mb4 \
         COLLATE utf8mb4_nopad_bin PATH '$')) AS e",
        json_of_kind(column, "OBJECT")
    )
}

/// The JSON value of entry `e` of the object `column` of `r`.
pub(crate) fn value(column: &str) -> String {
    format!("JSON_EXTRACT(r.{column}, CONCAT('$.\"', e.key, '\"'))")
}

/// The elements of the array `column` of `r` as rows `e.i` (from 1), read with [`element`].
pub(crate) fn array_elements(column: &str) -> String {
    format!(
        "JSON_TABLE({}, '$[*]' COLUMNS (i FOR ORDINALITY)) AS e",
        json_of_kind(column, "ARRAY")
    )
}

/// The element `e` of the array `column` of `r`.
pub(crate) fn element(column: &str) -> String {
    format!("JSON_EXTRACT(r.{column}, CONCAT('$[', e.i - 1, ']'))")
}

/// Whether `column` of `r` is not JSON of type `kind`.
pub(crate) fn not_of_kind(column: &str, kind: &str) -> String {
    format!("NOT COALESCE(JSON_VALID(r.{column}) AND JSON_TYPE(r.{column}) = '{kind}', FALSE)")
}

/// `e.key` names an id: `…_id`, not `…external_id`, only letters, digits and underscores.
pub(crate) fn id_key() -> String {
    "e.key LIKE '%!_id' ESCAPE '!' AND e.key NOT LIKE '%external!_id' ESCAPE '!' \
     AND e.key NOT REGEXP '[^A-Za-z0-9_]'"
        .to_owned()
}

/// A context id written as an integer-valued string or a float with no fraction.
pub(crate) fn fixable_id() -> String {
    let v = value("context");
    format!(
        "{} AND ((JSON_TYPE({v}) = 'STRING' AND JSON_UNQUOTE({v}) REGEXP '^(0|[1-9][0-9]{{0,17}})$') \
         OR (JSON_TYPE({v}) = 'DOUBLE' AND CAST({v} AS CHAR) REGEXP '^-?[0-9]{{1,18}}[.]0+$'))",
        id_key()
    )
}

/// The integer a [`fixable_id`] entry holds.
pub(crate) fn fixed_id() -> String {
    format!(
        "CAST(CAST(JSON_UNQUOTE({}) AS DECIMAL(19, 0)) AS SIGNED)",
        value("context")
    )
}

/// The rewrite of one fixable context id of `r` (the first key), as `context = …`.
pub(crate) fn context_rewrite() -> String {
    format!(
        "context = (SELECT JSON_SET(r.context, CONCAT('$.\"', e.key, '\"'), {}) FROM {} \
         WHERE {} ORDER BY e.key LIMIT 1)",
        fixed_id(),
        object_entries("context"),
        fixable_id()
    )
}

/// A 64-character hex hash in either case.
pub(crate) const HEX_HASH: &str = "r.run_identity_hash REGEXP '^[0-9A-Fa-f]{64}$'";

/// A failure entry without a string `code` and `message`.
pub(crate) fn entry_without_code_or_message() -> String {
    let el = element("failure_summary");
    format!(
        "EXISTS (SELECT 1 FROM {} WHERE NOT COALESCE(JSON_TYPE({el}) = 'OBJECT', FALSE) \
         OR NOT COALESCE(JSON_TYPE(JSON_EXTRACT({el}, '$.code')) = 'STRING', FALSE) \
         OR NOT COALESCE(JSON_TYPE(JSON_EXTRACT({el}, '$.message')) = 'STRING', FALSE))",
        array_elements("failure_summary")
    )
}

/// A failure entry whose string `code` is not snake_case.
pub(crate) fn code_not_snake_case() -> String {
    let code = format!("JSON_EXTRACT({}, '$.code')", element("failure_summary"));
    format!(
        "EXISTS (SELECT 1 FROM {} WHERE JSON_TYPE({code}) = 'STRING' \
         AND JSON_UNQUOTE({code}) NOT REGEXP '(?-i)^[a-z][a-z0-9]*(_[a-z0-9]+)*$')",
        array_elements("failure_summary")
    )
}

/// A count that is not a non-negative 64-bit integer.
pub(crate) fn count_not_a_non_negative_integer() -> String {
    let v = value("summary_counts");
    format!(
        "EXISTS (SELECT 1 FROM {} WHERE NOT COALESCE(JSON_TYPE({v}) = 'INTEGER', FALSE) \
         OR CAST({v} AS CHAR) NOT REGEXP '^[0-9]{{1,19}}$' \
         OR CAST(CAST({v} AS CHAR) AS DECIMAL(20, 0)) > 9223372036854775807)",
        object_entries("summary_counts")
    )
}

/// A context id today's rules check that is not an integer (and cannot be made one).
pub(crate) fn id_not_an_integer() -> String {
    format!(
        "EXISTS (SELECT 1 FROM {} WHERE e.key IN ('backup_schedule_id', 'backup_set_id') \
         AND NOT COALESCE(JSON_TYPE({}) = 'INTEGER', FALSE) AND NOT ({}))",
        object_entries("context"),
        value("context"),
        fixable_id()
    )
}

/// A `scheduled_for` that is not an RFC 3339 time.
pub(crate) fn time_not_rfc3339() -> String {
    let v = value("context");
    format!(
        "EXISTS (SELECT 1 FROM {} WHERE e.key = 'scheduled_for' \
         AND (NOT COALESCE(JSON_TYPE({v}) = 'STRING', FALSE) OR JSON_UNQUOTE({v}) NOT REGEXP \
         '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}[Tt ][0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}([.][0-9]+)?([Zz]|[+-][0-9]{{2}}:[0-9]{{2}})$'))",
        object_entries("context")
    )
}
