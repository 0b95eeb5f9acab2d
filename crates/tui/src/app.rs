//! The application state and how outside news (discovery, connections, log loads,
//! finished commands) changes it. Pure: every side effect is returned as an
//! [`Action`] for the I/O layer.

use std::collections::HashMap;

use pod_ids::{PodName, SegmentId};
use protocol::{PodState, Request};

use crate::composer::Composer;
use crate::form::{NewPod, NewPodForm};
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
        }
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
    pub fn apply_log(
        &mut self,
        pod: &PodName,
        result: Result<Vec<session_store::EntryKind>, String>,
    ) {
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

    /// A `pod` command finished.
    pub fn command_done(&mut self, what: &str, result: Result<(), String>) -> Vec<Action> {
        self.message = Some(match result {
            Ok(()) => format!("{what}: done"),
            Err(e) => format!("{what} failed: {e}"),
        });
        vec![Action::Refresh]
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
