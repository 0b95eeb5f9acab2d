//! `pod trust` and the trust question `pod run` asks in line mode: a project's
//! `.pods/config.toml` applies only once the user trusted its current content
//! ([`crate::trust`]).

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use pod_ids::Roots;
use serde_json::json;

use super::exit::{Exit, fail};
use crate::config::{Config, FlagOverrides, ProjectConfig};
use crate::outln;
use crate::trust::{ProjectTrust, TrustStore, read_project_config, sha256_hex};

/// Lines of the file shown with the question; a longer file is cut (the user can
/// read it whole with any pager before trusting it with `pod trust`).
const SHOWN_LINES: usize = 60;

fn canonical_dir(p: &Path) -> anyhow::Result<PathBuf> {
    let here = std::env::current_dir().context("cannot read the current directory")?;
    Ok(scope::canonicalize(here.join(p))?.as_path().to_path_buf())
}

/// `pod trust [PATH]`: trust PATH's `.pods/config.toml` as it is now.
pub fn trust(roots: &Roots, path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let dir = canonical_dir(path.unwrap_or(Path::new(".")))?;
    let config = read_project_config(&dir)?.ok_or_else(|| {
        fail(
            Exit::Usage,
            format!(
                "{} has no .pods/config.toml: nothing to trust",
                dir.display()
            ),
        )
    })?;
    let entry = TrustStore::new(&roots.config).trust(&config)?;
    outln!(
        "trusted {} (sha256 {}…): it applies to Pods started in {} until it changes",
        config.path.display(),
        &entry.config_sha256[..12],
        dir.display()
    )?;
    // Trusted is not enough for keys only the user may set: say so now, not at
    // the next `pod run`.
    if let Err(e) = Config::load(&roots.config, Some(&config), &FlagOverrides::default()) {
        eprintln!("warning: Pods will not start with this file as it is: {e}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `pod trust --revoke PATH`.
pub fn revoke(roots: &Roots, path: &Path) -> anyhow::Result<ExitCode> {
    let dir = canonical_dir(path)?;
    if TrustStore::new(&roots.config).revoke(&dir)? {
        outln!("{} is no longer trusted", dir.display())?;
    } else {
        outln!("{} was not trusted", dir.display())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `pod trust --list`: every trusted directory and whether its file still matches.
pub fn list(roots: &Roots, json_out: bool) -> anyhow::Result<ExitCode> {
    let store = TrustStore::new(&roots.config);
    let mut rows = Vec::new();
    for (dir, entry) in store.list()? {
        let status = match read_project_config(&dir) {
            Ok(Some(c)) if sha256_hex(c.text.as_bytes()) == entry.config_sha256 => "current",
            Ok(Some(_)) => "changed",
            Ok(None) => "missing",
            Err(_) => "unreadable",
        };
        let at = entry
            .trusted_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        rows.push((dir, at, status));
    }
    if json_out {
        let v: Vec<_> = rows
            .iter()
            .map(|(d, at, s)| json!({"path": d, "trusted_at": at, "status": s}))
            .collect();
        outln!("{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        outln!("no trusted projects ({})", store.path().display())?;
    }
    for (d, at, s) in rows {
        outln!("{}  {at}  {s}", d.display())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The project configuration `pod run` applies in `cwd`: a trusted one as it is;
/// an untrusted or changed one only after the user says so on a terminal (line
/// mode), and never in a headless run, which fails naming `pod trust` instead
/// (exit 3) so that a script never silently runs with, or without, the file.
pub fn project_config_for_run(
    roots: &Roots,
    cwd: &Path,
    may_ask: bool,
) -> anyhow::Result<Option<ProjectConfig>> {
    let store = TrustStore::new(&roots.config);
    let t = store.check(cwd)?;
    if let Some(c) = t.trusted() {
        return Ok(Some(c.clone()));
    }
    let (Some(pending), Some(notice)) = (t.pending(), t.notice()) else {
        return Ok(None);
    };
    let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !(may_ask && terminal) {
        return Err(fail(Exit::Config, notice));
    }
    match ask(&t, pending)? {
        Answer::Trust => {
            store.trust(pending)?;
            Ok(Some(pending.clone()))
        }
        Answer::Without => {
            eprintln!("running without {}", pending.path.display());
            Ok(None)
        }
        Answer::Cancel => Err(fail(Exit::Usage, "cancelled: no Pod was started")),
    }
}

enum Answer {
    Trust,
    Without,
    Cancel,
}

/// Shows the file and asks; the trusted content is exactly what was shown.
fn ask(t: &ProjectTrust, c: &ProjectConfig) -> anyhow::Result<Answer> {
    let mut err = std::io::stderr().lock();
    let what = match t {
        ProjectTrust::Changed { .. } => "changed since you trusted it",
        _ => "is not trusted yet",
    };
    writeln!(err, "Project config {} {what}.", c.path.display())?;
    writeln!(
        err,
        "It can change the model, tools and scope of every Pod started in {}:",
        c.dir.display()
    )?;
    let lines: Vec<&str> = c.text.lines().collect();
    for l in lines.iter().take(SHOWN_LINES) {
        writeln!(err, "  │ {l}")?;
    }
    if lines.len() > SHOWN_LINES {
        writeln!(err, "  │ … {} more lines", lines.len() - SHOWN_LINES)?;
    }
    write!(
        err,
        "Trust and apply it? [y] trust  [n] run without it  [Enter] cancel: "
    )?;
    err.flush()?;
    drop(err);
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Answer::Trust,
        "n" | "no" => Answer::Without,
        _ => Answer::Cancel,
    })
}
