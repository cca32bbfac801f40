//! The `Checkpoints` port: one stream-index row per checkpoint, under the
//! shared `CHECKPOINTS_STREAM` hash key.

use async_trait::async_trait;
use domain::{Checkpoints, StoreError};

use super::DynamoStore;
use super::codec::{index_key, s, string};
use super::errors::unavailable;
use super::schema::{CHECKPOINT_ENTRY_PREFIX, CHECKPOINTS_STREAM, POSITION};

#[async_trait]
impl Checkpoints for DynamoStore {
    async fn load(&self, name: &str) -> Result<Option<String>, StoreError> {
        let entry = checkpoint_entry(name);
        let output = self
            .client
            .get_item()
            .table_name(&self.tables.stream_index)
            .consistent_read(true)
            .set_key(Some(index_key(CHECKPOINTS_STREAM, &entry)))
            .send()
            .await
            .map_err(|err| unavailable(format!("loading checkpoint `{name}`"), &err))?;
        match output.item() {
            None => Ok(None),
            Some(item) => string(item, POSITION)
                .map(|p| Some(p.to_owned()))
                .map_err(|problem| {
                    StoreError::Corrupt(format!(
                        "{} row ({CHECKPOINTS_STREAM}, {entry}): {problem}",
                        self.tables.stream_index
                    ))
                }),
        }
    }

    async fn save(&self, name: &str, position: &str) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.tables.stream_index)
            .set_item(Some(index_key(CHECKPOINTS_STREAM, &checkpoint_entry(name))))
            .item(POSITION, s(position))
            .send()
            .await
            .map_err(|err| unavailable(format!("saving checkpoint `{name}`"), &err))?;
        Ok(())
    }
}

fn checkpoint_entry(name: &str) -> String {
    format!("{CHECKPOINT_ENTRY_PREFIX}{name}")
}
