//! AWS SDK configuration with the one TLS stack the workspace links
//! (rustls + ring): aws-config is built without a default HTTPS client, so
//! every config must be given this one. The functions' clients
//! ([`dynamodb_client`], [`lambda_client`]) also carry [`CallDeadline`]:
//! no call of theirs outlives the request or invocation it serves.

use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::environment::region::EnvironmentVariableRegionProvider;
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::{ProfileFileCredentialsProvider, ProfileFileRegionProvider};
use aws_config::provider_config::ProviderConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::time::Duration;

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{ConfigBag, Credentials, Intercept, SharedHttpClient};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// The region used against a local endpoint when none is configured.
pub const LOCAL_DEFAULT_REGION: &str = "us-east-1";

/// An HTTPS (and plain HTTP, for local endpoints) client on rustls + ring.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The standard chain (environment, profile, region, `AWS_ENDPOINT_URL`,
/// container/instance credentials), as on Lambda.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}

/// For tests and local mode: every service at `endpoint` (moto, DynamoDB
/// Local). Region and credentials come from the environment or the profile
/// when set (DynamoDB Local partitions its data by them), else `us-east-1`
/// and dummy keys. IMDS and the container endpoint are left out on purpose:
/// probing them off AWS only costs seconds of timeouts.
pub async fn sdk_config_for_endpoint(endpoint: &str) -> SdkConfig {
    let http = https_client();
    let provider_config = ProviderConfig::without_region().with_http_client(http.clone());
    let region = RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
        .or_else(
            ProfileFileRegionProvider::builder()
                .configure(&provider_config)
                .build(),
        )
        .or_else(Region::from_static(LOCAL_DEFAULT_REGION));
    let credentials = CredentialsProviderChain::first_try(
        "Environment",
        EnvironmentVariableCredentialsProvider::new(),
    )
    .or_else(
        "Profile",
        ProfileFileCredentialsProvider::builder()
            .configure(&provider_config)
            .build(),
    )
    .or_else(
        "LocalDummy",
        Credentials::new("local", "local", None, None, "local-dummy"),
    );
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .endpoint_url(endpoint)
        .region(region)
        .credentials_provider(credentials)
        .load()
        .await
}

/// The longest one HTTP attempt of a function's call may take. DynamoDB
/// answers in milliseconds; an attempt this slow is stuck (a stalled
/// connection, an overloaded host), and the SDK's next attempt goes out on
/// another connection while the request still has time.
pub const ATTEMPT_LIMIT: Duration = Duration::from_secs(5);
/// The longest one call may take, its attempts and the SDK's backoff
/// between them included, even with more time left: a projector batch or
/// a replay step whose store stalls fails in this time and is retried
/// rather than waiting for its invocation's end. Also the limit of calls
/// made outside any deadline (local mode's followers, tools).
pub const CALL_LIMIT: Duration = Duration::from_secs(15);

/// The timeouts of a call that may take `time_left` (`None`: no deadline);
/// `None` when no time is left, so the call is not sent at all.
fn call_timeouts(time_left: Option<Duration>) -> Option<TimeoutConfig> {
    let operation = time_left.map_or(CALL_LIMIT, |left| left.min(CALL_LIMIT));
    if operation.is_zero() {
        return None;
    }
    Some(
        TimeoutConfig::builder()
            .operation_timeout(operation)
            .operation_attempt_timeout(operation.min(ATTEMPT_LIMIT))
            .build(),
    )
}

/// Gives each call an operation and an attempt timeout from the time its
/// request has left ([`crate::deadline::time_left`]), read when the call
/// starts. An interceptor rather than fixed timeouts in the client's
/// config: one client serves every invocation of a process, and each has
/// its own deadline; and rather than a `tokio::time::timeout` around each
/// call site, so that no call of the adapters can be written without one.
/// The SDK's timeouts also bound its own retries and backoff, which a
/// timeout around `send` would only cut short without saying why.
#[derive(Clone, Copy, Debug, Default)]
pub struct CallDeadline;

impl Intercept for CallDeadline {
    fn name(&self) -> &'static str {
        "CallDeadline"
    }

    fn read_before_execution(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Runs before the orchestrator reads its timeouts, and its layer is
        // the bag's topmost: these override the client's.
        let timeouts = call_timeouts(crate::deadline::time_left())
            .ok_or("not sent: no time left before the request's deadline")?;
        cfg.interceptor_state().store_put(timeouts);
        Ok(())
    }
}

/// A DynamoDB client whose calls keep to their request's deadline.
pub fn dynamodb_client(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::from(sdk)
        .interceptor(CallDeadline)
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A Lambda client whose calls keep to their request's deadline.
pub fn lambda_client(sdk: &SdkConfig) -> aws_sdk_lambda::Client {
    let config = aws_sdk_lambda::config::Builder::from(sdk)
        .interceptor(CallDeadline)
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_gets_the_time_left_up_to_its_limits_and_none_past_the_deadline() {
        let outside = call_timeouts(None).expect("no deadline");
        assert_eq!(outside.operation_timeout(), Some(CALL_LIMIT));
        assert_eq!(outside.operation_attempt_timeout(), Some(ATTEMPT_LIMIT));

        let short = call_timeouts(Some(Duration::from_secs(2))).expect("time left");
        assert_eq!(short.operation_timeout(), Some(Duration::from_secs(2)));
        assert_eq!(
            short.operation_attempt_timeout(),
            Some(Duration::from_secs(2))
        );

        let api = call_timeouts(Some(Duration::from_millis(9_500))).expect("time left");
        assert_eq!(api.operation_timeout(), Some(Duration::from_millis(9_500)));
        assert_eq!(api.operation_attempt_timeout(), Some(ATTEMPT_LIMIT));

        let replay = call_timeouts(Some(Duration::from_secs(800))).expect("time left");
        assert_eq!(replay.operation_timeout(), Some(CALL_LIMIT));

        assert!(call_timeouts(Some(Duration::ZERO)).is_none());
    }
}
