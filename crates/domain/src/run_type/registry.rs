//! The allow-list of run types, and why it refuses a registration or a new run's type.

use super::{
    BUILTIN_LEGACY_SPELLINGS, RunScope, RunType, RunTypeDescriptor, RunTypeError, canonicalize,
    is_canonical,
};
use crate::counts::CountName;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Why a type description was refused by [`RunTypeRegistry::register`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The id is registered already.
    #[error("run type `{0}` is already registered")]
    Duplicate(String),
    /// A legacy spelling is canonical itself, so it would shadow a real type.
    #[error(
        "legacy spelling `{spelling}` of `{run_type}` is a canonical id; legacy spellings must contain a dot"
    )]
    CanonicalSpelling {
        /// The type being registered.
        run_type: String,
        /// The offending spelling.
        spelling: String,
    },
    /// A legacy spelling already belongs to another type.
    #[error("legacy spelling `{spelling}` of `{run_type}` already belongs to `{owner}`")]
    SpellingCollision {
        /// The type being registered.
        run_type: String,
        /// The offending spelling.
        spelling: String,
        /// The type that owns the spelling.
        owner: String,
    },
    /// A legacy spelling is not a stored dotted type.
    #[error(
        "legacy spelling `{spelling}` of `{run_type}` is not a dotted spelling: use segments of lowercase letters, digits and underscores joined by dots, e.g. `policy.export`"
    )]
    InvalidSpelling {
        /// The type being registered.
        run_type: String,
        /// The offending spelling.
        spelling: String,
    },
    /// The cutover migration rewrites a legacy spelling to a registered type other than the
    /// one it belongs to, so the runs stored under it would end up as runs of that other type.
    /// Raised in either order: registering the spelling after the other type, or the other
    /// type after the spelling.
    #[error(
        "legacy spelling `{spelling}` of `{owner}` is rewritten to `{rewrite}` by the cutover migration, and `{rewrite}` is a different registered type: its stored runs would become `{rewrite}` runs"
    )]
    RewriteCollision {
        /// The offending spelling.
        spelling: String,
        /// The type the spelling belongs to.
        owner: String,
        /// What the cutover migration rewrites the spelling to: another registered type.
        rewrite: String,
    },
}

/// Whether `spelling` looks like a stored dotted type: segments of `[a-z0-9_]`, none empty,
/// joined by at least one dot.
fn is_legacy_spelling(spelling: &str) -> bool {
    spelling.contains('.')
        && spelling.split('.').all(|segment| {
            !segment.is_empty()
                && segment
                    .chars()
                    .all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        })
}

/// Why a type was refused for a new run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnknownRunType {
    /// Not a canonical id at all.
    #[error(transparent)]
    Invalid(#[from] RunTypeError),
    /// Canonical, but not registered.
    #[error("run type `{0}` is not registered; register it in the RunTypeRegistry at start-up")]
    NotRegistered(String),
}

/// The allow-list of run types ("FR-012"): the six built-ins plus what the host registers.
///
/// ```
/// use operation_runs_domain::{CountName, RunScope, RunType, RunTypeDescriptor, RunTypeRegistry};
///
/// let mut registry = RunTypeRegistry::with_builtins();
/// registry.register(
///     RunTypeDescriptor::new(RunType::parse("policy_export").unwrap(), RunScope::Tenant)
///         .with_counts([CountName::parse("policies").unwrap()])
///         .with_legacy_spellings(["policy.export"]),
/// ).unwrap();
/// assert!(registry.resolve_new("policy_export").is_ok());
/// assert_eq!(registry.canonicalize("policy.export"), "policy_export");
/// assert!(registry.resolve_new("policy.export").is_err()); // new runs must be canonical
/// ```
#[derive(Debug, Clone, Default)]
pub struct RunTypeRegistry {
    types: BTreeMap<RunType, RunTypeDescriptor>,
    spellings: BTreeMap<String, RunType>,
}

impl RunTypeRegistry {
    /// An empty registry (no type is allowed).
    #[must_use]
    pub fn empty() -> Self {
        Self::default()
    }

    /// The six built-in types with their legacy spellings and count names.
    #[must_use]
    pub fn with_builtins() -> Self {
        let mut registry = Self::empty();
        for descriptor in builtin_descriptors() {
            // The built-ins are a fixed, consistent table; a clash is impossible by construction.
            let _ = registry.register(descriptor);
        }
        registry
    }

    /// Adds a type to the allow-list.
    ///
    /// ```
    /// use operation_runs_domain::{RegistryError, RunScope, RunType, RunTypeDescriptor, RunTypeRegistry};
    ///
    /// let mut registry = RunTypeRegistry::with_builtins();
    /// // The cutover rewrites `entra.group_sync` to `entra_group_sync`, another registered type.
    /// let clash = RunTypeDescriptor::new(RunType::parse("group_export").unwrap(), RunScope::Tenant)
    ///     .with_legacy_spellings(["entra.group_sync"]);
    /// assert!(matches!(
    ///     registry.register(clash),
    ///     Err(RegistryError::RewriteCollision { .. })
    /// ));
    /// ```
    ///
    /// # Errors
    /// Nothing is registered when one of these is returned:
    /// - [`RegistryError::Duplicate`]: the id is registered already;
    /// - [`RegistryError::CanonicalSpelling`]: a legacy spelling is a canonical id;
    /// - [`RegistryError::InvalidSpelling`]: a legacy spelling is not segments of `[a-z0-9_]`
    ///   joined by dots;
    /// - [`RegistryError::SpellingCollision`]: a legacy spelling belongs to another type;
    /// - [`RegistryError::RewriteCollision`]: the cutover migration rewrites a legacy spelling of
    ///   this type to another registered type, or one of another type to this id.
    pub fn register(&mut self, descriptor: RunTypeDescriptor) -> Result<(), RegistryError> {
        let id = descriptor.id().clone();
        if self.types.contains_key(&id) {
            return Err(RegistryError::Duplicate(id.to_string()));
        }
        for spelling in descriptor.legacy_spellings() {
            if is_canonical(spelling) {
                return Err(RegistryError::CanonicalSpelling {
                    run_type: id.to_string(),
                    spelling: spelling.clone(),
                });
            }
            if !is_legacy_spelling(spelling) {
                return Err(RegistryError::InvalidSpelling {
                    run_type: id.to_string(),
                    spelling: spelling.clone(),
                });
            }
            if let Some(owner) = self.spellings.get(spelling) {
                return Err(RegistryError::SpellingCollision {
                    run_type: id.to_string(),
                    spelling: spelling.clone(),
                    owner: owner.to_string(),
                });
            }
            let rewrite = canonicalize(spelling);
            if rewrite != id.as_str() && self.is_registered(&rewrite) {
                return Err(RegistryError::RewriteCollision {
                    spelling: spelling.clone(),
                    owner: id.to_string(),
                    rewrite: rewrite.into_owned(),
                });
            }
        }
        // The other order: a spelling registered earlier that the cutover rewrites to this id.
        if let Some((spelling, owner)) = self
            .spellings
            .iter()
            .find(|(spelling, owner)| **owner != id && canonicalize(spelling) == id.as_str())
        {
            return Err(RegistryError::RewriteCollision {
                spelling: spelling.clone(),
                owner: owner.to_string(),
                rewrite: id.to_string(),
            });
        }
        for spelling in descriptor.legacy_spellings() {
            self.spellings.insert(spelling.clone(), id.clone());
        }
        self.types.insert(id, descriptor);
        Ok(())
    }

    /// The descriptor of a registered canonical id, if any.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&RunTypeDescriptor> {
        RunType::parse(id).ok().and_then(|t| self.types.get(&t))
    }

    /// Whether a stored type is on the allow-list.
    #[must_use]
    pub fn is_registered(&self, id: &str) -> bool {
        self.get(id).is_some()
    }

    /// The descriptor for a new run's type: it must be canonical and registered.
    ///
    /// # Errors
    /// [`UnknownRunType`] otherwise; a dotted spelling names its canonical form in the message.
    pub fn resolve_new(&self, id: &str) -> Result<&RunTypeDescriptor, UnknownRunType> {
        let run_type = RunType::parse(id)?;
        self.types
            .get(&run_type)
            .ok_or_else(|| UnknownRunType::NotRegistered(id.to_owned()))
    }

    /// Canonicalizes a stored spelling when a host reads stored types: a registered legacy
    /// spelling maps to its type, any other dot becomes an underscore.
    ///
    /// For the built-ins and for spellings whose dots→underscores rewrite is their type, this is
    /// what the cutover migration does; the migration does not know the other registered
    /// spellings and rewrites them by the dots→underscores rule only (see the
    /// [module docs](self)).
    #[must_use]
    pub fn canonicalize<'a>(&self, stored: &'a str) -> Cow<'a, str> {
        match self.spellings.get(stored) {
            Some(id) => Cow::Owned(id.to_string()),
            None => canonicalize(stored),
        }
    }

    /// All registered types, ordered by id.
    pub fn iter(&self) -> impl Iterator<Item = &RunTypeDescriptor> {
        self.types.values()
    }
}

fn builtin_descriptors() -> Vec<RunTypeDescriptor> {
    let counts = |names: &[&'static str]| {
        names
            .iter()
            .map(|n| CountName::from_static(n))
            .collect::<Vec<_>>()
    };
    let legacy_of = |id: &RunType| {
        BUILTIN_LEGACY_SPELLINGS
            .iter()
            .filter(|(_, canonical)| *canonical == id.as_str())
            .map(|(legacy, _)| *legacy)
            .collect::<Vec<_>>()
    };
    [
        (RunType::INVENTORY_SYNC, counts(&["items_seen"])),
        (
            RunType::ENTRA_GROUP_SYNC,
            counts(&["groups_seen", "members_seen"]),
        ),
        (
            RunType::BACKUP_SCHEDULE_RUN,
            counts(&["items_backed_up", "sets_created"]),
        ),
        (
            RunType::BACKUP_SCHEDULE_RETENTION,
            counts(&["sets_kept", "sets_soft_deleted"]),
        ),
        (
            RunType::BACKUP_SCHEDULE_PURGE,
            counts(&["sets_purged", "runs_purged"]),
        ),
        (RunType::DRIFT_GENERATE, counts(&["findings_created"])),
    ]
    .into_iter()
    .map(|(id, extra)| {
        let spellings = legacy_of(&id);
        RunTypeDescriptor::new(id, RunScope::Tenant)
            .with_counts(extra)
            .with_legacy_spellings(spellings)
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_pattern() {
        for ok in ["a", "inventory_sync", "a1_b2", "x9"] {
            assert!(is_canonical(ok), "{ok}");
        }
        for bad in [
            "",
            "_a",
            "a_",
            "a__b",
            "A",
            "1a",
            "inventory.sync",
            "a-b",
            "a b",
            "é",
        ] {
            assert!(!is_canonical(bad), "{bad}");
        }
    }

    #[test]
    fn builtins_are_registered_with_their_spellings() {
        let registry = RunTypeRegistry::with_builtins();
        assert_eq!(registry.iter().count(), 6);
        for (legacy, canonical) in BUILTIN_LEGACY_SPELLINGS {
            assert_eq!(registry.canonicalize(legacy), canonical);
            assert!(
                registry
                    .get(canonical)
                    .is_some_and(|d| d.legacy_spellings().contains(legacy))
            );
        }
    }

    #[test]
    fn canonicalize_rewrites_unknown_dots_and_keeps_canonical_ids() {
        assert_eq!(canonicalize("foo.bar.baz"), "foo_bar_baz");
        assert_eq!(canonicalize("inventory_sync"), "inventory_sync");
        assert_eq!(
            canonicalize("backup_schedule.run_now"),
            "backup_schedule_run"
        );
    }

    #[test]
    fn new_runs_need_canonical_registered_types() {
        let registry = RunTypeRegistry::with_builtins();
        assert!(registry.resolve_new("inventory_sync").is_ok());
        assert!(matches!(
            registry.resolve_new("inventory.sync"),
            Err(UnknownRunType::Invalid(RunTypeError::Dotted(_, ref c))) if c == "inventory_sync"
        ));
        assert!(matches!(
            registry.resolve_new("policy_export"),
            Err(UnknownRunType::NotRegistered(_))
        ));
        assert!(matches!(
            registry.resolve_new("Nope"),
            Err(UnknownRunType::Invalid(RunTypeError::NotCanonical(_)))
        ));
    }

    #[test]
    fn registration_refuses_duplicates_and_collisions() {
        let mut registry = RunTypeRegistry::with_builtins();
        let dup = RunTypeDescriptor::new(RunType::INVENTORY_SYNC, RunScope::Tenant);
        assert_eq!(
            registry.register(dup),
            Err(RegistryError::Duplicate("inventory_sync".into()))
        );

        let id = RunType::parse("policy_export").unwrap();
        let colliding = RunTypeDescriptor::new(id.clone(), RunScope::Workspace)
            .with_legacy_spellings(["inventory.sync"]);
        assert!(matches!(
            registry.register(colliding),
            Err(RegistryError::SpellingCollision { .. })
        ));
        let canonical_spelling = RunTypeDescriptor::new(id.clone(), RunScope::Workspace)
            .with_legacy_spellings(["policy"]);
        assert!(matches!(
            registry.register(canonical_spelling),
            Err(RegistryError::CanonicalSpelling { .. })
        ));
        assert!(
            registry.get("policy_export").is_none(),
            "a refused registration leaves nothing behind"
        );

        registry
            .register(
                RunTypeDescriptor::new(id, RunScope::Workspace)
                    .with_legacy_spellings(["policy.export"]),
            )
            .unwrap();
        assert_eq!(registry.canonicalize("policy.export"), "policy_export");
    }

    fn descriptor(id: &str, spellings: &[&str]) -> RunTypeDescriptor {
        RunTypeDescriptor::new(RunType::parse(id).unwrap(), RunScope::Tenant)
            .with_legacy_spellings(spellings.iter().copied())
    }

    #[test]
    fn builtins_pass_every_registration_rule() {
        let mut registry = RunTypeRegistry::empty();
        for builtin in builtin_descriptors() {
            assert_eq!(registry.register(builtin), Ok(()));
        }
        for (legacy, canonical) in BUILTIN_LEGACY_SPELLINGS {
            assert_eq!(canonicalize(legacy), canonical);
        }
    }

    #[test]
    fn legacy_spellings_must_be_dotted_lowercase_segments() {
        let mut registry = RunTypeRegistry::with_builtins();
        for bad in [
            "Policy.Export",
            "policy-export",
            "policy export",
            "policy.export!",
            "policy..export",
            ".policy_export",
            "policy_export.",
            "politique.exportée",
            "",
        ] {
            let refused = registry.register(descriptor("policy_export", &[bad]));
            assert_eq!(
                refused,
                Err(RegistryError::InvalidSpelling {
                    run_type: "policy_export".into(),
                    spelling: bad.into(),
                }),
                "{bad:?}"
            );
            assert!(refused.unwrap_err().to_string().contains("dots"));
        }
        assert!(registry.get("policy_export").is_none());
        for good in ["policy.export", "policy.export_2", "reports.policy.export"] {
            let mut registry = RunTypeRegistry::with_builtins();
            assert_eq!(
                registry.register(descriptor("policy_export", &[good])),
                Ok(()),
                "{good}"
            );
            assert_eq!(registry.canonicalize(good), "policy_export");
        }
    }

    #[test]
    fn a_spelling_rewritten_to_another_registered_type_is_refused() {
        // The spelling after the type it would be migrated to.
        let mut registry = RunTypeRegistry::with_builtins();
        let refused = registry.register(descriptor("group_export", &["entra.group_sync"]));
        assert_eq!(
            refused,
            Err(RegistryError::RewriteCollision {
                spelling: "entra.group_sync".into(),
                owner: "group_export".into(),
                rewrite: "entra_group_sync".into(),
            })
        );
        let message = refused.unwrap_err().to_string();
        assert!(
            message.contains("entra.group_sync") && message.contains("cutover"),
            "{message}"
        );
        assert!(registry.get("group_export").is_none());
        assert_eq!(
            registry.canonicalize("entra.group_sync"),
            "entra_group_sync"
        );

        // The type after the spelling that would be migrated to it.
        registry
            .register(descriptor("report_export", &["policy.export"]))
            .unwrap();
        assert_eq!(
            registry.register(descriptor("policy_export", &[])),
            Err(RegistryError::RewriteCollision {
                spelling: "policy.export".into(),
                owner: "report_export".into(),
                rewrite: "policy_export".into(),
            })
        );
        assert!(registry.get("policy_export").is_none());

        // A spelling rewritten to its own type, or to no registered type, is fine.
        registry
            .register(descriptor(
                "audit_export",
                &["audit.export", "audit.export.v1"],
            ))
            .unwrap();
        assert_eq!(registry.canonicalize("audit.export.v1"), "audit_export");
        // Only the frozen built-in table rewrites a spelling to anything but its
        // dots→underscores form, so a type named after that form does not clash.
        registry
            .register(descriptor("backup_schedule_run_now", &[]))
            .unwrap();
        assert_eq!(
            registry.canonicalize("backup_schedule.run_now"),
            "backup_schedule_run"
        );
    }

    #[test]
    fn non_canonical_ids_are_refused_at_construction() {
        assert!(matches!(
            RunType::parse("drift.generate"),
            Err(RunTypeError::Dotted(_, _))
        ));
        assert!(RunType::parse("Drift").is_err());
        let json = serde_json::json!("inventory.sync");
        assert!(serde_json::from_value::<RunType>(json).is_err());
    }
}
