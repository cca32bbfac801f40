//! The AWS emulator for tests: moto in server mode, from the project's
//! venv (`crate::venv`).
//!
//! One server per test process (or one for a whole `cargo xtask test` run,
//! passed down in `MOTO_ENDPOINT`); tests isolate themselves with unique
//! table names rather than by resetting the server.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

// The venv moved to its own module; these stay reachable from here.
pub use crate::venv::{
    MOTO_REQUIREMENT, MOTO_VERSION, VENV_ENV, project_root, venv_dir, venv_python,
};

/// Set by `cargo xtask test` so every test binary shares one server.
pub const ENDPOINT_ENV: &str = "MOTO_ENDPOINT";

/// How long a fresh server may take to answer (it usually needs ~1 s).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts with a fresh port, in case another process takes the port
/// between our probe and moto's bind.
const START_ATTEMPTS: usize = 3;

/// Runs moto's own `moto_server` entry point (`moto.server:main`) in a
/// process that also exits when its stdin reaches EOF. The test process
/// holds the write end: whether it drops it, exits without running
/// destructors (statics) or is killed, the kernel closes the pipe and moto
/// goes with it, so no server outlives its tests. The log file is removed
/// then too; it is only kept when moto dies on its own, for diagnosis.
///
/// It also serialises request handling. moto 5.2.5's server is threaded but
/// its DynamoDB backend takes no lock: TransactWriteItems checks conditions
/// and writes item by item, and when a condition fails it restores a deep
/// copy of the whole tables taken at its start, erasing what concurrent
/// requests committed meanwhile (acknowledged appends vanished from the log
/// in the concurrent conformance cases). DynamoDB's transactions are
/// serialisable, and one request at a time is a valid serial order.
/// Connections stay concurrent (keep-alive threads); only the work is not.
const WATCHDOG: &str = r#"
import os, sys, threading

def _watch():
    try:
        while sys.stdin.buffer.read(65536):
            pass
    finally:
        log = os.environ.get("EVS_MOTO_LOG")
        if log:
            try:
                os.remove(log)
            except OSError:
                pass
        os._exit(0)

threading.Thread(target=_watch, daemon=True).start()

import moto.server

_run_simple = moto.server.run_simple
_lock = threading.Lock()

def _serialized(app):
    def handle(environ, start_response):
        with _lock:
            result = app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
    return handle

def _run_serialized(host, port, app, *args, **kwargs):
    return _run_simple(host, port, _serialized(app), *args, **kwargs)

moto.server.run_simple = _run_serialized
moto.server.main(sys.argv[1:])
"#;

/// A running moto server, killed on drop (and when this process dies).
#[derive(Debug)]
pub struct Moto {
    endpoint: String,
    child: Child,
    /// Held open only to keep moto alive: EOF on it stops the server.
    _lifeline: ChildStdin,
    log: PathBuf,
}

impl Moto {
    /// Starts moto on a free 127.0.0.1 port and waits until it answers HTTP.
    pub fn start(project_root: &Path) -> anyhow::Result<Moto> {
        let python = venv_python(project_root)?;
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            match Self::start_once(&python) {
                Ok(moto) => return Ok(moto),
                Err(err) => failures.push(format!("{err:#}")),
            }
        }
        bail!(
            "moto did not start after {START_ATTEMPTS} attempts:\n{}",
            failures.join("\n")
        )
    }

    fn start_once(python: &Path) -> anyhow::Result<Moto> {
        let port = free_port()?;
        let log = std::env::temp_dir().join(format!("evs-moto-{}-{port}.log", std::process::id()));
        let log_file = File::create(&log)
            .with_context(|| format!("cannot create the moto log {}", log.display()))?;
        let log_err = log_file
            .try_clone()
            .context("cannot clone the moto log handle")?;
        let mut child = Command::new(python)
            .arg("-c")
            .arg(WATCHDOG)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("EVS_MOTO_LOG", &log)
            .stdin(Stdio::piped())
            .stdout(log_file)
            .stderr(log_err)
            .spawn()
            .with_context(|| format!("cannot spawn moto with {}", python.display()))?;
        let Some(lifeline) = child.stdin.take() else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("moto was spawned without a stdin pipe");
        };
        let mut moto = Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
            _lifeline: lifeline,
            log,
        };

        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                let tail = log_tail(&moto.log);
                // Keep the log for the reader: Drop would remove it.
                let log = std::mem::take(&mut moto.log);
                bail!(
                    "moto exited during startup ({status}); log {}:\n{tail}",
                    log.display()
                );
            }
            if answers_http(port) {
                return Ok(moto);
            }
            if Instant::now() >= deadline {
                let tail = log_tail(&moto.log);
                bail!(
                    "moto did not answer on {} within {START_TIMEOUT:?}; log:\n{tail}",
                    moto.endpoint
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The base URL, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // SIGKILL by pid, then reap it so no zombie remains.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.log.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.log);
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("cannot bind a 127.0.0.1 port to find a free one")?;
    Ok(listener.local_addr().context("no local address")?.port())
}

/// Whether something speaks HTTP on the port (any status will do).
fn answers_http(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let request = b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if stream.write_all(request).is_err() {
        return false;
    }
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/"
}

fn log_tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// The endpoint every test of this process uses: `$MOTO_ENDPOINT` when set,
/// else one moto started on first use and kept until the process ends.
/// Panics if there is none: a test without its backend must fail, not skip.
pub fn shared_endpoint() -> &'static str {
    static SHARED: OnceLock<Result<Shared, String>> = OnceLock::new();
    let shared = SHARED.get_or_init(|| match std::env::var(ENDPOINT_ENV) {
        Ok(endpoint) if !endpoint.trim().is_empty() => Ok(Shared::External(
            endpoint.trim().trim_end_matches('/').to_owned(),
        )),
        _ => Moto::start(&project_root())
            .map(Shared::Owned)
            .map_err(|err| format!("{err:#}")),
    });
    match shared {
        Ok(Shared::External(endpoint)) => endpoint,
        Ok(Shared::Owned(moto)) => moto.endpoint(),
        // Every test of the process reports the same cause, without retrying.
        Err(err) => {
            panic!("no moto server for the tests (set {ENDPOINT_ENV} to use a running one): {err}")
        }
    }
}

enum Shared {
    External(String),
    Owned(Moto),
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};

    /// Set in the environment of a re-run of this test binary that plays the
    /// test process which dies without cleaning up.
    const HELPER_ENV: &str = "EVS_MOTO_ORPHAN_HELPER";

    fn alive(pid: u32) -> bool {
        // A zombie is dead for our purpose: it holds no port and no memory.
        fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
        })
    }

    fn wait_dead(pid: u32) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !alive(pid) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Not a test on its own: does something only when re-run as a helper.
    #[test]
    fn orphan_helper() {
        let Some(mode) = std::env::var_os(HELPER_ENV) else {
            return;
        };
        let moto = Moto::start(&project_root()).expect("moto starts");
        println!("MOTO_PID={} LOG={}", moto.pid(), moto.log.display());
        std::io::stdout().flush().expect("stdout");
        // Like a static: never dropped.
        std::mem::forget(moto);
        if mode == "exit" {
            std::process::exit(0);
        }
        std::thread::sleep(Duration::from_secs(120));
    }

    fn run_helper(mode: &str) -> (Child, u32, PathBuf) {
        let exe = std::env::current_exe().expect("current exe");
        let mut helper = Command::new(exe)
            .args([
                "--exact",
                "moto::tests::orphan_helper",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(HELPER_ENV, mode)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("helper spawns");
        let stdout = helper.stdout.take().expect("piped stdout");
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("helper output");
            // The harness prints "test ... " before it on the same line.
            if let Some((_, rest)) = line.split_once("MOTO_PID=") {
                let (pid, log) = rest.split_once(" LOG=").expect("pid and log");
                return (helper, pid.parse().expect("pid"), PathBuf::from(log));
            }
        }
        let _ = helper.kill();
        let _ = helper.wait();
        panic!("the helper did not report a moto pid");
    }

    #[test]
    fn moto_dies_when_its_process_exits_without_destructors() {
        let (mut helper, pid, log) = run_helper("exit");
        assert!(helper.wait().expect("helper exits").success());
        assert!(wait_dead(pid), "moto {pid} outlived its parent");
        assert!(
            !log.exists(),
            "moto's log {} was left behind",
            log.display()
        );
    }

    #[test]
    fn moto_dies_when_its_process_is_killed() {
        let (mut helper, pid, _) = run_helper("hang");
        assert!(alive(pid));
        helper.kill().expect("kill helper");
        helper.wait().expect("reap helper");
        assert!(wait_dead(pid), "moto {pid} outlived its killed parent");
    }

    #[test]
    fn moto_answers_and_dies_on_drop() {
        let moto = Moto::start(&project_root()).expect("moto starts");
        let port: u16 = moto
            .endpoint()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        assert!(answers_http(port));
        let pid = moto.pid();
        drop(moto);
        assert!(!alive(pid), "moto {pid} survived its drop");
    }
}
