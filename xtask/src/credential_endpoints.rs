//! Credential endpoints on 127.0.0.1 for the deploy check, as AWS runs
//! them beside a workload: the container credentials endpoint (ECS, EKS
//! Pod Identity, CodeBuild) and the EC2 instance metadata service (IMDSv2).
//! The emulator serves neither; what is tested is the SDK's own providers
//! finding and using them.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;

/// Temporary keys, as both endpoints give them.
const KEYS: &str = "\"AccessKeyId\":\"from-endpoint\",\"SecretAccessKey\":\"from-endpoint\",\"Token\":\"token\",\"Expiration\":\"2099-01-01T00:00:00Z\"";
/// Where the container endpoint serves the keys.
const CONTAINER_PATH: &str = "/v2/credentials/evs";
/// The role the instance metadata service names, and where.
const INSTANCE_ROLE: &str = "evs-instance-role";
const INSTANCE_CREDENTIALS: &str = "/latest/meta-data/iam/security-credentials/";

#[derive(Clone, Copy)]
enum Kind {
    Container,
    InstanceMetadata,
}

/// One endpoint, serving until the process ends, and the requests it got.
pub struct CredentialsEndpoint {
    pub url: String,
    kind: Kind,
    requests: Arc<Mutex<Vec<String>>>,
}

impl CredentialsEndpoint {
    /// For `AWS_CONTAINER_CREDENTIALS_FULL_URI`: a GET gets the keys.
    pub fn container() -> anyhow::Result<Self> {
        Self::start(Kind::Container, CONTAINER_PATH)
    }

    /// For `AWS_EC2_METADATA_SERVICE_ENDPOINT`: a session token on PUT,
    /// the role's name, then its keys.
    pub fn instance_metadata() -> anyhow::Result<Self> {
        Self::start(Kind::InstanceMetadata, "")
    }

    fn start(kind: Kind, path: &str) -> anyhow::Result<Self> {
        let listener =
            TcpListener::bind("127.0.0.1:0").context("cannot listen for a credentials endpoint")?;
        let url = format!("http://{}{path}", listener.local_addr()?);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        // One answer per connection, closed after it.
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buffer = [0u8; 8192];
                let read = stream.read(&mut buffer).unwrap_or(0);
                let head = String::from_utf8_lossy(&buffer[..read]);
                let mut request_line = head.lines().next().unwrap_or_default().split(' ');
                let method = request_line.next().unwrap_or_default().to_owned();
                let path = request_line.next().unwrap_or_default().to_owned();
                let (status, body) = answer(kind, &method, &path);
                // IMDSv2 says how long its session token lives.
                let ttl = if method == "PUT" {
                    "x-aws-ec2-metadata-token-ttl-seconds: 21600\r\n"
                } else {
                    ""
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{ttl}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                if let Ok(mut log) = log.lock() {
                    log.push(format!("{method} {path}"));
                }
            }
        });
        Ok(CredentialsEndpoint {
            url,
            kind,
            requests,
        })
    }

    /// The requests it has answered, as `METHOD path`.
    pub fn requests(&self) -> Vec<String> {
        self.requests
            .lock()
            .map(|log| log.clone())
            .unwrap_or_default()
    }

    /// Whether a client asked it for the keys.
    pub fn served_credentials(&self) -> bool {
        let keys = match self.kind {
            Kind::Container => format!("GET {CONTAINER_PATH}"),
            Kind::InstanceMetadata => format!("GET {INSTANCE_CREDENTIALS}{INSTANCE_ROLE}"),
        };
        self.requests().contains(&keys)
    }
}

/// The status line and body of the answer to one request.
fn answer(kind: Kind, method: &str, path: &str) -> (&'static str, String) {
    let keys_of_the_role = format!("{INSTANCE_CREDENTIALS}{INSTANCE_ROLE}");
    match (kind, method) {
        (Kind::Container, "GET") if path == CONTAINER_PATH => ("200 OK", format!("{{{KEYS}}}")),
        (Kind::InstanceMetadata, "PUT") if path == "/latest/api/token" => {
            ("200 OK", "a-session-token".to_owned())
        }
        (Kind::InstanceMetadata, "GET") if path == INSTANCE_CREDENTIALS => {
            ("200 OK", INSTANCE_ROLE.to_owned())
        }
        (Kind::InstanceMetadata, "GET") if path == keys_of_the_role => (
            "200 OK",
            format!(
                "{{\"Code\":\"Success\",\"LastUpdated\":\"2026-01-01T00:00:00Z\",\"Type\":\"AWS-HMAC\",{KEYS}}}"
            ),
        ),
        _ => ("404 Not Found", String::new()),
    }
}
