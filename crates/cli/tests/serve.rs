//! `oprun serve` and `oprun tokens`: the real binary serving a seeded database over HTTP, API
//! tokens stored only as their hash, the sign-in cookie, graceful shutdown; and every command
//! exiting quietly into a closed pipe.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;
mod http_support;

use common::{command, fails, migrated_databases, ok, ok_json, seed};
use http_support::{Server, http};
use operation_runs_tests::TestDb;
use sea_orm::{ConnectionTrait, Statement};
use sha2::{Digest, Sha256};
use std::process::Stdio;

async fn stored_hashes(db: &TestDb) -> Vec<String> {
    let rows = db
        .conn
        .query_all_raw(Statement::from_string(
            db.db_backend(),
            "SELECT token_hash FROM api_tokens ORDER BY id".to_owned(),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect()
}

#[tokio::test]
async fn tokens_are_printed_once_and_stored_as_their_hash() {
    for db in migrated_databases().await {
        let url = db.url.as_str();
        let created = ok_json(
            url,
            &["tokens", "create", "--user", "1", "--name", "laptop"],
        );
        let token = created["token"].as_str().unwrap().to_owned();
        assert!(token.starts_with("oprun_") && token.len() == 70, "{token}");
        let plain = ok(url, &["tokens", "create", "--user", "2"]);
        assert!(plain.trim().starts_with("oprun_") && plain.lines().count() == 1);

        let hashes = stored_hashes(&db).await;
        assert_eq!(hashes[0], hex::encode(Sha256::digest(token.as_bytes())));
        assert!(hashes.iter().all(|h| !h.contains(&token[6..])));

        let listed = ok_json(url, &["tokens", "list", "--user", "1"]);
        assert_eq!(listed.as_array().unwrap().len(), 1);
        assert_eq!(listed[0]["name"], "laptop");
        assert!(listed[0]["revoked_at"].is_null());
        assert!(!listed.to_string().contains(&token[6..]), "never the token");
        let table = ok(url, &["tokens", "list"]);
        assert!(table.contains("laptop") && !table.contains(&token[6..]));

        let id = created["id"].as_i64().unwrap().to_string();
        assert!(ok(url, &["tokens", "revoke", &id]).contains("revoked"));
        assert!(ok(url, &["tokens", "revoke", &id]).contains("already revoked"));
        assert!(!ok_json(url, &["tokens", "list", "--user", "1"])[0]["revoked_at"].is_null());
        fails(
            url,
            &["tokens", "revoke", "999"],
            3,
            &["token 999 not found"],
        );
        fails(url, &["tokens", "create", "--user", "0"], 2, &["--user"]);
    }
}

#[tokio::test]
async fn serve_answers_tokens_and_sessions_and_stops_on_sigterm() {
    for db in migrated_databases().await {
        let url = db.url.as_str();
        let seeded = seed(&db).await;
        let ws = seeded.workspace.get();
        let run = seeded.start_run(url, "inventory_sync", &[]);
        ok(
            url,
            &[
                "runs",
                "complete",
                &run.to_string(),
                "--outcome",
                "failed",
                "--failure",
                "graph_down=<script>alert(1)</script>",
            ],
        );
        let token = seeded.viewer_token(url);
        let server = Server::start(url);
        let address = server.address.clone();
        let bearer = format!("Bearer {token}");
        let api = format!("/api/workspaces/{ws}/operations");

        let listed = http(&address, "GET", &api, &[("Authorization", &bearer)], "");
        assert_eq!(listed.status, 200, "{listed:?}");
        let json: serde_json::Value = serde_json::from_str(&listed.body).unwrap();
        assert_eq!(json["runs"][0]["id"], run);
        assert_eq!(http(&address, "GET", &api, &[], "").status, 401);
        let wrong = http(
            &address,
            "GET",
            &api,
            &[("Authorization", "Bearer oprun_nope")],
            "",
        );
        assert_eq!(wrong.status, 401);

        // A browser: sent to sign in, signs in with the token, gets a session cookie.
        let page = format!("/workspaces/{ws}/operations/{run}");
        let anonymous = http(&address, "GET", &page, &[], "");
        assert_eq!(anonymous.status, 303);
        let to_sign_in = anonymous.header("location").unwrap();
        assert!(to_sign_in.starts_with("/sign-in?next="), "{to_sign_in}");
        assert_eq!(http(&address, "GET", &to_sign_in, &[], "").status, 200);
        let form = format!("token={token}&next=%2Fworkspaces%2F{ws}%2Foperations%2F{run}");
        let origin = format!("http://{address}");
        let form_headers = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", origin.as_str()),
        ];
        let signed_in = http(&address, "POST", "/sign-in", &form_headers, &form);
        assert_eq!(signed_in.status, 303, "{signed_in:?}");
        assert_eq!(signed_in.header("location").unwrap(), page);
        let cookie = signed_in.header("set-cookie").unwrap();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        let session = cookie.split(';').next().unwrap().to_owned();
        let shown = http(&address, "GET", &page, &[("Cookie", &session)], "");
        assert_eq!(shown.status, 200);
        assert!(shown.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!shown.body.contains("<script>"));
        let bad = form.replace(&token, "oprun_wrong");
        let refused = http(&address, "POST", "/sign-in", &form_headers, &bad);
        assert_eq!(refused.status, 401);
        assert!(refused.header("set-cookie").is_none());

        // Revoking the token ends the session too.
        ok(url, &["tokens", "revoke", "1"]);
        let after = http(&address, "GET", &page, &[("Cookie", &session)], "");
        assert_eq!(after.status, 303);
        assert_eq!(server.stop(), 0, "a graceful stop exits 0");
    }
}

/// `oprun … | head`: the reader closes the pipe; the command stops quietly.
#[tokio::test]
async fn commands_exit_quietly_when_their_output_pipe_closes() {
    for db in migrated_databases().await {
        let seeded = seed(&db).await;
        for args in [
            vec!["types".to_owned()],
            vec![
                "runs".to_owned(),
                "list".to_owned(),
                "--as-user".to_owned(),
                seeded.viewer.to_string(),
                "--workspace".to_owned(),
                seeded.workspace.to_string(),
            ],
        ] {
            // The read end is closed before the command starts, so its first write fails.
            let (reader, writer) = std::io::pipe().unwrap();
            drop(reader);
            let output = command()
                .args(["--database-url", &db.url])
                .args(&args)
                .stdout(writer)
                .stderr(Stdio::piped())
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
            assert!(stderr.is_empty(), "{args:?}: {stderr}");
        }
    }
}
