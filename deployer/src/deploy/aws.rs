//! The AWS clients the deployer uses, and how their errors are reported.

use std::fmt::Display;

use anyhow::Context;
use aws_config::SdkConfig;
use aws_sdk_s3::config::ProvideCredentials;
use aws_smithy_types::error::display::DisplayErrorContext;

/// The AWS clients the deployer uses, from one configuration.
#[derive(Clone, Debug)]
pub struct Aws {
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// The account's API Gateway settings (its CloudWatch role).
    pub apigateway: aws_sdk_apigateway::Client,
    pub iam: aws_sdk_iam::Client,
    pub region: String,
}

impl Aws {
    /// Clients for `config`. S3 is addressed by path when an endpoint is
    /// configured (an emulator has no per-bucket host names).
    pub fn new(config: &SdkConfig) -> anyhow::Result<Aws> {
        let region = config
            .region()
            .map(|r| r.as_ref().to_owned())
            .context(
                "no AWS region is configured: set AWS_REGION (or AWS_DEFAULT_REGION), or a region in your AWS profile",
            )?;
        let s3_config = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Ok(Aws {
            cloudformation: aws_sdk_cloudformation::Client::new(config),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            lambda: aws_sdk_lambda::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            logs: aws_sdk_cloudwatchlogs::Client::new(config),
            apigateway: aws_sdk_apigateway::Client::new(config),
            iam: aws_sdk_iam::Client::new(config),
            region,
        })
    }

    /// The standard AWS configuration chain (environment, profile,
    /// `AWS_ENDPOINT_URL`, ...), checked for a region and credentials
    /// before any call is made.
    pub async fn from_environment() -> anyhow::Result<Aws> {
        let config = service::aws::sdk_config().await;
        let aws = Aws::new(&config)?;
        let provider = config.credentials_provider().context(
            "no AWS credentials provider: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        )?;
        provider.provide_credentials().await.map_err(|err| {
            anyhow::anyhow!(
                "no AWS credentials found ({err}): set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        })?;
        Ok(aws)
    }
}

/// [`anyhow::Context::with_context`] for the results of SDK calls.
pub(crate) trait SdkResultExt<T> {
    /// The error with its whole chain of causes in its message (the SDK's
    /// own message is only "service error"), under `context`.
    fn with_sdk_context<C, F>(self, context: F) -> anyhow::Result<T>
    where
        C: Display + Send + Sync + 'static,
        F: FnOnce() -> C;
}

impl<T, E: std::error::Error> SdkResultExt<T> for Result<T, E> {
    fn with_sdk_context<C, F>(self, context: F) -> anyhow::Result<T>
    where
        C: Display + Send + Sync + 'static,
        F: FnOnce() -> C,
    {
        self.map_err(|err| anyhow::anyhow!("{}", DisplayErrorContext(&err)).context(context()))
    }
}
