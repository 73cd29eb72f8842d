//! The other ports: inventory, findings, backups, the directory and provisioning.

use crate::{MemoryStore, State, Table, stored_time};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use operation_runs_domain::{
    BackupScheduleId, BackupSetId, FindingId, InventoryItemId, Membership, RunId, TenantId, UserId,
    WorkspaceId,
};
use operation_runs_ports::{
    BackupRepository, BackupSchedule, BackupSet, Finding, FindingRepository, InventoryItem,
    InventoryRepository, NewFinding, PortError, Provisioning, SeenItem, WorkspaceDirectory,
};

impl State {
    /// The foreign keys a row naming this workspace, tenant and runs would need.
    fn references_exist(
        &self,
        workspace: WorkspaceId,
        tenant: TenantId,
        runs: &[RunId],
    ) -> Result<(), PortError> {
        let found = self.workspaces.contains_key(&workspace)
            && self.tenants.contains_key(&tenant)
            && runs.iter().all(|run| self.runs.contains_key(run));
        if found {
            Ok(())
        } else {
            Err(PortError::NotFound)
        }
    }
}

#[async_trait]
impl InventoryRepository for MemoryStore {
    async fn upsert_seen(
        &self,
        workspace: WorkspaceId,
        tenant: TenantId,
        items: &[SeenItem],
        run: RunId,
        _now: DateTime<Utc>,
    ) -> Result<Vec<InventoryItem>, PortError> {
        let mut state = self.state();
        if items.is_empty() {
            return Ok(Vec::new());
        }
        state.references_exist(workspace, tenant, &[run])?;
        let mut stored = Vec::with_capacity(items.len());
        for seen in items {
            let existing = state
                .items
                .values()
                .find(|i| i.tenant_id == tenant && i.external_id == seen.external_id)
                .map(|i| i.id);
            let id = match existing {
                Some(id) => id,
                None => InventoryItemId::new(state.next_id(Table::Items)),
            };
            let item = InventoryItem {
                id,
                tenant_id: tenant,
                external_id: seen.external_id.clone(),
                kind: seen.kind.clone(),
                display_name: seen.display_name.clone(),
                last_seen_operation_run_id: Some(run),
            };
            state.items.insert(id, item);
            stored.push(id);
        }
        // Each given item as stored at the end: an id given twice shows its last sighting.
        stored
            .iter()
            .map(|id| state.items.get(id).cloned().ok_or(PortError::NotFound))
            .collect()
    }

    async fn list_items(&self, tenant: TenantId) -> Result<Vec<InventoryItem>, PortError> {
        let mut items: Vec<InventoryItem> = self
            .state()
            .items
            .values()
            .filter(|i| i.tenant_id == tenant)
            .cloned()
            .collect();
        items.sort_by(|a, b| a.external_id.cmp(&b.external_id));
        Ok(items)
    }
}

#[async_trait]
impl FindingRepository for MemoryStore {
    async fn insert_findings(
        &self,
        findings: &[NewFinding],
        _now: DateTime<Utc>,
    ) -> Result<Vec<Finding>, PortError> {
        let mut state = self.state();
        for f in findings {
            state.references_exist(
                f.workspace_id,
                f.tenant_id,
                &[f.baseline_operation_run_id, f.current_operation_run_id],
            )?;
        }
        let mut out = Vec::with_capacity(findings.len());
        for f in findings {
            let finding = f.stored_as(FindingId::new(state.next_id(Table::Findings)));
            state.findings.insert(finding.id, finding.clone());
            out.push(finding);
        }
        Ok(out)
    }

    async fn list_findings(&self, tenant: TenantId) -> Result<Vec<Finding>, PortError> {
        Ok(self
            .state()
            .findings
            .values()
            .filter(|f| f.tenant_id == tenant)
            .cloned()
            .collect())
    }
}

fn purgeable(set: &BackupSet, schedule: BackupScheduleId, deleted_before: DateTime<Utc>) -> bool {
    set.schedule_id == schedule
        && set
            .deleted_at
            .is_some_and(|at| at < stored_time(deleted_before))
}

#[async_trait]
impl BackupRepository for MemoryStore {
    async fn get_schedule(&self, id: BackupScheduleId) -> Result<BackupSchedule, PortError> {
        self.state()
            .schedules
            .get(&id)
            .cloned()
            .ok_or(PortError::NotFound)
    }

    async fn create_set(
        &self,
        schedule: BackupScheduleId,
        name: &str,
        item_count: u64,
        now: DateTime<Utc>,
    ) -> Result<BackupSet, PortError> {
        if i64::try_from(item_count).is_err() {
            return Err(PortError::CountOverflow("item_count".into()));
        }
        let mut state = self.state();
        if !state.schedules.contains_key(&schedule) {
            return Err(PortError::NotFound);
        }
        let set = BackupSet {
            id: BackupSetId::new(state.next_id(Table::Sets)),
            schedule_id: schedule,
            name: name.to_owned(),
            item_count,
            created_at: stored_time(now),
            deleted_at: None,
        };
        state.sets.insert(set.id, set.clone());
        Ok(set)
    }

    async fn list_sets(
        &self,
        schedule: BackupScheduleId,
        include_deleted: bool,
    ) -> Result<Vec<BackupSet>, PortError> {
        let mut sets: Vec<BackupSet> = self
            .state()
            .sets
            .values()
            .filter(|s| s.schedule_id == schedule && (include_deleted || s.deleted_at.is_none()))
            .cloned()
            .collect();
        sets.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.id)));
        Ok(sets)
    }

    async fn soft_delete_sets(
        &self,
        schedule: BackupScheduleId,
        ids: &[BackupSetId],
        now: DateTime<Utc>,
    ) -> Result<u64, PortError> {
        let mut changed = 0;
        for set in self.state().sets.values_mut() {
            if set.schedule_id == schedule && set.deleted_at.is_none() && ids.contains(&set.id) {
                set.deleted_at = Some(stored_time(now));
                changed += 1;
            }
        }
        Ok(changed)
    }

    async fn count_purgeable_sets(
        &self,
        schedule: BackupScheduleId,
        deleted_before: DateTime<Utc>,
    ) -> Result<u64, PortError> {
        let state = self.state();
        let count = state
            .sets
            .values()
            .filter(|s| purgeable(s, schedule, deleted_before))
            .count();
        Ok(count as u64)
    }

    async fn purge_sets(
        &self,
        schedule: BackupScheduleId,
        deleted_before: DateTime<Utc>,
    ) -> Result<u64, PortError> {
        let mut state = self.state();
        let before = state.sets.len();
        state
            .sets
            .retain(|_, s| !purgeable(s, schedule, deleted_before));
        Ok((before - state.sets.len()) as u64)
    }
}

#[async_trait]
impl WorkspaceDirectory for MemoryStore {
    async fn membership(
        &self,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Result<Option<Membership>, PortError> {
        Ok(self.state().memberships.get(&(workspace, user)).copied())
    }

    async fn tenant_workspace(&self, tenant: TenantId) -> Result<Option<WorkspaceId>, PortError> {
        Ok(self.state().tenants.get(&tenant).copied())
    }
}

#[async_trait]
impl Provisioning for MemoryStore {
    async fn create_workspace(&self, name: &str) -> Result<WorkspaceId, PortError> {
        let mut state = self.state();
        let id = WorkspaceId::new(state.next_id(Table::Workspaces));
        state.workspaces.insert(id, name.to_owned());
        Ok(id)
    }

    async fn create_tenant(
        &self,
        workspace: WorkspaceId,
        name: &str,
    ) -> Result<TenantId, PortError> {
        let mut state = self.state();
        if !state.workspaces.contains_key(&workspace) {
            return Err(PortError::NotFound);
        }
        let id = TenantId::new(state.next_id(Table::Tenants));
        state.tenants.insert(id, workspace);
        state.tenant_names.insert(id, name.to_owned());
        Ok(id)
    }

    async fn add_member(
        &self,
        workspace: WorkspaceId,
        user: UserId,
        can_view_operations: bool,
        can_manage_operations: bool,
    ) -> Result<Membership, PortError> {
        let mut state = self.state();
        if !state.workspaces.contains_key(&workspace) {
            return Err(PortError::NotFound);
        }
        let membership = Membership {
            can_view_operations,
            can_manage_operations,
        };
        state.memberships.insert((workspace, user), membership);
        Ok(membership)
    }

    async fn create_backup_schedule(
        &self,
        workspace: WorkspaceId,
        tenant: TenantId,
        name: &str,
        keep_last: u32,
    ) -> Result<BackupSchedule, PortError> {
        let mut state = self.state();
        state.references_exist(workspace, tenant, &[])?;
        let schedule = BackupSchedule {
            id: BackupScheduleId::new(state.next_id(Table::Schedules)),
            workspace_id: workspace,
            tenant_id: tenant,
            name: name.to_owned(),
            keep_last,
        };
        state.schedules.insert(schedule.id, schedule.clone());
        Ok(schedule)
    }

    // Maps iterate in id order, so the first match is the oldest, as the contract asks.

    async fn find_workspace(&self, name: &str) -> Result<Option<WorkspaceId>, PortError> {
        Ok(self
            .state()
            .workspaces
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .map(|(id, _)| *id))
    }

    async fn find_tenant(
        &self,
        workspace: WorkspaceId,
        name: &str,
    ) -> Result<Option<TenantId>, PortError> {
        let state = self.state();
        Ok(state
            .tenant_names
            .iter()
            .find(|(id, n)| n.as_str() == name && state.tenants.get(id) == Some(&workspace))
            .map(|(id, _)| *id))
    }

    async fn find_backup_schedule(
        &self,
        workspace: WorkspaceId,
        tenant: TenantId,
        name: &str,
    ) -> Result<Option<BackupSchedule>, PortError> {
        Ok(self
            .state()
            .schedules
            .values()
            .find(|s| s.workspace_id == workspace && s.tenant_id == tenant && s.name == name)
            .cloned())
    }
}
