//! `/diff` (what a Pod changed, from git) and the roots the `@` picker lists.

use std::path::{Path, PathBuf};

use tokio::process::Command;

/// The directories the `@` picker walks: the Pod's working directory when it
/// may read it, plus readable directories outside it. A rule covering the whole
/// disk or the home directory is narrowed to the working directory (listing `/`
/// would be slow and useless).
pub fn index_roots(cwd: &Path, readable: &[PathBuf]) -> Vec<PathBuf> {
    let mut roots = vec![cwd.to_path_buf()];
    let home = std::env::var_os("HOME").map(PathBuf::from);
    for r in readable {
        let broad = r.parent().is_none() || Some(r) == home.as_ref();
        if broad || r.starts_with(cwd) || cwd.starts_with(r) {
            continue;
        }
        roots.push(r.clone());
    }
    roots
}

async fn git(cwd: &Path, args: &[&str]) -> Result<std::process::Output, String> {
    Command::new("git")
        .arg("-C")
        .arg(cwd)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run git: {e}"))
}

/// Everything changed under `cwd` since the last commit, untracked files
/// included (as additions). `Ok(None)`: `cwd` is not in a git work tree.
pub async fn git_changes(cwd: &Path) -> Result<Option<String>, String> {
    let inside = git(cwd, &["rev-parse", "--is-inside-work-tree"]).await?;
    if !inside.status.success() {
        return Ok(None);
    }
    // `HEAD` may not exist yet (no commit): then diff against the empty index.
    let has_head = git(cwd, &["rev-parse", "--verify", "-q", "HEAD"])
        .await?
        .status
        .success();
    let mut args = vec!["diff", "--no-color", "--no-ext-diff", "--relative"];
    if has_head {
        args.push("HEAD");
    }
    let tracked = git(cwd, &args).await?;
    if !tracked.status.success() {
        return Err(String::from_utf8_lossy(&tracked.stderr).trim().to_string());
    }
    let mut out = String::from_utf8_lossy(&tracked.stdout).into_owned();
    let untracked = git(cwd, &["ls-files", "--others", "--exclude-standard", "-z"]).await?;
    for file in untracked
        .stdout
        .split(|b| *b == 0)
        .filter(|f| !f.is_empty())
    {
        let file = String::from_utf8_lossy(file).into_owned();
        // `--no-index` exits 1 when the files differ, which they always do here.
        let d = git(
            cwd,
            &["diff", "--no-color", "--no-index", "--", "/dev/null", &file],
        )
        .await?;
        out.push_str(&String::from_utf8_lossy(&d.stdout));
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_git_diff_includes_untracked_files_and_outside_git_is_none() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        assert_eq!(git_changes(root).await.unwrap(), None);
        let run = |args: &[&str]| {
            let ok = std::process::Command::new("git")
                .arg("-C")
                .arg(root)
                .args(args)
                .output()
                .unwrap()
                .status
                .success();
            assert!(ok, "git {args:?}");
        };
        run(&["init", "-q"]);
        std::fs::write(root.join("a.txt"), "one\n").unwrap();
        run(&["add", "a.txt"]);
        run(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "x",
        ]);
        std::fs::write(root.join("a.txt"), "two\n").unwrap();
        std::fs::write(root.join("new.txt"), "fresh\n").unwrap();
        let diff = git_changes(root).await.unwrap().unwrap();
        assert!(diff.contains("-one") && diff.contains("+two"), "{diff}");
        assert!(
            diff.contains("+fresh") && diff.contains("new.txt"),
            "{diff}"
        );
    }

    #[test]
    fn broad_read_rules_do_not_widen_the_picker() {
        let roots = index_roots(
            Path::new("/w/p"),
            &["/".into(), "/w/p/src".into(), "/data".into()],
        );
        assert_eq!(roots, [PathBuf::from("/w/p"), PathBuf::from("/data")]);
    }
}
