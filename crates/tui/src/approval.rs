//! The approval prompt: a tool call of a Pod waits for the user's word (an `ask`
//! permission rule or hook). Self-contained: the pending requests come from each
//! Pod's status (`pending_approvals`, kept current by `approval_requested` /
//! `approval_resolved` events in [`crate::pod_view`]); answering is an ordinary
//! `answer_approval` request on the Pod's connection.
//!
//! The prompt is modal while shown (a stray key typed into the composer must never
//! approve anything): `y` once, `a` always for this Pod, `n` deny (then type a
//! reason, Enter sends it, Esc goes back). The selected Pod's requests come first.

use std::collections::HashSet;

use crossterm::event::{KeyCode, KeyEvent};
use pod_ids::PodName;
use protocol::{ApprovalDecision, ApprovalRequest, Request};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

use crate::app::{Action, App};

/// What the prompt remembers between keys.
#[derive(Debug, Default)]
pub struct PromptState {
    /// The reason being typed after `n` (`None`: not denying).
    reason: Option<String>,
    /// Answered here, not yet confirmed by the Pod (hidden meanwhile).
    answered: HashSet<u64>,
}

/// The request the prompt shows now: the selected Pod's first, else any Pod's.
pub fn current(app: &App) -> Option<(PodName, ApprovalRequest)> {
    let waiting = |name: &PodName| {
        let view = app.views.get(name)?;
        let st = view.status.as_ref()?;
        st.pending_approvals
            .iter()
            .find(|a| !app.approval.answered.contains(&a.id))
            .map(|a| (name.clone(), a.clone()))
    };
    if let Some(found) = app.selected.as_ref().and_then(waiting) {
        return Some(found);
    }
    let mut names: Vec<&PodName> = app.views.keys().collect();
    names.sort();
    names.into_iter().find_map(waiting)
}

/// Handles `key` when a prompt is shown (`None`: no prompt, the key is not ours).
pub fn handle_key(app: &mut App, key: KeyEvent) -> Option<Vec<Action>> {
    let (pod, req) = current(app)?;
    let answer = |app: &mut App, decision, reason| {
        app.approval.answered.insert(req.id);
        app.approval.reason = None;
        app.message = Some(format!("answered approval for {}", req.tool));
        vec![Action::Request {
            pod: pod.clone(),
            request: Request::AnswerApproval {
                approval: req.id,
                decision,
                reason,
            },
        }]
    };
    if let Some(reason) = app.approval.reason.as_mut() {
        match key.code {
            KeyCode::Enter => {
                let r = std::mem::take(reason);
                let r = (!r.trim().is_empty()).then_some(r);
                return Some(answer(app, ApprovalDecision::Deny, r));
            }
            KeyCode::Esc => app.approval.reason = None,
            KeyCode::Backspace => {
                reason.pop();
            }
            KeyCode::Char(c) => reason.push(c),
            _ => {}
        }
        return Some(Vec::new());
    }
    Some(match key.code {
        KeyCode::Char('y') | KeyCode::Char('Y') => answer(app, ApprovalDecision::Once, None),
        KeyCode::Char('a') | KeyCode::Char('A') => answer(app, ApprovalDecision::Always, None),
        KeyCode::Char('n') | KeyCode::Char('N') => {
            app.approval.reason = Some(String::new());
            Vec::new()
        }
        _ => Vec::new(),
    })
}

/// Draws the prompt over everything when a request waits.
pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let Some((pod, req)) = current(app) else {
        return;
    };
    let w = area.width.min(90);
    let h = area.height.min(12);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(Style::default().fg(Color::Yellow))
        .title(format!(" Approval needed · {pod} "));
    let inner = block.inner(r);
    frame.render_widget(Clear, r);
    frame.render_widget(block, r);
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let dim = Style::default().fg(Color::DarkGray);
    let subject: String = req.subject.chars().take(400).collect();
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{} ", req.tool), bold),
            Span::raw(subject),
        ]),
        Line::from(Span::styled(format!("why: {}", req.why), dim)),
        Line::default(),
    ];
    match &app.approval.reason {
        Some(reason) => {
            lines.push(Line::from(format!("deny, reason: {reason}▏")));
            lines.push(Line::from(Span::styled(
                "Enter: deny with this reason · Esc: back",
                dim,
            )));
        }
        None => lines.push(Line::from(Span::styled(
            "y: approve once · a: always (this Pod) · n: deny with a reason",
            Style::default().fg(Color::Cyan),
        ))),
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}
