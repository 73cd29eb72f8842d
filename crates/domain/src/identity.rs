//! The identity hash: what makes two starts "the same operation".

use crate::ids::{TenantId, WorkspaceId};
use crate::run_type::RunType;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// SHA-256 hex (64 lowercase hex characters) of a run's identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdentityHash(String);

/// Why an identity was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// Identity inputs must be a JSON object.
    #[error("identity inputs must be a JSON object, got {0}")]
    NotAnObject(String),
    /// Not 64 lowercase hex characters.
    #[error("`{0}` is not an identity hash (64 lowercase hex characters)")]
    InvalidHash(String),
}

impl IdentityHash {
    /// Validates a stored hash.
    ///
    /// # Errors
    /// [`IdentityError::InvalidHash`] unless it is 64 lowercase hex characters.
    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        if raw.len() == 64 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(IdentityError::InvalidHash(raw.to_owned()))
        }
    }

    /// Hashes the identity of a run: workspace, tenant, type and the caller's inputs.
    ///
    /// The encoding is canonical JSON (object keys sorted by their UTF-8 bytes, no whitespace,
    /// strings escaped as `serde_json` does, numbers as `serde_json` prints them) of
    /// `{"identity": inputs, "tenant_id": n|null, "type": "…", "v": 1, "workspace_id": n}`.
    /// It is pinned by test vectors: changing it would split the active runs of every identity.
    ///
    /// # Errors
    /// [`IdentityError::NotAnObject`] unless `inputs` is a JSON object.
    pub fn compute(
        workspace: WorkspaceId,
        tenant: Option<TenantId>,
        run_type: &RunType,
        inputs: &serde_json::Value,
    ) -> Result<Self, IdentityError> {
        if !inputs.is_object() {
            return Err(IdentityError::NotAnObject(inputs.to_string()));
        }
        let envelope = serde_json::json!({
            "identity": inputs,
            "tenant_id": tenant.map(TenantId::get),
            "type": run_type.as_str(),
            "v": 1,
            "workspace_id": workspace.get(),
        });
        let mut encoded = String::new();
        encode_canonical(&envelope, &mut encoded);
        Ok(Self(hex::encode(Sha256::digest(encoded.as_bytes()))))
    }
}

/// Canonical JSON, independent of how `serde_json` happens to order map keys in this build.
fn encode_canonical(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(key.clone()).to_string());
                out.push(':');
                encode_canonical(value, out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                encode_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

validated_string!(IdentityHash, IdentityError, as_str: "The hex digest.");

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn hash(ws: i64, tenant: Option<i64>, t: &RunType, inputs: &Value) -> String {
        IdentityHash::compute(WorkspaceId::new(ws), tenant.map(TenantId::new), t, inputs)
            .unwrap()
            .to_string()
    }

    #[test]
    fn encoding_is_documented_canonical_json() {
        let mut out = String::new();
        encode_canonical(
            &json!({"b": [1, {"y": "é\"", "x": null}], "a": true}),
            &mut out,
        );
        assert_eq!(out, r#"{"a":true,"b":[1,{"x":null,"y":"é\""}]}"#);
    }

    #[test]
    fn pinned_vectors() {
        // sha256 of the canonical encodings; recompute with
        // printf '%s' '{"identity":{},"tenant_id":null,"type":"inventory_sync","v":1,"workspace_id":1}' | sha256sum
        assert_eq!(
            hash(1, None, &RunType::INVENTORY_SYNC, &json!({})),
            VECTOR_1
        );
        assert_eq!(
            hash(
                1,
                Some(2),
                &RunType::INVENTORY_SYNC,
                &json!({"selection": "all"})
            ),
            VECTOR_2
        );
        assert_eq!(
            hash(
                7,
                Some(3),
                &RunType::BACKUP_SCHEDULE_RUN,
                &json!({"backup_schedule_id": 42, "scheduled_for": "2026-02-12T03:00:00Z"})
            ),
            VECTOR_3
        );
    }

    const VECTOR_1: &str = "9ac9691c9690b07e2e470aefdae0c597578f44f612b017b5aabef3ef631b9136";
    const VECTOR_2: &str = "b4440400bc0dbfa444489f8bdd52569fa6b369cc778e78314eefda1a9a691fb4";
    const VECTOR_3: &str = "c0767347191f84feccd7efda1ea57c0bdf26c23c5f961f59107a235236620be0";

    #[test]
    fn every_part_of_the_identity_matters() {
        let inputs = json!({"selection": "all"});
        let base = hash(1, Some(2), &RunType::INVENTORY_SYNC, &inputs);
        assert_ne!(base, hash(2, Some(2), &RunType::INVENTORY_SYNC, &inputs));
        assert_ne!(base, hash(1, Some(3), &RunType::INVENTORY_SYNC, &inputs));
        assert_ne!(base, hash(1, None, &RunType::INVENTORY_SYNC, &inputs));
        assert_ne!(base, hash(1, Some(2), &RunType::ENTRA_GROUP_SYNC, &inputs));
        assert_ne!(
            base,
            hash(
                1,
                Some(2),
                &RunType::INVENTORY_SYNC,
                &json!({"selection": "some"})
            )
        );
        assert!(IdentityHash::parse(&base).is_ok());
    }

    #[test]
    fn inputs_must_be_an_object_and_hashes_hex() {
        let err = IdentityHash::compute(
            WorkspaceId::new(1),
            None,
            &RunType::INVENTORY_SYNC,
            &json!([1]),
        );
        assert!(matches!(err, Err(IdentityError::NotAnObject(_))));
        assert!(IdentityHash::parse("ABC").is_err());
        assert!(IdentityHash::parse(&"A".repeat(64)).is_err());
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z0-9 ]{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::vec(("[a-z]{1,4}", inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// Rebuilds every object of a value with its keys in reverse order.
    fn reversed(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut out = serde_json::Map::new();
                for (k, v) in map.iter().rev() {
                    out.insert(k.clone(), reversed(v));
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(reversed).collect()),
            other => other.clone(),
        }
    }

    proptest! {
        #[test]
        fn key_order_never_matters(entries in proptest::collection::vec(("[a-z]{1,6}", arb_json()), 0..6)) {
            let forward = Value::Object(entries.iter().cloned().collect());
            let mut backward = serde_json::Map::new();
            for (k, v) in entries.iter().rev() {
                backward.insert(k.clone(), reversed(v));
            }
            // Duplicate keys keep the last value in `forward`; make `backward` agree.
            let backward = Value::Object(backward.into_iter().map(|(k, _)| { let v = reversed(&forward[&k]); (k, v) }).collect());
            prop_assert_eq!(
                hash(1, Some(1), &RunType::INVENTORY_SYNC, &forward),
                hash(1, Some(1), &RunType::INVENTORY_SYNC, &backward)
            );
        }

        #[test]
        fn different_inputs_give_different_hashes(a in arb_json(), b in arb_json()) {
            prop_assume!(a != b);
            prop_assert_ne!(
                hash(1, None, &RunType::INVENTORY_SYNC, &json!({"k": a})),
                hash(1, None, &RunType::INVENTORY_SYNC, &json!({"k": b}))
            );
        }
    }
}
