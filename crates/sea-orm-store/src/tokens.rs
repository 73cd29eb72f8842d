//! API tokens of the monitoring server (`api_tokens`): only each token's SHA-256 is stored, as
//! 64 lowercase hex characters. Administration helpers, not ports: the HTTP adapter sees them
//! through its own token-store trait, implemented by the host.

use crate::SeaOrmStore;
use crate::convert::db_time;
use crate::entity::api_tokens;
use crate::error::{StoreError, map_db_err};
use chrono::{DateTime, Utc};
use operation_runs_domain::UserId;
use operation_runs_ports::PortError;
use sea_orm::ActiveValue::NotSet;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

/// A stored API token, as listed to administrators (its hash is never shown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Token id.
    pub id: i64,
    /// Whose token.
    pub user_id: UserId,
    /// The label given at creation.
    pub name: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Revoked; a revoked token signs nobody in.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<api_tokens::Model> for ApiToken {
    fn from(m: api_tokens::Model) -> Self {
        Self {
            id: m.id,
            user_id: UserId::new(m.user_id),
            name: m.name,
            created_at: m.created_at,
            revoked_at: m.revoked_at,
        }
    }
}

fn checked_hash(token_hash: &str) -> Result<&str, PortError> {
    let ok = token_hash.len() == 64
        && token_hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(token_hash)
    } else {
        Err(StoreError::OutOfRange("a token hash is 64 lowercase hex characters".to_owned()).into())
    }
}

impl SeaOrmStore {
    /// Stores a new token of `user` by its SHA-256 (`token_hash`, 64 lowercase hex).
    ///
    /// # Errors
    /// [`PortError::Backend`] for a malformed hash, a hash already stored, or when the store
    /// fails.
    #[tracing::instrument(level = "debug", skip(self, token_hash), err)]
    pub async fn create_api_token(
        &self,
        user: UserId,
        name: &str,
        token_hash: &str,
    ) -> Result<ApiToken, PortError> {
        let row = api_tokens::ActiveModel {
            id: NotSet,
            user_id: Set(user.get()),
            name: Set(name.to_owned()),
            token_hash: Set(checked_hash(token_hash)?.to_owned()),
            created_at: Set(db_time(Utc::now())),
            revoked_at: Set(None),
        }
        .insert(&self.conn)
        .await
        .map_err(map_db_err)?;
        Ok(row.into())
    }

    /// The user of the unrevoked token whose SHA-256 is `token_hash`; `None` for an unknown,
    /// revoked or malformed hash.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    #[tracing::instrument(level = "debug", skip(self, token_hash), err)]
    pub async fn api_token_user(&self, token_hash: &str) -> Result<Option<UserId>, PortError> {
        let Ok(hash) = checked_hash(token_hash) else {
            return Ok(None);
        };
        let row = api_tokens::Entity::find()
            .filter(api_tokens::Column::TokenHash.eq(hash))
            .filter(api_tokens::Column::RevokedAt.is_null())
            .one(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(row.map(|m| UserId::new(m.user_id)))
    }

    /// Every token (of `user`, if given), oldest first, revoked ones included.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    #[tracing::instrument(level = "debug", skip(self), err)]
    pub async fn list_api_tokens(&self, user: Option<UserId>) -> Result<Vec<ApiToken>, PortError> {
        let mut query = api_tokens::Entity::find().order_by_asc(api_tokens::Column::Id);
        if let Some(user) = user {
            query = query.filter(api_tokens::Column::UserId.eq(user.get()));
        }
        let rows = query.all(&self.conn).await.map_err(map_db_err)?;
        Ok(rows.into_iter().map(ApiToken::from).collect())
    }

    /// Revokes a token, in one statement; revoking a revoked token changes nothing. Returns
    /// whether it was active until now.
    ///
    /// # Errors
    /// [`PortError::NotFound`] if there is no such token; [`PortError::Backend`] when the store
    /// fails.
    #[tracing::instrument(level = "debug", skip(self), err)]
    pub async fn revoke_api_token(&self, id: i64) -> Result<bool, PortError> {
        let changed = api_tokens::Entity::update_many()
            .col_expr(
                api_tokens::Column::RevokedAt,
                Expr::value(db_time(Utc::now())),
            )
            .filter(api_tokens::Column::Id.eq(id))
            .filter(api_tokens::Column::RevokedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(map_db_err)?
            .rows_affected;
        if changed > 0 {
            return Ok(true);
        }
        match api_tokens::Entity::find_by_id(id)
            .one(&self.conn)
            .await
            .map_err(map_db_err)?
        {
            Some(_) => Ok(false),
            None => Err(PortError::NotFound),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use operation_runs_migration::{Migrator, MigratorTrait};

    #[tokio::test]
    async fn tokens_are_found_by_hash_until_revoked() {
        let conn =
            sea_orm::Database::connect(SeaOrmStore::connect_options("sqlite::memory:").unwrap())
                .await
                .unwrap();
        Migrator::up(&conn, None).await.unwrap();
        let store = SeaOrmStore::open(conn).await.unwrap();
        let hash = "ab".repeat(32);
        let created = store
            .create_api_token(UserId::new(7), "laptop", &hash)
            .await
            .unwrap();
        assert_eq!(
            store.api_token_user(&hash).await.unwrap(),
            Some(UserId::new(7))
        );
        assert_eq!(store.api_token_user(&"cd".repeat(32)).await.unwrap(), None);
        assert_eq!(store.api_token_user("not-a-hash").await.unwrap(), None);
        // The same hash twice is refused by the unique key.
        assert!(
            store
                .create_api_token(UserId::new(8), "again", &hash)
                .await
                .is_err()
        );
        assert!(
            store
                .create_api_token(UserId::new(8), "bad", "ABC")
                .await
                .is_err()
        );
        assert_eq!(
            store.list_api_tokens(Some(UserId::new(7))).await.unwrap(),
            std::slice::from_ref(&created)
        );
        assert!(
            store
                .list_api_tokens(Some(UserId::new(9)))
                .await
                .unwrap()
                .is_empty()
        );
        assert!(store.revoke_api_token(created.id).await.unwrap());
        assert!(!store.revoke_api_token(created.id).await.unwrap());
        assert!(matches!(
            store.revoke_api_token(999).await,
            Err(PortError::NotFound)
        ));
        assert_eq!(store.api_token_user(&hash).await.unwrap(), None);
        let listed = store.list_api_tokens(None).await.unwrap();
        assert!(listed[0].revoked_at.is_some());
    }
}
