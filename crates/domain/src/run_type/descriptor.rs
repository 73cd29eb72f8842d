//! What the registry knows about one run type: its scope and the counts it may use.

use super::RunType;
use crate::counts::{BASE_COUNT_NAMES, CountError, CountName, SummaryCounts};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Whether a run of a type is about one tenant or the whole workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunScope {
    /// The run must name a tenant of its workspace.
    Tenant,
    /// The run concerns the workspace and names no tenant.
    Workspace,
}

/// What the registry knows about one run type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunTypeDescriptor {
    id: RunType,
    scope: RunScope,
    count_names: BTreeSet<CountName>,
    legacy_spellings: BTreeSet<String>,
}

impl RunTypeDescriptor {
    /// A type with the common base count names (`total`, `processed`, …) and no legacy spellings.
    #[must_use]
    pub fn new(id: RunType, scope: RunScope) -> Self {
        Self {
            id,
            scope,
            count_names: BASE_COUNT_NAMES
                .iter()
                .map(|n| CountName::from_static(n))
                .collect(),
            legacy_spellings: BTreeSet::new(),
        }
    }

    /// Adds count names of this type on top of the base set.
    #[must_use]
    pub fn with_counts(mut self, names: impl IntoIterator<Item = CountName>) -> Self {
        self.count_names.extend(names);
        self
    }

    /// Adds stored legacy spellings of this type: dotted, lowercase letters, digits and
    /// underscores (`policy.export`). [`RunTypeRegistry::register`] validates them, and
    /// [`RunTypeRegistry::canonicalize`] maps them to this type; the cutover migration only
    /// turns their dots into underscores (see the [module docs](self)).
    #[must_use]
    pub fn with_legacy_spellings<S: Into<String>>(
        mut self,
        spellings: impl IntoIterator<Item = S>,
    ) -> Self {
        self.legacy_spellings
            .extend(spellings.into_iter().map(Into::into));
        self
    }

    /// The canonical id.
    #[must_use]
    pub fn id(&self) -> &RunType {
        &self.id
    }

    /// Tenant or workspace scope.
    #[must_use]
    pub fn scope(&self) -> RunScope {
        self.scope
    }

    /// The count names a run of this type may use.
    #[must_use]
    pub fn count_names(&self) -> &BTreeSet<CountName> {
        &self.count_names
    }

    /// Whether the type declares a count name.
    #[must_use]
    pub fn declares(&self, name: &CountName) -> bool {
        self.count_names.contains(name)
    }

    /// Legacy stored spellings of this type.
    #[must_use]
    pub fn legacy_spellings(&self) -> &BTreeSet<String> {
        &self.legacy_spellings
    }

    /// Validates caller-supplied counts for this type: declared names, non-negative values; a
    /// name may repeat (its values add up).
    ///
    /// # Errors
    /// [`CountError`] for an invalid or undeclared name, a negative value or a sum above
    /// [`crate::MAX_COUNT`].
    pub fn counts<'a>(
        &self,
        raw: impl IntoIterator<Item = (&'a str, i64)>,
    ) -> Result<SummaryCounts, CountError> {
        let mut counts = SummaryCounts::new();
        for (name, value) in raw {
            let name = CountName::parse(name)?;
            if !self.declares(&name) {
                return Err(self.undeclared(&name));
            }
            let value = u64::try_from(value).map_err(|_| CountError::Negative {
                name: name.to_string(),
                value,
            })?;
            counts.add(name, value)?;
        }
        Ok(counts)
    }

    /// Checks that this type declares every name of `counts`.
    ///
    /// # Errors
    /// [`CountError::Undeclared`] for the first undeclared name.
    pub fn check_declared(&self, counts: &SummaryCounts) -> Result<(), CountError> {
        match counts.iter().find(|(name, _)| !self.declares(name)) {
            Some((name, _)) => Err(self.undeclared(name)),
            None => Ok(()),
        }
    }

    fn undeclared(&self, name: &CountName) -> CountError {
        CountError::Undeclared {
            name: name.to_string(),
            run_type: self.id.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory() -> RunTypeDescriptor {
        RunTypeDescriptor::new(RunType::INVENTORY_SYNC, RunScope::Tenant)
            .with_counts([CountName::parse("items_seen").unwrap()])
    }

    #[test]
    fn only_declared_non_negative_counts() {
        let d = inventory();
        let ok = d
            .counts([("total", 3), ("items_seen", 2), ("total", 1)])
            .unwrap();
        assert_eq!(ok.get_str("total"), 4);
        assert_eq!(ok.get_str("items_seen"), 2);
        assert!(matches!(
            d.counts([("groups", 1)]),
            Err(CountError::Undeclared { .. })
        ));
        assert!(matches!(
            d.counts([("total", -1)]),
            Err(CountError::Negative { .. })
        ));
        assert!(matches!(
            d.counts([("To tal", 1)]),
            Err(CountError::InvalidName(_))
        ));
    }
}
