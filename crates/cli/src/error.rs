//! Errors of the command line: one line of text and an exit code scripts can branch on.

use operation_runs_domain::UnknownRunType;
use operation_runs_service::ServiceError;
use std::fmt;

/// The documented exit codes of `oprun`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The command did what it was asked.
    Ok = 0,
    /// Anything else went wrong: the database, the migrations, a refused request.
    Error = 1,
    /// The command line is wrong (also clap's own exit code for usage errors).
    Usage = 2,
    /// No such run or schedule, or the viewer is not a member of its workspace (HTTP 404).
    NotFound = 3,
    /// The viewer is a member without the capability (HTTP 403).
    Forbidden = 4,
    /// An illegal lifecycle transition or a lost race with another writer (HTTP 409).
    Conflict = 5,
    /// `preflight --strict`, or `migrate up` without `--accept-data-loss`: the cutover would
    /// lose data.
    WouldLoseData = 6,
    /// `preflight --strict`: the cutover would refuse to start (rows breaking foreign keys).
    CutoverBlocked = 7,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// A failed command: what to print on stderr and how to exit.
#[derive(Debug)]
pub struct CliError {
    exit: Exit,
    message: String,
}

impl CliError {
    /// An error with an explicit exit code.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
        }
    }

    /// Exit code 1.
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(Exit::Error, message)
    }

    /// Exit code 2.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    /// Exit code 3.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Exit::NotFound, message)
    }

    /// The exit code.
    pub fn exit(&self) -> Exit {
        self.exit
    }

    /// Maps a service error of an operation on `subject` (e.g. "run 42").
    pub fn service(subject: &str, error: ServiceError) -> Self {
        match error {
            // The same words whether the row is missing or the viewer is not a member, so a
            // non-member cannot tell the two apart.
            ServiceError::NotFound => Self::not_found(format!("{subject} not found")),
            ServiceError::UnknownWorkspace(workspace) => {
                Self::not_found(format!("workspace {workspace} not found"))
            }
            ServiceError::Forbidden => Self::new(
                Exit::Forbidden,
                format!(
                    "forbidden: the user lacks the capability to view the operations of {subject}"
                ),
            ),
            ServiceError::Transition(e) => Self::new(
                Exit::Conflict,
                format!("refused transition of {subject}: {e}"),
            ),
            ServiceError::Conflict(reason) => Self::new(
                Exit::Conflict,
                format!("conflict on {subject}: another writer changed it first ({reason})"),
            ),
            // The library's message tells a developer to register the type at start-up; a
            // command-line user can only pick one of the registered types.
            ServiceError::UnknownRunType(UnknownRunType::NotRegistered(run_type)) => {
                Self::error(format!(
                    "run type `{run_type}` is not registered: `oprun types` lists the types new runs may use"
                ))
            }
            ServiceError::UnregisteredRunType(run_type) => Self::error(format!(
                "run type `{run_type}` of {subject} is not registered, so its counts cannot be checked (`oprun types` lists the registered types)"
            )),
            other => Self::error(other.to_string()),
        }
    }
}

/// The refusal of a monitoring read: a member without the capability to view operations.
pub fn forbidden_viewer(viewer: impl fmt::Display, workspace: impl fmt::Display) -> CliError {
    CliError::new(
        Exit::Forbidden,
        format!(
            "forbidden: user {viewer} is a member of workspace {workspace} without the capability to view operations"
        ),
    )
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Exactly one line, whatever the underlying error put into its message.
        let flat = self
            .message
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        f.write_str(&flat)
    }
}

impl std::error::Error for CliError {}

/// The result of a command.
pub type CliResult<T = ()> = Result<T, CliError>;
