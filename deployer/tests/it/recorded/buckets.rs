//! The artifact bucket against recorded S3 responses: objects S3 refuses
//! to delete or that never go, and a key hidden by a missing permission.

use super::*;

const S3_XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

fn listed_objects(keys: &[&str]) -> ReplayEvent {
    let contents: String = keys
        .iter()
        .map(|key| format!("<Contents><Key>{key}</Key><Size>1</Size></Contents>"))
        .collect();
    response(
        200,
        format!(
            "<ListBucketResult xmlns=\"{S3_XMLNS}\"><Name>recorded-bucket</Name>\
             <KeyCount>{}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>\
             {contents}</ListBucketResult>",
            keys.len()
        ),
    )
}

fn deleted_objects(refused: &[(&str, &str)]) -> ReplayEvent {
    let errors: String = refused
        .iter()
        .map(|(key, code)| {
            format!("<Error><Key>{key}</Key><Code>{code}</Code><Message>no</Message></Error>")
        })
        .collect();
    response(
        200,
        format!("<DeleteResult xmlns=\"{S3_XMLNS}\">{errors}</DeleteResult>"),
    )
}

/// DeleteObjects answers 200 and lists, per object, what it could not
/// delete (S3 API reference, DeleteObjects: "Errors" in quiet mode).
#[tokio::test]
async fn emptying_a_bucket_names_an_object_s3_refuses_to_delete() {
    let replay = StaticReplayClient::new(vec![
        listed_objects(&["add-event/abc.zip", "projector/def.zip"]),
        deleted_objects(&[("projector/def.zip", "AccessDenied")]),
    ]);
    let aws = aws(&replay).await;
    let err = deployer::deploy::artifacts::empty_bucket(&aws.s3, "recorded-bucket", 3)
        .await
        .expect_err("a refused delete");
    let message = format!("{err:#}");
    assert!(
        message.contains("s3://recorded-bucket/projector/def.zip")
            && message.contains("AccessDenied"),
        "{message}"
    );
}

/// Objects that stay listed after deletes S3 accepted (a versioned or
/// replicated bucket, another writer) stop the loop after a few rounds.
#[tokio::test]
async fn emptying_a_bucket_whose_objects_never_go_stops_after_rounds_without_progress() {
    let replay = StaticReplayClient::new(vec![
        listed_objects(&["a.zip"]),
        deleted_objects(&[]),
        listed_objects(&["a.zip"]),
        deleted_objects(&[]),
        listed_objects(&["a.zip"]),
        deleted_objects(&[]),
        listed_objects(&["a.zip"]),
    ]);
    let aws = aws(&replay).await;
    let err = deployer::deploy::artifacts::empty_bucket(&aws.s3, "recorded-bucket", 3)
        .await
        .expect_err("objects that never go");
    let message = format!("{err:#}");
    assert!(
        message.contains("s3://recorded-bucket") && message.contains("a.zip"),
        "{message}"
    );
    assert_eq!(replay.actual_requests().count(), 7);
}

/// HeadObject answers 403 for a missing key to a caller without
/// `s3:ListBucket` (S3 API reference, HeadObject, "Permissions"): the
/// upload goes ahead instead of failing the deploy. The URL carries the
/// region's partition suffix.
#[tokio::test]
async fn a_key_hidden_by_a_missing_list_permission_is_uploaded() {
    let forbidden = http::Response::builder()
        .status(403)
        .header("content-length", "0");
    let stored = http::Response::builder()
        .status(200)
        .header("etag", "\"abc\"");
    let replay = StaticReplayClient::new(vec![
        reply(forbidden, SdkBody::empty()),
        reply(stored, SdkBody::empty()),
    ]);
    let aws = aws(&replay).await;
    let url = deployer::deploy::artifacts::upload_template(
        &aws.s3,
        "recorded-bucket",
        "cn-north-1",
        "Resources: {}\n",
    )
    .await
    .expect("the upload goes ahead");
    assert!(
        url.starts_with("https://recorded-bucket.s3.cn-north-1.amazonaws.com.cn/"),
        "{url}"
    );
    let methods: Vec<String> = replay
        .actual_requests()
        .map(|request| request.method().to_owned())
        .collect();
    assert_eq!(methods, ["HEAD", "PUT"]);
}
