//! Slash commands: what a composer line starting with `/` does instead of being
//! sent to the model.
//!
//! A line starting with `/` is never sent: it is a known command, or the user is
//! told it is unknown (and keeps the text). `//text` sends `/text` literally.

use crate::app::{Action, App, Overlay, PodCommand};
use crate::form::NewPodForm;

/// One slash command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlashCommand {
    /// Name without the slash.
    pub name: &'static str,
    /// Argument synopsis (empty: none).
    pub args: &'static str,
    /// What it does (one line, shown in the popup and the help).
    pub what: &'static str,
}

const fn cmd(name: &'static str, args: &'static str, what: &'static str) -> SlashCommand {
    SlashCommand { name, args, what }
}

/// Every command, in the order the popup lists them.
pub const COMMANDS: &[SlashCommand] = &[
    cmd("help", "", "keys and commands"),
    cmd("new", "[NAME]", "start a new Pod (opens the form)"),
    cmd("stop", "", "stop the selected Pod (asks first)"),
    cmd("resume", "", "resume a paused or stopped Pod"),
    cmd("interrupt", "", "interrupt the current run (the Pod stays)"),
    cmd("compact", "", "compact the conversation now (idle Pods)"),
    cmd("model", "", "the model, its context window and price"),
    cmd("status", "", "state, context, tokens, cost and scope"),
    cmd("diff", "", "everything the Pod changed"),
    cmd("plan", "", "the Pod's current plan"),
    cmd("work", "", "the work items of the Pod's repository"),
    cmd("fork", "NEW", "copy this Pod's conversation into a new Pod"),
    cmd(
        "rewind",
        "SEQ",
        "continue a stopped Pod from before message SEQ",
    ),
    cmd("image", "PATH", "attach an image to the next message"),
    cmd("clear", "", "clear the view (the log keeps everything)"),
    cmd("logs", "", "reload the transcript from the session log"),
    cmd("quit", "", "leave the dashboard (Pods keep running)"),
];

/// Commands whose name starts with `prefix`, then those containing it.
pub fn matching(prefix: &str) -> Vec<&'static SlashCommand> {
    let p = prefix.to_ascii_lowercase();
    let mut out: Vec<&SlashCommand> = COMMANDS.iter().filter(|c| c.name.starts_with(&p)).collect();
    out.extend(
        COMMANDS
            .iter()
            .filter(|c| !c.name.starts_with(&p) && c.name.contains(&p)),
    );
    out
}

/// The command word being typed, while the composer holds only `/word` (the
/// popup shows then).
pub fn typing(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('/')?;
    if rest.starts_with('/') || rest.contains(char::is_whitespace) {
        return None;
    }
    Some(rest)
}

/// Whether `text` is a command line (starts with `/` but not `//`).
pub fn is_command(text: &str) -> bool {
    text.starts_with('/') && !text.starts_with("//")
}

/// Runs the command line `line` (`/name args`). Returns `None` when the command
/// is unknown (the caller keeps the text and says so).
pub fn run(app: &mut App, line: &str) -> Option<Vec<Action>> {
    let body = line.trim().trim_start_matches('/');
    let (name, arg) = match body.split_once(char::is_whitespace) {
        Some((n, a)) => (n, a.trim()),
        None => (body, ""),
    };
    let found = COMMANDS.iter().find(|c| c.name == name)?;
    let sel = app.selected.clone();
    let need_pod = |app: &mut App| {
        app.message = Some(format!("/{}: no Pod selected", found.name));
        Vec::new()
    };
    Some(match found.name {
        "help" => {
            app.overlay = Overlay::Help;
            Vec::new()
        }
        "new" => {
            app.overlay = Overlay::NewPod(NewPodForm::new(arg, app.default_cwd.clone()));
            Vec::new()
        }
        "stop" => match sel {
            Some(n) if app.display_state(&n).is_live() => {
                app.overlay = Overlay::ConfirmStop(n);
                Vec::new()
            }
            Some(n) => {
                app.message = Some(format!("{n} is not running"));
                Vec::new()
            }
            None => need_pod(app),
        },
        "resume" => crate::keys::resume(app),
        "interrupt" => crate::keys::interrupt(app),
        "compact" => crate::keys::compact(app),
        "model" | "status" => match sel {
            Some(_) => {
                app.overlay = Overlay::Status;
                Vec::new()
            }
            None => need_pod(app),
        },
        "diff" => match sel {
            Some(pod) => {
                app.overlay = Overlay::View {
                    title: format!("Changes of {pod}"),
                    pod: pod.clone(),
                    text: None,
                    scroll: 0,
                };
                vec![Action::Diff(pod)]
            }
            None => need_pod(app),
        },
        "work" => app.open_work(),
        "plan" => {
            let plan = app.selected_view().and_then(|v| {
                v.transcript
                    .entries()
                    .iter()
                    .rev()
                    .find_map(|e| match &e.kind {
                        crate::EntryKind::Client(t) if t.starts_with("plan: ") => Some(t.clone()),
                        _ => None,
                    })
            });
            app.message = Some(plan.unwrap_or_else(|| "no plan yet".into()));
            Vec::new()
        }
        "fork" => match (sel, arg.parse::<pod_ids::PodName>()) {
            (None, _) => need_pod(app),
            (Some(_), Err(e)) => {
                app.message = Some(format!("/fork NEW: {e}"));
                Vec::new()
            }
            (Some(pod), Ok(new)) => {
                app.message = Some(format!("forking {pod} as {new}…"));
                vec![Action::Command(PodCommand::Fork { pod, new })]
            }
        },
        "rewind" => match (sel, arg.parse::<u64>()) {
            (None, _) => need_pod(app),
            (Some(_), Err(_)) => {
                app.message = Some(
                    "/rewind SEQ: the seq of the user message to go back before (`pod logs NAME --json` shows them)".into(),
                );
                Vec::new()
            }
            (Some(pod), Ok(_)) if app.display_state(&pod).is_live() => {
                app.message = Some(format!("{pod} is running: /stop it first, then /rewind"));
                Vec::new()
            }
            (Some(pod), Ok(to)) => {
                app.message = Some(format!("rewinding {pod}…"));
                vec![Action::Command(PodCommand::Rewind { pod, to })]
            }
        },
        "image" => {
            if arg.is_empty() {
                app.message = Some("/image PATH: the image file to attach".into());
            } else {
                let path = app.resolve_path(arg);
                app.composer.attach(crate::Attachment::Image { path });
                app.message = Some(format!("image {arg} attached to the next message"));
            }
            Vec::new()
        }
        "clear" => {
            if let Some(v) = app.selected_view_mut() {
                v.transcript = crate::Transcript::new();
                v.scroll = Default::default();
            }
            app.message = Some("view cleared; /logs reloads the transcript".into());
            Vec::new()
        }
        "logs" => match sel {
            Some(pod) => app.reload(&pod),
            None => need_pod(app),
        },
        "quit" => vec![Action::Quit],
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_popup_filters_by_prefix_then_substring() {
        let names: Vec<&str> = matching("re").iter().map(|c| c.name).collect();
        assert_eq!(names, ["resume", "rewind"]);
        let names: Vec<&str> = matching("ff").iter().map(|c| c.name).collect();
        assert_eq!(names, ["diff"]);
        assert_eq!(matching("").len(), COMMANDS.len());
        assert_eq!(typing("/com"), Some("com"));
        assert_eq!(typing("/compact now"), None);
        assert_eq!(typing("//x"), None);
        assert!(is_command("/x") && !is_command("//x") && !is_command("x"));
    }
}
