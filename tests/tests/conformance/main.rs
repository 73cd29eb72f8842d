//! The port contracts, checked on every backend of `on_every_store!`: the in-memory store,
//! SQLite, and PostgreSQL when `OPRUN_TEST_POSTGRES_URL` is set. Every test seeds and reads
//! through the ports only; checks of what is specific to the SQL store live in `sql_store.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

mod backups;
mod context;
mod counts;
mod directory;
mod inventory_findings;
mod legacy_rows;
mod lists;
mod precision;
mod purge;
mod schedule_history;
mod stale;
mod start;
mod transitions;
