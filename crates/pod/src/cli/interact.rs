//! Talking to a live Pod: `send`, `stop`, `attach`, and following a run in
//! `--print` / `--json` / interactive mode.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use pod_ids::{PodName, Roots};
use protocol::{Event, InputMode, Request, ServerMessage};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::client::{ClientError, PodClient};
use crate::layout::PodPaths;
use crate::liveness;
use crate::record::RecordStore;

/// How a client follows a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Return at once.
    Detach,
    /// Print the final answer.
    Print,
    /// JSON lines of events.
    Json,
    /// Line-mode session.
    Interactive,
}

/// Connects to a live Pod, or explains why not (and what to do).
pub async fn connect(
    roots: &Roots,
    name: &PodName,
    since: Option<u64>,
) -> anyhow::Result<PodClient> {
    let paths = PodPaths::new(roots, name);
    match PodClient::connect(&paths.socket(), since).await {
        Ok(c) => Ok(c),
        Err(ClientError::Connect { .. }) if liveness::probe(&paths.lock()).is_none() => {
            let exists = RecordStore::new(roots.pods.clone())
                .load(name)
                .ok()
                .flatten()
                .is_some();
            if exists {
                bail!(
                    "Pod {0} is not running; restore it with `pod resume {0}`",
                    name.as_str()
                )
            } else {
                bail!(
                    "no Pod named {0}; start one with `pod run --name {0}`",
                    name.as_str()
                )
            }
        }
        Err(e) => Err(e).with_context(|| format!("cannot talk to Pod {}", name.as_str())),
    }
}

/// Sends input to a live Pod.
pub async fn send_input(
    roots: &Roots,
    name: &PodName,
    text: String,
    interrupt: bool,
) -> anyhow::Result<()> {
    let mut c = connect(roots, name, None).await?;
    let mode = if interrupt {
        InputMode::Interrupt
    } else {
        InputMode::Queue
    };
    c.request(Request::SendInput { text, mode }).await?;
    Ok(())
}

/// `pod send`.
pub async fn send(
    roots: &Roots,
    name: &PodName,
    message: String,
    wait: bool,
    interrupt: bool,
) -> anyhow::Result<ExitCode> {
    if !wait {
        send_input(roots, name, message, interrupt).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut c = connect(roots, name, None).await?;
    let mode = if interrupt {
        InputMode::Interrupt
    } else {
        InputMode::Queue
    };
    c.request(Request::SendInput {
        text: message.clone(),
        mode,
    })
    .await?;
    wait_for_run(&mut c, &message, Follow::Print).await
}

/// Waits for the `user_input` event of `text`, then for the end of that run,
/// printing according to `how`.
async fn wait_for_run(c: &mut PodClient, text: &str, how: Follow) -> anyhow::Result<ExitCode> {
    let mut started = false;
    loop {
        let msg = c
            .next_message()
            .await
            .context("the Pod went away during the run")?;
        if how == Follow::Json
            && let ServerMessage::Event { .. } | ServerMessage::Resync { .. } = &msg
        {
            println!("{}", serde_json::to_string(&msg)?);
        }
        let ServerMessage::Event { event, .. } = msg else {
            continue;
        };
        match event {
            Event::UserInput { text: t } if t == text => started = true,
            Event::RunCompleted { final_text } if started => {
                if how == Follow::Print {
                    println!("{final_text}");
                }
                return Ok(ExitCode::SUCCESS);
            }
            Event::RunErrored { error, .. } if started => {
                if how != Follow::Json {
                    eprintln!("error: run failed: {error}");
                }
                return Ok(ExitCode::FAILURE);
            }
            _ => {}
        }
    }
}

/// Follows a run started with `task` (or, without one, an interactive session).
pub async fn follow(
    roots: &Roots,
    name: &PodName,
    task: Option<String>,
    how: Follow,
) -> anyhow::Result<ExitCode> {
    let mut c = connect(roots, name, None).await?;
    match (how, task) {
        (Follow::Interactive, task) => interactive(c, task).await,
        (_, Some(task)) => {
            c.request(Request::SendInput {
                text: task.clone(),
                mode: InputMode::Queue,
            })
            .await?;
            wait_for_run(&mut c, &task, how).await
        }
        (_, None) => {
            println!("{} is {:?}", name.as_str(), c.status.state);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `pod attach`.
pub async fn attach(roots: &Roots, name: &PodName) -> anyhow::Result<ExitCode> {
    let c = connect(roots, name, None).await?;
    eprintln!(
        "attached to {} ({:?}); type a message and Enter, Ctrl-D to detach",
        name.as_str(),
        c.status.state
    );
    interactive(c, None).await
}

async fn interactive(mut c: PodClient, task: Option<String>) -> anyhow::Result<ExitCode> {
    if let Some(t) = task {
        c.request(Request::SendInput {
            text: t,
            mode: InputMode::Queue,
        })
        .await?;
    }
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => match line? {
                None => return Ok(ExitCode::SUCCESS),
                Some(l) if l.trim().is_empty() => {}
                Some(l) => {
                    c.request(Request::SendInput { text: l, mode: InputMode::Queue }).await?;
                }
            },
            msg = c.next_message() => {
                let ServerMessage::Event { event, .. } = msg? else { continue };
                print_event(&event);
            }
        }
    }
}

fn print_event(event: &Event) {
    use std::io::Write;
    match event {
        Event::TextDelta { delta } => {
            print!("{delta}");
            let _ = std::io::stdout().flush();
        }
        Event::AssistantItem {
            item: transcript::Item::AssistantMessage { .. },
        } => println!(),
        Event::ToolStarted { name, .. } => println!("[tool {name} ...]"),
        Event::ToolResult {
            result,
            duration_ms,
        } => println!(
            "[tool {} {} in {duration_ms} ms]",
            result.name,
            if result.is_error { "failed" } else { "done" }
        ),
        Event::RunErrored { error, .. } => println!("[run failed: {error}]"),
        Event::StateChanged { state } => eprintln!("[{state:?}]"),
        _ => {}
    }
}

/// `pod stop`: asks for a clean shutdown and waits until the process is gone.
pub async fn stop(roots: &Roots, name: &PodName) -> anyhow::Result<ExitCode> {
    let mut c = connect(roots, name, None).await?;
    // The ack may race with the process exiting; either way we wait for exit below.
    let _ = c.request(Request::Shutdown).await;
    while c.next_message().await.is_ok() {}
    let lock = PodPaths::new(roots, name).lock();
    let deadline = Instant::now() + Duration::from_secs(10);
    // The connection closes when the socket server stops, a moment before the process
    // exits and drops its lock; poll the lock briefly with a deadline.
    while liveness::probe(&lock).is_some() {
        if Instant::now() > deadline {
            bail!("Pod {} did not exit within 10s", name.as_str());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!("{} stopped", name.as_str());
    Ok(ExitCode::SUCCESS)
}
