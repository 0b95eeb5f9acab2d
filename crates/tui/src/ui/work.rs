//! The work-items view: the list grouped by status, and one opened item (its
//! summary and Pods above, a tab bar, then the thread, the description, an
//! artifact or the resolution).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use unicode_width::UnicodeWidthStr;
use work_items::{Event, Item, Status, Verdict};

use super::markdown::render_markdown;
use super::overlay::modal;
use super::panes::state_icon;
use super::popup::fit;
use super::wrap::{Logical, wrap};
use crate::app::App;
use crate::work_view::{Listing, PodOnItem, Tab, WorkRow, WorkView, short_time, tabs};

fn dim() -> Style {
    Style::default().fg(Color::DarkGray)
}

fn bold() -> Style {
    Style::default().add_modifier(Modifier::BOLD)
}

fn status_color(s: Status) -> Color {
    match s {
        Status::Open => Color::Cyan,
        Status::Pending => Color::Yellow,
        Status::Closed => Color::Green,
    }
}

fn verdict_style(v: Verdict) -> Style {
    match v {
        Verdict::Approve => Style::default().fg(Color::Green),
        Verdict::RequestChanges => Style::default().fg(Color::Red),
    }
}

/// The verdict as the list shows it (the item view spells it out).
fn verdict_short(v: Verdict) -> &'static str {
    match v {
        Verdict::Approve => "✓ approve",
        Verdict::RequestChanges => "✗ changes",
    }
}

/// `s` cut or padded to exactly `w` columns.
fn cell(s: &str, w: usize) -> String {
    let s = fit(s, w);
    let pad = w.saturating_sub(s.width());
    format!("{s}{}", " ".repeat(pad))
}

/// The last path component of the repository (its full path is in the
/// not-initialised hint).
fn repo_name(view: &WorkView) -> String {
    let repo = view.snapshot.as_ref().map_or(&view.from, |s| &s.repo);
    repo.file_name().map_or_else(
        || repo.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Paragraphs of one style each, wrapped to `area` and drawn.
fn draw_text(frame: &mut Frame, area: Rect, paragraphs: Vec<(String, Style)>) {
    let mut lines = Vec::new();
    for (text, style) in paragraphs {
        wrap(Logical::plain(text, style), area.width, &mut lines);
    }
    frame.render_widget(Paragraph::new(lines), area);
}

pub(super) fn render(app: &App, view: &WorkView, frame: &mut Frame, area: Rect) {
    let r = Rect {
        x: area.x + 1,
        y: area.y + 1,
        width: area.width.saturating_sub(2),
        height: area.height.saturating_sub(2),
    };
    match (&view.open, view.open_row()) {
        (Some(_), Some(row)) => item(app, view, row, frame, r),
        _ => list(view, frame, r),
    }
}

/// Column widths of the list.
struct Cols {
    slug: usize,
    title: usize,
    kind: usize,
    priority: usize,
    assignee: usize,
    verdict: usize,
}

impl Cols {
    /// Natural widths (the longest value, or the heading), the slug and the
    /// assignee capped; the title takes what is left.
    fn fit(rows: &[WorkRow], width: usize) -> Cols {
        let items = rows.iter().filter_map(|r| r.item.as_ref().ok());
        let longest = |f: &dyn Fn(&Item) -> usize, head: &str| {
            items.clone().map(f).max().unwrap_or(0).max(head.width())
        };
        let slug = longest(&|i| i.meta.slug.width(), "slug").min((width / 4).clamp(18, 48));
        let kind = longest(&|i| i.meta.kind.width(), "kind");
        let priority = longest(&|i| i.meta.priority.width(), "prio");
        let verdict = longest(
            &|i| i.last_verdict().map_or(0, |v| verdict_short(v).width()),
            "verdict",
        );
        let mut assignee = longest(
            &|i| i.meta.assignee.as_deref().map_or(0, |a| a.width()),
            "assignee",
        )
        .min((width / 6).clamp(12, 24));
        // Marker (2) and one space between columns (5).
        let fixed = |a: usize| 2 + slug + kind + priority + a + verdict + 5;
        if width < fixed(assignee) + 12 {
            assignee = 0; // a narrow screen keeps the title readable
        }
        Cols {
            slug,
            title: width.saturating_sub(fixed(assignee)),
            kind,
            priority,
            assignee,
            verdict,
        }
    }

    fn line(&self, marker: Span<'static>, cells: [(String, Style); 6]) -> Line<'static> {
        let widths = [
            self.slug,
            self.title,
            self.kind,
            self.priority,
            self.assignee,
            self.verdict,
        ];
        let mut spans = vec![marker];
        for (i, ((text, style), w)) in cells.into_iter().zip(widths).enumerate() {
            if w == 0 {
                continue;
            }
            if i > 0 {
                spans.push(Span::raw(" "));
            }
            spans.push(Span::styled(cell(&text, w), style));
        }
        Line::from(spans)
    }
}

fn list(view: &WorkView, frame: &mut Frame, r: Rect) {
    let inner = modal(
        frame,
        r,
        &format!(
            "Work items · {} · ↑↓ select · Enter open · Esc close",
            repo_name(view)
        ),
    );
    let width = usize::from(inner.width);
    let snapshot = match &view.snapshot {
        None => {
            frame.render_widget(Paragraph::new(Span::styled("reading…", dim())), inner);
            return;
        }
        Some(s) => s,
    };
    let rows = match &snapshot.listing {
        Listing::NotInitialised => {
            let command = Style::default().fg(Color::Yellow);
            return draw_text(
                frame,
                inner,
                vec![
                    (
                        format!(
                            "{} has no work-items/ folder: no work items yet.",
                            snapshot.repo.display()
                        ),
                        Style::default(),
                    ),
                    (String::new(), Style::default()),
                    ("Start tracking work there with:".into(), dim()),
                    ("  pod work init".into(), command),
                    ("  pod work create --title \"…\"".into(), command),
                ],
            );
        }
        Listing::Failed(e) => {
            return draw_text(
                frame,
                inner,
                vec![(
                    format!("cannot read the work items: {e}"),
                    Style::default().fg(Color::Red),
                )],
            );
        }
        Listing::Items(rows) => rows,
    };
    let cols = Cols::fit(rows, width);
    let head = cols.line(
        Span::raw("  "),
        ["slug", "title", "kind", "prio", "assignee", "verdict"]
            .map(|h| (h.to_string(), dim().add_modifier(Modifier::BOLD))),
    );
    let selected = view.selected_index();
    let mut lines: Vec<Line> = Vec::new();
    let mut selected_line = 0;
    for status in Status::ALL {
        let group: Vec<(usize, &WorkRow)> = rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.folder == status)
            .collect();
        lines.push(Line::from(Span::styled(
            format!("{status} ({})", group.len()),
            Style::default()
                .fg(status_color(status))
                .add_modifier(Modifier::BOLD),
        )));
        for (i, row) in group {
            let is_sel = selected == Some(i);
            if is_sel {
                selected_line = lines.len();
            }
            let marker = if is_sel {
                Span::styled("▶ ", Style::default().fg(Color::Cyan))
            } else {
                Span::raw("  ")
            };
            let mut line = match &row.item {
                Ok(it) => {
                    let verdict = it.last_verdict();
                    cols.line(
                        marker,
                        [
                            (it.meta.slug.clone(), Style::default().fg(Color::Cyan)),
                            (it.meta.title.clone(), Style::default()),
                            (it.meta.kind.clone(), dim()),
                            (
                                it.meta.priority.clone(),
                                match it.meta.priority.as_str() {
                                    "urgent" => Style::default().fg(Color::Red),
                                    "high" => Style::default().fg(Color::Yellow),
                                    _ => dim(),
                                },
                            ),
                            (
                                it.meta.assignee.clone().unwrap_or_else(|| "—".into()),
                                Style::default(),
                            ),
                            (
                                verdict.map_or("", verdict_short).to_string(),
                                verdict.map_or(dim(), verdict_style),
                            ),
                        ],
                    )
                }
                // A damaged item keeps its place; Enter shows the whole error.
                Err(e) => Line::from(vec![
                    marker,
                    Span::styled(
                        fit(&format!("✗ {}  {e}", row.name), width.saturating_sub(2)),
                        Style::default().fg(Color::Red),
                    ),
                ]),
            };
            if is_sel {
                line = line.patch_style(Style::default().add_modifier(Modifier::REVERSED));
            }
            lines.push(line);
        }
    }
    if rows.is_empty() {
        lines.push(Line::default());
        lines.push(Line::from(Span::styled(
            "No items yet: pod work create --title \"…\"",
            dim(),
        )));
    }
    // The head stays; the rows scroll to keep the selection on screen.
    let h = usize::from(inner.height.saturating_sub(1)).max(1);
    view.page.set(h);
    let first = if selected_line >= h {
        selected_line + 1 - h
    } else {
        0
    };
    let mut shown = vec![head];
    shown.extend(lines.into_iter().skip(first).take(h));
    frame.render_widget(Paragraph::new(shown), inner);
}

fn item(app: &App, view: &WorkView, row: &WorkRow, frame: &mut Frame, r: Rect) {
    let Some(open) = &view.open else {
        return;
    };
    let it = match &row.item {
        Ok(it) => it,
        Err(e) => {
            let inner = modal(frame, r, &format!("{} · Esc back", row.name));
            return draw_text(
                frame,
                inner,
                vec![
                    (
                        format!("This item cannot be read: {e}"),
                        Style::default().fg(Color::Red),
                    ),
                    (String::new(), Style::default()),
                    (
                        "`pod work doctor` checks the folder; `--fix` repairs what is safe to repair."
                            .into(),
                        dim(),
                    ),
                ],
            );
        }
    };
    let pods = view.open_pods(app);
    // Digits go to the Pods shown with one (Pods this machine knows).
    let goto = match pods
        .iter()
        .take(PODS_SHOWN)
        .filter(|p| p.state.is_some())
        .count()
    {
        0 => String::new(),
        1 => "1 go to Pod · ".into(),
        n => format!("1-{n} go to Pod · "),
    };
    let inner = modal(
        frame,
        r,
        // The id is on the first lines; the title keeps room for the keys.
        &format!("Work item · Tab ←→ tabs · ↑↓ scroll · {goto}Esc back"),
    );
    let width = inner.width;
    let mut head = Vec::new();
    head.push(Line::from(Span::styled(
        fit(&it.meta.title, usize::from(width)),
        bold(),
    )));
    let mut meta = vec![
        Span::styled(it.meta.id.clone(), Style::default().fg(Color::Cyan)),
        Span::styled(" · ", dim()),
        Span::styled(
            it.meta.status.to_string(),
            Style::default().fg(status_color(it.meta.status)),
        ),
        Span::styled(
            format!(" · {} · {}", it.meta.kind, it.meta.priority),
            Style::default(),
        ),
    ];
    if let Some(v) = it.last_verdict() {
        meta.push(Span::styled(" · last review ", dim()));
        meta.push(Span::styled(v.as_str(), verdict_style(v)));
    }
    meta.push(Span::styled(
        format!(" · updated {}", short_time(&it.meta.updated_at)),
        dim(),
    ));
    wrap(
        Logical {
            spans: meta
                .into_iter()
                .map(|s| (s.content.into_owned(), s.style))
                .collect(),
            ..Default::default()
        },
        width,
        &mut head,
    );
    pods_lines(&pods, width, &mut head);
    let tabs = tabs(it);
    let tab = open.tab.min(tabs.len().saturating_sub(1));
    head.push(tab_bar(it, &tabs, tab, width));
    let content_h = usize::from(inner.height).saturating_sub(head.len()).max(1);
    let body = match tabs.get(tab) {
        Some(Tab::Thread) | None => thread_lines(it, width),
        Some(Tab::Description) => description_lines(it, width),
        Some(Tab::Artifact(file)) => artifact_lines(view, it, file, width),
        Some(Tab::Resolution) => {
            let mut out = Vec::new();
            render_markdown(it.resolution.as_deref().unwrap_or(""), width, &mut out);
            out
        }
    };
    open.max_scroll.set(body.len().saturating_sub(content_h));
    open.page.set(content_h);
    let scroll = open.scroll.min(open.max_scroll.get());
    let mut lines = head;
    lines.extend(body.into_iter().skip(scroll).take(content_h));
    frame.render_widget(Paragraph::new(lines), inner);
}

/// Pods listed on an item's page (the rest are counted).
const PODS_SHOWN: usize = 3;

/// `Pods  ● coder-x idle · assignee · comment, status`, one line per Pod (the
/// first few; the rest counted).
fn pods_lines(pods: &[PodOnItem], width: u16, out: &mut Vec<Line<'static>>) {
    let label = |i: usize| {
        Span::styled(
            if i == 0 { "Pods  " } else { "      " },
            Style::default().fg(Color::Cyan),
        )
    };
    if pods.is_empty() {
        out.push(Line::from(vec![
            label(0),
            Span::styled("none works on it", dim()),
        ]));
        return;
    }
    for (i, p) in pods.iter().take(PODS_SHOWN).enumerate() {
        let mut spans = vec![label(i)];
        // The digit that goes to the Pod (a person assignee has none).
        spans.push(Span::styled(
            if p.state.is_some() {
                format!("{} ", i + 1)
            } else {
                "  ".into()
            },
            Style::default().fg(Color::Yellow),
        ));
        match p.state {
            Some(state) => {
                let (icon, color) = state_icon(state);
                spans.push(Span::styled(format!("{icon} "), Style::default().fg(color)));
                spans.push(Span::styled(p.name.clone(), bold()));
                spans.push(Span::styled(
                    format!(" {}", state.label()),
                    Style::default().fg(color),
                ));
            }
            None => {
                spans.push(Span::styled("  ", dim()));
                spans.push(Span::styled(p.name.clone(), bold()));
                spans.push(Span::styled(" (not a Pod here)", dim()));
            }
        }
        let mut what = Vec::new();
        if p.assignee {
            what.push("assignee".to_string());
        }
        if !p.rights.is_empty() {
            what.push(format!("may {}", p.rights.join(", ")));
        }
        if !what.is_empty() {
            spans.push(Span::styled(format!(" · {}", what.join(" · ")), dim()));
        }
        let line = Line::from(spans);
        out.push(if line.width() > usize::from(width) {
            let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
            Line::from(fit(&text, usize::from(width)))
        } else {
            line
        });
    }
    if pods.len() > PODS_SHOWN {
        out.push(Line::from(vec![
            label(1),
            Span::styled(format!("+{} more", pods.len() - PODS_SHOWN), dim()),
        ]));
    }
}

/// The verdict a review event gave for `artifacts/<file>`.
fn artifact_verdict(it: &Item, file: &str) -> Option<Verdict> {
    let path = format!("artifacts/{file}");
    it.events
        .iter()
        .rev()
        .find(|e| e.field("artifact") == Some(path.as_str()))
        .and_then(Event::verdict)
}

fn tab_bar(it: &Item, tabs: &[Tab], selected: usize, width: u16) -> Line<'static> {
    let mut spans = Vec::new();
    for (i, t) in tabs.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" │ ", dim()));
        }
        let (label, mark) = match t {
            Tab::Thread => (format!("Thread ({})", it.events.len()), None),
            Tab::Description => ("Description".to_string(), None),
            Tab::Artifact(f) => (f.clone(), artifact_verdict(it, f)),
            Tab::Resolution => ("Resolution".to_string(), None),
        };
        let style = if i == selected {
            Style::default()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED)
        } else {
            Style::default()
        };
        spans.push(Span::styled(format!(" {label}"), style));
        if let Some(v) = mark {
            spans.push(Span::styled(
                if v.is_blocking() { " ✗" } else { " ✓" },
                verdict_style(v).add_modifier(style.add_modifier),
            ));
        }
        spans.push(Span::styled(" ", style));
    }
    let line = Line::from(spans);
    if line.width() <= usize::from(width) {
        return line;
    }
    // Too many tabs for the width: keep the selected one in view.
    let mut shown = Vec::new();
    let mut used = 0;
    let start = line
        .spans
        .iter()
        .position(|s| s.style.add_modifier.contains(Modifier::REVERSED))
        .unwrap_or(0)
        .saturating_sub(2);
    for s in line.spans.into_iter().skip(start) {
        used += s.width();
        if used > usize::from(width) {
            break;
        }
        shown.push(s);
    }
    Line::from(shown)
}

/// Markdown `text` indented by two columns.
fn indented_markdown(text: &str, width: u16, out: &mut Vec<Line<'static>>) {
    let mut md = Vec::new();
    render_markdown(text, width.saturating_sub(2).max(10), &mut md);
    for mut l in md {
        l.spans.insert(0, Span::raw("  "));
        out.push(l);
    }
}

fn event_icon(e: &Event) -> (&'static str, Style) {
    match e.kind.as_str() {
        "create" => ("+", Style::default().fg(Color::Cyan)),
        "comment" => ("●", Style::default().fg(Color::Blue)),
        "review" => match e.verdict() {
            Some(v) if v.is_blocking() => ("✗", verdict_style(v)),
            Some(v) => ("✓", verdict_style(v)),
            None => ("?", dim()),
        },
        "status" => ("→", Style::default().fg(Color::Yellow)),
        "assign" => ("@", Style::default().fg(Color::Magenta)),
        "close" => ("■", Style::default().fg(Color::Green)),
        "merge" => ("⇢", Style::default().fg(Color::Green)),
        _ => ("·", dim()),
    }
}

/// Each event: icon and heading, then `kind · author · time · field value …`,
/// then its body as markdown.
fn thread_lines(it: &Item, width: u16) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    for p in &it.thread_problems {
        wrap(
            Logical::plain(
                format!("thread.md line {}: {}", p.line, p.message),
                Style::default().fg(Color::Red),
            ),
            width,
            &mut out,
        );
    }
    if !it.thread_problems.is_empty() {
        out.push(Line::default());
    }
    for e in &it.events {
        let (icon, icon_style) = event_icon(e);
        let heading = if e.heading.is_empty() {
            e.kind.clone()
        } else {
            e.heading.clone()
        };
        wrap(
            Logical {
                first_prefix: vec![Span::styled(format!("{icon} "), icon_style)],
                rest_prefix: vec![Span::raw("  ")],
                spans: vec![(heading, bold())],
            },
            width,
            &mut out,
        );
        let mut meta = vec![(
            format!("{} · {} · {}", e.kind, e.author, short_time(&e.at)),
            dim(),
        )];
        for (k, v) in &e.fields {
            let style = match (k.as_str(), Verdict::parse(v)) {
                ("verdict", Some(verdict)) => verdict_style(verdict).add_modifier(Modifier::BOLD),
                _ => Style::default(),
            };
            meta.push((format!(" · {k} "), dim()));
            meta.push((v.clone(), style));
        }
        wrap(Logical::prefixed(Span::raw("  "), meta), width, &mut out);
        if !e.body.trim().is_empty() {
            indented_markdown(&e.body, width, &mut out);
        }
        out.push(Line::default());
    }
    out
}

fn description_lines(it: &Item, width: u16) -> Vec<Line<'static>> {
    let m = &it.meta;
    let mut rows = vec![
        ("created", short_time(&m.created_at)),
        ("updated", short_time(&m.updated_at)),
        (
            "assignee",
            m.assignee.clone().unwrap_or_else(|| "nobody".into()),
        ),
        (
            "labels",
            if m.labels.is_empty() {
                "none".into()
            } else {
                m.labels.join(", ")
            },
        ),
    ];
    let folder = it
        .dir
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    rows.push(("folder", format!("{folder}/{}", m.id)));
    let mut out = Vec::new();
    for (k, v) in rows {
        wrap(
            Logical {
                first_prefix: vec![Span::styled(
                    format!("{k:>9}  "),
                    Style::default().fg(Color::Cyan),
                )],
                rest_prefix: vec![Span::raw(" ".repeat(11))],
                spans: vec![(v, Style::default())],
            },
            width,
            &mut out,
        );
    }
    out.push(Line::default());
    if it.body.trim().is_empty() {
        out.push(Line::from(Span::styled("no description", dim())));
    } else {
        render_markdown(&it.body, width, &mut out);
    }
    out
}

/// An artifact: its path, its opening `Verdict:` line as a banner in the
/// verdict's colour, then the report as markdown.
fn artifact_lines(view: &WorkView, it: &Item, file: &str, width: u16) -> Vec<Line<'static>> {
    let mut out = vec![Line::from(Span::styled(format!("artifacts/{file}"), dim()))];
    let text = match view.artifact(file) {
        None => {
            out.push(Line::from(Span::styled("reading…", dim())));
            return out;
        }
        Some(Err(e)) => {
            wrap(
                Logical::plain(e.clone(), Style::default().fg(Color::Red)),
                width,
                &mut out,
            );
            return out;
        }
        Some(Ok(t)) => t,
    };
    out.push(Line::default());
    let mut rest = text.as_str();
    let trimmed = text.trim_start();
    if let Some(after) = trimmed.strip_prefix("Verdict:") {
        let (first, tail) = after.split_once('\n').unwrap_or((after, ""));
        let said = first.trim();
        let style = match Verdict::parse(&said.to_ascii_lowercase().replace(' ', "-"))
            .or_else(|| artifact_verdict(it, file))
        {
            Some(Verdict::Approve) => Style::default().fg(Color::Black).bg(Color::Green),
            Some(Verdict::RequestChanges) => Style::default().fg(Color::White).bg(Color::Red),
            None => Style::default().add_modifier(Modifier::REVERSED),
        };
        out.push(Line::from(Span::styled(
            format!(" Verdict: {said} "),
            style.add_modifier(Modifier::BOLD),
        )));
        out.push(Line::default());
        rest = tail;
    }
    render_markdown(rest, width, &mut out);
    out
}
