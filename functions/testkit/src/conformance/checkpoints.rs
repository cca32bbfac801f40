//! The case every `Checkpoints` must pass.

use super::support::*;
/// A checkpoint is absent until saved, then holds the last position saved.
pub async fn checkpoints_start_empty_then_save_and_overwrite(stores: Stores) {
    let (name, other) = (unique_name("checkpoint"), unique_name("checkpoint-other"));
    let cp = &stores.checkpoints;
    assert_eq!(cp.load(&name).await, Ok(None));
    cp.save(&name, "position-1").await.expect("save");
    assert_eq!(cp.load(&name).await, Ok(Some("position-1".to_owned())));
    cp.save(&name, "position-2 ünï").await.expect("overwrite");
    assert_eq!(cp.load(&name).await, Ok(Some("position-2 ünï".to_owned())));
    assert_eq!(cp.load(&other).await, Ok(None));
}
