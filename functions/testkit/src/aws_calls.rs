//! SDK interceptors for tests: one counts the AWS requests a client sends,
//! at the wire, by operation; another fails chosen requests; a third
//! answers a write with `TransactionInProgressException`; a fourth keeps
//! refused writes from returning their rows.

use std::sync::{Arc, Mutex};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use aws_sdk_dynamodb::config::http::HttpRequest;
use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
    BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;

/// The operation a request calls: DynamoDB's JSON protocol names it in the
/// `x-amz-target` header (`DynamoDB_20120810.PutItem`).
fn operation<'a>(context: &'a BeforeTransmitInterceptorContextRef<'_>) -> &'a str {
    operation_of(context.request())
}

fn operation_of(request: &HttpRequest) -> &str {
    let target = request.headers().get("x-amz-target").unwrap_or_default();
    target.rsplit('.').next().unwrap_or_default()
}

/// Records the operation of every DynamoDB request the client sends.
#[derive(Clone, Debug, Default)]
pub struct RequestLog(Arc<Mutex<Vec<String>>>);

impl RequestLog {
    /// The operations recorded since the last call.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "RequestLog"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(operation(context).to_owned());
        Ok(())
    }
}

/// A DynamoDB client for `endpoint` whose requests `log` records.
pub async fn counted_dynamodb(endpoint: &str, log: &RequestLog) -> aws_sdk_dynamodb::Client {
    let sdk = service::aws::sdk_config_for_endpoint(endpoint).await;
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .interceptor(log.clone())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// Fails every `every`th request of the named operations before it leaves,
/// as a dropped connection would: how tests inject store failures into a
/// real client talking to the emulator. Counts what it failed.
#[derive(Clone, Debug)]
pub struct FailingRequests {
    operations: &'static [&'static str],
    every: u64,
    seen: Arc<std::sync::atomic::AtomicU64>,
    failed: Arc<std::sync::atomic::AtomicU64>,
}

impl FailingRequests {
    pub fn every(every: u64, operations: &'static [&'static str]) -> Self {
        FailingRequests {
            operations,
            every: every.max(1),
            seen: Arc::default(),
            failed: Arc::default(),
        }
    }

    /// How many requests it has failed so far.
    pub fn failed(&self) -> u64 {
        self.failed.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Intercept for FailingRequests {
    fn name(&self) -> &'static str {
        "FailingRequests"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use std::sync::atomic::Ordering;
        let operation = operation(context);
        if !self.operations.contains(&operation) {
            return Ok(());
        }
        if (self.seen.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(self.every) {
            self.failed.fetch_add(1, Ordering::Relaxed);
            return Err(format!("injected failure of {operation}").into());
        }
        Ok(())
    }
}

/// A DynamoDB client for `endpoint` whose requests `failing` fails.
pub async fn failing_dynamodb(
    endpoint: &str,
    failing: &FailingRequests,
) -> aws_sdk_dynamodb::Client {
    let sdk = service::aws::sdk_config_for_endpoint(endpoint).await;
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .interceptor(failing.clone())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// What DynamoDB answers a TransactWriteItems whose transaction (the same
/// client token) is still being applied: "The transaction with the given
/// request token is already in progress"
/// (docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
/// The write may yet land, or not.
const TRANSACTION_IN_PROGRESS: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionInProgressException","message":"The transaction with the given request token is already in progress."}"#;

/// Answers the client's next TransactWriteItems with
/// `TransactionInProgressException`, which the emulator never sends:
/// either after the write reached the emulator (it landed), or in its
/// place (the emulator gets a harmless DescribeLimits; nothing is
/// written). Later writes pass untouched.
#[derive(Clone, Debug)]
pub struct InProgressAnswer {
    write_lands: bool,
    armed: Arc<AtomicBool>,
    replacing: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
}

impl InProgressAnswer {
    /// The write lands; its answer says it is still in progress.
    pub fn after_the_write_lands() -> Self {
        Self::new(true)
    }

    /// The write never reaches the table; the answer says it is in progress.
    pub fn instead_of_the_write() -> Self {
        Self::new(false)
    }

    fn new(write_lands: bool) -> Self {
        InProgressAnswer {
            write_lands,
            armed: Arc::new(AtomicBool::new(true)),
            replacing: Arc::default(),
            answered: Arc::default(),
        }
    }

    /// How many answers it replaced (0 or 1).
    pub fn answered(&self) -> u64 {
        self.answered.load(Ordering::SeqCst)
    }
}

impl Intercept for InProgressAnswer {
    fn name(&self) -> &'static str {
        "InProgressAnswer"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if operation_of(context.request()) != "TransactWriteItems"
            || !self.armed.swap(false, Ordering::SeqCst)
        {
            return Ok(());
        }
        self.replacing.store(true, Ordering::SeqCst);
        if !self.write_lands {
            let request = context.request_mut();
            let headers = request.headers_mut();
            headers.insert("x-amz-target", "DynamoDB_20120810.DescribeLimits");
            headers.insert("content-length", "2");
            *request.body_mut() = "{}".into();
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !self.replacing.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let response = context.response_mut();
        *response.status_mut() = 400.try_into()?;
        let headers = response.headers_mut();
        headers.insert("content-type", "application/x-amz-json-1.0");
        headers.insert("content-length", TRANSACTION_IN_PROGRESS.len().to_string());
        headers.remove("x-amz-crc32");
        *response.body_mut() = TRANSACTION_IN_PROGRESS.into();
        self.answered.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A DynamoDB client for `endpoint` with `interceptor`, whose calls keep
/// to their request's deadline as the functions' clients do.
pub async fn intercepted_dynamodb(
    endpoint: &str,
    interceptor: impl Intercept + 'static,
) -> aws_sdk_dynamodb::Client {
    let sdk = service::aws::sdk_config_for_endpoint(endpoint).await;
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .interceptor(service::aws::CallDeadline)
        .interceptor(interceptor)
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// Takes `ReturnValuesOnConditionCheckFailure` out of every part of a
/// TransactWriteItems before it leaves, so a refusal's reasons carry codes
/// but no rows: what a write gets when DynamoDB does not say what its
/// rows hold. Counts the writes it changed.
#[derive(Clone, Debug, Default)]
pub struct RowlessRefusals {
    changed: Arc<AtomicU64>,
}

impl RowlessRefusals {
    /// How many writes it changed.
    pub fn changed(&self) -> u64 {
        self.changed.load(Ordering::SeqCst)
    }
}

impl Intercept for RowlessRefusals {
    fn name(&self) -> &'static str {
        "RowlessRefusals"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        if operation_of(request) != "TransactWriteItems" {
            return Ok(());
        }
        let body = request
            .body()
            .bytes()
            .ok_or("a TransactWriteItems body not in memory")?;
        let mut json: serde_json::Value = serde_json::from_slice(body)?;
        let parts = json
            .get_mut("TransactItems")
            .and_then(serde_json::Value::as_array_mut)
            .ok_or("a TransactWriteItems without TransactItems")?;
        let mut removed = false;
        for part in parts.iter_mut() {
            let Some(part) = part.as_object_mut() else {
                continue;
            };
            for operation in part.values_mut() {
                if let Some(operation) = operation.as_object_mut() {
                    removed |= operation
                        .remove("ReturnValuesOnConditionCheckFailure")
                        .is_some();
                }
            }
        }
        if removed {
            self.changed.fetch_add(1, Ordering::SeqCst);
        }
        let body = serde_json::to_vec(&json)?;
        request
            .headers_mut()
            .insert("content-length", body.len().to_string());
        *request.body_mut() = body.into();
        Ok(())
    }
}
