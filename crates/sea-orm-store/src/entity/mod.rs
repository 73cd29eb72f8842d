//! Private SeaORM entities of the tables the adapter touches. Only the columns the canonical
//! schema keeps are mapped, so legacy columns can come and go without touching these.

pub(crate) mod api_tokens;
pub(crate) mod backup_schedules;
pub(crate) mod backup_sets;
pub(crate) mod findings;
pub(crate) mod inventory_items;
pub(crate) mod operation_runs;
pub(crate) mod tenants;
pub(crate) mod workspace_memberships;
pub(crate) mod workspaces;
