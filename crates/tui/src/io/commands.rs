//! Starting, resuming and stopping Pods by running the `pod` executable (the TUI
//! never starts Pod processes itself: the binary owns launching and detaching).

use std::path::Path;

use pod_ids::Roots;
use tokio::process::Command;

use crate::app::PodCommand;

/// The arguments for `cmd`, with every root passed explicitly so the child `pod`
/// sees exactly the directories this dashboard shows.
pub fn command_args(cmd: &PodCommand, roots: &Roots) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    for (flag, path) in [
        ("--data-dir", &roots.data),
        ("--sessions-dir", &roots.sessions),
        ("--pods-dir", &roots.pods),
        ("--runtime-dir", &roots.runtime),
        ("--config-dir", &roots.config),
    ] {
        args.push(flag.into());
        args.push(path.display().to_string());
    }
    match cmd {
        PodCommand::Start(new) => {
            args.extend([
                "run".into(),
                "--detach".into(),
                "--name".into(),
                new.name.to_string(),
            ]);
            for (flag, v) in [
                ("--provider", &new.provider),
                ("--model", &new.model),
                ("--cwd", &new.cwd),
            ] {
                if let Some(v) = v {
                    args.extend([flag.into(), v.clone()]);
                }
            }
            // The form's promise: an empty write field is read-only, not the
            // configured default scope.
            if new.write.is_empty() {
                args.push("--read-only".into());
            }
            for w in &new.write {
                args.extend(["--write".into(), w.clone()]);
            }
            if let Some(task) = &new.task {
                // After `--`: a task starting with `-` is still the task.
                args.extend(["--".into(), task.clone()]);
            }
        }
        PodCommand::Resume(name) => {
            args.extend(["resume".into(), name.to_string(), "--detach".into()])
        }
        PodCommand::Stop(name) => args.extend(["stop".into(), name.to_string()]),
        PodCommand::Fork { pod, new } => args.extend([
            "fork".into(),
            pod.to_string(),
            "--as".into(),
            new.to_string(),
        ]),
        PodCommand::Rewind { pod, to } => args.extend([
            "rewind".into(),
            pod.to_string(),
            "--to".into(),
            to.to_string(),
        ]),
    }
    args
}

/// What the command does, for messages.
pub fn describe(cmd: &PodCommand) -> String {
    match cmd {
        PodCommand::Start(n) => format!("start {}", n.name),
        PodCommand::Resume(n) => format!("resume {n}"),
        PodCommand::Stop(n) => format!("stop {n}"),
        PodCommand::Fork { pod, new } => format!("fork {pod} as {new}"),
        PodCommand::Rewind { pod, to } => format!("rewind {pod} to {to}"),
    }
}

/// Runs `exe` with the command's arguments; stdin closed, output captured (it must
/// not scribble over the full-screen UI). An error carries the whole stderr (the
/// status line shows its last line, the transcript all of it).
pub async fn run_command(exe: &Path, cmd: &PodCommand, roots: &Roots) -> Result<(), String> {
    let out = Command::new(exe)
        .args(command_args(cmd, roots))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(false)
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(format!("{} ({})", stderr.trim(), out.status))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::NewPod;

    #[test]
    fn start_passes_name_model_scope_and_roots() {
        let roots = Roots::under(Path::new("/h"));
        let args = command_args(
            &PodCommand::Start(NewPod {
                name: "w".parse().unwrap(),
                task: Some("-fix it".into()),
                provider: None,
                model: Some("m".into()),
                cwd: Some("/w".into()),
                write: vec!["/a".into()],
            }),
            &roots,
        );
        let s = args.join(" ");
        assert!(s.contains("--runtime-dir /h/run"), "{s}");
        assert!(
            s.ends_with("run --detach --name w --model m --cwd /w --write /a -- -fix it"),
            "{s}"
        );
        let ro = NewPod {
            name: "r".parse().unwrap(),
            task: None,
            provider: None,
            model: None,
            cwd: None,
            write: vec![],
        };
        let s = command_args(&PodCommand::Start(ro), &roots).join(" ");
        assert!(s.ends_with("run --detach --name r --read-only"), "{s}");
        let s = command_args(&PodCommand::Resume("w".parse().unwrap()), &roots).join(" ");
        assert!(s.ends_with("resume w --detach"));
    }
}
