//! A local HTTP server for the API sources' tests: it answers each request
//! with the next canned response of its path (status, headers, body) and
//! records what it was asked, so a test can check the query a source sent.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// One canned answer.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    pub ending: Ending,
}

/// How a canned answer ends.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The body, and the response is complete.
    Complete,
    /// After the body the response stays open, sending nothing (a stalled stream).
    HeldOpen,
    /// The server drops the connection instead of answering (it crashed, or a proxy gave up).
    CutOff,
}

impl Reply {
    pub fn json(body: serde_json::Value) -> Self {
        Reply { status: 200, headers: vec![], body: body.to_string().into_bytes(), ending: Ending::Complete }
    }

    pub fn status(status: u16, body: &str) -> Self {
        Reply { status, headers: vec![], body: body.as_bytes().to_vec(), ending: Ending::Complete }
    }

    /// A 200 whose body is `text` as is (a stream's lines).
    pub fn text(text: impl Into<String>) -> Self {
        Reply::bytes(text.into().into_bytes())
    }

    /// A 200 whose body is `bytes` (a download).
    pub fn bytes(bytes: Vec<u8>) -> Self {
        Reply { status: 200, headers: vec![], body: bytes, ending: Ending::Complete }
    }

    pub fn status_code(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn held_open(mut self) -> Self {
        self.ending = Ending::HeldOpen;
        self
    }

    /// No answer: the connection is dropped.
    pub fn cut_off() -> Self {
        Reply { ending: Ending::CutOff, ..Reply::bytes(Vec::new()) }
    }

    pub fn header(mut self, name: &'static str, value: impl ToString) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    /// Query parameters, decoded.
    pub query: HashMap<String, String>,
    pub authorization: Option<String>,
    pub body: Bytes,
}

#[derive(Default)]
struct Script {
    replies: HashMap<String, VecDeque<Reply>>,
    seen: Vec<Seen>,
}

pub struct FixtureServer {
    pub base_url: String,
    script: Arc<Mutex<Script>>,
    task: tokio::task::JoinHandle<()>,
}

impl FixtureServer {
    pub async fn start() -> Self {
        let script = Arc::new(Mutex::new(Script::default()));
        let app = axum::Router::new().fallback(answer).with_state(Arc::clone(&script));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FixtureServer { base_url, script, task }
    }

    /// Queues the answers to the next requests for `path`, in order.
    pub fn reply(&self, path: &str, replies: impl IntoIterator<Item = Reply>) {
        self.script.lock().unwrap().replies.entry(path.to_owned()).or_default().extend(replies);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.script.lock().unwrap().seen.clone()
    }
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(State(script): State<Arc<Mutex<Script>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let query = parts.uri.query().map(url_decode_pairs).unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let authorization = parts.headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut script = script.lock().unwrap();
    script.seen.push(Seen { path: path.clone(), query, authorization, body });
    let Some(reply) = script.replies.get_mut(&path).and_then(VecDeque::pop_front) else {
        return (StatusCode::NOT_FOUND, format!("no reply scripted for {path}")).into_response();
    };
    if let Some(dir) = std::env::var_os(DUMP_DIR).filter(|_| reply.ending != Ending::CutOff) {
        dump(std::path::Path::new(&dir), parts.method.as_str(), &path, &reply);
    }
    let status = StatusCode::from_u16(reply.status).unwrap();
    let mut response = match reply.ending {
        Ending::Complete => (status, reply.body).into_response(),
        Ending::HeldOpen => {
            use futures_util::StreamExt;
            let first =
                futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(Bytes::from(reply.body)) });
            (status, axum::body::Body::from_stream(first.chain(futures_util::stream::pending()))).into_response()
        }
        // A body that fails makes the server drop the connection.
        Ending::CutOff => {
            let failed = futures_util::stream::once(async { Err::<Bytes, _>(std::io::Error::other("cut off")) });
            (status, axum::body::Body::from_stream(failed)).into_response()
        }
    };
    response.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    for (name, value) in reply.headers {
        response.headers_mut().insert(HeaderName::from_static(name), HeaderValue::from_str(&value).unwrap());
    }
    response
}

/// With this set, every reply served is also written to that directory,
/// so `scripts/check-fixtures.py` can check the bodies against the
/// providers' published descriptions (`make check-fixtures`).
const DUMP_DIR: &str = "SOCIALPIPE_FIXTURE_DUMP";

/// `<METHOD> <path> <status>` on the first line, the body after it; named by its content.
fn dump(dir: &std::path::Path, method: &str, path: &str, reply: &Reply) {
    use sha2::Digest;
    // Downloads are not described as JSON: only text is kept.
    let Ok(body) = std::str::from_utf8(&reply.body) else { return };
    let text = format!("{method} {path} {}\n{body}", reply.status);
    let name = hex::encode(&sha2::Sha256::digest(text.as_bytes())[..12]);
    std::fs::create_dir_all(dir).and_then(|()| std::fs::write(dir.join(name), text)).expect("writing a fixture dump");
}

fn url_decode_pairs(query: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}
