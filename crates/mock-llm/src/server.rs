//! The HTTP server: records each request, picks the scripted response, renders it in the
//! request's dialect, and delivers it with the scripted faults.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::get;
use axum::serve::ListenerExt;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::dialect::{Ctx, Dialect};
use crate::error::MockError;
use crate::faults::{Frames, StreamFaults, body_stream};
use crate::matcher::{NoResponse, Queue};
use crate::plan::Plan;
use crate::record::RecordedRequest;
use crate::script::Script;

/// Header that selects a named conversation of the script.
pub const CONVERSATION_HEADER: &str = "x-mock-conversation";

/// The prefix of the error message sent when no scripted response is left.
pub const EXHAUSTED_MESSAGE: &str = "mock-llm script exhausted";

/// Request bodies up to this size are accepted (agent transcripts get large).
const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;

/// How long `shutdown` waits for connections to close before dropping them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// State shared by all connections.
#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    log: Mutex<Vec<RecordedRequest>>,
    serial: AtomicU64,
    cancel: CancellationToken,
}

/// A poisoned lock only means another handler panicked mid-update; the data (a log, use
/// counters) is still meaningful, so keep serving.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running mock provider. Dropping it stops the server and aborts open streams.
#[derive(Debug)]
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
}

impl MockServer {
    /// Starts serving `script` on `127.0.0.1` with an OS-assigned port.
    pub async fn start(script: Script) -> Result<MockServer, MockError> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), script).await
    }

    /// Starts serving `script` on `addr`.
    pub async fn start_on(addr: SocketAddr, mut script: Script) -> Result<MockServer, MockError> {
        // Scripts built in Rust may name `raw_sse` files that nobody loaded yet.
        script.load_raw_bodies(std::path::Path::new("."))?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| MockError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| MockError::Bind { addr, source })?;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::new(script)),
            log: Mutex::new(Vec::new()),
            serial: AtomicU64::new(0),
            cancel: CancellationToken::new(),
        });
        let app = Router::new()
            .route("/__requests", get(list_requests).delete(clear_requests))
            .fallback(answer)
            .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
            .with_state(Arc::clone(&shared));
        // Real providers flush every event; without TCP_NODELAY, Nagle's algorithm plus the
        // client's delayed ACK would hold small writes back (and glue split frames together).
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "mock-llm could not set TCP_NODELAY");
            }
        });
        let cancel = shared.cancel.clone();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(cancel.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "mock-llm server stopped with an error");
            }
        });
        tracing::debug!(%local, "mock-llm listening");
        Ok(MockServer {
            addr: local,
            shared,
            task: Some(task),
        })
    }

    /// `http://IP:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, in arrival order (secrets masked).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).clone()
    }

    /// Removes and returns the requests received so far (the next call starts empty).
    pub fn take_requests(&self) -> Vec<RecordedRequest> {
        std::mem::take(&mut *lock(&self.shared.log))
    }

    /// Appends responses to a conversation (`None` = the default one) while serving.
    pub fn append_responses(
        &self,
        conversation: Option<&str>,
        responses: Vec<crate::script::Response>,
    ) -> Result<(), MockError> {
        for (i, r) in responses.iter().enumerate() {
            r.check().map_err(|message| MockError::Parse {
                source_name: "append_responses".into(),
                message: format!("response #{i}: {message}"),
            })?;
        }
        lock(&self.shared.queue).append(conversation, responses);
        Ok(())
    }

    /// How many scripted servings are still unused, over all conversations.
    pub fn remaining_responses(&self) -> u64 {
        lock(&self.shared.queue).remaining()
    }

    /// Stops accepting, aborts open streams, and waits briefly for connections to close.
    pub async fn shutdown(mut self) {
        self.shared.cancel.cancel();
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.shared.cancel.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn list_requests(State(shared): State<Arc<Shared>>) -> HttpResponse {
    let log = lock(&shared.log).clone();
    axum::Json(log).into_response()
}

async fn clear_requests(State(shared): State<Arc<Shared>>) -> StatusCode {
    lock(&shared.log).clear();
    StatusCode::NO_CONTENT
}

fn json_response(status: StatusCode, body: &Value) -> HttpResponse {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Every request except `GET /__requests`.
async fn answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> HttpResponse {
    let record = RecordedRequest::new(method.as_str(), uri.path(), uri.query(), &headers, &body);
    let body = record.body.clone();
    lock(&shared.log).push(record);

    let route = match (method == Method::POST)
        .then(|| Dialect::route(uri.path()))
        .flatten()
    {
        Some(route) => route,
        None => {
            let message = format!(
                "mock-llm serves POST /v1/chat/completions, /v1/messages, /v1/responses and \
                 /v1beta/models/MODEL:streamGenerateContent; got {method} {}",
                uri.path()
            );
            return json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": {"message": message, "type": "not_found"}}),
            );
        }
    };
    let dialect = route.dialect;
    let mut view = dialect.view(&body);
    if route.path_model.is_some() {
        view.model.clone_from(&route.path_model);
    }
    let conversation = headers
        .get(CONVERSATION_HEADER)
        .and_then(|v| v.to_str().ok());
    let serial = shared.serial.fetch_add(1, Ordering::Relaxed) + 1;
    let taken = lock(&shared.queue).take(conversation, dialect, &view);
    let response = match taken {
        Ok(r) => r,
        Err(NoResponse::Exhausted) => {
            let message = format!(
                "{EXHAUSTED_MESSAGE}: no unused scripted response matches request #{serial} ({} {}, conversation {})",
                method,
                uri.path(),
                conversation.unwrap_or("default")
            );
            tracing::warn!("{message}");
            return json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &dialect.error_body(500, &message),
            );
        }
        Err(NoResponse::UnknownConversation(name)) => {
            let message = format!(
                "mock-llm unknown conversation {name:?} (header {CONVERSATION_HEADER}); add it under `conversations:` in the script"
            );
            return json_response(StatusCode::BAD_REQUEST, &dialect.error_body(400, &message));
        }
    };

    if let Some(ms) = response.delay_ms {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(ms)) => {}
            () = shared.cancel.cancelled() => {}
        }
    }

    if let Some(status) = response.status {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = response
            .message
            .clone()
            .unwrap_or_else(|| format!("mock-llm scripted HTTP {status}"));
        let mut resp = match &response.body {
            Some(Value::String(raw)) => (code, raw.clone()).into_response(),
            Some(v) => json_response(code, v),
            None => json_response(code, &dialect.error_body(status, &message)),
        };
        if let Some(ra) = &response.retry_after
            && let Ok(v) = HeaderValue::from_str(&ra.header_value())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return resp;
    }

    if let Some(raw) = &response.raw_sse_body {
        // A recorded body is served byte for byte; only the stream faults apply.
        let frames = crate::raw::frames(raw);
        let stream = body_stream(
            frames.into(),
            StreamFaults::of(&response, None),
            shared.cancel.clone(),
        );
        return sse_response(stream);
    }

    let ctx = Ctx {
        model: view
            .model
            .clone()
            .unwrap_or_else(|| "mock-model".to_owned()),
        serial,
        created: unix_now(),
        include_usage: body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    let plan = Plan::of(&response);
    if !dialect.wants_stream(&route, &body) {
        return json_response(StatusCode::OK, &dialect.json_body(&plan, &ctx));
    }
    let frames = if response.endless {
        endless_frames(dialect, &plan, &ctx)
    } else {
        dialect.frames(&plan, &ctx).into()
    };
    let error_frame = response
        .in_stream_error
        .map(|k| dialect.in_stream_error(k, &ctx));
    let faults = StreamFaults::of(&response, error_frame);
    let stream = body_stream(frames, faults, shared.cancel.clone());
    sse_response(stream)
}

/// The frames of an `endless` response: everything before the last text or reasoning
/// delta's second rendering, then that delta forever (see `Plan::with_last_delta_twice`).
fn endless_frames(dialect: Dialect, plan: &Plan, ctx: &Ctx) -> Frames {
    let once = dialect.frames(plan, ctx);
    // `check` made sure the output has text or reasoning, so a delta exists; without
    // one the answer is simply finite.
    let Some(twice) = plan.with_last_delta_twice() else {
        return once.into();
    };
    let mut twice = dialect.frames(&twice, ctx);
    let split = once.iter().zip(&twice).take_while(|(a, b)| a == b).count();
    if split >= twice.len() {
        return once.into();
    }
    let repeat = twice.swap_remove(split);
    twice.truncate(split);
    Frames {
        head: twice,
        repeat: Some(repeat),
    }
}

fn sse_response(stream: futures::stream::BoxStream<'static, crate::faults::Chunk>) -> HttpResponse {
    let mut resp = HttpResponse::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}
