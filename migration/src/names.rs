//! Names and predicates several migrations, the preflight and the fixtures share, each defined
//! once so they cannot drift apart.
//!
//! Crate-private on purpose: the history stays self-contained (no other crate can change what an
//! applied migration means), and code outside this crate gets the legacy names only through the
//! `fixtures` feature.

/// The legacy inventory sync run table, the one the legacy references point into.
pub(crate) const INVENTORY_SYNC_RUNS: &str = "inventory_sync_runs";

/// The three legacy run tables the cutover drops. None has a foreign key, so any order drops
/// them.
pub(crate) const LEGACY_RUN_TABLES: [&str; 3] = [
    INVENTORY_SYNC_RUNS,
    "entra_group_sync_runs",
    "backup_schedule_runs",
];

/// The legacy reference columns the cutover drops, as (table, column).
pub(crate) const LEGACY_REFERENCE_COLUMNS: [(&str, &str); 3] = [
    ("inventory_items", "last_seen_run_id"),
    ("findings", "baseline_run_id"),
    ("findings", "current_run_id"),
];

/// The SQL predicate selecting active runs of `operation_runs`. It starts with the column name,
/// so `alias.{ACTIVE}` qualifies it.
pub(crate) const ACTIVE: &str = "status IN ('queued', 'running')";

#[cfg(test)]
mod tests {
    use super::{ACTIVE, LEGACY_RUN_TABLES};
    use std::path::Path;

    /// The code lines (comments skipped) of every source file of this crate, with the file's
    /// name.
    fn code() -> Vec<(String, String)> {
        let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
        let mut out = Vec::new();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let content = std::fs::read_to_string(&path).unwrap();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                for line in content.lines() {
                    if !line.trim_start().starts_with("//") {
                        out.push((name.clone(), line.to_owned()));
                    }
                }
            }
        }
        out
    }

    fn squeeze(text: &str) -> String {
        text.chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase()
    }

    #[test]
    fn each_legacy_table_name_is_a_literal_in_one_place_only() {
        let code = code();
        assert!(code.len() > 1_000, "the scan sees the crate's sources");
        for table in LEGACY_RUN_TABLES {
            let literal = format!("\"{table}\"");
            let places: Vec<&String> = code
                .iter()
                .filter(|(_, line)| line.contains(&literal))
                .map(|(file, _)| file)
                .collect();
            assert_eq!(places, ["names.rs"], "{literal}");
        }
    }

    #[test]
    fn the_active_predicate_is_spelled_in_one_place_only() {
        let needle = squeeze(ACTIVE.trim_start_matches("status"));
        let places: Vec<String> = code()
            .iter()
            .filter(|(_, line)| squeeze(line).contains(&needle))
            .map(|(file, line)| format!("{file}: {line}"))
            .collect();
        assert_eq!(places.len(), 1, "{places:#?}");
        assert!(places[0].starts_with("names.rs"), "{places:#?}");
    }
}
