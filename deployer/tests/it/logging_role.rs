//! The account's API Gateway CloudWatch role on the emulator, which keeps
//! the setting (GetAccount, UpdateAccount) and the roles (IAM) though its
//! CloudFormation does not create `AWS::ApiGateway::Account`: a deploy
//! points a setting that names a missing role at the data stack's role,
//! keeps one that names a usable role, and no destroy leaves it naming a
//! role it deletes. The setting is one per account and region, so this
//! test has an emulator of its own.

use aws_sdk_apigateway::types::{Op, PatchOperation};
use deployer::deploy::Aws;
use deployer::deploy::logging_role::{account_role, role_name};
use deployer::deploy::stacks;
use deployer::stack::{Function, FunctionResources, LOGGING_ROLE_ID};

use crate::emulated::{Emulated, always, options};

async fn set_account_role(aws: &Aws, arn: &str) {
    aws.apigateway
        .update_account()
        .patch_operations(
            PatchOperation::builder()
                .op(Op::Replace)
                .path("/cloudwatchRoleArn")
                .value(arn)
                .build(),
        )
        .send()
        .await
        .expect("the account setting");
}

async fn role_exists(aws: &Aws, name: &str) -> bool {
    aws.iam.get_role().role_name(name).send().await.is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_accounts_cloudwatch_role_is_kept_when_usable_and_never_left_naming_a_deleted_role() {
    let moto = testkit::moto::Moto::start(&testkit::venv::project_root()).expect("an emulator");
    let emulated = Emulated::on(moto.endpoint(), "logrole").await;
    let aws = &emulated.aws;
    let gone = "arn:aws:iam::123456789012:role/deleted-long-ago";
    set_account_role(aws, gone).await;

    // A setting naming a missing role is pointed at the data stack's.
    emulated
        .deploy(&emulated.build(&[]), &options())
        .await
        .expect("the first deploy");
    let data_role = emulated.data_physical_ids().await[LOGGING_ROLE_ID].clone();
    let set = account_role(aws)
        .await
        .expect("the setting")
        .expect("a role");
    assert_eq!(role_name(&set), data_role);
    let lines = emulated.progress.lines().join("\n");
    assert!(
        lines.contains(&format!("names {gone}, which does not exist"))
            && lines.contains(&format!("set it to {set}")),
        "{lines}"
    );

    // A usable role the account chose itself is kept.
    let shared = aws
        .iam
        .create_role()
        .role_name("shared-api-logging")
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":["apigateway.amazonaws.com"]},"Action":["sts:AssumeRole"]}]}"#,
        )
        .send()
        .await
        .expect("a role")
        .role
        .expect("the role")
        .arn;
    set_account_role(aws, &shared).await;
    emulated
        .deploy(&emulated.build(&[("add-event", 2)]), &options())
        .await
        .expect("an update");
    assert_eq!(account_role(aws).await.expect("the setting"), Some(shared));

    // A setting naming a role of the app stack is pointed at the data
    // stack's before destroy deletes the app.
    let app_role = stacks::physical_ids(&aws.cloudformation, &emulated.stack)
        .await
        .expect("the app's resources")[Function::AddEvent.role_id().as_str()]
    .clone();
    set_account_role(aws, &format!("arn:aws:iam::123456789012:role/{app_role}")).await;
    emulated
        .destroy(false, &mut always(true))
        .await
        .expect("destroy");
    assert!(!role_exists(aws, &app_role).await);
    let set = account_role(aws)
        .await
        .expect("the setting")
        .expect("a role");
    assert_eq!(
        role_name(&set),
        data_role,
        "the data stack's role, which stays"
    );
    assert!(role_exists(aws, &data_role).await);

    // destroy --delete-data deletes that role too: the setting is cleared
    // first.
    emulated
        .destroy(true, &mut always(true))
        .await
        .expect("destroy with the data");
    assert!(!role_exists(aws, &data_role).await);
    assert_eq!(account_role(aws).await.expect("the setting"), None);
    let lines = emulated.progress.lines().join("\n");
    assert!(lines.contains("cleared it"), "{lines}");
}
