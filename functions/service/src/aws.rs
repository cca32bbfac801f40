//! AWS SDK configuration with the one TLS stack the workspace links
//! (rustls + ring): aws-config is built without a default HTTPS client, so
//! every config must be given this one.

use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::environment::region::EnvironmentVariableRegionProvider;
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::{ProfileFileCredentialsProvider, ProfileFileRegionProvider};
use aws_config::provider_config::ProviderConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedHttpClient};
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
