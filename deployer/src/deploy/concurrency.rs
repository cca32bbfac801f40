//! Before a deploy changes anything: can the account reserve the replay
//! function's concurrency (`REPLAY_CONCURRENCY`)? Lambda keeps at least
//! [`MIN_UNRESERVED`] concurrent executions unreserved in every account and
//! region, and refuses a reservation that would leave fewer; new accounts
//! have a limit of 10 in all, so they cannot reserve any. CloudFormation
//! would only find out halfway through the update and roll it back; this
//! says so first, with the numbers and the ways out.

use aws_smithy_types::error::display::DisplayErrorContext;
use service::functions::Function;

use super::aws::Aws;
use super::progress::Progress;
use crate::cfn::{Properties, Template};
use crate::settings::ReplayConcurrency;
use crate::stack::FunctionResources;

/// The concurrent executions Lambda keeps unreserved in an account
/// ("You can reserve up to the Unreserved account concurrency value minus
/// 100", <https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html>).
pub const MIN_UNRESERVED: u32 = 100;

/// Lambda's quota code for "Concurrent executions" in Service Quotas.
const CONCURRENCY_QUOTA_CODE: &str = "L-B99A9384";

/// What `GetAccountSettings` says of the account's concurrency in a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountConcurrency {
    /// `ConcurrentExecutions`: the account's limit.
    pub limit: u32,
    /// `UnreservedConcurrentExecutions`: the limit minus every function's
    /// reservation.
    pub unreserved: u32,
}

/// A reservation the account cannot make; the message names the setting,
/// the numbers and the fixes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{setting}={wanted} reserves {wanted} concurrent executions for the replay function, but the account cannot spare them in {region}: \
     its Lambda concurrency limit is {limit}, {unreserved} of it unreserved{already}, and Lambda keeps at least {MIN_UNRESERVED} unreserved, \
     so at most {most} can be reserved. Nothing was changed. Set {setting}=none in .env to deploy the replay function without a reservation \
     (and without its cap), or ask for a higher Lambda \"Concurrent executions\" quota ({CONCURRENCY_QUOTA_CODE}) in Service Quotas, then deploy again.",
    setting = ReplayConcurrency::SETTING,
    limit = account.limit,
    unreserved = account.unreserved,
    already = if *already_reserved > 0 { format!(" (besides the {already_reserved} the replay function holds now)") } else { String::new() },
)]
pub struct ReservationRefused {
    pub wanted: u32,
    pub account: AccountConcurrency,
    /// What the replay function already reserves (it is given back when the
    /// new reservation replaces it).
    pub already_reserved: u32,
    /// The most the replay function could reserve.
    pub most: u32,
    pub region: String,
}

/// The rule: reserving `wanted` for a function that holds `already_reserved`
/// now must leave at least [`MIN_UNRESERVED`] unreserved.
pub fn check_reservation(
    wanted: u32,
    account: AccountConcurrency,
    already_reserved: u32,
    region: &str,
) -> Result<(), ReservationRefused> {
    let most = (account.unreserved.saturating_add(already_reserved)).saturating_sub(MIN_UNRESERVED);
    if wanted <= most {
        return Ok(());
    }
    Err(ReservationRefused {
        wanted,
        account,
        already_reserved,
        most,
        region: region.to_owned(),
    })
}

/// The replay function's reservation in `template`, if it has one.
pub fn replay_reservation(template: &Template) -> Option<u32> {
    match &template
        .resources
        .get(Function::Replay.logical_id().id())?
        .properties
    {
        Properties::LambdaFunction(function) => function.reserved_concurrent_executions,
        _ => None,
    }
}

/// Refuses (a [`ReservationRefused`]) a template whose replay reservation
/// the account cannot make. Makes no call when the template reserves
/// nothing. When the account's numbers cannot be read (no permission, or
/// an endpoint without the call), says so and lets CloudFormation judge.
pub(crate) async fn check_replay_concurrency(
    aws: &Aws,
    stack_name: &str,
    template: &Template,
    progress: &Progress,
) -> anyhow::Result<()> {
    let Some(wanted) = replay_reservation(template) else {
        return Ok(());
    };
    let cannot_check = |what: String| {
        progress.line(format!(
            "cannot check that the account can reserve {}={wanted} ({what}); going on, CloudFormation refuses a reservation the account cannot make",
            ReplayConcurrency::SETTING
        ));
    };
    let settings = match aws.lambda.get_account_settings().send().await {
        Ok(settings) => settings,
        Err(err) => {
            cannot_check(format!(
                "GetAccountSettings failed: {}",
                DisplayErrorContext(&err)
            ));
            return Ok(());
        }
    };
    let Some(limit) = settings.account_limit() else {
        cannot_check("GetAccountSettings gave no account limit".to_owned());
        return Ok(());
    };
    let count = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
    let account = AccountConcurrency {
        limit: count(i64::from(limit.concurrent_executions())),
        unreserved: count(i64::from(
            limit
                .unreserved_concurrent_executions()
                .unwrap_or(limit.concurrent_executions()),
        )),
    };
    // The deployed name (`FunctionResources::deployed_name`).
    let replay = format!("{stack_name}-{}", Function::Replay.name());
    let already_reserved = match aws
        .lambda
        .get_function_concurrency()
        .function_name(&replay)
        .send()
        .await
    {
        Ok(concurrency) => count(i64::from(
            concurrency.reserved_concurrent_executions().unwrap_or(0),
        )),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            0
        }
        Err(err) => {
            cannot_check(format!(
                "GetFunctionConcurrency of {replay} failed: {}",
                DisplayErrorContext(&err)
            ));
            return Ok(());
        }
    };
    check_reservation(wanted, account, already_reserved, &aws.region)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::StackOptions;

    fn account(limit: u32, unreserved: u32) -> AccountConcurrency {
        AccountConcurrency { limit, unreserved }
    }

    #[test]
    fn a_new_account_cannot_reserve_anything_and_is_told_how_to_go_on() {
        let err = check_reservation(5, account(10, 10), 0, "eu-west-1").unwrap_err();
        assert_eq!(err.most, 0);
        let message = err.to_string();
        for part in [
            "REPLAY_CONCURRENCY=5",
            "eu-west-1",
            "limit is 10, 10 of it unreserved",
            "at least 100 unreserved",
            "at most 0 can be reserved",
            "Nothing was changed",
            "REPLAY_CONCURRENCY=none",
            "Service Quotas",
        ] {
            assert!(message.contains(part), "{part:?} missing from: {message}");
        }
    }

    #[test]
    fn a_default_account_can_reserve_up_to_its_unreserved_minus_a_hundred() {
        assert_eq!(check_reservation(5, account(1000, 1000), 0, "r"), Ok(()));
        assert_eq!(check_reservation(900, account(1000, 1000), 0, "r"), Ok(()));
        let err = check_reservation(901, account(1000, 1000), 0, "r").unwrap_err();
        assert_eq!(err.most, 900);
        // Others' reservations count; the replay function's own is given back.
        assert!(check_reservation(5, account(1000, 104), 0, "r").is_err());
        assert_eq!(check_reservation(5, account(1000, 104), 5, "r"), Ok(()));
        let err = check_reservation(10, account(1000, 100), 5, "r").unwrap_err();
        assert!(
            err.to_string()
                .contains("besides the 5 the replay function holds now"),
            "{err}"
        );
    }

    #[test]
    fn the_reservation_to_check_is_the_templates() {
        let template = |replay_concurrency| {
            crate::stack::app_stack(&StackOptions {
                replay_concurrency,
                ..StackOptions::default()
            })
        };
        assert_eq!(
            replay_reservation(&template(ReplayConcurrency::DEFAULT)),
            Some(5)
        );
        assert_eq!(
            replay_reservation(&template(ReplayConcurrency::Reserved(40))),
            Some(40)
        );
        // `none`: nothing to check, so no call is made.
        assert_eq!(
            replay_reservation(&template(ReplayConcurrency::Unreserved)),
            None
        );
    }
}
