//! Function cold start: each function built for this machine, started
//! against the Runtime API stub and moto; time to its first request and
//! peak memory.

use std::path::Path;

use deployer::bundle::toolchain::LinkerChoice;
use deployer::bundle::{self, Arch, BuildOptions, package};
use service::functions::Function;
use testkit::function_binary::{self, Launch};

use super::report::{Report, median, ms};

pub(super) fn measure(
    report: &mut Report,
    root: &Path,
    runtime: &tokio::runtime::Runtime,
    moto: &str,
) -> anyhow::Result<()> {
    let host = match std::env::consts::ARCH {
        "x86_64" => Arch::X86_64,
        "aarch64" => Arch::Arm64,
        other => {
            report.missing(
                "init",
                "function init",
                format!("no Lambda architecture for {other}"),
            );
            return Ok(());
        }
    };
    let venv = testkit::venv::venv_dir(root);
    let manifest = match bundle::build(
        root,
        &venv,
        &BuildOptions {
            arch: host,
            linker: LinkerChoice::Auto,
        },
    ) {
        Ok(manifest) => manifest,
        Err(err) => {
            report.missing(
                "init",
                "function init",
                format!("the native build failed: {err:#}"),
            );
            return Ok(());
        }
    };
    let scratch = std::env::temp_dir().join(format!("evs-bench-init-{}", std::process::id()));
    for function in Function::ALL {
        let artifact = &manifest.functions[function.name()];
        let (binary, _) = package::read_bootstrap(&std::fs::read(&artifact.path)?)?;
        let dir = scratch.join(function.name());
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("bootstrap");
        std::fs::write(&path, binary)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        let mut inits = Vec::new();
        let mut rss = Vec::new();
        for _ in 0..5 {
            let checked = runtime.block_on(function_binary::check(
                function,
                &Launch::native(&path),
                moto,
            ))?;
            inits.push(ms(checked.init));
            if let Some(kib) = checked.peak_rss_kib {
                rss.push(kib as f64 / 1024.0);
            }
        }
        let init = median(inits);
        report.add(
            "init",
            format!("init: {function}"),
            init,
            "ms",
            format!(
                "start → first GET /next, 5 runs; Node handlers: ~165 ms ({:.0}x)",
                165.0 / init
            ),
        );
        if rss.is_empty() {
            report.missing(
                "init",
                format!("peak RSS: {function}"),
                "no /proc on this system",
            );
        } else {
            report.add(
                "init",
                format!("peak RSS after its checks: {function}"),
                median(rss),
                "MiB",
                "VmHWM",
            );
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}
