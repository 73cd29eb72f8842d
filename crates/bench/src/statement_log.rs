//! The statements a connection executed while armed, timed by its metric hook.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// One statement as the connection's metric hook saw it.
#[derive(Debug, Clone)]
pub struct LoggedStatement {
    pub elapsed: Duration,
    pub sql: String,
}

/// Statements executed on a connection while armed: how many round trips an operation costs
/// and how long each statement of a batched job held the database.
#[derive(Debug, Default)]
pub struct StatementLog {
    armed: AtomicBool,
    entries: Mutex<Vec<LoggedStatement>>,
}

impl StatementLog {
    pub(crate) fn record(&self, info: &sea_orm::metric::Info<'_>) {
        if self.armed.load(Ordering::Relaxed) {
            let sql: String = info.statement.sql.chars().take(120).collect();
            self.entries
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(LoggedStatement {
                    elapsed: info.elapsed,
                    sql,
                });
        }
    }

    /// Clears the log and starts recording.
    pub fn arm(&self) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.armed.store(true, Ordering::Relaxed);
    }

    /// Stops recording and hands out what was recorded.
    pub fn disarm(&self) -> Vec<LoggedStatement> {
        self.armed.store(false, Ordering::Relaxed);
        std::mem::take(&mut *self.entries.lock().unwrap_or_else(PoisonError::into_inner))
    }
}
