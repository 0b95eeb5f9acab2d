//! Project instructions: the `AGENTS.md` / `CLAUDE.md` files a Pod's model is given.
//!
//! Discovery, in the order the text is assembled (later = more specific):
//! 1. the configuration dir (`{config}/AGENTS.md`, else `{config}/CLAUDE.md`): the
//!    user's own instructions for every project;
//! 2. every directory from the repository root (the git top level: the nearest
//!    ancestor holding `.git`, or the Pod's cwd when not in a repository) down to the
//!    Pod's cwd, each contributing its `AGENTS.md`, or its `CLAUDE.md` when it has no
//!    `AGENTS.md`.
//!
//! The files together are capped at [`DEFAULT_CAP_BYTES`]; a file that does not fit
//! is cut at a UTF-8 boundary and the text says so, naming the file so the model can
//! read the rest itself. Files are read only when they are regular files (checked on
//! the opened descriptor, opened non-blocking), so a FIFO or a `/dev/zero` link can
//! neither hang a Pod's start nor grow it unboundedly.
//!
//! The assembled text becomes part of the system prompt, which the session log
//! records in `segment_start`: a restore (and `pod show`) sees exactly the text the
//! model was given, even if the files changed since. A child Pod runs this for its
//! own cwd when its first segment is created.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Total bytes of instruction files put into the prompt.
pub const DEFAULT_CAP_BYTES: usize = 32 * 1024;

/// Preferred file name at each level.
pub const PRIMARY: &str = "AGENTS.md";
/// Read where a level has no [`PRIMARY`].
pub const FALLBACK: &str = "CLAUDE.md";

/// One file that contributed (or was cut).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    /// The file.
    pub path: PathBuf,
    /// `global` (configuration dir) or `project`.
    pub origin: &'static str,
    /// Its size in bytes.
    pub bytes: usize,
    /// How many of those bytes are in the prompt (less than `bytes` when cut).
    pub included: usize,
}

/// The discovered instructions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Instructions {
    /// Files in prompt order.
    pub sources: Vec<Source>,
    /// Files that exist but could not be read, with why (shown to the user, not the
    /// model).
    pub problems: Vec<String>,
    /// The prompt section (empty when no file was found).
    pub text: String,
}

impl Instructions {
    /// True when some file did not fit the cap.
    pub fn was_cut(&self) -> bool {
        self.sources.iter().any(|s| s.included < s.bytes)
    }
}

/// `extension` domain of the entry naming the instruction files a segment's prompt
/// was built from.
pub const DOMAIN: &str = "pod.instructions";

/// Appends what the prompt's instructions came from (sources, cut, problems) to the
/// log, beside the `segment_start` that holds the text itself. Nothing when there
/// were neither files nor problems.
pub fn record(
    journal: &crate::journal::Journal,
    i: &Instructions,
) -> Result<(), session_store::StoreError> {
    if i.sources.is_empty() && i.problems.is_empty() {
        return Ok(());
    }
    journal.record(
        &session_store::EntryKind::Extension {
            domain: DOMAIN.into(),
            payload: serde_json::json!({"sources": i.sources, "problems": i.problems, "cut": i.was_cut()}),
        },
        None,
    )
}

/// The repository root of `cwd`: the nearest ancestor (or `cwd` itself) holding a
/// `.git` entry (a directory, or a file in worktrees and submodules); `cwd` when none.
pub fn repo_root(cwd: &Path) -> PathBuf {
    cwd.ancestors()
        .find(|d| d.join(".git").symlink_metadata().is_ok())
        .unwrap_or(cwd)
        .to_path_buf()
}

/// The directories whose files apply to `cwd`, root first.
fn levels(cwd: &Path) -> Vec<PathBuf> {
    let root = repo_root(cwd);
    let mut dirs: Vec<PathBuf> = cwd
        .ancestors()
        .take_while(|d| d.starts_with(&root))
        .map(Path::to_path_buf)
        .collect();
    dirs.reverse();
    dirs
}

/// Discovers and assembles the instructions for a Pod working in `cwd`.
pub fn discover(config_dir: &Path, cwd: &Path, cap: usize) -> Instructions {
    let mut candidates: Vec<(PathBuf, &'static str)> = Vec::new();
    candidates.push((config_dir.to_path_buf(), "global"));
    for d in levels(cwd) {
        // The configuration dir may sit inside the project (PODS_HOME in a repo):
        // read it once.
        if d != config_dir {
            candidates.push((d, "project"));
        }
    }
    let mut out = Instructions::default();
    let mut budget = cap;
    let mut sections = Vec::new();
    for (dir, origin) in candidates {
        let Some((path, text)) = read_level(&dir, &mut out.problems) else {
            continue;
        };
        let bytes = text.len();
        if text.trim().is_empty() {
            continue;
        }
        let mut included = bytes.min(budget);
        while !text.is_char_boundary(included) {
            included -= 1;
        }
        budget -= included;
        let mut section = format!("## {} ({origin})\n\n{}", path.display(), &text[..included]);
        if included < bytes {
            section.push_str(&format!(
                "\n\n[cut: the instructions are capped at {cap} bytes, so the last {} of this file's {bytes} bytes were left out; read {} for the rest]",
                bytes - included,
                path.display()
            ));
        }
        sections.push(section);
        out.sources.push(Source {
            path,
            origin,
            bytes,
            included,
        });
    }
    if !sections.is_empty() {
        out.text = format!(
            "# Project instructions\n\nThese come from instruction files ({PRIMARY}, or {FALLBACK} where a directory has none), from the most general to the most specific. Follow them; where they disagree, the more specific (later) file wins, and the user's messages win over all of them.\n\n{}",
            sections.join("\n\n")
        );
    }
    out
}

/// The file of one level: `AGENTS.md`, else `CLAUDE.md`; `None` when neither exists.
fn read_level(dir: &Path, problems: &mut Vec<String>) -> Option<(PathBuf, String)> {
    for name in [PRIMARY, FALLBACK] {
        let path = dir.join(name);
        match read_small_regular(&path) {
            Ok(Some(text)) => return Some((path, text)),
            Ok(None) => {}
            Err(e) => {
                problems.push(format!("{}: {e}", path.display()));
                // An unreadable AGENTS.md still means "this level has one": do not
                // silently substitute the CLAUDE.md beside it.
                return None;
            }
        }
    }
    None
}

/// Largest instruction file read at all (the cap applies afterwards).
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Reads a regular file of at most [`MAX_FILE_BYTES`] (longer files are read up to
/// it); `Ok(None)` when it does not exist. Invalid UTF-8 is replaced, not refused.
pub fn read_small_regular(path: &Path) -> std::io::Result<Option<String>> {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if !file.metadata()?.file_type().is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES).read_to_end(&mut bytes)?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(p: &Path, text: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn root_to_cwd_with_claude_md_fallback_and_global_first() {
        let d = tempfile::tempdir().unwrap();
        let (cfg, repo) = (d.path().join("cfg"), d.path().join("repo"));
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        write(&cfg.join("AGENTS.md"), "global rules");
        write(&repo.join("AGENTS.md"), "root rules");
        write(&repo.join("CLAUDE.md"), "ignored: root has AGENTS.md");
        write(&repo.join("a/CLAUDE.md"), "a rules (claude)");
        write(&repo.join("a/b/AGENTS.md"), "b rules");
        write(&repo.join("other/AGENTS.md"), "sibling: never read");
        // Above the repository root: not read.
        write(&d.path().join("AGENTS.md"), "outside");
        let i = discover(&cfg, &repo.join("a/b"), DEFAULT_CAP_BYTES);
        let order: Vec<&str> = ["global rules", "root rules", "a rules (claude)", "b rules"]
            .into_iter()
            .collect();
        let mut at = 0;
        for needle in order {
            let pos = i.text[at..].find(needle).expect(needle) + at;
            at = pos;
        }
        assert!(!i.text.contains("ignored"));
        assert!(!i.text.contains("sibling"));
        assert!(!i.text.contains("outside"));
        assert_eq!(i.sources.len(), 4);
        assert!(!i.was_cut());
    }

    #[test]
    fn outside_a_repository_only_the_cwd_counts() {
        let d = tempfile::tempdir().unwrap();
        write(&d.path().join("AGENTS.md"), "parent");
        write(&d.path().join("w/AGENTS.md"), "here");
        let i = discover(
            &d.path().join("cfg"),
            &d.path().join("w"),
            DEFAULT_CAP_BYTES,
        );
        assert!(
            i.text.contains("here") && !i.text.contains("parent"),
            "{}",
            i.text
        );
    }

    #[test]
    fn the_cap_cuts_at_a_char_boundary_and_says_where() {
        let d = tempfile::tempdir().unwrap();
        write(&d.path().join("AGENTS.md"), &"é".repeat(100));
        let i = discover(&d.path().join("cfg"), d.path(), 51);
        assert!(i.was_cut());
        assert_eq!(i.sources[0].included, 50);
        assert!(i.text.contains("[cut:"), "{}", i.text);
        assert!(
            i.text
                .contains(&d.path().join("AGENTS.md").display().to_string())
        );
    }

    #[test]
    fn a_fifo_is_a_problem_not_a_hang() {
        let d = tempfile::tempdir().unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            d.path().join("AGENTS.md"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        write(&d.path().join("CLAUDE.md"), "not a substitute");
        let i = discover(&d.path().join("cfg"), d.path(), DEFAULT_CAP_BYTES);
        assert!(i.text.is_empty());
        assert_eq!(i.problems.len(), 1, "{:?}", i.problems);
    }
}
