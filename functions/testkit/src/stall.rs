//! A hung dependency on 127.0.0.1, for the tests of deadlines: a TCP proxy
//! in front of the emulator that forwards until told to stop answering,
//! or a server that never answers at all.
//!
//! It reads the client's HTTP/1.1 requests (head and `Content-Length`
//! body) to know each one's AWS operation (`x-amz-target`), and relays
//! the answers back byte for byte. Told to, it
//! - stalls: from then on swallows every request and answer, on the
//!   connections already open and on new ones, and never answers;
//! - delays: forwards each request only after a pause, so that every
//!   answer comes at least that late;
//! - swallows one answer: forwards the next request of an operation (so
//!   a write lands) and drops what the emulator answers, as a connection
//!   broken after the request went out would.
//!
//! Plain threads and blocking sockets: it runs beside any test runtime,
//! and dropping it closes every connection it holds.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// The largest request head it reads; AWS request heads are a few KiB.
const MAX_HEAD: usize = 64 * 1024;

/// A proxy (or a silent server) on a 127.0.0.1 port; see the module.
pub struct StallingProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    /// Where requests go; `None`: a server that never answers.
    upstream: Option<SocketAddr>,
    rules: Mutex<Rules>,
    /// Every socket opened, to shut down when the proxy is dropped.
    sockets: Mutex<Vec<TcpStream>>,
    closing: AtomicBool,
    swallowed: AtomicUsize,
    accepted: AtomicUsize,
}

#[derive(Default)]
struct Rules {
    stalled: bool,
    delay: Duration,
    /// The operation whose next answer is dropped.
    swallow_next: Option<String>,
}

impl StallingProxy {
    /// A server that accepts connections and reads every request, and
    /// never answers any.
    pub fn silent() -> StallingProxy {
        Self::start(None)
    }

    /// A proxy that forwards to `endpoint` (`http://127.0.0.1:PORT`, the
    /// emulator) until told otherwise.
    pub fn forwarding(endpoint: &str) -> StallingProxy {
        let authority = endpoint.trim_start_matches("http://").trim_end_matches('/');
        let upstream: SocketAddr = authority
            .parse()
            .unwrap_or_else(|err| panic!("{endpoint} is not http://IP:PORT: {err}"));
        Self::start(Some(upstream))
    }

    fn start(upstream: Option<SocketAddr>) -> StallingProxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a 127.0.0.1 port");
        let addr = listener.local_addr().expect("the proxy's address");
        let shared = Arc::new(Shared {
            upstream,
            rules: Mutex::new(Rules::default()),
            sockets: Mutex::new(Vec::new()),
            closing: AtomicBool::new(false),
            swallowed: AtomicUsize::new(0),
            accepted: AtomicUsize::new(0),
        });
        let accepting = shared.clone();
        let acceptor = std::thread::spawn(move || {
            for client in listener.incoming() {
                if accepting.closing.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                accepting.accepted.fetch_add(1, Ordering::SeqCst);
                accepting.keep(&client);
                let shared = accepting.clone();
                std::thread::spawn(move || serve(&shared, client));
            }
        });
        StallingProxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The URL to give the SDK as its endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// From now on nothing is answered: requests and answers are
    /// swallowed on every connection, open or new.
    pub fn stall(&self) {
        self.shared.rules().stalled = true;
    }

    /// New requests are forwarded again (connections that swallowed
    /// stay silent until their client drops them).
    pub fn resume(&self) {
        self.shared.rules().stalled = false;
    }

    /// Each request is forwarded only `delay` after it arrived, so no
    /// answer comes sooner.
    pub fn delay_answers(&self, delay: Duration) {
        self.shared.rules().delay = delay;
    }

    /// The next request of `operation` (`TransactWriteItems`) is
    /// forwarded, and its answer dropped: the client waits for it in vain.
    pub fn swallow_answer_to(&self, operation: &str) {
        self.shared.rules().swallow_next = Some(operation.to_owned());
    }

    /// How many answers [`StallingProxy::swallow_answer_to`] has dropped.
    pub fn swallowed(&self) -> usize {
        self.shared.swallowed.load(Ordering::SeqCst)
    }

    /// How many connections clients have opened.
    pub fn connections(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for StallingProxy {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::SeqCst);
        for socket in self.shared.sockets().drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
        // Wakes the acceptor, which then sees `closing`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

impl Shared {
    fn rules(&self) -> MutexGuard<'_, Rules> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sockets(&self) -> MutexGuard<'_, Vec<TcpStream>> {
        self.sockets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps a handle on `socket` to shut it down on drop.
    fn keep(&self, socket: &TcpStream) {
        if let Ok(handle) = socket.try_clone() {
            self.sockets().push(handle);
        }
        if self.closing.load(Ordering::SeqCst) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    fn stalled(&self) -> bool {
        self.rules().stalled
    }
}

/// One request as read off the client: its bytes and its operation.
struct Request {
    bytes: Vec<u8>,
    operation: String,
}

/// Reads one request; `None` at the end of the connection or on anything
/// it cannot frame (the connection is then dropped).
fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut bytes = Vec::new();
    let mut content_length = 0usize;
    let mut operation = String::new();
    loop {
        let start = bytes.len();
        if reader.read_until(b'\n', &mut bytes).ok()? == 0 || bytes.len() > MAX_HEAD {
            return None;
        }
        let line = String::from_utf8_lossy(&bytes[start..]).trim().to_owned();
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => content_length = value.parse().ok()?,
            "x-amz-target" => {
                operation = value.rsplit('.').next().unwrap_or_default().to_owned();
            }
            // Not sent by the SDK for AWS JSON bodies; not framed here.
            "transfer-encoding" => return None,
            _ => {}
        }
    }
    let head = bytes.len();
    bytes.resize(head + content_length, 0);
    reader.read_exact(&mut bytes[head..]).ok()?;
    Some(Request { bytes, operation })
}

/// Reads and drops whatever `from` sends until it closes.
fn swallow(from: &mut impl Read) {
    let mut buffer = [0u8; 8192];
    while matches!(from.read(&mut buffer), Ok(n) if n > 0) {}
}

/// One client connection: its requests go to one upstream connection,
/// whose answers a relay thread copies back.
fn serve(shared: &Arc<Shared>, client: TcpStream) {
    let Ok(reading) = client.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(reading);
    let Some(upstream_addr) = shared.upstream else {
        swallow(&mut reader);
        return;
    };
    let mut upstream: Option<TcpStream> = None;
    // Set when this connection's answer is to be dropped.
    let dropping = Arc::new(AtomicBool::new(false));
    while let Some(request) = read_request(&mut reader) {
        let delay = {
            let rules = shared.rules();
            if rules.stalled {
                break;
            }
            rules.delay
        };
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        if shared.closing.load(Ordering::SeqCst) || shared.stalled() {
            break;
        }
        {
            let mut rules = shared.rules();
            if rules.swallow_next.as_deref() == Some(request.operation.as_str()) {
                rules.swallow_next = None;
                dropping.store(true, Ordering::SeqCst);
                shared.swallowed.fetch_add(1, Ordering::SeqCst);
            }
        }
        let to = match &mut upstream {
            Some(to) => to,
            None => {
                let Ok(to) = TcpStream::connect(upstream_addr) else {
                    return;
                };
                shared.keep(&to);
                let (Ok(answers), Ok(back)) = (to.try_clone(), client.try_clone()) else {
                    return;
                };
                let (shared, dropping) = (shared.clone(), dropping.clone());
                std::thread::spawn(move || relay(answers, back, &shared, &dropping));
                upstream.insert(to)
            }
        };
        if to.write_all(&request.bytes).is_err() {
            return;
        }
    }
    // Stalled (or closing): what the client still sends goes nowhere.
    swallow(&mut reader);
}

/// Copies answers from `upstream` to `client`, or drops them while the
/// proxy is stalled or this connection's answer is to be dropped. When
/// the emulator closes the connection, so does the client's side.
fn relay(mut upstream: TcpStream, mut client: TcpStream, shared: &Shared, dropping: &AtomicBool) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let n = match upstream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if dropping.load(Ordering::SeqCst) || shared.stalled() {
            continue;
        }
        if client.write_all(&buffer[..n]).is_err() {
            break;
        }
    }
    if !dropping.load(Ordering::SeqCst) && !shared.stalled() {
        let _ = client.shutdown(Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// An upstream that answers every request with a fixed HTTP response.
    fn echo_server() -> (SocketAddr, JoinHandle<()>) {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            for stream in listener.incoming().take(8) {
                let Ok(stream) = stream else { continue };
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut writer = stream;
                    while let Some(request) = read_request(&mut reader) {
                        let body = request.operation;
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if writer.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (addr, server)
    }

    fn request(operation: &str) -> Vec<u8> {
        format!(
            "POST / HTTP/1.1\r\nhost: x\r\nx-amz-target: DynamoDB_20120810.{operation}\r\ncontent-length: 2\r\n\r\n{{}}"
        )
        .into_bytes()
    }

    /// Sends `operation` and reads its answer's body, if one comes in `wait`.
    fn call(stream: &mut TcpStream, operation: &str, wait: Duration) -> Option<String> {
        stream.set_read_timeout(Some(wait)).unwrap();
        stream.write_all(&request(operation)).unwrap();
        let mut answer = Vec::new();
        let mut buffer = [0u8; 1024];
        let expected = operation.len();
        loop {
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => return None,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
            let text = String::from_utf8_lossy(&answer).into_owned();
            if let Some((_, body)) = text.split_once("\r\n\r\n")
                && body.len() >= expected
            {
                return Some(body.to_owned());
            }
        }
    }

    fn connect(proxy: &StallingProxy) -> TcpStream {
        TcpStream::connect(proxy.addr).unwrap()
    }

    #[test]
    fn it_forwards_then_swallows_one_answer_then_stalls_every_connection() {
        let (upstream, _server) = echo_server();
        let proxy = StallingProxy::forwarding(&format!("http://{upstream}"));
        let mut first = connect(&proxy);
        let quick = Duration::from_secs(5);
        assert_eq!(
            call(&mut first, "GetItem", quick).as_deref(),
            Some("GetItem")
        );

        proxy.swallow_answer_to("TransactWriteItems");
        assert_eq!(
            call(&mut first, "Query", quick).as_deref(),
            Some("Query"),
            "other operations still pass"
        );
        let short = Duration::from_millis(500);
        assert_eq!(call(&mut first, "TransactWriteItems", short), None);
        assert_eq!(proxy.swallowed(), 1);
        let mut second = connect(&proxy);
        assert_eq!(
            call(&mut second, "TransactWriteItems", quick).as_deref(),
            Some("TransactWriteItems"),
            "only one answer is dropped"
        );

        proxy.stall();
        assert_eq!(
            call(&mut second, "GetItem", short),
            None,
            "an open connection"
        );
        assert_eq!(
            call(&mut connect(&proxy), "GetItem", short),
            None,
            "a new one"
        );
        proxy.resume();
        assert_eq!(
            call(&mut connect(&proxy), "GetItem", quick).as_deref(),
            Some("GetItem")
        );
    }

    #[test]
    fn a_delayed_answer_comes_no_sooner_than_the_delay() {
        let (upstream, _server) = echo_server();
        let proxy = StallingProxy::forwarding(&format!("http://{upstream}"));
        proxy.delay_answers(Duration::from_millis(700));
        let started = Instant::now();
        let answer = call(&mut connect(&proxy), "GetItem", Duration::from_secs(5));
        assert_eq!(answer.as_deref(), Some("GetItem"));
        assert!(started.elapsed() >= Duration::from_millis(700));
    }

    #[test]
    fn a_silent_server_takes_connections_and_never_answers() {
        let proxy = StallingProxy::silent();
        let mut stream = connect(&proxy);
        assert_eq!(
            call(&mut stream, "GetItem", Duration::from_millis(500)),
            None
        );
        assert_eq!(proxy.connections(), 1);
    }
}
