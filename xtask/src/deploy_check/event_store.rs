//! The deploy check's event-store step: the real `cargo xtask deploy`
//! over a data stack deleted by hand, with and without
//! `--new-event-store` and its typed answer.

use anyhow::{Context, ensure};
use deployer::deploy::Aws;

use super::cli::{Cli, transcript};

/// The data stack deleted by hand (its tables stay): deploy stops and says
/// the two ways on, `--new-event-store` changes nothing without the typed
/// answer and starts an empty event store with it. Returns the tables left
/// behind, for the clean-up.
pub(super) fn a_data_stack_deleted_by_hand(
    cli: &Cli<'_>,
    stack: &str,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Vec<String>> {
    let data = deployer::stack::data_stack_name(stack);
    let retained: Vec<String> = runtime.block_on(async {
        let aws = Aws::new(&service::aws::sdk_config_for_endpoint(cli.moto).await)?;
        let ids = deployer::deploy::stacks::physical_ids(&aws.cloudformation, &data).await?;
        deployer::deploy::stacks::delete_stack(&aws.cloudformation, &data).await?;
        anyhow::Ok(
            ["EventsTable", "StreamIndexTable"]
                .iter()
                .filter_map(|id| ids.get(*id).cloned())
                .collect(),
        )
    })?;
    ensure!(retained.len() == 2, "the data stack held {retained:?}");
    let deploy = ["deploy", "--linker", "zig"];
    let output = cli.run(&deploy, "")?;
    let text = transcript(&output);
    ensure!(
        !output.status.success()
            && retained.iter().all(|table| text.contains(table.as_str()))
            && text.contains("cargo xtask deploy --adopt-event-store")
            && text.contains("cargo xtask deploy --new-event-store")
            && text.contains("Nothing was changed"),
        "a deploy over a missing data stack did not stop and say why:\n{text}"
    );
    let new_store = ["deploy", "--linker", "zig", "--new-event-store"];
    let output = cli.run(&new_store, "yes\n")?;
    let text = transcript(&output);
    ensure!(
        !output.status.success()
            && text.contains("Type 'new event store' to confirm")
            && text.contains("not confirmed"),
        "--new-event-store went on without the typed answer:\n{text}"
    );
    let output = cli.run(&new_store, "new event store\n")?;
    let text = transcript(&output);
    ensure!(
        output.status.success() && text.contains("deployed the stack"),
        "--new-event-store with the typed answer failed:\n{text}"
    );
    Ok(retained)
}

/// Deletes a table left behind, its deletion protection off first.
pub(super) async fn drop_table(aws: &Aws, table: &str) -> anyhow::Result<()> {
    aws.dynamodb
        .update_table()
        .table_name(table)
        .deletion_protection_enabled(false)
        .send()
        .await
        .with_context(|| format!("cannot unprotect {table}"))?;
    aws.dynamodb
        .delete_table()
        .table_name(table)
        .send()
        .await
        .with_context(|| format!("cannot delete {table}"))?;
    Ok(())
}
