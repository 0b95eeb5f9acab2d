//! `pod rm`, `pod config` and `pod completions`.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::CommandFactory;
use pod_ids::Roots;
use serde_json::json;
use session_store::SessionStore;

use super::exit::{Exit, fail};
use crate::config::{Config, FlagOverrides};
use crate::layout::PodPaths;
use crate::liveness;
use crate::outln;
use crate::record::RecordStore;

/// `pod rm`: removes stopped Pods (record, session logs, runtime files) and then the
/// image blobs no remaining log mentions. A live Pod, or the child of a live parent,
/// is refused: stop it first.
pub fn rm(roots: &Roots, names: &[String], yes: bool) -> anyhow::Result<ExitCode> {
    let records = RecordStore::new(roots.pods.clone());
    let mut doomed = Vec::new();
    // Every name is checked before anything is removed: one bad name removes nothing.
    for n in names {
        let name = super::pod_name(n)?;
        let rec = records
            .load(&name)?
            .ok_or_else(|| fail(Exit::Usage, format!("no Pod named {}", name.as_str())))?;
        if liveness::probe(&PodPaths::new(roots, &name).lock()).is_some() {
            return Err(fail(
                Exit::Conflict,
                format!(
                    "Pod {0} is running; stop it first with `pod stop {0}`",
                    name.as_str()
                ),
            ));
        }
        if let Some(p) = &rec.parent
            && liveness::probe(&PodPaths::new(roots, p).lock()).is_some()
        {
            return Err(fail(
                Exit::Conflict,
                format!(
                    "Pod {} is a child of the running Pod {}; stop that one first",
                    name.as_str(),
                    p.as_str()
                ),
            ));
        }
        doomed.push(rec);
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(fail(
                Exit::Usage,
                "pod rm asks before deleting; pass --yes when not on a terminal",
            ));
        }
        let list: Vec<&str> = doomed.iter().map(|r| r.name.as_str()).collect();
        eprint!("remove {} and their session logs? [y/N] ", list.join(", "));
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            outln!("nothing removed")?;
            return Ok(ExitCode::SUCCESS);
        }
    }
    let sessions = SessionStore::new(roots.sessions.clone());
    let store = pod_store::PodStore::new(roots.pods.clone());
    for rec in doomed {
        remove_one(&store, &sessions, roots, &rec)?;
        outln!("{} removed", rec.name.as_str())?;
    }
    // Images are shared by hash between sessions, so they go only once no log
    // mentions them; the grace spares a blob a running Pod is storing right now.
    match sessions.sweep_blobs(BLOB_GRACE) {
        Ok(s) if s.files > 0 => outln!(
            "freed {} unreferenced image blob(s), {:.1} MiB",
            s.files,
            s.bytes as f64 / (1024.0 * 1024.0)
        )?,
        Ok(_) => {}
        // The Pods are gone either way; the next `pod rm` sweeps again.
        Err(e) => eprintln!("warning: unreferenced images were not removed: {e}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// How long a blob no log mentions is kept: longer than any Pod takes between
/// storing an image and logging the entry that names it.
const BLOB_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Record first: once it is gone the Pod no longer exists for any command, and a
/// crash before the logs are deleted leaves only unreferenced files behind (never a
/// record pointing at deleted logs).
fn remove_one(
    store: &pod_store::PodStore,
    sessions: &SessionStore,
    roots: &Roots,
    rec: &crate::record::PodRecord,
) -> anyhow::Result<()> {
    let session = match rec.state {
        crate::record::RecordState::Active { session, .. }
        | crate::record::RecordState::Pending { session } => session,
    };
    store.remove(&rec.name)?;
    sessions.remove_session(session)?;
    let dir = PodPaths::new(roots, &rec.name).dir;
    if let Err(e) = std::fs::remove_dir_all(&dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Err(anyhow::anyhow!("cannot remove {}: {e}", dir.display()));
    }
    Ok(())
}

/// `pod config`: the effective configuration for the current directory, each value
/// with the layer it came from.
pub fn config(roots: &Roots, json_out: bool) -> anyhow::Result<ExitCode> {
    let here = scope::canonicalize(&std::env::current_dir()?)?;
    let project = crate::trust::TrustStore::new(&roots.config).check(here.as_path())?;
    let config = Config::load(&roots.config, project.trusted(), &FlagOverrides::default())?;
    let notice = project.notice();
    if json_out {
        let v = json!({
            "schema_version": super::interact::JSON_SCHEMA_VERSION,
            "files": config.sources.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "values": config.origins,
            "project_config": project_json(&project),
        });
        outln!("{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "# layers, later wins: {}",
        config
            .sources
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" → ")
    )?;
    if let Some(n) = notice {
        outln!("# not applied: {n}")?;
    }
    let width = config.origins.keys().map(String::len).max().unwrap_or(0);
    for (key, o) in &config.origins {
        outln!(
            "{key:<width$} = {:<40}  # {}",
            o.value.to_string(),
            o.source
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `project_config` of `pod config --json`: the file of the current directory and
/// whether it is applied.
fn project_json(t: &crate::trust::ProjectTrust) -> serde_json::Value {
    use crate::trust::ProjectTrust as T;
    let (status, c) = match t {
        T::NoConfig => return serde_json::Value::Null,
        T::Trusted(c) => ("trusted", c),
        T::Untrusted(c) => ("untrusted", c),
        T::Changed { config, .. } => ("changed", config),
    };
    json!({"path": c.path, "status": status, "applied": status == "trusted"})
}

/// `pod completions SHELL`.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut super::Cli::command(), "pod", &mut buf);
    crate::out!("{}", String::from_utf8_lossy(&buf))?;
    Ok(ExitCode::SUCCESS)
}
