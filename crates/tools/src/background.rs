//! `background`: long-running processes the model asks for (dev servers,
//! watchers, `cargo watch`), managed instead of left to `&`/`nohup` accidents:
//! started confined exactly like a `bash` call (same sandbox, own PID namespace),
//! listed, their output kept and readable by offset, stopped on request, before a
//! delegation that their scope covers, and with the Pod (also when it is killed
//! with SIGKILL: the PID namespace's init has PR_SET_PDEATHSIG).
//!
//! Peers, and what their users run into: Claude Code's `run_in_background` +
//! BashOutput + KillShell return only output "since the last read" (a lost read
//! loses it) and leave dev servers running after the session; Codex's background
//! terminals are tied to the session's PTYs. Here every read names byte offsets
//! (`since`), the last [`LOG_KEEP`] bytes stay readable any number of times, the
//! start result already shows an immediate failure, and nothing survives the Pod.

use std::collections::{BTreeMap, VecDeque};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};
use schemars::JsonSchema;
use scope::{Access, Scope, ScopeRule};
use serde::Deserialize;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use crate::bash::{GroupKill, confinement, private_tmp, spawn_confined};
use crate::error::ToolError;
use crate::tool::{Tool, ToolContext, ToolOutput, parse_args, schema_of};

/// Output kept per process (the newest bytes).
pub const LOG_KEEP: usize = 1 << 20;
/// Processes running at once per Pod.
pub const MAX_RUNNING: usize = 8;
/// Finished processes still listed (with their output) before the oldest goes.
const KEEP_FINISHED: usize = 8;
/// Bytes a `log` call returns when it names no `max_bytes`, and at most.
const LOG_DEFAULT_BYTES: usize = 8_000;
const LOG_MAX_BYTES: usize = 30_000;
/// How long `start` watches for an immediate failure, and `stop` waits after
/// SIGTERM before SIGKILL.
const START_WATCH: Duration = Duration::from_millis(300);
const STOP_GRACE: Duration = Duration::from_secs(3);

/// What `background` does.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Start `command` (returns its id).
    Start,
    /// List this Pod's background processes.
    List,
    /// Read the output of process `id`.
    Log,
    /// Stop process `id` (SIGTERM, then SIGKILL after 3 s).
    Stop,
}

/// Arguments of `background`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackgroundParams {
    /// `start`, `list`, `log` or `stop`.
    pub action: Action,
    /// For `start`: the command line, run as `bash -c COMMAND` in the working
    /// directory, confined like a `bash` call.
    #[serde(default)]
    pub command: Option<String>,
    /// For `log` and `stop`: the id `start` returned.
    #[serde(default)]
    pub id: Option<u32>,
    /// For `log`: return output from this byte offset on (the `next` offset of an
    /// earlier `log`); default: the newest `max_bytes`.
    #[serde(default)]
    pub since: Option<u64>,
    /// For `log`: at most this many bytes (default 8000, at most 30000).
    #[serde(default)]
    pub max_bytes: Option<usize>,
}

/// Manages background processes (see the module docs).
#[derive(Debug, Default)]
pub struct Background;

/// The newest [`LOG_KEEP`] bytes of a process's output and how many came in all.
#[derive(Debug, Default)]
struct Log {
    kept: VecDeque<u8>,
    total: u64,
}

impl Log {
    fn push(&mut self, buf: &[u8]) {
        self.total += buf.len() as u64;
        self.kept.extend(buf);
        let over = self.kept.len().saturating_sub(LOG_KEEP);
        self.kept.drain(..over);
    }

    /// Bytes from `since` (default: the newest `max`), at most `max`; the offset
    /// they start at, and how many asked-for bytes are no longer kept.
    fn read(&self, since: Option<u64>, max: usize) -> (u64, Vec<u8>, u64) {
        let first_kept = self.total - self.kept.len() as u64;
        let want = since.unwrap_or_else(|| self.total.saturating_sub(max as u64));
        let from = want.clamp(first_kept, self.total);
        let skip = (from - first_kept) as usize;
        let bytes: Vec<u8> = self.kept.iter().skip(skip).take(max).copied().collect();
        (from, bytes, from.saturating_sub(want))
    }
}

/// One background process.
#[derive(Debug)]
struct Job {
    command: String,
    /// The outer process's pid: the process group of everything it runs.
    pid: Option<Pid>,
    started: Instant,
    /// The effective scope it was started under: what its Landlock domain grants.
    scope: Scope,
    log: Arc<Mutex<Log>>,
    /// `Some(how it ended)` once it exited.
    ended: watch::Receiver<Option<String>>,
    /// Kills the group when the job is dropped (forgotten or the Pod ends).
    _group: GroupKill,
    /// Whether it has its own PID namespace; without, leftovers are found by
    /// their TMPDIR (`tmp`).
    in_namespace: bool,
    tmp: tempfile::TempDir,
}

impl Drop for Job {
    fn drop(&mut self) {
        if !self.in_namespace {
            crate::sandbox::kill_by_tmpdir(self.tmp.path());
        }
    }
}

impl Job {
    fn status(&self) -> String {
        match &*self.ended.borrow() {
            Some(how) => how.clone(),
            None => "running".into(),
        }
    }

    fn running(&self) -> bool {
        self.ended.borrow().is_none()
    }
}

/// Why a delegation stops a `bash` call in flight (its result says so).
const DELEGATED: &str = "a child Pod was given a region this command could write; run it again if needed (it now runs without that region)";

/// Whether a domain built from `scope` may grant writes anywhere in `region`.
fn may_write(scope: &Scope, region: &ScopeRule) -> bool {
    scope
        .allow
        .iter()
        .any(|a| a.access == Access::Write && scope::overlaps(a, region))
}

/// SIGTERM to the group of `pid`, SIGKILL after [`STOP_GRACE`]; returns how it
/// ended.
async fn stop_group(pid: Option<Pid>, mut ended: watch::Receiver<Option<String>>) -> String {
    if let Some(pid) = pid
        && ended.borrow().is_none()
    {
        let _ = kill_process_group(pid, Signal::TERM);
        if tokio::time::timeout(STOP_GRACE, ended.wait_for(Option::is_some))
            .await
            .is_err()
        {
            let _ = kill_process_group(pid, Signal::KILL);
            let _ = ended.wait_for(Option::is_some).await;
        }
    }
    ended.borrow().clone().unwrap_or_else(|| "running".into())
}

/// The background processes of one Pod, shared by every clone of its
/// [`ToolContext`]. Dropping the last clone kills them all.
#[derive(Debug, Clone, Default)]
pub struct BackgroundJobs(Arc<Mutex<Table>>);

#[derive(Debug, Default)]
struct Table {
    next: u32,
    jobs: BTreeMap<u32, Job>,
    next_call: u64,
    /// `bash` calls in flight: their domain covers the scope they started with.
    calls: BTreeMap<u64, Call>,
    /// Set by [`BackgroundJobs::halt`]: why no process may run now; a call or
    /// job that starts meanwhile is killed at once.
    halted: Option<String>,
}

/// A `bash` call in flight, tracked from before its sandbox is built until it
/// ends, so a delegation that starts meanwhile can end it.
#[derive(Debug)]
struct Call {
    scope: Scope,
    pid: Option<Pid>,
    /// Set by [`BackgroundJobs::stop_covering`] or [`BackgroundJobs::halt`]: the
    /// call must not go on, and why.
    stopped: Option<String>,
}

/// Tracks one `bash` call (see [`BackgroundJobs::track_call`]); untracks on drop.
pub(crate) struct CallGuard {
    jobs: BackgroundJobs,
    id: u64,
}

impl CallGuard {
    /// Records the call's process group; `false` when a delegation or a halt
    /// already stopped the call (the caller kills the group).
    pub(crate) fn started(&self, pid: Option<Pid>) -> bool {
        let mut t = self.jobs.table();
        match t.calls.get_mut(&self.id) {
            Some(c) => {
                c.pid = pid;
                c.stopped.is_none()
            }
            None => false,
        }
    }

    /// Why the call was stopped (a delegation, a halt), if it was.
    pub(crate) fn stopped(&self) -> Option<String> {
        self.jobs
            .table()
            .calls
            .get(&self.id)
            .and_then(|c| c.stopped.clone())
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.jobs.table().calls.remove(&self.id);
    }
}

/// A handle on a Pod's processes that does not keep them running (dropping the last
/// [`BackgroundJobs`] still kills them): for hooks registered far away.
#[derive(Debug, Clone)]
pub struct WeakJobs(Weak<Mutex<Table>>);

impl WeakJobs {
    /// The processes, while any [`BackgroundJobs`] clone lives.
    pub fn upgrade(&self) -> Option<BackgroundJobs> {
        self.0.upgrade().map(BackgroundJobs)
    }
}

impl BackgroundJobs {
    /// See [`WeakJobs`].
    pub fn downgrade(&self) -> WeakJobs {
        WeakJobs(Arc::downgrade(&self.0))
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops every process whose scope may write in `region` (a delegation is
    /// about to take it away: no process may keep a Landlock domain covering a
    /// child's region). Returns `id (command): how it ended` for each.
    pub async fn stop_covering(&self, region: &ScopeRule) -> Vec<String> {
        let mut out = Vec::new();
        let ids: Vec<u32> = {
            let mut t = self.table();
            // `bash` calls in flight (a call running in parallel with the
            // delegation): killed at once; a call not yet started is refused.
            for c in t.calls.values_mut() {
                if c.stopped.is_none() && may_write(&c.scope, region) {
                    c.stopped = Some(DELEGATED.into());
                    if let Some(pid) = c.pid {
                        let _ = kill_process_group(pid, Signal::KILL);
                    }
                    out.push(format!(
                        "a bash call in flight (pid {})",
                        c.pid
                            .map_or("not started".into(), |p| p.as_raw_nonzero().to_string())
                    ));
                }
            }
            t.jobs
                .iter()
                .filter(|(_, j)| j.running() && may_write(&j.scope, region))
                .map(|(id, _)| *id)
                .collect()
        };
        for id in ids {
            if let Some(line) = self.stop(id).await {
                out.push(line);
            }
        }
        out
    }

    /// Tracks a `bash` call that runs with `scope` from now until the guard
    /// drops.
    pub(crate) fn track_call(&self, scope: Scope) -> CallGuard {
        let mut t = self.table();
        t.next_call += 1;
        let id = t.next_call;
        let stopped = t.halted.clone();
        t.calls.insert(
            id,
            Call {
                scope,
                pid: None,
                stopped,
            },
        );
        CallGuard {
            jobs: self.clone(),
            id,
        }
    }

    /// Kills every process at once — `bash` calls in flight (their result says
    /// `why`) and background processes — and every one that starts until
    /// [`BackgroundJobs::resume`]: the Pod may not write now (its registry lease
    /// lapsed). SIGKILL without grace: a process given time to exit could still
    /// write. Synchronous, so it can run on any thread the moment the need arises.
    /// Returns a line per process killed.
    pub fn halt(&self, why: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut leftovers = Vec::new();
        {
            let mut t = self.table();
            t.halted = Some(why.to_owned());
            for c in t.calls.values_mut() {
                if c.stopped.is_none() {
                    c.stopped = Some(why.to_owned());
                    if let Some(pid) = c.pid {
                        let _ = kill_process_group(pid, Signal::KILL);
                        out.push(format!(
                            "a bash call in flight (pid {})",
                            pid.as_raw_nonzero()
                        ));
                    }
                }
            }
            for (id, j) in t.jobs.iter().filter(|(_, j)| j.running()) {
                if let Some(pid) = j.pid {
                    let _ = kill_process_group(pid, Signal::KILL);
                }
                if !j.in_namespace {
                    leftovers.push(j.tmp.path().to_owned());
                }
                out.push(format!("background process {id} ({})", j.command));
            }
        }
        for tmp in leftovers {
            crate::sandbox::kill_by_tmpdir(&tmp);
        }
        out
    }

    /// Processes may run again (see [`BackgroundJobs::halt`]).
    pub fn resume(&self) {
        self.table().halted = None;
    }

    /// Stops every process (the Pod is stopping).
    pub async fn stop_all(&self) {
        let ids: Vec<u32> = self.table().jobs.keys().copied().collect();
        for id in ids {
            let _ = self.stop(id).await;
        }
    }

    /// Pids (outer processes) of the running ones, for status and tests.
    pub fn running_pids(&self) -> Vec<u32> {
        self.table()
            .jobs
            .values()
            .filter(|j| j.running())
            .filter_map(|j| j.pid.map(|p| p.as_raw_nonzero().get() as u32))
            .collect()
    }

    async fn stop(&self, id: u32) -> Option<String> {
        // The job stays in the table (its log stays readable); the wait happens
        // without the lock.
        let (pid, ended, command, leftovers) = {
            let t = self.table();
            let j = t.jobs.get(&id)?;
            let leftovers = (!j.in_namespace).then(|| j.tmp.path().to_owned());
            (j.pid, j.ended.clone(), j.command.clone(), leftovers)
        };
        let how = stop_group(pid, ended).await;
        if let Some(tmp) = leftovers {
            let _ = tokio::task::spawn_blocking(move || crate::sandbox::kill_by_tmpdir(&tmp)).await;
        }
        Some(format!("{id} ({command}): {how}"))
    }
}

#[async_trait::async_trait]
impl Tool for Background {
    fn name(&self) -> &'static str {
        "background"
    }
    fn description(&self) -> &'static str {
        "Manage long-running processes (dev servers, watchers) that must outlive one call; `bash` kills everything a command started when it ends. action=start {command}: runs `bash -c COMMAND` in the working directory, confined exactly like `bash`, and returns its id (and its output if it failed at once). action=list: every background process with its status. action=log {id, since?, max_bytes?}: its combined stdout+stderr from byte offset `since` (default: the newest 8000 bytes); the result says the range and the `next` offset to pass; the newest 1 MiB stays readable any number of times. action=stop {id}: SIGTERM, SIGKILL after 3 s. At most 8 run at once. All are stopped when this Pod stops (also if it is killed), and before a child Pod is given a region they could write."
    }
    fn parameters_schema(&self) -> serde_json::Value {
        schema_of::<BackgroundParams>()
    }
    async fn call(
        &self,
        ctx: &ToolContext,
        args: serde_json::Value,
    ) -> Result<ToolOutput, ToolError> {
        let p: BackgroundParams = parse_args(self.name(), args)?;
        let jobs = &ctx.background;
        let need_id = |what: &str| {
            p.id.ok_or_else(|| invalid(format!("action {what} needs the id that start returned")))
        };
        match p.action {
            Action::Start => {
                let command = p
                    .command
                    .as_deref()
                    .filter(|c| !c.trim().is_empty())
                    .ok_or_else(|| invalid("action start needs a command".into()))?;
                start(ctx, command).await
            }
            Action::List => Ok(ToolOutput::full(list(jobs))),
            Action::Log => log(jobs, need_id("log")?, p.since, p.max_bytes),
            Action::Stop => {
                let id = need_id("stop")?;
                let line = jobs.stop(id).await.ok_or_else(|| unknown(id))?;
                let (_, tail, _) = {
                    let t = jobs.table();
                    let j = t.jobs.get(&id).ok_or_else(|| unknown(id))?;
                    let log = j.log.lock().unwrap_or_else(|p| p.into_inner());
                    log.read(None, 2_000)
                };
                Ok(ToolOutput::full(format!(
                    "stopped {line}\nlast output:\n{}",
                    String::from_utf8_lossy(&tail)
                )))
            }
        }
    }
}

fn invalid(message: String) -> ToolError {
    ToolError::InvalidArguments {
        tool: "background".into(),
        message,
    }
}

fn unknown(id: u32) -> ToolError {
    invalid(format!(
        "no background process {id}; action list shows the ids"
    ))
}

async fn start(ctx: &ToolContext, command: &str) -> Result<ToolOutput, ToolError> {
    let jobs = &ctx.background;
    let running = jobs.table().jobs.values().filter(|j| j.running()).count();
    if running >= MAX_RUNNING {
        return Err(invalid(format!(
            "{running} background processes are running (at most {MAX_RUNNING}); stop one first"
        )));
    }
    let internal = |m: String| ToolError::Internal {
        tool: "background".into(),
        message: m,
    };
    let tmp = private_tmp().map_err(internal)?;
    let scope = ctx.current_scope();
    let conf = confinement(ctx, &scope, tmp.path().to_owned()).await?;
    if let Some(why) = jobs.table().halted.clone() {
        return Err(invalid(format!("not started: {why}")));
    }
    let in_namespace = conf.layers().pid_namespace;
    let (mut child, reader) = spawn_confined(ctx, command, tmp.path(), conf)
        .map_err(|e| internal(format!("cannot start bash: {e}")))?;
    let pid = child.id().and_then(|id| Pid::from_raw(id as i32));
    let log = Arc::new(Mutex::new(Log::default()));
    let mut rx = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader))
        .map_err(|e| internal(e.to_string()))?;
    let reader_task = {
        let log = log.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n @ 1..) = rx.read(&mut buf).await {
                log.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(&buf[..n]);
            }
        })
    };
    let (ended_tx, ended) = watch::channel(None);
    tokio::spawn(async move {
        let how = match child.wait().await {
            Ok(s) => crate::bash::exit_line(Some(s)),
            Err(e) => format!("[exit status unknown: {e}]"),
        };
        // Everything it started is gone with its namespace; let the reader catch
        // the last bytes before the status says so.
        let _ = tokio::time::timeout(Duration::from_secs(1), reader_task).await;
        let _ = ended_tx.send(Some(format!("exited {how}")));
    });
    let id = {
        let mut t = jobs.table();
        t.next += 1;
        let id = t.next;
        t.jobs.insert(
            id,
            Job {
                command: command.to_owned(),
                pid,
                started: Instant::now(),
                scope,
                log: log.clone(),
                ended: ended.clone(),
                _group: GroupKill(pid),
                in_namespace,
                tmp,
            },
        );
        // Halted between the check above and now: it must not run.
        if t.halted.is_some()
            && let Some(pid) = pid
        {
            let _ = kill_process_group(pid, Signal::KILL);
        }
        forget_oldest_finished(&mut t);
        id
    };
    let mut watch_end = ended.clone();
    let failed = tokio::time::timeout(START_WATCH, watch_end.wait_for(Option::is_some))
        .await
        .is_ok();
    let pid_text = pid.map_or("?".into(), |p| p.as_raw_nonzero().to_string());
    if failed {
        let (_, out, _) = log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .read(None, 4_000);
        return Ok(ToolOutput::full(format!(
            "background process {id} (pid {pid_text}) ended at once: {}\noutput:\n{}",
            ended.borrow().clone().unwrap_or_default(),
            String::from_utf8_lossy(&out)
        )));
    }
    Ok(ToolOutput::full(format!(
        "started background process {id} (pid {pid_text}): {command}\nread its output with {{\"action\":\"log\",\"id\":{id}}}, stop it with {{\"action\":\"stop\",\"id\":{id}}}; it is stopped when this Pod stops"
    )))
}

/// Drops the oldest finished jobs past [`KEEP_FINISHED`].
fn forget_oldest_finished(t: &mut Table) {
    let finished: Vec<u32> = t
        .jobs
        .iter()
        .filter(|(_, j)| !j.running())
        .map(|(id, _)| *id)
        .collect();
    for id in finished
        .iter()
        .take(finished.len().saturating_sub(KEEP_FINISHED))
    {
        t.jobs.remove(id);
    }
}

fn list(jobs: &BackgroundJobs) -> String {
    let t = jobs.table();
    if t.jobs.is_empty() {
        return "no background processes".into();
    }
    t.jobs
        .iter()
        .map(|(id, j)| {
            let bytes = j.log.lock().unwrap_or_else(|p| p.into_inner()).total;
            format!(
                "{id}\t{}\t{} s\t{bytes} bytes of output\t{}",
                j.status(),
                j.started.elapsed().as_secs(),
                j.command
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn log(
    jobs: &BackgroundJobs,
    id: u32,
    since: Option<u64>,
    max: Option<usize>,
) -> Result<ToolOutput, ToolError> {
    let t = jobs.table();
    let j = t.jobs.get(&id).ok_or_else(|| unknown(id))?;
    let max = max.unwrap_or(LOG_DEFAULT_BYTES).clamp(1, LOG_MAX_BYTES);
    let (from, bytes, dropped, total) = {
        let log = j.log.lock().unwrap_or_else(|p| p.into_inner());
        let (from, bytes, dropped) = log.read(since, max);
        (from, bytes, dropped, log.total)
    };
    let next = from + bytes.len() as u64;
    let mut text = String::new();
    if dropped > 0 {
        text.push_str(&format!(
            "[{dropped} bytes before offset {from} are no longer kept]\n"
        ));
    }
    text.push_str(&String::from_utf8_lossy(&bytes));
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!(
        "[bytes {from}..{next} of {total}; next: {next}; {}]",
        j.status()
    ));
    Ok(ToolOutput::new(
        text,
        next < total || dropped > 0 || (from > 0 && since.is_none()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_keeps_the_newest_bytes_and_reads_by_offset() {
        let mut l = Log::default();
        l.push(b"hello ");
        l.push(b"world");
        assert_eq!(l.read(None, 5), (6, b"world".to_vec(), 0));
        assert_eq!(l.read(Some(0), 5), (0, b"hello".to_vec(), 0));
        assert_eq!(l.read(Some(11), 5), (11, Vec::new(), 0));
        l.push(&vec![b'x'; LOG_KEEP]);
        let (from, bytes, dropped) = l.read(Some(3), 4);
        assert_eq!((from, bytes.as_slice(), dropped), (11, &b"xxxx"[..], 8));
    }
}
