//! The application state and how outside news (discovery, connections, log loads,
//! finished commands) changes it. Pure: every side effect is returned as an
//! [`Action`] for the I/O layer.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use pod_ids::{PodName, SegmentId};
use protocol::{PodState, Request};

use crate::composer::Composer;
use crate::form::{NewPod, NewPodForm};
use crate::meters::Meters;
use crate::pod_view::{Link, LinkUpdate, Loaded, PodView, ViewEffect};
use crate::tree::{Discovered, Tree};
use crate::ui::ViewFlags;

/// Which pane has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// The Pod tree.
    Tree,
    /// The transcript (scrolling).
    Transcript,
    /// The composer.
    Composer,
}

/// A modal layer over the dashboard.
#[derive(Debug, Clone, Default)]
pub enum Overlay {
    /// None.
    #[default]
    None,
    /// The key list.
    Help,
    /// The new-Pod form.
    NewPod(NewPodForm),
    /// Asking to confirm stopping a Pod.
    ConfirmStop(PodName),
    /// The selected Pod's status: model, context, tokens, cost, scope (`/status`).
    Status,
    /// A read-only text view: everything a Pod changed (`/diff`); `text` is
    /// `None` while it loads.
    View {
        /// What is shown.
        title: String,
        /// The Pod.
        pod: PodName,
        /// The unified diff, once read.
        text: Option<String>,
        /// First line shown.
        scroll: usize,
    },
    /// The work items of a repository (`w`, `/work`).
    Work(Box<crate::work_view::WorkView>),
}

/// A command run through the `pod` executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodCommand {
    /// `pod run --detach --name N [--model M] [--write P]...`
    Start(NewPod),
    /// `pod resume N --detach`
    Resume(PodName),
    /// `pod stop N`
    Stop(PodName),
    /// `pod fork POD --as NEW`
    Fork {
        /// The Pod forked.
        pod: PodName,
        /// The new Pod.
        new: PodName,
    },
    /// `pod rewind POD --to SEQ`
    Rewind {
        /// The Pod.
        pod: PodName,
        /// Seq of the user message to go back before.
        to: u64,
    },
}

/// What the composer shows a list for, derived from its text (slash commands,
/// `@` mentions) or opened by a key (Ctrl-R history search).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Popup {
    /// None.
    #[default]
    None,
    /// The slash-command list (composer holds `/word`).
    Slash {
        /// Highlighted row.
        selected: usize,
    },
    /// The file / child picker (the word at the cursor starts with `@`).
    Mention {
        /// Highlighted row.
        selected: usize,
    },
    /// Reverse search over past inputs.
    History {
        /// What is searched for.
        query: String,
        /// Highlighted match (0: newest).
        selected: usize,
        /// The composer text before the search (Esc puts it back).
        draft: String,
    },
}

/// A side effect the I/O layer performs.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Open a connection to a Pod's socket.
    Connect(PodName),
    /// Read a Pod's transcript from its session log.
    LoadLog {
        /// The Pod.
        pod: PodName,
        /// The segment (`None`: the one the pod store points at).
        segment: Option<SegmentId>,
    },
    /// Send a request over a Pod's connection.
    Request {
        /// The Pod.
        pod: PodName,
        /// The request.
        request: Request,
    },
    /// Run the `pod` executable.
    Command(PodCommand),
    /// Re-run discovery now.
    Refresh,
    /// List the files a Pod may read, for the `@` picker.
    IndexFiles(PodName),
    /// Read everything a Pod changed, for `/diff`.
    Diff(PodName),
    /// Read a repository's work items, for the work-items view.
    LoadWork(crate::work_view::WorkQuery),
    /// Leave the TUI.
    Quit,
}

/// Everything the dashboard shows.
#[derive(Debug)]
pub struct App {
    /// Discovered Pods.
    pub tree: Tree,
    /// Per-Pod views (connections, transcripts).
    pub views: HashMap<PodName, PodView>,
    /// The Pod shown in the transcript pane.
    pub selected: Option<PodName>,
    /// Keyboard focus.
    pub focus: Focus,
    /// Input.
    pub composer: Composer,
    /// Modal layer.
    pub overlay: Overlay,
    /// Select whichever Pod starts running.
    pub follow_running: bool,
    /// Ctrl-C was pressed once; the next one quits.
    pub quit_armed: bool,
    /// Transcript view toggles.
    pub flags: ViewFlags,
    /// Transient message for the status line.
    pub message: Option<String>,
    /// Height of the transcript viewport at the last render (for paging).
    pub viewport_height: u16,
    /// Esc was pressed once while a run was going; the next Esc interrupts.
    pub esc_armed: bool,
    /// The tree pane is hidden (`pod attach NAME`: one Pod, full width).
    pub tree_hidden: bool,
    /// The composer's list.
    pub popup: Popup,
    /// Readable files per Pod (paths relative to its cwd), for `@`.
    pub files: HashMap<PodName, Vec<String>>,
    /// Prices, context windows and the clock for the meters.
    pub meters: Meters,
    /// Where a new Pod runs unless the form says otherwise.
    pub default_cwd: PathBuf,
    /// Desktop notifications waiting to be written (the I/O layer drains them).
    pub notifications: Vec<String>,
    /// The approval prompt's state (see [`crate::approval`]).
    pub approval: crate::approval::PromptState,
}

impl Default for App {
    fn default() -> Self {
        App::new(None)
    }
}

impl App {
    /// A fresh app, optionally focused on one Pod.
    pub fn new(focus: Option<PodName>) -> App {
        App {
            tree: Tree::default(),
            views: HashMap::new(),
            focus: if focus.is_some() {
                Focus::Composer
            } else {
                Focus::Tree
            },
            selected: focus,
            composer: Composer::new(),
            overlay: Overlay::None,
            follow_running: false,
            quit_armed: false,
            flags: ViewFlags::default(),
            message: None,
            viewport_height: 20,
            esc_armed: false,
            tree_hidden: false,
            popup: Popup::None,
            files: HashMap::new(),
            meters: Meters::default(),
            default_cwd: PathBuf::from("."),
            notifications: Vec::new(),
            approval: Default::default(),
        }
    }

    /// The selected Pod's working directory (where relative paths it is given
    /// resolve), when known.
    pub fn selected_cwd(&self) -> Option<PathBuf> {
        let name = self.selected.as_ref()?;
        self.tree.get(name).and_then(|p| p.cwd.clone())
    }

    /// `path` as the selected Pod would read it: relative paths are relative to
    /// its working directory (else to the dashboard's).
    pub fn resolve_path(&self, path: &str) -> PathBuf {
        let p = PathBuf::from(path);
        if p.is_absolute() {
            return p;
        }
        self.selected_cwd()
            .unwrap_or_else(|| self.default_cwd.clone())
            .join(p)
    }

    /// Reloads a Pod's transcript from its session log.
    pub fn reload(&mut self, name: &PodName) -> Vec<Action> {
        let view = self.views.entry(name.clone()).or_default();
        view.loaded = Loaded::No;
        self.ensure_loaded(name)
    }

    /// Installs a file listing for the `@` picker.
    pub fn set_files(&mut self, pod: PodName, files: Vec<String>) {
        self.files.insert(pod, files);
    }

    /// The Pod's own record of its edits (outside git): every `edit_file` /
    /// `write_file` call in its transcript, as a diff.
    pub fn recorded_edits(&self, pod: &PodName) -> String {
        let mut out = String::new();
        let Some(v) = self.views.get(pod) else {
            return out;
        };
        for e in v.transcript.entries() {
            let crate::EntryKind::Tool(t) = &e.kind else {
                continue;
            };
            if t.status != crate::ToolStatus::Done {
                continue;
            }
            let Ok(args) =
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&t.arguments)
            else {
                continue;
            };
            let Some((old, new)) = crate::ui::edit_texts(&args) else {
                continue;
            };
            let path = args
                .get("path")
                .or_else(|| args.get("file_path"))
                .and_then(|p| p.as_str())
                .unwrap_or("?");
            out.push_str(&format!("--- {path}\n+++ {path} ({})\n", t.name));
            for r in crate::ui::diff_rows(&old, &new, t.output.as_deref()) {
                let n = r.number.map_or(String::new(), |n| format!("{n:>5} "));
                out.push_str(&format!("{}{n}{}\n", r.sign, r.text));
            }
        }
        if out.is_empty() {
            out = "not a git repository, and the Pod has edited no files in this session".into();
        }
        out
    }

    /// Opens the work-items view on the selected Pod's repository (else the
    /// dashboard's directory) and asks for its first read.
    pub fn open_work(&mut self) -> Vec<Action> {
        let from = self
            .selected_cwd()
            .unwrap_or_else(|| self.default_cwd.clone());
        let view = crate::work_view::WorkView::new(from);
        let query = view.query();
        self.overlay = Overlay::Work(Box::new(view));
        vec![Action::LoadWork(query)]
    }

    /// The discovery tick: while the work-items view is open and no read is
    /// under way, read again (how it follows changes on disk).
    pub fn refresh_work(&mut self) -> Vec<Action> {
        match &mut self.overlay {
            Overlay::Work(view) if !view.loading => {
                view.loading = true;
                vec![Action::LoadWork(view.query())]
            }
            _ => Vec::new(),
        }
    }

    /// Installs a read of the work items; returns whether the screen changed.
    pub fn set_work(&mut self, snapshot: crate::work_view::WorkSnapshot) -> bool {
        match &mut self.overlay {
            Overlay::Work(view) => view.install(snapshot),
            _ => false,
        }
    }

    /// Installs the text of an open view (`/diff`).
    pub fn set_view_text(&mut self, pod: &PodName, result: Result<String, String>) {
        if let Overlay::View { pod: p, text, .. } = &mut self.overlay
            && p == pod
        {
            *text = Some(result.unwrap_or_else(|e| format!("could not read it: {e}")));
        }
    }

    /// When the selected Pod's current run started (while it runs).
    pub fn running_since(&self) -> Option<Instant> {
        self.selected_view().and_then(|v| v.running_since)
    }

    /// Whether no modal layer is open.
    pub fn overlay_is_none(&self) -> bool {
        matches!(self.overlay, Overlay::None)
    }

    /// The selected Pod's view.
    pub fn selected_view(&self) -> Option<&PodView> {
        self.selected.as_ref().and_then(|n| self.views.get(n))
    }

    /// The selected Pod's view, mutably.
    pub fn selected_view_mut(&mut self) -> Option<&mut PodView> {
        let n = self.selected.clone()?;
        self.views.get_mut(&n)
    }

    /// Installs a discovery result: connects to Pods that became live and are not
    /// connected (this is also how a restarted Pod is reconnected), keeps a
    /// selection, and loads a stopped selected Pod's transcript.
    pub fn set_discovered(&mut self, d: Discovered) -> (bool, Vec<Action>) {
        let changed = self.tree.set(d);
        let mut actions = Vec::new();
        // The selected Pod's transcript loads before any connection attempt, so a
        // Pod whose socket is stale (connects fail) still shows its past.
        if let Some(sel) = self.selected.clone() {
            actions.extend(self.ensure_loaded(&sel));
        }
        let live: Vec<PodName> = self
            .tree
            .pods()
            .filter(|p| p.live_pid.is_some() || p.socket_present)
            .map(|p| p.name.clone())
            .collect();
        for name in live {
            let view = self.views.entry(name.clone()).or_default();
            if view.link == Link::Disconnected {
                view.link = Link::Connecting;
                actions.push(Action::Connect(name));
            }
        }
        if self.selected.is_none()
            && let Some(first) = self.tree.rows().first().map(|r| r.name.clone())
        {
            actions.extend(self.select(first));
        }
        (changed, actions)
    }

    /// Makes `name` the selected Pod; clears its unread mark and loads its
    /// transcript if needed.
    pub fn select(&mut self, name: PodName) -> Vec<Action> {
        self.selected = Some(name.clone());
        self.ensure_loaded(&name)
    }

    fn ensure_loaded(&mut self, name: &PodName) -> Vec<Action> {
        let view = self.views.entry(name.clone()).or_default();
        view.unread = false;
        let mut actions = Vec::new();
        // A live Pod still connecting loads after its hello (its segment may have
        // moved); any other unloaded Pod loads from the pod store's pointer.
        if view.loaded == Loaded::No
            && view.link != Link::Connecting
            && let ViewEffect::LoadLog(segment) = view.begin_load()
        {
            let segment = segment.or(self.tree.get(name).and_then(|p| p.segment));
            actions.push(Action::LoadLog {
                pod: name.clone(),
                segment,
            });
        }
        actions
    }

    /// Applies news from a Pod's connection.
    pub fn apply_link(&mut self, pod: &PodName, update: LinkUpdate) -> Vec<Action> {
        let selected = self.selected.as_ref() == Some(pod);
        let became_running = matches!(
            &update,
            LinkUpdate::Event {
                event: protocol::Event::StateChanged {
                    state: PodState::Running
                },
                ..
            }
        );
        let closed = matches!(update, LinkUpdate::Closed { .. });
        let ended = match &update {
            LinkUpdate::Event {
                event: protocol::Event::RunCompleted { .. },
                ..
            } => Some(format!("{pod} finished")),
            LinkUpdate::Event {
                event:
                    protocol::Event::RunErrored {
                        error, cancelled, ..
                    },
                ..
            } if !cancelled => Some(format!("{pod} failed: {error}")),
            _ => None,
        };
        if let Some(n) = ended {
            self.notifications.push(n);
        }
        let view = self.views.entry(pod.clone()).or_default();
        let effects = view.apply(update, selected);
        let mut actions = Vec::new();
        for fx in effects {
            match fx {
                ViewEffect::Request(request) => actions.push(Action::Request {
                    pod: pod.clone(),
                    request,
                }),
                ViewEffect::LoadLog(segment) => {
                    let segment = segment.or(self.tree.get(pod).and_then(|p| p.segment));
                    actions.push(Action::LoadLog {
                        pod: pod.clone(),
                        segment,
                    })
                }
                ViewEffect::Message(m) => self.message = Some(format!("{pod}: {m}")),
                // Only into an empty composer: never overwrite what the user is typing.
                ViewEffect::RestoreInput(text) if selected && self.composer.is_empty() => {
                    self.composer.set_text(&text);
                    self.message = Some(format!(
                        "{pod}: cancelled before any answer; your message is back in the composer"
                    ));
                }
                ViewEffect::RestoreInput(_) => {}
            }
        }
        if became_running && self.follow_running && !selected {
            actions.extend(self.select(pod.clone()));
        }
        if closed && selected {
            // A failed connect leaves the transcript unloaded: show the log.
            actions.extend(self.ensure_loaded(pod));
        }
        actions
    }

    /// Installs a transcript loaded from the session log.
    pub fn apply_log(&mut self, pod: &PodName, result: Result<Vec<session_store::Entry>, String>) {
        let view = self.views.entry(pod.clone()).or_default();
        match result {
            Ok(entries) => view.finish_load(entries),
            Err(e) => {
                view.finish_load(Vec::new());
                view.transcript
                    .push_client_note(format!("could not read the transcript: {e}"));
            }
        }
    }

    /// A `pod` command finished. A started (or forked) Pod is selected with the
    /// composer focused; an error is shown in full in the transcript and its
    /// last line in the status line.
    pub fn command_done(&mut self, cmd: &PodCommand, result: Result<(), String>) -> Vec<Action> {
        let what = crate::io::describe(cmd);
        let mut actions = vec![Action::Refresh];
        match result {
            Ok(()) => {
                self.message = Some(format!("{what}: done"));
                let new = match cmd {
                    PodCommand::Start(n) => Some(n.name.clone()),
                    PodCommand::Fork { new, .. } => Some(new.clone()),
                    _ => None,
                };
                if let Some(name) = new {
                    actions.extend(self.select(name));
                    self.focus = Focus::Composer;
                }
            }
            Err(e) => {
                let last = e.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
                self.message = Some(format!("{what} failed: {}", last.trim()));
                if let Some(v) = self.selected_view_mut() {
                    let full: Vec<&str> = e.lines().filter(|l| !l.trim().is_empty()).collect();
                    v.transcript
                        .push_client_note(format!("{what} failed: {}", full.join(" · ")));
                }
            }
        }
        actions
    }

    /// The display state of a Pod for the tree and status line.
    pub fn display_state(&self, name: &PodName) -> DisplayState {
        let view = self.views.get(name);
        if let Some(state) = view.and_then(|v| v.state()) {
            return match state {
                PodState::Running => DisplayState::Running,
                PodState::Idle => DisplayState::Idle,
                PodState::Paused => DisplayState::Paused,
            };
        }
        let unreachable = view.is_some_and(|v| v.unreachable);
        match self.tree.get(name) {
            Some(p) if p.live_pid.is_some() => DisplayState::Live,
            Some(p) if p.socket_present && unreachable => DisplayState::Lost,
            Some(p) if p.lost => DisplayState::Lost,
            Some(p) if p.pending => DisplayState::Pending,
            Some(_) => DisplayState::Stopped,
            None => DisplayState::Stopped,
        }
    }
}

/// How a Pod is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisplayState {
    /// Live and running a turn.
    Running,
    /// Live, waiting for input.
    Idle,
    /// Live, paused.
    Paused,
    /// Live per the registry, not (yet) connected.
    Live,
    /// Has a record, no process.
    Stopped,
    /// Its parent lost it, or its process died without cleaning up (its socket
    /// is left behind and refuses connections).
    Lost,
    /// Created, never started.
    Pending,
}

impl DisplayState {
    /// Label.
    pub fn label(self) -> &'static str {
        match self {
            DisplayState::Running => "running",
            DisplayState::Idle => "idle",
            DisplayState::Paused => "paused",
            DisplayState::Live => "live",
            DisplayState::Stopped => "stopped",
            DisplayState::Lost => "lost",
            DisplayState::Pending => "pending",
        }
    }

    /// Whether a process is alive.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            DisplayState::Running | DisplayState::Idle | DisplayState::Paused | DisplayState::Live
        )
    }
}
