//! Regression guards over the source tree:
//! (a) outside the migration crate, no file names the legacy run tables, models or columns;
//! (b) nowhere does SQL insert canonical runs selected from a legacy table.
//!
//! The legacy names come from `operation_runs_migration::fixtures`, so this file never spells
//! them (it is scanned too).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use operation_runs_migration::fixtures::{LEGACY_TABLES, LEGACY_TOKENS};
use std::path::{Path, PathBuf};

/// The repository root (this package lives one level below it).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Files under `root` with one of `extensions`, skipping build output, VCS data and the
/// top-level directories in `skip`.
fn source_files(root: &Path, extensions: &[&str], skip: &[&str]) -> Vec<PathBuf> {
    fn walk(dir: &Path, root: &Path, extensions: &[&str], skip: &[&str], out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                let top_level_skip = dir == root && skip.contains(&name.as_str());
                if name == "target" || name == ".git" || top_level_skip {
                    continue;
                }
                walk(&path, root, extensions, skip, out);
            } else if path
                .extension()
                .is_some_and(|ext| extensions.contains(&ext.to_string_lossy().as_ref()))
            {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, extensions, skip, &mut out);
    out
}

fn relative(path: &Path) -> String {
    path.strip_prefix(repo_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Every `label:line: token` where a legacy token occurs in `content`.
fn legacy_token_hits(label: &str, content: &str) -> Vec<String> {
    let mut hits = Vec::new();
    for (n, line) in content.lines().enumerate() {
        for token in LEGACY_TOKENS {
            if line.contains(token) {
                hits.push(format!("{label}:{}: {token}", n + 1));
            }
        }
    }
    hits
}

/// Lower-cased text with string delimiters, line continuations and identifier quotes turned
/// into spaces and whitespace collapsed, so SQL split across Rust string pieces reads as one.
fn normalize(content: &str) -> String {
    let mut out = String::with_capacity(content.len());
    let mut space = false;
    for c in content.chars() {
        let c = match c {
            '"' | '`' | '\\' => ' ',
            c if c.is_whitespace() => ' ',
            c => c.to_ascii_lowercase(),
        };
        if c == ' ' {
            if !space {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
    }
    out.replace("public.", "")
}

fn is_identifier_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether `statement` reads rows from `table` (`from <table>` or `join <table>`, whole word).
fn reads_from(statement: &str, table: &str) -> bool {
    ["from ", "join "].iter().any(|keyword| {
        let needle = format!("{keyword}{table}");
        statement.match_indices(&needle).any(|(at, _)| {
            let before_ok = statement[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !is_identifier_char(c));
            let after_ok = statement[at + needle.len()..]
                .chars()
                .next()
                .is_none_or(|c| !is_identifier_char(c));
            before_ok && after_ok
        })
    })
}

/// How far around an insert a statement may reach when no `;` bounds it.
const STATEMENT_REACH: usize = 2_000;

/// Every place in `content` where one statement inserts into `operation_runs` and selects from
/// a legacy table (a CTE before the insert counts too), as `label: excerpt`.
fn legacy_backfill_hits(label: &str, content: &str) -> Vec<String> {
    let text = normalize(content);
    let insert = "insert into operation_runs";
    let mut hits = Vec::new();
    for (at, _) in text.match_indices(insert) {
        if text[at + insert.len()..]
            .chars()
            .next()
            .is_some_and(is_identifier_char)
        {
            continue;
        }
        let floor = text.floor_char_boundary(at.saturating_sub(STATEMENT_REACH));
        let start = text[floor..at].rfind(';').map_or(floor, |i| floor + i + 1);
        let ceiling = text.floor_char_boundary((at + STATEMENT_REACH).min(text.len()));
        let end = text[at..ceiling].find(';').map_or(ceiling, |i| at + i);
        let statement = &text[start..end];
        if !statement.contains("select") {
            continue;
        }
        for table in LEGACY_TABLES {
            if reads_from(statement, table) {
                let excerpt: String = text[at..end].chars().take(160).collect();
                hits.push(format!("{label}: {excerpt}"));
            }
        }
    }
    hits
}

#[test]
fn no_file_outside_the_migration_crate_names_the_legacy_schema() {
    let root = repo_root();
    let files = source_files(&root, &["rs", "toml", "sql", "md"], &["migration"]);
    assert!(
        files.iter().any(|f| f.ends_with("tests/tests/guards.rs")),
        "the scan must see this file"
    );
    assert!(
        !files.iter().any(|f| f.starts_with(root.join("migration"))),
        "the migration crate is exempt"
    );
    let mut hits = Vec::new();
    for file in &files {
        let content = std::fs::read_to_string(file).unwrap();
        hits.extend(legacy_token_hits(&relative(file), &content));
    }
    assert!(
        hits.is_empty(),
        "legacy names outside the migration crate:\n{}",
        hits.join("\n")
    );
}

#[test]
fn no_sql_anywhere_creates_canonical_runs_from_legacy_tables() {
    let root = repo_root();
    let files = source_files(&root, &["rs", "sql", "md", "toml"], &[]);
    assert!(
        files.iter().any(|f| f.starts_with(root.join("migration"))),
        "the migration crate is scanned too"
    );
    let mut hits = Vec::new();
    for file in &files {
        let content = std::fs::read_to_string(file).unwrap();
        hits.extend(legacy_backfill_hits(&relative(file), &content));
    }
    assert!(
        hits.is_empty(),
        "canonical runs created from legacy tables:\n{}",
        hits.join("\n")
    );
}

// The guards can fail: fed offending snippets (built from the constants, so this file stays
// clean) they report them, and they pass clean ones.

#[test]
fn the_token_guard_reports_every_token_with_its_line() {
    for token in LEGACY_TOKENS {
        let snippet = format!("fn ok() {{}}\nlet sql = \"SELECT * FROM x WHERE {token} = 1\";\n");
        assert_eq!(
            legacy_token_hits("src/offender.rs", &snippet),
            [format!("src/offender.rs:2: {token}")]
        );
    }
    let clean = "let x = \"SELECT baseline_operation_run_id, current_operation_run_id, \
                 last_seen_operation_run_id FROM findings\";";
    assert!(legacy_token_hits("src/clean.rs", clean).is_empty());
}

#[test]
fn the_backfill_guard_reports_inserts_selecting_from_legacy_tables() {
    let into = ["INSERT", "INTO", "operation_runs"].join(" ");
    for table in LEGACY_TABLES {
        let offending = [
            // One line.
            format!("{into} (workspace_id, type) SELECT workspace_id, 'x' FROM {table};"),
            // Split over Rust string pieces and lines, with aliases and odd case.
            format!(
                "db.execute_unprepared(\"{}\\n  (id, type)\\n\" \n  \"SeLeCt l.id, 'x' \"\n  \"FROM \\\"{table}\\\" AS l WHERE 1 = 1\").await?;",
                into.to_lowercase()
            ),
            // A join, schema-qualified.
            format!(
                "{into} (id) SELECT o.id FROM workspaces AS o JOIN public.{table} AS l ON l.id = o.id"
            ),
            // A CTE read before the insert.
            format!("WITH legacy AS (SELECT * FROM {table}) {into} (id) SELECT id FROM legacy;"),
        ];
        for snippet in &offending {
            assert_eq!(
                legacy_backfill_hits("src/offender.rs", snippet).len(),
                1,
                "not caught: {snippet}"
            );
        }
        let clean = [
            // Inserting canonical runs from values, then deleting legacy rows, are separate
            // statements.
            format!("{into} (id) VALUES (1); DELETE FROM {table} WHERE id = 1;"),
            // Selecting from a legacy table to update references is fine.
            format!("UPDATE findings SET x = (SELECT l.y FROM {table} AS l);"),
            // A table whose name merely starts like the legacy one.
            format!("{into} (id) SELECT id FROM {table}_archive;"),
            // Another table named like operation_runs.
            format!("{into}_log (id) SELECT id FROM {table};"),
        ];
        for snippet in &clean {
            assert!(
                legacy_backfill_hits("src/clean.rs", snippet).is_empty(),
                "false alarm: {snippet}"
            );
        }
    }
}

#[test]
fn the_scan_walks_nested_directories_and_skips_build_output() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (path, content) in [
        ("migration/src/a.rs", "x"),
        ("crates/x/src/deep/b.rs", "x"),
        ("crates/x/target/debug/c.rs", "x"),
        ("target/d.rs", "x"),
        ("docs/e.md", "x"),
        ("docs/f.txt", "x"),
    ] {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    let found: Vec<String> = source_files(root, &["rs", "md"], &["migration"])
        .iter()
        .map(|p| p.strip_prefix(root).unwrap().display().to_string())
        .collect();
    assert_eq!(found, ["crates/x/src/deep/b.rs", "docs/e.md"]);
}
