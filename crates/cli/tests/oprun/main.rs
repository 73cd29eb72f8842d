//! The `oprun` binary, run as a user would: on a temp SQLite file always, and on PostgreSQL when
//! `OPRUN_TEST_POSTGRES_URL` is set. One module per subject; every command line goes through the
//! typed driver in `common` ([`common::Oprun`]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../common/mod.rs"]
mod common;

mod database_url;
mod demo;
mod documented_errors;
mod help_and_exit_codes;
mod migrate;
mod preflight;
mod reap;
mod runs_lifecycle;
mod runs_list_show;
mod runs_start;
mod schedules;
