//! The run types `oprun` allows: the built-ins, plus a host's own from `--types FILE`.

use crate::cli::GlobalArgs;
use crate::error::{CliError, CliResult};
use operation_runs_domain::{CountName, RunScope, RunType, RunTypeDescriptor, RunTypeRegistry};
use serde::Deserialize;

/// One host type as the file describes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TypeEntry {
    id: String,
    scope: Scope,
    #[serde(default)]
    counts: Vec<String>,
    #[serde(default)]
    legacy_spellings: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Scope {
    Tenant,
    Workspace,
}

/// The built-ins and the types of `--types FILE` (a JSON array of
/// `{"id", "scope": "tenant" | "workspace", "counts": [...], "legacy_spellings": [...]}`).
pub fn load(global: &GlobalArgs) -> CliResult<RunTypeRegistry> {
    let mut registry = RunTypeRegistry::with_builtins();
    let Some(path) = &global.types else {
        return Ok(registry);
    };
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::error(format!("cannot read the run types file {shown}: {e}")))?;
    let entries: Vec<TypeEntry> = serde_json::from_str(&text).map_err(|e| {
        CliError::error(format!(
            "the run types file {shown} is not a JSON array of {{\"id\", \"scope\", \"counts\", \"legacy_spellings\"}}: {e}"
        ))
    })?;
    for entry in entries {
        let bad = |reason: String| {
            CliError::error(format!(
                "run types file {shown}, type `{}`: {reason}",
                entry.id
            ))
        };
        let id = RunType::parse(&entry.id).map_err(|e| bad(e.to_string()))?;
        let counts = entry
            .counts
            .iter()
            .map(|name| CountName::parse(name))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(e.to_string()))?;
        let scope = match entry.scope {
            Scope::Tenant => RunScope::Tenant,
            Scope::Workspace => RunScope::Workspace,
        };
        let descriptor = RunTypeDescriptor::new(id, scope)
            .with_counts(counts)
            .with_legacy_spellings(entry.legacy_spellings.iter().cloned());
        registry
            .register(descriptor)
            .map_err(|e| bad(e.to_string()))?;
    }
    Ok(registry)
}
