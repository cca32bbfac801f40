//! The template against outside judges: cfn-lint (pinned, from the
//! project's venv) and moto's CloudFormation.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};
use deployer::cfn::lambda::Architecture;
use deployer::stack::{API_KEY_PARAMETER, CODE_BUCKET_PARAMETER, Function, Table};
use deployer::{Format, StackOptions, app_stack};

/// cfn-lint rules that do not apply to this template, each with its reason.
/// Empty: the template is fixed instead of a rule being silenced.
const IGNORED_RULES: &[&str] = &[];

fn write(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the template");
    path
}

#[test]
fn cfn_lint_reports_no_error_and_no_warning() {
    let cfn_lint = testkit::venv::cfn_lint(&testkit::venv::project_root()).expect("the venv");
    let dir = tempfile::tempdir().expect("a temp dir");
    let default = app_stack(&StackOptions::default());
    let variant = app_stack(&StackOptions {
        tracing: true,
        architecture: Architecture::X86_64,
        ..StackOptions::default()
    });
    let render = |template, format| deployer::render(template, format).expect("renders");
    let files = [
        write(dir.path(), "default.yaml", &render(&default, Format::Yaml)),
        write(dir.path(), "default.json", &render(&default, Format::Json)),
        write(dir.path(), "traced.yaml", &render(&variant, Format::Yaml)),
        write(dir.path(), "traced.json", &render(&variant, Format::Json)),
    ];
    let mut command = Command::new(&cfn_lint);
    command.args(["--format", "parseable"]);
    if !IGNORED_RULES.is_empty() {
        command.arg("--ignore-checks").args(IGNORED_RULES);
    }
    let output = command
        .arg("--")
        .args(&files)
        .output()
        .expect("cfn-lint runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // parseable: file:line:column:end line:end column:rule:message
    let problems: Vec<&str> = stdout
        .lines()
        .filter(|line| {
            line.split(':')
                .nth(5)
                .is_some_and(|rule| rule.starts_with('E') || rule.starts_with('W'))
        })
        .collect();
    assert!(
        problems.is_empty(),
        "cfn-lint found problems:\n{}",
        problems.join("\n")
    );
    // Exit code bits: 2 errors, 4 warnings, 8 informational; 1 is a crash.
    let code = output.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 8,
        "cfn-lint exited {code}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
}

fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{}-{nanos}", std::process::id())
}

#[tokio::test(flavor = "multi_thread")]
async fn moto_creates_the_stack() {
    let endpoint = testkit::moto::shared_endpoint();
    let sdk = service::aws::sdk_config_for_endpoint(endpoint).await;
    // moto serves S3 by path, not by bucket subdomain of 127.0.0.1.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let cloudformation = aws_sdk_cloudformation::Client::new(&sdk);
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let lambda = aws_sdk_lambda::Client::new(&sdk);

    let suffix = unique_suffix();
    let bucket = format!("evs-code-{suffix}");
    let mut create_bucket = s3.create_bucket().bucket(&bucket);
    if let Some(region) = sdk.region().map(|r| r.as_ref().to_owned())
        && region != "us-east-1"
    {
        create_bucket = create_bucket.create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(region.as_str().into())
                .build(),
        );
    }
    create_bucket.send().await.expect("create the code bucket");

    let mut parameters = vec![
        parameter(CODE_BUCKET_PARAMETER, &bucket),
        parameter(API_KEY_PARAMETER, "moto-test-key-0123456789abcdef"),
    ];
    for function in Function::ALL {
        let key = format!("{}/placeholder.zip", function.name());
        // Any bytes: moto stores the code without running it.
        s3.put_object()
            .bucket(&bucket)
            .key(&key)
            .body(b"PK\x05\x06placeholder".to_vec().into())
            .send()
            .await
            .expect("upload a placeholder package");
        parameters.push(parameter(function.code_key_parameter().as_str(), &key));
    }

    let stack_name = format!("evs-synth-{suffix}");
    let template =
        deployer::render(&app_stack(&StackOptions::default()), Format::Yaml).expect("renders");
    cloudformation
        .create_stack()
        .stack_name(&stack_name)
        .template_body(template)
        .set_parameters(Some(parameters))
        .capabilities(Capability::CapabilityIam)
        .send()
        .await
        .expect("CreateStack accepted");

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let described = cloudformation
            .describe_stacks()
            .stack_name(&stack_name)
            .send()
            .await
            .expect("DescribeStacks");
        let status = described
            .stacks()
            .first()
            .and_then(|s| s.stack_status())
            .cloned();
        match status {
            Some(StackStatus::CreateComplete) => break,
            Some(StackStatus::CreateInProgress) | None => {}
            Some(other) => panic!("stack {stack_name} ended {other:?}: {described:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "stack {stack_name} still {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let resources = cloudformation
        .describe_stack_resources()
        .stack_name(&stack_name)
        .send()
        .await
        .expect("DescribeStackResources");
    let physical = |logical: &str| {
        resources
            .stack_resources()
            .iter()
            .find(|r| r.logical_resource_id() == Some(logical))
            .and_then(|r| r.physical_resource_id())
            .unwrap_or_else(|| panic!("{logical} was not created"))
            .to_owned()
    };

    for table in Table::ALL {
        let name = physical(table.logical_id().as_str());
        let described = dynamodb
            .describe_table()
            .table_name(&name)
            .send()
            .await
            .unwrap_or_else(|err| panic!("table {name}: {err:?}"));
        let description = described.table().expect("a table description");
        let keys: Vec<&str> = description
            .key_schema()
            .iter()
            .map(|k| k.attribute_name())
            .collect();
        assert_eq!(keys.len(), 2, "{name}: {keys:?}");
        assert_eq!(
            description
                .stream_specification()
                .is_some_and(|s| s.stream_enabled()),
            table == Table::Events,
            "{name}"
        );
    }
    for function in Function::ALL {
        let name = physical(function.logical_id().as_str());
        assert_eq!(name, format!("{stack_name}-{}", function.name()));
        let described = lambda
            .get_function()
            .function_name(&name)
            .send()
            .await
            .unwrap_or_else(|err| panic!("function {name}: {err:?}"));
        let configuration = described.configuration().expect("a configuration");
        assert_eq!(configuration.handler(), Some("bootstrap"), "{name}");
        assert_eq!(
            configuration.runtime().map(|r| r.as_str()),
            Some("provided.al2023"),
            "{name}"
        );
    }

    cloudformation
        .delete_stack()
        .stack_name(&stack_name)
        .send()
        .await
        .expect("DeleteStack");
}

fn parameter(key: &str, value: &str) -> Parameter {
    Parameter::builder()
        .parameter_key(key)
        .parameter_value(value)
        .build()
}
