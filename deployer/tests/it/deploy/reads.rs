//! What the deploy steps read back: Lambda's hash of a function's code,
//! and a queue's attributes.

use std::collections::BTreeMap;

use base64::Engine;
use deployer::bundle::Artifact;
use deployer::deploy::Aws;

/// Lambda's CodeSha256: the base64 of the zip's SHA-256.
pub(super) fn code_sha256(artifact: &Artifact) -> String {
    let bytes: Vec<u8> = (0..artifact.sha256.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&artifact.sha256[i..i + 2], 16).expect("hex"))
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The code hash Lambda reports for the function `name`.
pub(super) async fn function_code_sha(aws: &Aws, name: &str) -> String {
    aws.lambda
        .get_function()
        .function_name(name)
        .send()
        .await
        .unwrap_or_else(|err| panic!("function {name}: {err:?}"))
        .configuration()
        .and_then(|c| c.code_sha256())
        .expect("a code hash")
        .to_owned()
}

/// SQS `GetQueueAttributes` (all of them) of the queue at `url`, through
/// SQS's JSON protocol (the deployer itself never calls SQS); `None` when
/// there is no such queue.
pub(super) async fn queue_attributes(url: &str) -> Option<BTreeMap<String, String>> {
    let endpoint = testkit::moto::shared_endpoint();
    let response = reqwest::Client::new()
        .post(endpoint)
        .header("x-amz-target", "AmazonSQS.GetQueueAttributes")
        .header("content-type", "application/x-amz-json-1.0")
        // moto routes by the credential scope and checks no signature.
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(serde_json::json!({"QueueUrl": url, "AttributeNames": ["All"]}).to_string())
        .send()
        .await
        .expect("SQS answers");
    if !response.status().is_success() {
        let body = response.text().await.unwrap_or_default();
        // The JSON protocol's name for AWS.SimpleQueueService.NonExistentQueue.
        assert!(body.contains("QueueDoesNotExist"), "{body}");
        return None;
    }
    let body: serde_json::Value = response.json().await.expect("JSON");
    serde_json::from_value(body["Attributes"].clone()).ok()
}
