//! The deployer against moto's CloudFormation, S3, Lambda, DynamoDB, SQS,
//! API Gateway and CloudWatch Logs: what deploy creates (`created.rs`),
//! that an unchanged deploy touches nothing, code updates (through the
//! stack and hotswapped), status and diff (`updates.rs`), and destroy with
//! and without the data (`destroyed.rs`). The life of one deployment is
//! one test, a list of named steps, each checking one thing of what the
//! steps before it left.
//!
//! moto 5.2.5 accepts AWS::Lambda::EventInvokeConfig and
//! AWS::ApiGateway::Account in a template but does not create them, and
//! skips AWS::ApiGateway::Stage (so the stage's access log setting too):
//! the replay's failure destination and the access log are checked on the
//! template (`template/`, and cfn-lint in `external.rs`), not here.
//!
//! The packages are small zips of made-up bytes (`emulated.rs`).

mod created;
mod destroyed;
mod reads;
mod updates;

use deployer::deploy::destroy::{Destroyed, Question};
use deployer::deploy::{DeployOptions, Outcome};
use deployer::stack::ARTIFACT_BUCKET_ID;

use crate::emulated::{Emulated, always, options, retained_tables};

#[tokio::test(flavor = "multi_thread")]
async fn deploy_update_hotswap_diff_and_destroy_keeping_the_data() {
    let emulated = Emulated::new("life").await;
    let first = emulated.build(&[]);

    let deployed =
        created::a_first_deploy_creates_both_stacks_and_gives_the_url(&emulated, &first).await;
    created::the_progress_names_the_artifact_bucket_and_never_the_key(&emulated);
    let stream_arn =
        created::only_the_event_store_streams_and_refuses_deletion(&emulated, &deployed).await;
    created::the_tables_are_keyed_as_the_adapter_expects(&emulated, &deployed).await;
    let kept = created::the_event_store_takes_events(&emulated, &deployed).await;
    created::each_function_runs_its_package_with_the_table_names(&emulated, &deployed, &first)
        .await;
    let mapping =
        created::the_projector_reads_the_event_stream(&emulated, &deployed, &stream_arn).await;
    created::the_mapping_retries_then_sends_what_it_gives_up_on_to_the_failure_queue(
        &emulated, &deployed, &mapping,
    )
    .await;
    created::replays_are_capped_at_the_default_concurrency(&emulated, &deployed).await;
    created::api_gateway_may_invoke_each_api_function(&emulated, &deployed).await;
    created::every_log_group_keeps_its_lines_thirty_days(&emulated).await;
    created::the_rest_api_proxies_its_four_routes_to_lambda(&emulated, &deployed).await;

    updates::the_same_deploy_again_touches_nothing(&emulated, &first).await;
    let second = emulated.build(&[("add-event", 2)]);
    updates::status_shows_both_stacks_and_the_code_against_a_build(&emulated, &deployed, &second)
        .await;
    updates::status_shows_what_the_projector_parked(&emulated, &kept).await;
    updates::new_code_goes_through_the_stack(&emulated, &deployed, &second).await;
    let third = emulated.build(&[("add-event", 2), ("list-items", 3)]);
    updates::hotswap_updates_the_changed_code_without_the_stack(&emulated, &deployed, &third).await;
    updates::diff_shows_a_template_change_and_changes_nothing(&emulated, &third).await;

    destroyed::a_declined_destroy_changes_nothing(&emulated).await;
    destroyed::destroy_removes_everything_but_the_event_store(&emulated, &deployed).await;
    destroyed::the_next_deploy_attaches_to_the_same_tables(&emulated, &deployed, &second).await;
    destroyed::appends_go_on_from_the_kept_log(&emulated, &deployed).await;
    destroyed::destroy_with_the_data_removes_the_data_stack(&emulated).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_template_goes_through_s3_and_destroy_can_delete_the_data() {
    let emulated = Emulated::new("data").await;
    let aws = &emulated.aws;
    // Every template is "large" here, so the S3 path is the one taken.
    let through_s3 = DeployOptions {
        inline_template_limit: 100,
        ..options()
    };
    let outcome = emulated
        .deploy(&emulated.build(&[]), &through_s3)
        .await
        .expect("deploy through S3");
    assert!(matches!(outcome, Outcome::Deployed { .. }), "{outcome:?}");
    let ids = emulated.physical_ids().await;
    let objects = aws
        .s3
        .list_objects_v2()
        .bucket(&ids[ARTIFACT_BUCKET_ID])
        .prefix("templates/")
        .send()
        .await
        .expect("list");
    assert_eq!(objects.contents().len(), 1, "the template is in the bucket");

    let mut questions = Vec::new();
    let mut answer = |question: &Question| {
        questions.push(question.clone());
        Ok(true)
    };
    let destroyed = emulated
        .destroy(true, &mut answer)
        .await
        .expect("destroy with the data");
    let retained = retained_tables(&ids);
    assert_eq!(
        destroyed,
        Destroyed::StackAndData {
            deleted_tables: retained.clone()
        }
    );
    assert_eq!(questions.len(), 2, "two confirmations: {questions:?}");
    assert_eq!(
        questions[1],
        Question::DeleteData {
            tables: retained.clone()
        }
    );
    for table in &retained {
        assert!(
            aws.dynamodb
                .describe_table()
                .table_name(table)
                .send()
                .await
                .is_err(),
            "{table} survived"
        );
    }

    // Destroying what is not there says so and succeeds.
    let again = emulated
        .destroy(false, &mut always(true))
        .await
        .expect("destroy again");
    assert_eq!(again, Destroyed::NoStack);
}
