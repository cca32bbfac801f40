//! Where the deploy commands' children get their AWS credentials: keys
//! in the environment, or every other source the SDK's chain reads, and
//! the step that runs `diff` and `status` with each.

use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};

use super::cli::{Cli, Credentials, transcript};
use crate::credential_endpoints::CredentialsEndpoint;

const PROCESS_PROFILE: &str = "evs-credential-process";
/// `role_arn` + `source_profile`: the chain organisations hand out.
const ASSUME_ROLE_PROFILE: &str = "evs-assume-role";

/// An AWS config file whose profile [`PROCESS_PROFILE`] gets its keys
/// from a script, written into `dir`.
fn credential_process_profile(dir: &Path) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let script = dir.join("credentials.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nprintf '%s' '{\"Version\": 1, \"AccessKeyId\": \"from-process\", \"SecretAccessKey\": \"from-process\"}'\n",
    )
    .with_context(|| format!("cannot write {}", script.display()))?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot chmod {}", script.display()))?;
    let config = dir.join("config");
    std::fs::write(
        &config,
        format!(
            "[profile {PROCESS_PROFILE}]\ncredential_process = {}\nregion = us-east-1\n\n\
             [profile {ASSUME_ROLE_PROFILE}]\nrole_arn = arn:aws:iam::123456789012:role/evs-deployer\n\
             source_profile = {PROCESS_PROFILE}\nregion = us-east-1\n",
            script.display()
        ),
    )
    .with_context(|| format!("cannot write {}", config.display()))?;
    Ok(config)
}

/// `diff` and `status` of the deployed `stack`, with credentials from each
/// source but the environment's keys: a profile's `credential_process`,
/// a `role_arn` + `source_profile` chain, a web identity token, a
/// container's and an instance's role.
pub(super) fn every_other_credential_source(cli: &Cli<'_>, stack: &str) -> anyhow::Result<()> {
    // Credentials from a profile's credential_process, not the
    // environment: the AWS CLI's way, which deploy must accept too.
    let profile_dir = std::env::temp_dir().join(format!("evs-profile-{}", std::process::id()));
    let config = credential_process_profile(&profile_dir)?;
    let output = cli.run_with(
        &["diff", "--linker", "zig"],
        "",
        Credentials::Profile(&config, PROCESS_PROFILE),
    );
    // The same keys, through a role_arn + source_profile chain: the SDK
    // calls STS AssumeRole (the emulator's) and deploys with the role's.
    let chained = cli.run_with(
        &["status", "--no-build"],
        "",
        Credentials::Profile(&config, ASSUME_ROLE_PROFILE),
    );
    // CI's OIDC: a token file and a role, exchanged through STS
    // AssumeRoleWithWebIdentity (the emulator's, which takes any token).
    let token = profile_dir.join("web-identity-token");
    std::fs::write(&token, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJldnMifQ.")
        .with_context(|| format!("cannot write {}", token.display()))?;
    let federated = cli.run_with(
        &["status", "--no-build"],
        "",
        Credentials::WebIdentity(&token),
    );
    let _ = std::fs::remove_dir_all(&profile_dir);
    let output = output?;
    let text = transcript(&output);
    ensure!(
        output.status.success() && text.contains("no changes"),
        "diff of an unchanged stack, with credentials from credential_process:\n{text}"
    );
    let chained = chained?;
    let text = transcript(&chained);
    ensure!(
        chained.status.success() && text.contains(&format!("{stack}-data")),
        "status with credentials from a role_arn + source_profile chain:\n{text}"
    );
    let federated = federated?;
    let text = transcript(&federated);
    ensure!(
        federated.status.success() && text.contains(&format!("{stack}-data")),
        "status with credentials from a web identity token:\n{text}"
    );
    // A task's role, then an instance's: the SDK asks the container
    // credentials endpoint, or the instance metadata service (IMDSv2).
    for (source, endpoint) in [
        ("container", CredentialsEndpoint::container()?),
        (
            "instance metadata",
            CredentialsEndpoint::instance_metadata()?,
        ),
    ] {
        let credentials = match source {
            "container" => Credentials::Container(&endpoint.url),
            _ => Credentials::InstanceMetadata(&endpoint.url),
        };
        let output = cli.run_with(&["status", "--no-build"], "", credentials)?;
        let text = transcript(&output);
        ensure!(
            output.status.success()
                && text.contains(&format!("{stack}-data"))
                && endpoint.served_credentials(),
            "status with credentials from the {source} endpoint ({:?} asked of it):\n{text}",
            endpoint.requests()
        );
    }
    Ok(())
}
