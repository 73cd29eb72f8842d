//! `--types FILE`: a host's own run types, for `oprun runs`, `oprun serve` and `oprun types`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;
mod http_support;

use common::{fails, migrated_databases, ok, ok_json, seed};
use http_support::{Server, http};

const TYPES: &str = r#"[
  {"id": "policy_export", "scope": "tenant", "counts": ["policies_exported"],
   "legacy_spellings": ["policy.export"]},
  {"id": "workspace_report", "scope": "workspace"}
]"#;

#[tokio::test]
async fn host_types_are_allowed_where_the_file_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("types.json");
    std::fs::write(&file, TYPES).unwrap();
    let types = file.to_str().unwrap();
    for db in migrated_databases().await {
        let url = db.url.as_str();
        let seeded = seed(&db).await;
        let (ws, tenant) = (seeded.workspace.to_string(), seeded.tenant.to_string());

        let listed = ok_json(url, &["types", "--types", types]);
        let ids: Vec<&str> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["type"].as_str().unwrap())
            .collect();
        assert!(ids.contains(&"policy_export") && ids.contains(&"inventory_sync"));
        assert!(!ok(url, &["types"]).contains("policy_export"));

        let start = [
            "runs",
            "start",
            "--workspace",
            &ws,
            "--tenant",
            &tenant,
            "--type",
            "policy_export",
        ];
        fails(url, &start, 1, &["`policy_export` is not registered"]);
        let id = seeded
            .start_run(url, "policy_export", &["--types", types])
            .to_string();
        ok(url, &["runs", "begin", &id, "--types", types]);
        let counted = ok_json(
            url,
            &[
                "runs",
                "progress",
                &id,
                "--count",
                "policies_exported=3",
                "--types",
                types,
            ],
        );
        assert_eq!(counted["summary_counts"]["policies_exported"], 3);

        // The server filters by the host type too.
        let token = seeded.viewer_token(url);
        let server = Server::start_with(url, &["--types", types]);
        let bearer = format!("Bearer {token}");
        let answer = http(
            &server.address,
            "GET",
            &format!("/api/workspaces/{ws}/operations?type=policy_export"),
            &[("Authorization", &bearer)],
            "",
        );
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(answer.body.contains(&format!("\"id\":{id}")));
        assert_eq!(server.stop(), 0);
    }
}

#[tokio::test]
async fn a_bad_types_file_is_named_with_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let not_json = write("a.json", "policy_export");
    let dotted = write("b.json", r#"[{"id": "policy.export", "scope": "tenant"}]"#);
    let builtin = write("c.json", r#"[{"id": "inventory_sync", "scope": "tenant"}]"#);
    let unknown_scope = write("d.json", r#"[{"id": "x_y", "scope": "galaxy"}]"#);
    let url = "sqlite::memory:";
    for (file, needles) in [
        (not_json.as_str(), &["a.json", "JSON array"][..]),
        (&dotted, &["b.json", "policy.export"]),
        (&builtin, &["c.json", "inventory_sync"]),
        (&unknown_scope, &["d.json", "galaxy"]),
        ("/no/such/types.json", &["/no/such/types.json"]),
    ] {
        fails(url, &["types", "--types", file], 1, needles);
    }
}
