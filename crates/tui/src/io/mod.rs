//! Terminal, sockets, discovery and commands: everything the pure core is not.
//!
//! The loop sleeps in one `select!` on: terminal events (crossterm `EventStream`),
//! news from connections / log loads / commands (a channel), and a 2 s discovery
//! tick. Discovery is the only periodic work (reading the pod store and the
//! registry, a few small files); it redraws only when the tree changed, so an idle
//! dashboard costs next to nothing. The tick is also what reconnects to a Pod that
//! restarted: the registry shows it live again and the app asks to connect.

mod commands;
mod connection;
mod diff;
mod discovery;
mod terminal;
mod work;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use crossterm::event::{Event as TermEvent, EventStream};
use futures::StreamExt;
use pod_ids::{PodName, Roots, SegmentId};
use protocol::Request;
use session_store::SessionStore;
use tokio::sync::mpsc;

use crate::app::{Action, App};
use crate::pod_view::LinkUpdate;
use crate::tree::Discovered;

pub use commands::{describe, run_command};
pub use discovery::{LiveRegistry, discover};
pub use work::load as load_work;

/// How often the tree is re-read from the pod store and registry.
pub const DISCOVERY_INTERVAL: Duration = Duration::from_secs(2);

/// How to start the dashboard.
#[derive(Debug, Clone)]
pub struct TuiOptions {
    /// Where pods keeps its files.
    pub roots: Roots,
    /// Pod to select at start (`pod attach NAME`).
    pub focus: Option<PodName>,
    /// The `pod` executable used for start / resume / stop.
    pub pod_exe: PathBuf,
    /// Start with the tree hidden (one Pod, full width).
    pub tree_hidden: bool,
    /// Prices for the cost meter (model id or prefix → price).
    pub prices: std::collections::BTreeMap<String, crate::meters::Price>,
    /// How a finished Pod is announced.
    pub notify: Notify,
    /// The live registry as configured; `None`: the file registry under `roots`.
    pub registry: Option<LiveRegistry>,
}

/// How the dashboard tells that a Pod finished or failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Notify {
    /// A desktop notification (OSC 9, shown by iTerm2, WezTerm, kitty, Windows
    /// Terminal, …) and nothing else.
    #[default]
    Osc9,
    /// The terminal bell.
    Bell,
    /// Nothing.
    Off,
}

impl TuiOptions {
    /// Options with no focus and the current executable as `pod`.
    pub fn new(roots: Roots) -> TuiOptions {
        TuiOptions {
            roots,
            focus: None,
            pod_exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("pod")),
            tree_hidden: false,
            prices: Default::default(),
            notify: Notify::default(),
            registry: None,
        }
    }
}

/// News for the loop from background tasks.
#[derive(Debug)]
pub(crate) enum Input {
    /// From a Pod connection.
    Link(PodName, LinkUpdate),
    /// A transcript read from the session log.
    Log(PodName, Result<Vec<session_store::Entry>, String>),
    /// A discovery pass.
    Discovered(Discovered),
    /// A `pod` command finished.
    CommandDone(crate::app::PodCommand, Result<(), String>),
    /// A Pod's readable files, for the `@` picker.
    Files(PodName, Vec<String>),
    /// What a Pod changed (`Ok(None)`: its directory is not in git).
    Diff(PodName, Result<Option<String>, String>),
    /// A read of a repository's work items.
    Work(crate::work_view::WorkSnapshot),
}

struct Runtime {
    opts: TuiOptions,
    home: Option<PathBuf>,
    tx: mpsc::UnboundedSender<Input>,
    conns: HashMap<PodName, mpsc::UnboundedSender<Request>>,
    discovering: bool,
}

impl Runtime {
    fn spawn_discovery(&mut self) {
        if self.discovering {
            return;
        }
        self.discovering = true;
        let roots = self.opts.roots.clone();
        let home = self.home.clone();
        let registry = self.opts.registry.clone();
        let tx = self.tx.clone();
        tokio::task::spawn_blocking(move || {
            let d = discover(&roots, home.as_deref(), registry.as_ref());
            let _ = tx.send(Input::Discovered(d));
        });
    }

    fn spawn_log_load(&self, pod: PodName, segment: Option<SegmentId>) {
        let roots = self.opts.roots.clone();
        let tx = self.tx.clone();
        tokio::task::spawn_blocking(move || {
            let result = load_log(&roots, &pod, segment);
            let _ = tx.send(Input::Log(pod, result));
        });
    }

    /// Performs actions; returns false when the user quit.
    fn perform(&mut self, app: &mut App, actions: Vec<Action>) -> bool {
        for action in actions {
            match action {
                Action::Quit => return false,
                Action::Refresh => self.spawn_discovery(),
                Action::Connect(name) => {
                    let (req_tx, req_rx) = mpsc::unbounded_channel();
                    let socket = self.opts.roots.runtime.join(name.as_str()).join("sock");
                    self.conns.insert(name.clone(), req_tx);
                    tokio::spawn(connection::run_connection(
                        name,
                        socket,
                        self.tx.clone(),
                        req_rx,
                    ));
                }
                Action::LoadLog { pod, segment } => self.spawn_log_load(pod, segment),
                Action::IndexFiles(pod) => {
                    let Some(info) = app.tree.get(&pod) else {
                        continue;
                    };
                    let cwd = info.cwd.clone().unwrap_or_else(|| app.default_cwd.clone());
                    let roots = diff::index_roots(&cwd, &info.readable);
                    let tx = self.tx.clone();
                    tokio::task::spawn_blocking(move || {
                        let files = crate::files::index(&roots, &cwd);
                        let _ = tx.send(Input::Files(pod, files));
                    });
                }
                Action::LoadWork(query) => {
                    let tx = self.tx.clone();
                    tokio::task::spawn_blocking(move || {
                        let _ = tx.send(Input::Work(work::load(&query)));
                    });
                }
                Action::Diff(pod) => {
                    let cwd = app
                        .tree
                        .get(&pod)
                        .and_then(|p| p.cwd.clone())
                        .unwrap_or_else(|| app.default_cwd.clone());
                    let tx = self.tx.clone();
                    tokio::spawn(async move {
                        let result = diff::git_changes(&cwd).await;
                        let _ = tx.send(Input::Diff(pod, result));
                    });
                }
                Action::Request { pod, request } => {
                    let sent = self
                        .conns
                        .get(&pod)
                        .is_some_and(|c| c.send(request).is_ok());
                    if !sent {
                        app.message = Some(format!("{pod} is not connected"));
                    }
                }
                Action::Command(cmd) => {
                    let exe = self.opts.pod_exe.clone();
                    let roots = self.opts.roots.clone();
                    let tx = self.tx.clone();
                    tokio::spawn(async move {
                        let result = run_command(&exe, &cmd, &roots).await;
                        let _ = tx.send(Input::CommandDone(cmd, result));
                    });
                }
            }
        }
        true
    }

    /// Applies one input; returns (redraw, follow-up actions).
    fn apply(&mut self, app: &mut App, input: Input) -> (bool, Vec<Action>) {
        match input {
            Input::Link(pod, update) => {
                if matches!(update, LinkUpdate::Closed { .. }) {
                    self.conns.remove(&pod);
                }
                (true, app.apply_link(&pod, update))
            }
            Input::Log(pod, result) => {
                app.apply_log(&pod, result);
                (true, Vec::new())
            }
            Input::Discovered(d) => {
                self.discovering = false;
                app.set_discovered(d)
            }
            Input::CommandDone(cmd, result) => (true, app.command_done(&cmd, result)),
            Input::Files(pod, files) => {
                app.set_files(pod, files);
                (true, Vec::new())
            }
            Input::Diff(pod, result) => {
                let result = match result {
                    Ok(Some(text)) => Ok(text),
                    Ok(None) => Ok(app.recorded_edits(&pod)),
                    Err(e) => Err(e),
                };
                app.set_view_text(&pod, result);
                (true, Vec::new())
            }
            Input::Work(snapshot) => (app.set_work(snapshot), Vec::new()),
        }
    }
}

/// Reads a Pod's active segment (the pod store's pointer unless the live Pod
/// reported another) as session-log entries.
fn load_log(
    roots: &Roots,
    pod: &PodName,
    segment: Option<SegmentId>,
) -> Result<Vec<session_store::Entry>, String> {
    let segment = match segment {
        Some(s) => s,
        None => pod_store::PodStore::new(&roots.pods)
            .read(pod)
            .map_err(|e| e.to_string())?
            .state
            .segment(),
    };
    let read = SessionStore::new(roots.sessions.clone())
        .read_segment(segment)
        .map_err(|e| e.to_string())?;
    Ok(read.entries)
}

/// Runs the dashboard until the user quits (Ctrl-C twice).
pub async fn run(opts: TuiOptions) -> anyhow::Result<()> {
    let mut screen = terminal::Screen::enter()?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut rt = Runtime {
        home: std::env::var_os("HOME").map(PathBuf::from),
        opts,
        tx,
        conns: HashMap::new(),
        discovering: false,
    };
    let mut app = App::new(rt.opts.focus.clone());
    app.tree_hidden = rt.opts.tree_hidden && rt.opts.focus.is_some();
    app.meters.prices = rt.opts.prices.clone();
    app.default_cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let notify = rt.opts.notify;
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(DISCOVERY_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The elapsed-time meter: a redraw a second, only while the shown Pod runs.
    let mut second = tokio::time::interval(Duration::from_secs(1));
    second.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    screen.terminal.draw(|f| crate::ui::render(&mut app, f))?;
    loop {
        let mut redraw = false;
        let mut actions = Vec::new();
        tokio::select! {
            ev = events.next() => {
                match ev {
                    None => break,
                    Some(Err(e)) => return Err(e.into()),
                    Some(Ok(TermEvent::Key(key))) => actions = crate::keys::handle_key(&mut app, key),
                    Some(Ok(TermEvent::Mouse(m))) => crate::keys::handle_mouse(&mut app, m),
                    Some(Ok(TermEvent::Paste(s))) => crate::keys::handle_paste(&mut app, &s),
                    Some(Ok(_)) => {} // resize, focus: just redraw
                }
                redraw = true;
            }
            Some(input) = rx.recv() => {
                let (r, a) = rt.apply(&mut app, input);
                redraw |= r;
                actions = a;
            }
            _ = tick.tick() => {
                rt.spawn_discovery();
                actions = app.refresh_work();
            }
            _ = second.tick(), if app.running_since().is_some() => redraw = true,
        }
        // Coalesce a burst (streaming deltas) into one frame.
        while let Ok(input) = rx.try_recv() {
            let (r, a) = rt.apply(&mut app, input);
            redraw |= r;
            if !rt.perform(&mut app, a) {
                return Ok(());
            }
        }
        if !rt.perform(&mut app, actions) {
            break;
        }
        for n in app.notifications.drain(..) {
            terminal::notify(notify, &n);
        }
        if redraw {
            screen.terminal.draw(|f| crate::ui::render(&mut app, f))?;
        }
    }
    Ok(())
}
