//! `oprun types`: the allow-list.

use crate::cli::GlobalArgs;
use crate::error::CliResult;
use crate::output::{Table, print_json};
use operation_runs_domain::RunScope;
use operation_runs_domain::counts::BASE_COUNT_NAMES;
use serde_json::json;

fn scope(scope: RunScope) -> &'static str {
    match scope {
        RunScope::Tenant => "tenant",
        RunScope::Workspace => "workspace",
    }
}

/// Prints the registered run types (the built-ins and those of `--types`).
pub fn run(global: &GlobalArgs) -> CliResult {
    let registry = crate::registry::load(global)?;
    if global.json {
        let types = registry
            .iter()
            .map(|d| {
                json!({
                    "type": d.id().as_str(),
                    "scope": scope(d.scope()),
                    "count_names": d.count_names().iter().map(|c| c.as_str()).collect::<Vec<_>>(),
                    "legacy_spellings": d.legacy_spellings(),
                })
            })
            .collect::<Vec<_>>();
        print_json(&types);
        return Ok(());
    }
    let mut table = Table::new(["TYPE", "SCOPE", "COUNT NAMES", "LEGACY SPELLINGS"]);
    for d in registry.iter() {
        let spellings = d.legacy_spellings().iter().cloned().collect::<Vec<_>>();
        table.row([
            d.id().to_string(),
            scope(d.scope()).to_owned(),
            {
                let own = d
                    .count_names()
                    .iter()
                    .map(|c| c.as_str())
                    .filter(|c| !BASE_COUNT_NAMES.contains(c))
                    .collect::<Vec<_>>();
                if own.is_empty() {
                    "base".to_owned()
                } else {
                    format!("base + {}", own.join(", "))
                }
            },
            if spellings.is_empty() {
                "-".to_owned()
            } else {
                spellings.join(", ")
            },
        ]);
    }
    print!("{}", table.render());
    println!();
    println!("base counts (every type): {}", BASE_COUNT_NAMES.join(", "));
    println!(
        "New runs must use a canonical type of this list; the legacy spellings are what the cutover migration rewrites."
    );
    Ok(())
}
