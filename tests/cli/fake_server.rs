//! A small HTTP/1.1 server on 127.0.0.1 for tests that talk to a server: [`serve`] answers every
//! request with a test's responder, records the requests, and stops when the returned [`Server`]
//! is dropped. The HTTP embedding provider's unit tests (src/embed/http/against_server.rs) compile
//! this file too.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

/// One request the server received.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// The request target, e.g. `/v1/embeddings`.
    pub path: String,
    /// Header names in lower case, in the order sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON request body")
    }

    /// The texts of an embeddings request (its `input` array).
    pub fn texts(&self) -> Vec<String> {
        serde_json::from_value(self.json()["input"].clone()).expect("input is an array of strings")
    }
}

/// What the server answers.
#[derive(Clone)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    hang_up: bool,
    /// The Content-Length sent, when it is not the body's (a cut-off answer).
    claimed: Option<usize>,
}

impl Response {
    /// `status` with a JSON body.
    pub fn json(status: u16, body: &Value) -> Response {
        Response::text(status, &body.to_string()).header("Content-Type", "application/json")
    }

    /// `status` with a plain-text body.
    pub fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
            hang_up: false,
            claimed: None,
        }
    }

    /// `status` with a binary body.
    pub fn bytes(status: u16, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body,
            hang_up: false,
            claimed: None,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sends `len` as the Content-Length, then the body, then closes: an answer cut off.
    pub fn claiming(mut self, len: usize) -> Response {
        self.claimed = Some(len);
        self
    }

    /// Closes the connection without answering (only the HTTP provider's unit tests do).
    #[allow(dead_code)]
    pub fn hang_up() -> Response {
        Response {
            hang_up: true,
            ..Response::text(0, "")
        }
    }
}

/// A running server; dropping it stops it.
pub struct Server {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    accepter: Option<JoinHandle<()>>,
}

impl Server {
    /// The base URL to give as `--endpoint`: `http://127.0.0.1:PORT/v1`.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The server's base URL: `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests received so far, in order of arrival.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread so that it sees `stop`.
        let _ = TcpStream::connect(self.addr);
        if let Some(accepter) = self.accepter.take() {
            let _ = accepter.join();
        }
    }
}

/// Starts a server on a free port of 127.0.0.1 that answers each request (every connection is
/// served on its own thread, one request per connection) with `responder`.
pub fn serve(responder: impl Fn(&Request) -> Response + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let responder = Arc::new(responder);
    let accepter = {
        let (requests, stop) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (requests, responder) = (requests.clone(), responder.clone());
                std::thread::spawn(move || {
                    let _ = handle(stream, &requests, &*responder);
                });
            }
        })
    };
    Server {
        addr,
        requests,
        stop,
        accepter: Some(accepter),
    }
}

/// Reads one request from `stream`, records it and answers it.
fn handle(
    stream: TcpStream,
    requests: &Mutex<Vec<Request>>,
    responder: &dyn Fn(&Request) -> Response,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Ok(());
    };
    let (method, path) = (method.to_string(), path.to_string());
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let request = Request {
        method,
        path,
        headers,
        body,
    };
    requests.lock().unwrap().push(request.clone());
    let response = responder(&request);
    if response.hang_up {
        return Ok(());
    }
    let mut out = format!(
        "HTTP/1.1 {} Whatever\r\nContent-Length: {}\r\nConnection: close\r\n",
        response.status,
        response.claimed.unwrap_or(response.body.len())
    );
    for (name, value) in &response.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut stream = stream;
    stream.write_all(out.as_bytes())?;
    stream.write_all(&response.body)?;
    stream.flush()
}
