//! SDK interceptors for tests: one counts the AWS requests a client sends,
//! at the wire, by operation; another fails chosen requests.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;

/// The operation a request calls: DynamoDB's JSON protocol names it in the
/// `x-amz-target` header (`DynamoDB_20120810.PutItem`).
fn operation<'a>(context: &'a BeforeTransmitInterceptorContextRef<'_>) -> &'a str {
    let target = context
        .request()
        .headers()
        .get("x-amz-target")
        .unwrap_or_default();
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
