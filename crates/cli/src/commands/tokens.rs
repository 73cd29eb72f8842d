//! `oprun tokens …`: the API tokens `oprun serve` accepts. A token is printed once, at
//! creation; only its SHA-256 is stored.

use crate::cli::{GlobalArgs, TokensCommand};
use crate::db;
use crate::error::{CliError, CliResult};
use crate::output::{Table, print_json, time};
use async_trait::async_trait;
use operation_runs_domain::UserId;
use operation_runs_http::{AuthError, TokenHash, TokenStore};
use operation_runs_ports::PortError;
use operation_runs_sea_orm::SeaOrmStore;
use serde_json::json;
use std::sync::Arc;

/// The store's tokens, as the HTTP adapter asks for them.
pub struct StoreTokens(pub Arc<SeaOrmStore>);

#[async_trait]
impl TokenStore for StoreTokens {
    async fn user_for_token(&self, hash: &TokenHash) -> Result<Option<UserId>, AuthError> {
        self.0
            .api_token_user(&hash.to_hex())
            .await
            .map_err(AuthError::new)
    }
}

/// Runs a tokens subcommand.
pub async fn run(global: &GlobalArgs, command: TokensCommand) -> CliResult {
    let app = db::open(&global.database_url).await?;
    let store = &app.store;
    match command {
        TokensCommand::Create { user, name } => {
            let (token, hash) = TokenHash::generate()
                .map_err(|e| CliError::error(format!("cannot create a token: {e}")))?;
            let stored = store
                .create_api_token(UserId::new(user), &name, &hash.to_hex())
                .await
                .map_err(|e| CliError::error(format!("cannot store the token: {e}")))?;
            if global.json {
                print_json(&json!({"token": token, "id": stored.id, "user": user, "name": name}));
            } else {
                println!("{token}");
                eprintln!(
                    "token {} for user {user} created; it is shown only this once",
                    stored.id
                );
            }
        }
        TokensCommand::List { user } => {
            let tokens = store
                .list_api_tokens(user.map(UserId::new))
                .await
                .map_err(|e| CliError::error(format!("cannot list tokens: {e}")))?;
            if global.json {
                let rows: Vec<_> = tokens
                    .iter()
                    .map(|t| {
                        json!({
                            "id": t.id,
                            "user": t.user_id.get(),
                            "name": t.name,
                            "created_at": t.created_at,
                            "revoked_at": t.revoked_at,
                        })
                    })
                    .collect();
                print_json(&rows);
            } else if tokens.is_empty() {
                println!("no tokens");
            } else {
                let mut table = Table::new(["ID", "USER", "NAME", "CREATED", "REVOKED"]);
                for t in &tokens {
                    table.row([
                        t.id.to_string(),
                        t.user_id.to_string(),
                        t.name.clone(),
                        time(t.created_at),
                        t.revoked_at.map(time).unwrap_or_default(),
                    ]);
                }
                print!("{}", table.render());
            }
        }
        TokensCommand::Revoke { id } => {
            let was_active = match store.revoke_api_token(id).await {
                Ok(was_active) => was_active,
                Err(PortError::NotFound) => {
                    return Err(CliError::not_found(format!("token {id} not found")));
                }
                Err(e) => return Err(CliError::error(format!("cannot revoke token {id}: {e}"))),
            };
            if global.json {
                print_json(&json!({"id": id, "revoked": true, "was_active": was_active}));
            } else if was_active {
                println!("token {id} revoked");
            } else {
                println!("token {id} was already revoked");
            }
        }
    }
    Ok(())
}
