//! The artifact bucket: function packages under content-addressed keys
//! (uploaded only when absent), templates too large to send inline, and
//! emptying it before the stack that owns it is deleted.

use std::collections::HashSet;

use anyhow::Context;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use sha2::{Digest, Sha256};

use super::aws::SdkResultExt;
use super::progress::Progress;
use crate::bundle::{Artifact, Manifest};

/// CloudFormation's limit on a template sent inline (TemplateBody).
pub const INLINE_TEMPLATE_LIMIT: usize = 51_200;
/// Where function packages go in the bucket.
pub const FUNCTIONS_PREFIX: &str = "functions/";
/// Where large templates go in the bucket.
pub const TEMPLATES_PREFIX: &str = "templates/";

/// The bucket key of a package: its content hash names it, so a new
/// build is a new key (which is what makes CloudFormation update code).
pub fn object_key(artifact: &Artifact) -> String {
    format!("{FUNCTIONS_PREFIX}{}", artifact.key)
}

/// What an upload pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Uploads {
    pub uploaded: Vec<String>,
    pub already_there: Vec<String>,
}

/// Puts every package of `manifest` in `bucket` unless it is there already.
pub async fn upload_packages(
    s3: &Client,
    bucket: &str,
    manifest: &Manifest,
    progress: &Progress,
) -> anyhow::Result<Uploads> {
    let mut uploads = Uploads::default();
    for (function, artifact) in &manifest.functions {
        let key = object_key(artifact);
        if exists(s3, bucket, &key).await? {
            uploads.already_there.push(function.clone());
            continue;
        }
        let bytes = std::fs::read(&artifact.path)
            .with_context(|| format!("cannot read {}", artifact.path.display()))?;
        progress.status(format!("uploading {function} ({} bytes)", bytes.len()));
        s3.put_object()
            .bucket(bucket)
            .key(&key)
            .content_type("application/zip")
            .body(ByteStream::from(bytes))
            .send()
            .await
            .with_sdk_context(|| format!("cannot upload {function} to s3://{bucket}/{key}"))?;
        progress.line(format!(
            "  uploaded {function:<15} {:>9} bytes  s3://{bucket}/{key}",
            artifact.size
        ));
        uploads.uploaded.push(function.clone());
    }
    if !uploads.already_there.is_empty() {
        progress.line(format!(
            "  already uploaded: {}",
            uploads.already_there.join(", ")
        ));
    }
    Ok(uploads)
}

/// Whether `key` is in `bucket`. A caller without `s3:ListBucket` gets 403,
/// not 404, for a missing key (S3 API reference, HeadObject: "If you don't
/// have the s3:ListBucket permission, Amazon S3 returns an HTTP status
/// code 403 Forbidden error"): read as "not known to be there", so the
/// upload (content-addressed, so harmless to repeat) goes ahead, and a
/// real lack of access shows on the PutObject.
async fn exists(s3: &Client, bucket: &str, key: &str) -> anyhow::Result<bool> {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => Ok(true),
        Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(false),
        Err(err)
            if err
                .raw_response()
                .is_some_and(|raw| raw.status().as_u16() == 403) =>
        {
            Ok(false)
        }
        Err(err) => Err(err).with_sdk_context(|| format!("cannot look for s3://{bucket}/{key}")),
    }
}

/// Stores `template` in `bucket` under its hash and returns its HTTPS URL,
/// for CloudFormation's TemplateURL.
pub async fn upload_template(
    s3: &Client,
    bucket: &str,
    region: &str,
    template: &str,
) -> anyhow::Result<String> {
    let hash: String = Sha256::digest(template.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let key = format!("{TEMPLATES_PREFIX}{hash}.yaml");
    if !exists(s3, bucket, &key).await? {
        s3.put_object()
            .bucket(bucket)
            .key(&key)
            .content_type("application/x-yaml")
            .body(ByteStream::from(template.as_bytes().to_vec()))
            .send()
            .await
            .with_sdk_context(|| format!("cannot upload the template to s3://{bucket}/{key}"))?;
    }
    Ok(format!(
        "https://{bucket}.s3.{region}.{}/{key}",
        crate::partition::dns_suffix(region)
    ))
}

/// Deletes every object in `bucket`; returns how many there were.
///
/// Stops with an error naming the object when S3 refuses to delete one,
/// and after `rounds_without_progress` listings in a row that show nothing
/// new (objects that come back or never go), rather than looping.
pub async fn empty_bucket(
    s3: &Client,
    bucket: &str,
    rounds_without_progress: u32,
) -> anyhow::Result<usize> {
    let mut deleted = 0;
    let mut previous: HashSet<String> = HashSet::new();
    let mut stalled = 0;
    loop {
        // Listing from the start each round: what was deleted is gone.
        let page = match s3.list_objects_v2().bucket(bucket).send().await {
            Ok(page) => page,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_no_such_bucket()) =>
            {
                return Ok(deleted);
            }
            Err(err) => {
                return Err(err).with_sdk_context(|| format!("cannot list s3://{bucket}"));
            }
        };
        let listed: HashSet<String> = page
            .contents()
            .iter()
            .filter_map(|object| object.key())
            .map(str::to_owned)
            .collect();
        if listed.is_empty() {
            return Ok(deleted);
        }
        if listed.is_subset(&previous) {
            stalled += 1;
            if stalled >= rounds_without_progress {
                anyhow::bail!(
                    "stopped emptying s3://{bucket}: {} objects (e.g. {}) are still listed after {stalled} rounds of deleting them; delete them in the S3 console, then run the command again",
                    listed.len(),
                    listed.iter().min().map(String::as_str).unwrap_or_default()
                );
            }
        } else {
            stalled = 0;
        }
        let keys: Vec<ObjectIdentifier> = listed
            .iter()
            .filter_map(|key| ObjectIdentifier::builder().key(key).build().ok())
            .collect();
        let delete = Delete::builder()
            .set_objects(Some(keys))
            .quiet(true)
            .build()
            .context("cannot build the delete request")?;
        let outcome = s3
            .delete_objects()
            .bucket(bucket)
            .delete(delete)
            .send()
            .await
            .with_sdk_context(|| format!("cannot empty s3://{bucket}"))?;
        // Quiet mode lists only the objects S3 did not delete.
        if let Some(refused) = outcome.errors().first() {
            anyhow::bail!(
                "S3 refused to delete s3://{bucket}/{} ({}: {}){}; delete it in the S3 console or grant s3:DeleteObject, then run the command again",
                refused.key().unwrap_or_default(),
                refused.code().unwrap_or("no code"),
                refused.message().unwrap_or("no message"),
                match outcome.errors().len() {
                    1 => String::new(),
                    n => format!(" and {} more", n - 1),
                }
            );
        }
        deleted += listed.len();
        previous = listed;
    }
}
