//! The `Checkpoints` port: one row per follower in the `checkpoints` table.

use async_trait::async_trait;
use domain::{Checkpoints, StoreError};
use rusqlite::OptionalExtension;

use super::SqliteStore;
use super::codec::db_error;

#[async_trait]
impl Checkpoints for SqliteStore {
    async fn load(&self, name: &str) -> Result<Option<String>, StoreError> {
        let name = name.to_owned();
        self.blocking(move |inner| {
            inner.read(|conn| {
                conn.query_row(
                    "SELECT position FROM checkpoints WHERE name = ?1",
                    [name],
                    |row| row.get(0),
                )
                .optional()
                .map_err(db_error)
            })
        })
        .await
    }

    async fn save(&self, name: &str, position: &str) -> Result<(), StoreError> {
        let (name, position) = (name.to_owned(), position.to_owned());
        self.blocking(move |inner| {
            inner
                .writer()?
                .execute(
                    "INSERT INTO checkpoints (name, position) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                    [name, position],
                )
                .map_err(db_error)?;
            Ok(())
        })
        .await
    }
}
