//! The workflow around an item, run by Pods: a coder Pod in the item's worktree
//! ([`start`]), a reviewer Pod that must end with a verdict ([`review`]) and the
//! merge ([`merge`]). The loop of both until approval is a lead Pod's
//! ([`super::lead`]); [`prepare`] readies the worktree for either.
//!
//! Every step reads where the item is from its thread (reviews so far, the last
//! verdict, whether the coder reported since) and each Pod's state from the pod
//! store, never from memory, so a killed `pod work run` started again continues
//! the same round, and a killed Pod is resumed rather than started twice.
//!
//! Pods are started through this same binary's `pod run` / `pod resume` (one-shot,
//! `--print`), so every check of a normal start applies: scope roots, keys,
//! overlapping write scope with any live Pod.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use work_items::{Event, Item, Status, Store, Verdict};

use super::git;

/// Provider flags handed to the Pods the workflow starts.
#[derive(Debug, Clone, Default)]
pub struct PodFlags {
    /// `--provider`.
    pub provider: Option<String>,
    /// `--model`.
    pub model: Option<String>,
    /// `--base-url`.
    pub base_url: Option<String>,
    /// `--approve-all`: the Pods have nobody to ask, so an `ask` is otherwise denied.
    pub approve_all: bool,
}

impl PodFlags {
    /// The flags given that differ from what Pod manifest `m` was started with, as
    /// `--flag VALUE (it has STORED)`. A `--model` naming a `[models.NAME]` alias
    /// of the config the Pod was started under (user config and the trusted project
    /// config of `m.cwd`) is compared by the model id it stands for.
    pub(crate) fn changed(&self, m: &crate::launch::Manifest, config_dir: &Path) -> Vec<String> {
        let model = self.model.as_ref().map(|given| {
            let trust = crate::trust::TrustStore::new(config_dir).check(&m.cwd).ok();
            crate::config::Config::load(
                config_dir,
                trust.as_ref().and_then(|t| t.trusted()),
                &crate::config::FlagOverrides::default(),
            )
            .ok()
            .and_then(|c| c.models.get(given).map(|a| a.model.clone()))
            .filter(|id| *id == m.model)
            .unwrap_or_else(|| given.clone())
        });
        [
            ("--provider", &self.provider, &m.provider),
            ("--model", &model, &m.model),
            ("--base-url", &self.base_url, &m.base_url),
        ]
        .into_iter()
        .filter_map(|(flag, given, stored)| {
            let g = given.as_ref()?;
            (g.trim_end_matches('/') != stored.trim_end_matches('/'))
                .then(|| format!("{flag} {g} (it has {stored})"))
        })
        .collect()
    }

    /// The `pod run` flags these stand for.
    pub(crate) fn args(&self) -> Vec<String> {
        let mut a = Vec::new();
        if self.approve_all {
            a.push("--approve-all".to_owned());
        }
        for (flag, v) in [
            ("--provider", &self.provider),
            ("--model", &self.model),
            ("--base-url", &self.base_url),
        ] {
            if let Some(v) = v {
                a.push(flag.to_owned());
                a.push(v.clone());
            }
        }
        a
    }
}

/// The repository and the item a step acts on.
pub struct Ctx {
    /// Main worktree.
    pub repo: PathBuf,
    /// Its store.
    pub store: Store,
    /// Who the CLI's own events are from.
    pub author: String,
    /// Provider flags for the Pods.
    pub flags: PodFlags,
    /// Where Pod records live (is a Pod of this round there already?).
    pub roots: pod_ids::Roots,
    /// The storage-root flags this command was given, for the `pod` it starts.
    pub dir_flags: Vec<std::ffi::OsString>,
}

/// The slug cut so `coder-`/`reviewer-…-rN` names stay valid Pod names.
fn short(slug: &str) -> &str {
    let mut s = &slug[..slug.len().min(44)];
    s = s.trim_end_matches('-');
    s
}

/// The coder Pod's name.
pub fn coder_name(slug: &str) -> String {
    format!("coder-{}", short(slug))
}

/// The lead Pod of `pod work run` on the item.
pub fn lead_name(slug: &str) -> String {
    format!("work-{}", short(slug))
}

/// The reviewer Pod of round `n`.
pub fn reviewer_name(slug: &str, n: usize) -> String {
    format!("reviewer-{}-r{n}", short(slug))
}

/// The `pod resume` arguments for the workflow's Pod `name`, or `None` when it has
/// no record yet (it is to be started). A Pod keeps the provider it was granted, so
/// a provider flag that differs from it is refused, naming it; `--approve-all`
/// applies to the resumed run.
fn resume_args(ctx: &Ctx, name: &str) -> anyhow::Result<Option<Vec<String>>> {
    let n = pod_ids::PodName::new(name)?;
    let Some(rec) = crate::record::RecordStore::new(ctx.roots.pods.clone()).load(&n)? else {
        return Ok(None);
    };
    let differs = ctx.flags.changed(&rec.manifest, &ctx.roots.config);
    if !differs.is_empty() {
        bail!(
            "{name} was started before and keeps its settings: {}; run without them to continue it, or `pod rm {name}` to start it over",
            differs.join(", ")
        );
    }
    let mut args = vec![
        "resume".into(),
        name.to_owned(),
        "-".into(),
        "--print".into(),
    ];
    if ctx.flags.approve_all {
        args.push("--approve-all".into());
    }
    Ok(Some(args))
}

/// Runs `pod ARGS` with `stdin_text` on stdin; returns its stdout (the final answer).
fn pod(ctx: &Ctx, args: &[String], stdin_text: &str) -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("cannot find the pod binary")?;
    let mut child = Command::new(exe)
        .args(&ctx.dir_flags)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start pod")?;
    if let Some(mut i) = child.stdin.take() {
        i.write_all(stdin_text.as_bytes())
            .context("cannot write the task")?;
    }
    let out = child.wait_with_output().context("cannot wait for pod")?;
    if !out.status.success() {
        bail!(
            "pod {} failed ({})",
            args.first().map_or("", String::as_str),
            out.status
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub(crate) fn task_of(it: &Item, worktree: &Path) -> String {
    format!(
        "You are the coder of work item {id}: {title}\n\n{body}\n\nWork in {wt} (a git worktree on branch work/{slug}); you may write only there. \
Do not commit: the workflow commits your changes. When you are done, call work_comment with role implementation_report saying what you changed and how you checked it. \
Reviews of your work appear in work_show (artifacts).",
        id = it.meta.id,
        title = it.meta.title,
        body = it.body.trim(),
        wt = worktree.display(),
        slug = it.meta.slug
    )
}

/// What the coder is told after a review: the latest report (or, interrupted
/// before any review, to carry on with the task).
pub(crate) fn fix_message(it: &Item, wt: &Path) -> String {
    let review = it
        .events
        .iter()
        .rev()
        .find(|e| e.kind == "review")
        .and_then(|e| e.field("artifact").map(|a| it.dir.join(a)))
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|r| {
            format!(
                "The reviewer's latest report:\n\n{r}\n\nAddress it in {}",
                wt.display()
            )
        })
        .unwrap_or_else(|| format!("Continue the task in {}", wt.display()));
    format!("{review}, then report with work_comment (role implementation_report).")
}

/// The reviewer's task: the item, where the change is and how to see it.
pub(crate) fn review_task(it: &Item, wt: &Path, base: &str) -> String {
    format!(
        "You review work item {id}: {title}\n\n{body}\n\nThe change is on branch work/{slug}, checked out at {wt}; see it with `git -C {wt} diff {base}...HEAD`. \
You may read but not write the code. Check that the change does what the item asks and is tested. \
You must end by calling work_review with verdict approve or request_changes and a report.",
        id = it.meta.id,
        title = it.meta.title,
        body = it.body.trim(),
        slug = it.meta.slug,
        wt = wt.display(),
    )
}

/// Index of the newest review event (or 0).
pub(crate) fn since_last_review(it: &Item) -> usize {
    it.events
        .iter()
        .rposition(|e| e.kind == "review")
        .map_or(0, |i| i + 1)
}

pub(crate) fn reported_since(it: &Item, from: usize) -> bool {
    it.events[from.min(it.events.len())..]
        .iter()
        .any(|e| e.kind == "comment" && e.field("role") == Some("implementation_report"))
}

/// Commits whatever the coder left in the worktree (the coder's scope is the
/// worktree only, so it cannot write `.git`); `None` when there was nothing.
pub(crate) fn commit_worktree(
    repo: &Path,
    wt: &Path,
    message: &str,
) -> anyhow::Result<Option<String>> {
    if git::in_worktree(repo, wt, &["status", "--porcelain"])?.is_empty() {
        return Ok(None);
    }
    git::in_worktree(repo, wt, &["add", "-A"])?;
    git::in_worktree(
        repo,
        wt,
        &[
            "-c",
            "user.name=pods",
            "-c",
            "user.email=pods@localhost",
            "commit",
            "-q",
            "-m",
            message,
        ],
    )?;
    Ok(Some(git::in_worktree(repo, wt, &["rev-parse", "HEAD"])?))
}

/// Readies item `name` for its coder: refuses a closed item, creates the
/// worktree (`.worktrees/<slug>/<slug>` on `work/<slug>`, or checks the branch
/// out again), assigns the coder and moves the item to pending. Idempotent: each
/// step is skipped when it is done already. Returns the item as it is now.
pub fn prepare(repo: &Path, store: &Store, author: &str, name: &str) -> anyhow::Result<Item> {
    let it = store.load(name)?;
    if it.meta.status == Status::Closed {
        bail!(
            "{} is closed; reopen it with `pod work status {} open`",
            it.meta.id,
            it.meta.slug
        );
    }
    let slug = it.meta.slug.clone();
    let wt = git::worktree_path(repo, &slug);
    let branch = git::branch_name(&slug);
    if !wt.is_dir() {
        let wt_s = wt.to_string_lossy().into_owned();
        if git::branch_exists(repo, &branch) {
            git::git(repo, &["worktree", "add", "-q", &wt_s, &branch])?;
        } else {
            git::git(repo, &["worktree", "add", "-q", "-b", &branch, &wt_s])?;
        }
    }
    let coder = coder_name(&slug);
    if it.meta.assignee.as_deref() != Some(coder.as_str()) {
        store.assign(&it.meta.id, author, &coder)?;
    }
    store.set_status(&it.meta.id, author, Status::Pending)?;
    Ok(store.load(&it.meta.id)?)
}

/// `pod work start`: worktree + branch, item pending and assigned, coder Pod run
/// (resumed with the latest review when it exists already).
pub fn start(ctx: &Ctx, name: &str) -> anyhow::Result<String> {
    let it = prepare(&ctx.repo, &ctx.store, &ctx.author, name)?;
    let slug = it.meta.slug.clone();
    let wt = git::worktree_path(&ctx.repo, &slug);
    let coder = coder_name(&slug);
    let it = ctx.store.load(&it.meta.id)?;
    let mark = it.events.len();
    let answer = if let Some(args) = resume_args(ctx, &coder)? {
        pod(ctx, &args, &fix_message(&it, &wt))?
    } else {
        let wt_s = scope::canonicalize(&wt)?.as_path().display().to_string();
        let mut args: Vec<String> = [
            "run",
            "-",
            "--name",
            &coder,
            "--write",
            &wt_s,
            "--cwd",
            &wt_s,
            "--work-item",
            &it.meta.id,
            "--work-rights",
            "comment,status",
            "--print",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(ctx.flags.args());
        pod(ctx, &args, &task_of(&it, &wt))?
    };
    // The thread must say the coder is done, whether or not its model said so.
    let after = ctx.store.load(&it.meta.id)?;
    if !reported_since(&after, mark) {
        let text = if answer.is_empty() {
            "(the coder ended without a report)".to_owned()
        } else {
            answer.clone()
        };
        ctx.store
            .comment(&it.meta.id, &coder, "implementation_report", &text)?;
    }
    commit_worktree(&ctx.repo, &wt, &format!("{}: {}", slug, it.meta.title))?;
    Ok(answer)
}

/// `pod work review`: a reviewer Pod with read-only scope on the worktree and the
/// main tree and the `review` right on the item; it must end with `work_review`.
pub fn review(ctx: &Ctx, name: &str) -> anyhow::Result<Verdict> {
    let it = ctx.store.load(name)?;
    let slug = it.meta.slug.clone();
    let wt = git::worktree_path(&ctx.repo, &slug);
    if !wt.is_dir() {
        bail!(
            "{} has no worktree; start it with `pod work start {slug}`",
            it.meta.id
        );
    }
    commit_worktree(&ctx.repo, &wt, &format!("{}: {}", slug, it.meta.title))?;
    let before = it.events.iter().filter(|e| e.kind == "review").count();
    let round = before + 1;
    let reviewer = reviewer_name(&slug, round);
    let wt_s = scope::canonicalize(&wt)?.as_path().display().to_string();
    let repo_s = scope::canonicalize(&ctx.repo)?
        .as_path()
        .display()
        .to_string();
    let base = git::git(&ctx.repo, &["rev-parse", "--abbrev-ref", "HEAD"])?;
    let task = review_task(&it, Path::new(&wt_s), &base);
    if let Some(args) = resume_args(ctx, &reviewer)? {
        pod(
            ctx,
            &args,
            "Finish your review: call work_review with your verdict.",
        )?;
    } else {
        let mut args: Vec<String> = [
            "run",
            "-",
            "--name",
            &reviewer,
            "--read-only",
            "--cwd",
            &wt_s,
            "--read",
            &wt_s,
            "--read",
            &repo_s,
            "--work-item",
            &it.meta.id,
            "--work-rights",
            "review,comment",
            "--print",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(ctx.flags.args());
        pod(ctx, &args, &task)?;
    }
    let after = ctx.store.load(&it.meta.id)?;
    match after
        .events
        .iter()
        .filter(|e| e.kind == "review")
        .nth(before)
        .and_then(Event::verdict)
    {
        Some(v) => Ok(v),
        None => bail!(
            "reviewer {reviewer} ended without a verdict (no work_review call); run `pod work review {slug}` again"
        ),
    }
}

/// What a merge did.
#[derive(Debug, serde::Serialize)]
pub struct Merged {
    /// The merge commit (when validation passed).
    pub commit: Option<String>,
    /// `passed`, `failed` or `skipped`.
    pub validation: String,
    /// The tail of the validation output.
    pub output: String,
}

/// `pod work merge`: merges the approved branch into the current branch, runs the
/// validation command before committing, records the result, closes the item and
/// removes the worktree and branch. A failed validation aborts the merge.
pub fn merge(ctx: &Ctx, name: &str, validate: Option<&str>) -> anyhow::Result<Merged> {
    let it = ctx.store.load(name)?;
    let slug = it.meta.slug.clone();
    let branch = git::branch_name(&slug);
    match it.last_verdict() {
        Some(Verdict::Approve) => {}
        Some(v) => bail!(
            "the last review of {} is {v}: it blocks the merge",
            it.meta.id
        ),
        None => bail!(
            "{} has no review yet; run `pod work review {slug}`",
            it.meta.id
        ),
    }
    let dirty = git::dirty_paths(&ctx.repo)?;
    if !dirty.is_empty() {
        bail!(
            "the working tree has uncommitted changes ({}); commit or stash them first",
            dirty.join(", ")
        );
    }
    let wt = git::worktree_path(&ctx.repo, &slug);
    if wt.is_dir() {
        commit_worktree(&ctx.repo, &wt, &format!("{}: {}", slug, it.meta.title))?;
    }
    if !git::branch_exists(&ctx.repo, &branch) {
        bail!("branch {branch} does not exist");
    }
    let msg = format!("Merge {branch}: {}", it.meta.title);
    git::git(
        &ctx.repo,
        &[
            "-c",
            "user.name=pods",
            "-c",
            "user.email=pods@localhost",
            "merge",
            "--no-ff",
            "--no-commit",
            &branch,
        ],
    )
    .inspect_err(|_| {
        // A conflicting merge leaves the tree as it was before it.
        let _ = git::git(&ctx.repo, &["merge", "--abort"]);
    })?;
    let (validation, output) = match validate {
        None => ("skipped".to_owned(), String::new()),
        Some(cmd) => {
            let out = Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .current_dir(&ctx.repo)
                .output()
                .with_context(|| format!("cannot run the validation command {cmd:?}"))?;
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            let tail: String = text
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            (
                (if out.status.success() {
                    "passed"
                } else {
                    "failed"
                })
                .to_owned(),
                tail,
            )
        }
    };
    let ev = |commit: &str| {
        Event::new(
            "merge",
            &ctx.author,
            format!("merge of {branch}: validation {validation}"),
            if output.is_empty() {
                String::new()
            } else {
                format!("```\n{output}\n```")
            },
        )
        .with("branch", branch.clone())
        .with("validation", validation.clone())
        .with("commit", commit.to_owned())
    };
    if validation == "failed" {
        git::git(&ctx.repo, &["merge", "--abort"])?;
        ctx.store.append(&it.meta.id, ev("none"))?;
        return Ok(Merged {
            commit: None,
            validation,
            output,
        });
    }
    git::git(
        &ctx.repo,
        &[
            "-c",
            "user.name=pods",
            "-c",
            "user.email=pods@localhost",
            "commit",
            "-q",
            "-m",
            &msg,
        ],
    )?;
    let commit = git::git(&ctx.repo, &["rev-parse", "HEAD"])?;
    ctx.store.append(&it.meta.id, ev(&commit))?;
    ctx.store.close(
        &it.meta.id,
        &ctx.author,
        &format!("Merged {branch} as {commit}; validation {validation}."),
    )?;
    git::remove_item_dir(&ctx.repo, &git::item_dir(&ctx.repo, &slug))?;
    git::git(&ctx.repo, &["branch", "-d", &branch])?;
    Ok(Merged {
        commit: Some(commit),
        validation,
        output,
    })
}
