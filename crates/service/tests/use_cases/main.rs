//! The use cases against mocked ports: happy paths, and every refusal with nothing written.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod access;
mod complete_with_counts;
mod inventory_drift;
mod lifecycle;
mod reaper;
mod start;
mod support;
