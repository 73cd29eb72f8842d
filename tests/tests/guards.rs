//! Regression guards over the source tree:
//! (a) outside the migration crate, no text file of any kind names the legacy run tables,
//!     models or columns (the snake_case table and column names in any case, since SQL does not
//!     care; the CamelCase model names as spelled);
//! (b) nowhere does SQL insert canonical runs selected from a legacy table.
//!
//! Every text file is read (sources, docs, scripts, CI and data files, files without an
//! extension); build output, VCS data, `Cargo.lock` and binary files are skipped. The legacy
//! names come from `operation_runs_migration::fixtures`, so this file never spells them (it is
//! scanned too).
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

/// The content of a text file; `None` for a binary one (a NUL byte, as git decides). Text that
/// is not UTF-8 is read lossily, so ASCII names in it are still seen.
fn read_text(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if bytes.contains(&0) {
        return None;
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Every text file under `root` with its content, sorted by path: any name or extension, but
/// not build output (`target`) or VCS data (`.git`) at any depth, not `Cargo.lock` (generated,
/// and it names packages, not schema), not binary files, not symlinks (their targets are
/// scanned where they live) and not the top-level directories in `skip`.
fn text_files(root: &Path, skip: &[&str]) -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, root: &Path, skip: &[&str], out: &mut Vec<(PathBuf, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap())
            .collect();
        entries.sort_by_key(|e| e.path());
        for entry in entries {
            let (path, kind) = (entry.path(), entry.file_type().unwrap());
            let name = entry.file_name().to_string_lossy().into_owned();
            if kind.is_dir() {
                let top_level_skip = dir == root && skip.contains(&name.as_str());
                if name == "target" || name == ".git" || top_level_skip {
                    continue;
                }
                walk(&path, root, skip, out);
            } else if kind.is_file()
                && name != "Cargo.lock"
                && let Some(content) = read_text(&path)
            {
                out.push((path, content));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, skip, &mut out);
    out
}

fn relative(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Whether `token` is a snake_case table or column name, matched in any case (SQL identifiers
/// are case-insensitive); CamelCase model names are matched as spelled.
fn matches_any_case(token: &str) -> bool {
    token
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Every `label:line: token` where a legacy token occurs in `content`.
fn legacy_token_hits(label: &str, content: &str) -> Vec<String> {
    let mut hits = Vec::new();
    for (n, line) in content.lines().enumerate() {
        let lower = line.to_ascii_lowercase();
        for token in LEGACY_TOKENS {
            let found = if matches_any_case(token) {
                lower.contains(token)
            } else {
                line.contains(token)
            };
            if found {
                hits.push(format!("{label}:{}: {token}", n + 1));
            }
        }
    }
    hits
}

/// Every legacy name in a text file under `root` outside its `migration` directory.
fn legacy_name_hits(root: &Path) -> Vec<String> {
    text_files(root, &["migration"])
        .iter()
        .flat_map(|(path, content)| legacy_token_hits(&relative(path, root), content))
        .collect()
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
    let files: Vec<PathBuf> = text_files(&root, &["migration"])
        .into_iter()
        .map(|(path, _)| path)
        .collect();
    for seen in [
        "tests/tests/guards.rs",
        ".ci/run",
        "README.md",
        ".gitignore",
    ] {
        assert!(files.contains(&root.join(seen)), "the scan must see {seen}");
    }
    assert!(
        !files.iter().any(|f| f.starts_with(root.join("migration"))),
        "the migration crate is exempt"
    );
    let hits = legacy_name_hits(&root);
    assert!(
        hits.is_empty(),
        "legacy names outside the migration crate:\n{}",
        hits.join("\n")
    );
}

#[test]
fn no_sql_anywhere_creates_canonical_runs_from_legacy_tables() {
    let root = repo_root();
    let files = text_files(&root, &[]);
    assert!(
        files
            .iter()
            .any(|(path, _)| path.starts_with(root.join("migration"))),
        "the migration crate is scanned too"
    );
    let mut hits = Vec::new();
    for (path, content) in &files {
        hits.extend(legacy_backfill_hits(&relative(path, &root), content));
    }
    assert!(
        hits.is_empty(),
        "canonical runs created from legacy tables:\n{}",
        hits.join("\n")
    );
}

/// The one source file allowed to spell the legacy run URLs: their table, which routes each to
/// the unknown-URL answer.
const LEGACY_URL_TABLE: &str = "crates/http/src/legacy.rs";

/// Whether a line spells a legacy run URL: the legacy tables' names with hyphens
/// (`…-sync-runs`), or a backup schedule's per-schedule `runs` resource.
fn spells_legacy_url(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    let hyphenated = LEGACY_TABLES
        .iter()
        .map(|table| table.replace('_', "-"))
        .any(|url| lower.contains(&url));
    let schedule_runs = lower
        .find("backup-schedules/")
        .is_some_and(|at| lower[at..].contains("}/runs"));
    hyphenated || schedule_runs
}

#[test]
fn legacy_run_urls_are_spelled_only_in_their_table() {
    let root = repo_root();
    let table = std::fs::read_to_string(root.join(LEGACY_URL_TABLE)).unwrap();
    let table_lines = table.lines().filter(|l| spells_legacy_url(l)).count();
    assert!(
        table_lines >= 12,
        "the table lists every legacy URL: {table_lines}"
    );
    let mut hits = Vec::new();
    for (path, content) in text_files(&root, &["migration"]) {
        let label = relative(&path, &root);
        let is_source = label.ends_with(".rs") && label.contains("/src/");
        if !is_source || label == LEGACY_URL_TABLE {
            continue;
        }
        for (n, line) in content.lines().enumerate() {
            if spells_legacy_url(line) {
                hits.push(format!("{label}:{}", n + 1));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "legacy run URLs outside {LEGACY_URL_TABLE}:\n{}",
        hits.join("\n")
    );
    assert!(spells_legacy_url(
        "    .route(\"/t/{t}/backup-schedules/{id}/runs\", get(x))"
    ));
    assert!(!spells_legacy_url(
        "/workspaces/{ws}/backup-schedules/{schedule}/history"
    ));
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
    assert!(legacy_token_hits("src/clean.rs", &clean.to_ascii_uppercase()).is_empty());
}

/// `aBcD…`: every other letter upper case.
fn alternating_case(token: &str) -> String {
    token
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}

#[test]
fn the_token_guard_matches_table_and_column_names_in_any_case() {
    let snake: Vec<&str> = LEGACY_TOKENS
        .into_iter()
        .filter(|t| matches_any_case(t))
        .collect();
    assert_eq!(snake.len(), 6, "three tables and three columns");
    for token in &snake {
        for spelled in [
            token.to_ascii_uppercase(),
            alternating_case(token),
            format!("{}{}", token[..1].to_ascii_uppercase(), &token[1..]),
        ] {
            assert_ne!(&spelled, token);
            let snippet = format!("-- old report\nSELECT COUNT(*) FROM {spelled} WHERE 1 = 1;\n");
            assert_eq!(
                legacy_token_hits("scripts/report.sql", &snippet),
                [format!("scripts/report.sql:2: {token}")],
                "not caught: {spelled}"
            );
        }
    }
    // The model names are CamelCase identifiers: only their exact spelling is one.
    for token in LEGACY_TOKENS.into_iter().filter(|t| !matches_any_case(t)) {
        for other in [token.to_ascii_lowercase(), token.to_ascii_uppercase()] {
            assert!(
                legacy_token_hits("src/x.rs", &other).is_empty(),
                "false alarm: {other}"
            );
        }
    }
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
fn the_scan_reads_every_text_file_and_skips_build_output_vcs_data_lock_files_and_binaries() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let [table, _, _, model, ..] = LEGACY_TOKENS;
    let upper = table.to_ascii_uppercase();
    let line = |name: &str| format!("first line\nuses {name} here\n").into_bytes();
    let mut binary = line(table);
    binary.extend([0, 159, 146, 150]);
    let mut latin1 = b"caf\xe9 ".to_vec();
    latin1.extend(line(&upper));
    let files: Vec<(&str, Vec<u8>)> = vec![
        // Scanned: any extension or none, hidden directories, nested directories, non-UTF-8.
        (".ci/run", line(&upper)),
        (".github/workflows/ci.yml", line(table)),
        ("scripts/reset.sh", line(&upper)),
        ("data/seed.json", line(model)),
        ("Makefile", line(table)),
        ("crates/x/src/deep/b.rs", line(model)),
        ("docs/notes.txt", latin1),
        ("crates/x/README", line(table)),
        // Skipped.
        ("migration/src/a.rs", line(table)),
        ("crates/x/target/debug/c.rs", line(table)),
        ("target/d.sh", line(table)),
        (".git/config", line(table)),
        ("crates/x/.git/HEAD", line(table)),
        ("Cargo.lock", line(table)),
        ("crates/x/Cargo.lock", line(table)),
        ("assets/blob.bin", binary),
    ];
    for (path, content) in &files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    let scanned: Vec<String> = text_files(root, &["migration"])
        .iter()
        .map(|(path, _)| relative(path, root))
        .collect();
    let expected = [
        ".ci/run",
        ".github/workflows/ci.yml",
        "Makefile",
        "crates/x/README",
        "crates/x/src/deep/b.rs",
        "data/seed.json",
        "docs/notes.txt",
        "scripts/reset.sh",
    ];
    assert_eq!(scanned, expected);
    // Each scanned file's legacy name is reported, with its line.
    let hits = legacy_name_hits(root);
    assert_eq!(hits.len(), expected.len(), "{hits:#?}");
    for (file, hit) in expected.iter().zip(&hits) {
        assert!(hit.starts_with(&format!("{file}:2: ")), "{hit}");
    }
    // Without the exemption the migration directory is scanned like any other.
    assert!(
        text_files(root, &[])
            .iter()
            .any(|(path, _)| relative(path, root) == "migration/src/a.rs")
    );
}
