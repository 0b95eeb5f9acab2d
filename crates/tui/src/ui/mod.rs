//! Rendering: [`render`] draws the whole [`App`] into a frame. Pure apart from
//! filling the per-entry line caches and normalising scroll positions.

mod edit_diff;
mod entry_lines;
mod highlight;
mod markdown;
mod overlay;
mod panes;
mod popup;
mod table;
mod viewport;
mod work;
mod wrap;

pub use edit_diff::{diff_rows, edit_texts};
pub use entry_lines::tokens;
pub use viewport::Scroll;

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout};

use crate::app::{App, Overlay};

/// Transcript view toggles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ViewFlags {
    /// Show reasoning text (collapsed by default).
    pub reasoning: bool,
    /// Show full tool output and diffs.
    pub tools: bool,
}

impl ViewFlags {
    /// As bits, for cache keys.
    pub fn bits(self) -> u8 {
        u8::from(self.reasoning) | (u8::from(self.tools) << 1)
    }
}

/// Composer rows shown at most (more lines scroll inside it).
const COMPOSER_MAX_ROWS: u16 = 6;

/// Draws the dashboard.
pub fn render(app: &mut App, frame: &mut Frame) {
    let area = frame.area();
    let composer_rows = (app.composer.lines().len() as u16).clamp(1, COMPOSER_MAX_ROWS) + 2;
    let [main, composer, status] = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Min(3),
            Constraint::Length(composer_rows),
            Constraint::Length(1),
        ])
        .areas(area);
    let tree_width = if app.tree_hidden {
        0
    } else {
        (area.width / 3).clamp(20, 44)
    };
    let [tree, transcript] = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Length(tree_width), Constraint::Min(10)])
        .areas(main);
    if !app.tree_hidden {
        panes::tree(app, frame, tree);
    }
    panes::transcript(app, frame, transcript);
    panes::composer(app, frame, composer);
    panes::status(app, frame, status);
    popup::render(app, frame, main, composer);
    match &app.overlay {
        Overlay::None => {}
        Overlay::Help => overlay::help(frame, area),
        Overlay::NewPod(form) => overlay::new_pod(form, frame, area),
        Overlay::ConfirmStop(name) => overlay::confirm_stop(name, frame, area),
        Overlay::Status => overlay::status(app, frame, area),
        Overlay::View {
            title,
            text,
            scroll,
            ..
        } => overlay::view(title, text.as_deref(), *scroll, frame, area),
        Overlay::Work(view) => work::render(app, view, frame, area),
    }
    crate::approval::render(app, frame, area);
}
