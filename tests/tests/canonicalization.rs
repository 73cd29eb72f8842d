//! The migration's frozen run-type canonicalization agrees with the domain's, in Rust and in the
//! SQL the cutover runs on every backend.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use operation_runs_domain::{BUILTIN_LEGACY_SPELLINGS, RunTypeRegistry, canonicalize};
use operation_runs_migration::{LEGACY_TYPE_SPELLINGS, canonical_type};
use operation_runs_tests::{Migrator, TestDb, on_every_backend};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::MigratorTrait;

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Stored types worth canonicalizing: random dotted strings, legacy spellings, near misses of
/// legacy spellings, canonical ids, and odd characters.
fn generated_types(n: usize, seed: u64) -> Vec<String> {
    const ALPHABET: &[char] = &[
        'a', 'b', 'c', 'y', 'z', '0', '9', '_', '.', '.', '.', 'A', '-', '\'', '%', 'é', ' ',
    ];
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let s = match i % 4 {
            0 => {
                let (legacy, _) =
                    BUILTIN_LEGACY_SPELLINGS[rng.below(BUILTIN_LEGACY_SPELLINGS.len())];
                match rng.below(4) {
                    0 => legacy.to_owned(),
                    1 => format!("{legacy}.extra"),
                    2 => format!("x{legacy}"),
                    _ => legacy.to_uppercase(),
                }
            }
            1 => {
                let (_, canonical) =
                    BUILTIN_LEGACY_SPELLINGS[rng.below(BUILTIN_LEGACY_SPELLINGS.len())];
                canonical.to_owned()
            }
            _ => (0..rng.below(16))
                .map(|_| ALPHABET[rng.below(ALPHABET.len())])
                .collect(),
        };
        out.push(s);
    }
    out
}

#[test]
fn the_frozen_mapping_equals_the_domain_builtins() {
    assert_eq!(LEGACY_TYPE_SPELLINGS, BUILTIN_LEGACY_SPELLINGS);
}

#[test]
fn rust_canonicalizations_agree_on_many_generated_types() {
    let registry = RunTypeRegistry::with_builtins();
    let types = generated_types(20_000, 0x5eed_1234_abcd_ef01);
    assert!(types.iter().filter(|t| t.contains('.')).count() > 5_000);
    for stored in &types {
        let migration = canonical_type(stored);
        assert_eq!(migration, canonicalize(stored), "{stored:?}");
        assert_eq!(migration, registry.canonicalize(stored), "{stored:?}");
        assert!(!migration.contains('.'), "{stored:?} -> {migration:?}");
    }
    for (legacy, canonical) in LEGACY_TYPE_SPELLINGS {
        assert_eq!(canonical_type(legacy), canonical);
    }
    assert_eq!(canonical_type("directory_groups.sync"), "entra_group_sync");
    assert_eq!(
        canonical_type("backup_schedule.retry"),
        "backup_schedule_run"
    );
    assert_eq!(canonical_type("a.b.c"), "a_b_c");
    assert_eq!(canonical_type("inventory_sync"), "inventory_sync");
}

/// The cutover's SQL rewrite gives exactly `canonical_type` for every stored type.
async fn sql_rewrite_agrees_with_the_rust_rules(db: TestDb) {
    Migrator::up(&db.conn, Some(1)).await.unwrap();
    db.exec("INSERT INTO workspaces (name) VALUES ('w')").await;
    let workspace = db
        .scalar_i64("SELECT MAX(id) FROM workspaces")
        .await
        .unwrap();
    let types = generated_types(400, 0xfeed_beef_0042);
    let backend = db.db_backend();
    let insert = match backend {
        DbBackend::Postgres => {
            "INSERT INTO operation_runs (workspace_id, initiator_name, type, status, outcome, \
             run_identity_hash) VALUES ($1, 'system', $2, 'completed', 'succeeded', $3)"
        }
        _ => {
            "INSERT INTO operation_runs (workspace_id, initiator_name, type, status, outcome, \
             run_identity_hash) VALUES (?, 'system', ?, 'completed', 'succeeded', ?)"
        }
    };
    let mut ids = Vec::new();
    for (n, stored) in types.iter().enumerate() {
        db.conn
            .execute_raw(Statement::from_sql_and_values(
                backend,
                insert,
                vec![
                    workspace.into(),
                    stored.clone().into(),
                    format!("{n:064x}").into(),
                ],
            ))
            .await
            .unwrap();
        ids.push(
            db.scalar_i64("SELECT MAX(id) FROM operation_runs")
                .await
                .unwrap(),
        );
    }

    // Step 1 of the cutover only.
    Migrator::up(&db.conn, Some(1)).await.unwrap();

    for (id, stored) in ids.iter().zip(&types) {
        let row = db
            .conn
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT type FROM operation_runs WHERE id = {id}"),
            ))
            .await
            .unwrap()
            .unwrap();
        let rewritten: String = row.try_get_by_index(0).unwrap();
        assert_eq!(rewritten, canonical_type(stored), "stored {stored:?}");
    }
}

on_every_backend!(new => sql_rewrite_agrees_with_the_rust_rules);
