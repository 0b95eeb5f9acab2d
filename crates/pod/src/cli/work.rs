//! `pod work`: work items from the command line (format: `docs/work-items.md`).
//! Every command acts on the repository around the current directory (the main
//! worktree even from inside `.worktrees/<slug>`), or `--repo DIR`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;
use work_items::{NewItem, Status, Store, Verdict, WorkError};

use super::exit::{Exit, fail};
use crate::outln;
use crate::work::{flow, git};

/// Provider flags for the Pods `start`, `review` and `run` start.
#[derive(Debug, Args, Default)]
struct PodFlagArgs {
    /// Provider of the Pods (preset or configured name).
    #[arg(long)]
    provider: Option<String>,
    /// Model of the Pods.
    #[arg(long)]
    model: Option<String>,
    /// Provider base URL.
    #[arg(long)]
    base_url: Option<String>,
    /// Approve every call of the Pods that an `ask` rule or hook holds (otherwise
    /// such calls are denied: these Pods have nobody to ask).
    #[arg(long)]
    approve_all: bool,
}

impl From<PodFlagArgs> for flow::PodFlags {
    fn from(a: PodFlagArgs) -> flow::PodFlags {
        flow::PodFlags {
            provider: a.provider,
            model: a.model,
            base_url: a.base_url,
            approve_all: a.approve_all,
        }
    }
}

/// `pod work` arguments.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  pod work init
  pod work create --title \"Fix the login bug\" --kind bug --label auth
  pod work list --status open
  pod work comment fix-the-login-bug --role plan -m \"1. reproduce 2. fix\"
  pod work review fix-the-login-bug --request-changes --file review.md
  pod work run fix-the-login-bug --rounds 3
  pod work doctor --fix")]
pub struct WorkArgs {
    /// The repository (default: the one around the current directory).
    #[arg(long, global = true, value_name = "DIR")]
    repo: Option<PathBuf>,
    /// Who the events are from (default: $USER).
    #[arg(long, global = true)]
    author: Option<String>,
    #[command(subcommand)]
    cmd: WorkCmd,
}

#[derive(Debug, Subcommand)]
enum WorkCmd {
    /// Create `work-items/{open,pending,closed}/` in the repository.
    Init,
    /// Create an item (in open/).
    Create {
        /// One line.
        #[arg(long)]
        title: String,
        /// task, bug, feature, chore, docs or refactor.
        #[arg(long)]
        kind: Option<String>,
        /// urgent, high, normal or low.
        #[arg(long)]
        priority: Option<String>,
        /// A label (repeatable).
        #[arg(long = "label")]
        labels: Vec<String>,
        /// The description, from a file (`-`: stdin).
        #[arg(long, value_name = "FILE")]
        body: Option<PathBuf>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// List items (oldest first).
    List {
        /// Only these statuses (repeatable or comma-separated).
        #[arg(long, value_delimiter = ',')]
        status: Vec<String>,
        /// JSON array output.
        #[arg(long)]
        json: bool,
    },
    /// Show an item: front matter, description, thread, artifacts.
    Show {
        /// Id or slug.
        item: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Add a comment to an item's thread.
    Comment {
        /// Id or slug.
        item: String,
        /// comment, plan, decision or implementation_report.
        #[arg(long, default_value = "comment")]
        role: String,
        /// The text.
        #[arg(short = 'm', long = "message", conflicts_with = "file")]
        message: Option<String>,
        /// The text, from a file (`-`: stdin).
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Record a review (--approve/--request-changes --file REPORT: artifacts/review.md, review-r2.md, ...
    /// and a verdict event), or without a verdict start a reviewer Pod that must give one.
    Review {
        /// Id or slug.
        item: String,
        /// The change may be merged.
        #[arg(long, conflicts_with = "request_changes", requires = "file")]
        approve: bool,
        /// Blocking: changes are needed first.
        #[arg(long, requires = "file")]
        request_changes: bool,
        /// The report (`-`: stdin).
        #[arg(long, value_name = "REPORT")]
        file: Option<PathBuf>,
        #[command(flatten)]
        pod: PodFlagArgs,
    },
    /// Start (or continue) the coder Pod: worktree .worktrees/SLUG on branch work/SLUG, item pending.
    Start {
        /// Id or slug.
        item: String,
        #[command(flatten)]
        pod: PodFlagArgs,
    },
    /// A lead Pod work-SLUG runs coder, reviewer, coder ... (its children) until a review
    /// approves (exit 0) or --rounds reviews were made (exit 5); `pod resume work-SLUG` continues it.
    Run {
        /// Id or slug.
        item: String,
        /// Most reviews (default 3; a lead already started keeps its own).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
        rounds: Option<u16>,
        #[command(flatten)]
        pod: PodFlagArgs,
    },
    /// Merge the approved branch into the current branch, validate, close, remove worktree and branch.
    Merge {
        /// Id or slug.
        item: String,
        /// Validation command run before the merge is committed (default: `validate` in
        /// work-items/config.toml; none: skipped).
        #[arg(long, value_name = "CMD")]
        validate: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Move an item to open, pending or closed.
    Status {
        /// Id or slug.
        item: String,
        /// open, pending or closed.
        status: String,
    },
    /// Close an item with a resolution (resolution.md).
    Close {
        /// Id or slug.
        item: String,
        /// How it was resolved.
        #[arg(long)]
        resolution: Option<String>,
    },
    /// Check the work-items folder (and items' worktrees and branches); --fix repairs what is safe.
    Doctor {
        /// Repair the safe problems.
        #[arg(long)]
        fix: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `pod work ...`.
pub fn work(
    args: WorkArgs,
    roots: &pod_ids::Roots,
    dir_flags: &[std::ffi::OsString],
) -> anyhow::Result<ExitCode> {
    let here = std::env::current_dir().context("cannot read the current directory")?;
    let repo = crate::work::repo_root(&args.repo.map_or(here.clone(), |r| here.join(r)));
    let dir = repo.join(work_items::DIR_NAME);
    let author = author(args.author)?;
    if let WorkCmd::Init = args.cmd {
        Store::init(&dir).map_err(usage)?;
        if git::common_dir(&repo).is_some() {
            ignore_worktrees(&repo)?;
        }
        outln!("initialised {}", dir.display())?;
        return Ok(ExitCode::SUCCESS);
    }
    let store = Store::open(&dir).map_err(usage)?;
    match args.cmd {
        WorkCmd::Init => {}
        WorkCmd::Create {
            title,
            kind,
            priority,
            labels,
            body,
            json,
        } => {
            let body = match body {
                Some(p) => read_text(&p)?,
                None => String::new(),
            };
            let it = store
                .create(&NewItem {
                    title,
                    kind,
                    priority,
                    labels,
                    body,
                    author,
                })
                .map_err(usage)?;
            if json {
                outln!("{}", serde_json::to_string(&summary(&it))?)?;
            } else {
                outln!("created {} ({})", it.meta.id, it.dir.display())?;
            }
        }
        WorkCmd::List { status, json } => {
            let statuses = status
                .iter()
                .map(|s| s.parse::<Status>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(usage)?;
            let (items, errors) = store.list(&statuses)?;
            for e in &errors {
                eprintln!("warning: {e} (run `pod work doctor`)");
            }
            if json {
                let v: Vec<_> = items.iter().map(summary).collect();
                outln!("{}", serde_json::to_string(&v)?)?;
            } else if items.is_empty() {
                outln!("no work items")?;
            } else {
                // Ids carry their slug: the column is as wide as the longest.
                let w = items.iter().map(|i| i.meta.id.len()).max().unwrap_or(0);
                for i in &items {
                    outln!(
                        "{:<8} {:<w$} {:<9} {}{}",
                        i.meta.status.as_str(),
                        i.meta.id,
                        i.meta.priority,
                        i.meta.title,
                        i.meta
                            .assignee
                            .as_deref()
                            .map(|a| format!("  @{a}"))
                            .unwrap_or_default()
                    )?;
                }
            }
        }
        WorkCmd::Show { item, json } => {
            let it = store.load(&item).map_err(usage)?;
            if json {
                outln!("{}", serde_json::to_string(&it)?)?;
            } else {
                crate::out!("{}", crate::work::tools::show(&it))?;
            }
        }
        WorkCmd::Comment {
            item,
            role,
            message,
            file,
        } => {
            let text = match (message, file) {
                (Some(m), _) => m,
                (None, Some(f)) => read_text(&f)?,
                (None, None) => {
                    return Err(fail(
                        Exit::Usage,
                        "give the comment with -m TEXT or --file FILE",
                    ));
                }
            };
            let ev = store.comment(&item, &author, &role, &text).map_err(usage)?;
            outln!(
                "commented on {item} ({} at {})",
                ev.field("role").unwrap_or("comment"),
                ev.at
            )?;
        }
        WorkCmd::Review {
            item,
            approve,
            request_changes,
            file,
            pod,
        } => {
            let Some(file) = file.filter(|_| approve || request_changes) else {
                let v = flow::review(
                    &flow_ctx(&repo, store, author, roots, dir_flags, pod),
                    &item,
                )?;
                outln!("review of {item}: {v}")?;
                return Ok(ExitCode::SUCCESS);
            };
            let verdict = if approve {
                Verdict::Approve
            } else {
                Verdict::RequestChanges
            };
            let report = read_text(&file)?;
            let ev = store
                .review(&item, &author, verdict, &report)
                .map_err(usage)?;
            outln!(
                "review of {item}: {verdict} ({})",
                ev.field("artifact").unwrap_or_default()
            )?;
        }
        WorkCmd::Status { item, status } => {
            let to: Status = status.parse().map_err(usage)?;
            match store.set_status(&item, &author, to).map_err(usage)? {
                Some(_) => outln!("{item} is now {to}")?,
                None => outln!("{item} already is {to}")?,
            }
        }
        WorkCmd::Close { item, resolution } => {
            store
                .close(&item, &author, resolution.as_deref().unwrap_or(""))
                .map_err(usage)?;
            outln!("closed {item}")?;
        }
        WorkCmd::Doctor { fix, json } => return doctor(&repo, &store, fix, json),
        WorkCmd::Start { item, pod } => {
            let answer = flow::start(
                &flow_ctx(&repo, store, author, roots, dir_flags, pod),
                &item,
            )?;
            outln!("{answer}")?;
        }
        WorkCmd::Run { item, rounds, pod } => {
            return run_lead(&repo, &store, &author, roots, &item, rounds, pod);
        }
        WorkCmd::Merge {
            item,
            validate,
            json,
        } => {
            let validate = match validate {
                Some(v) => Some(v),
                None => configured_validation(store.root())?,
            };
            let ctx = flow_ctx(
                &repo,
                store,
                author,
                roots,
                dir_flags,
                PodFlagArgs::default(),
            );
            let m = flow::merge(&ctx, &item, validate.as_deref())
                .map_err(|e| fail(Exit::Failed, format!("{e:#}")))?;
            if json {
                outln!("{}", serde_json::to_string(&m)?)?;
            } else if let Some(c) = &m.commit {
                outln!(
                    "merged {item} as {c} (validation {}); item closed",
                    m.validation
                )?;
            } else {
                outln!("validation failed; the merge was aborted:\n{}", m.output)?;
            }
            if m.commit.is_none() {
                return Ok(ExitCode::from(Exit::Failed as u8));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Store errors that are the caller's (a bad name, value or missing store) exit 2.
fn usage(e: WorkError) -> anyhow::Error {
    match e {
        WorkError::Invalid(_)
        | WorkError::NotFound(_)
        | WorkError::NotInitialised(_)
        | WorkError::Ambiguous { .. } => fail(Exit::Usage, e.to_string()),
        other => other.into(),
    }
}

fn author(flag: Option<String>) -> anyhow::Result<String> {
    let a = flag
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "user".into());
    work_items::meta::check_token("author", &a).map_err(usage)?;
    Ok(a)
}

fn read_text(p: &Path) -> anyhow::Result<String> {
    if p == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read stdin")?;
        return Ok(s);
    }
    std::fs::read_to_string(p)
        .map_err(|e| fail(Exit::Usage, format!("cannot read {}: {e}", p.display())))
}

fn summary(i: &work_items::Item) -> serde_json::Value {
    let m = &i.meta;
    json!({
        "id": m.id, "slug": m.slug, "title": m.title, "status": m.status, "kind": m.kind,
        "priority": m.priority, "labels": m.labels, "assignee": m.assignee,
        "created_at": m.created_at, "updated_at": m.updated_at,
        "last_verdict": i.last_verdict(), "dir": i.dir,
    })
}

fn doctor(repo: &Path, store: &Store, fix: bool, json: bool) -> anyhow::Result<ExitCode> {
    let mut problems = work_items::doctor::check(store, fix)?;
    problems.extend(git_problems(repo, store, fix));
    let remaining = problems.iter().filter(|p| !p.fixed).count();
    if json {
        outln!(
            "{}",
            serde_json::to_string(&json!({"ok": remaining == 0, "problems": problems}))?
        )?;
    } else if problems.is_empty() {
        outln!("work items: no problems")?;
    } else {
        for p in &problems {
            let tag = if p.fixed {
                "fixed"
            } else if p.fixable {
                "fixable"
            } else {
                "problem"
            };
            outln!(
                "{tag:<8} {:<18} {}: {}",
                p.kind,
                p.path.display(),
                p.message
            )?;
        }
        if !fix && problems.iter().any(|p| p.fixable) {
            outln!("run `pod work doctor --fix` to repair the fixable ones")?;
        }
    }
    Ok(if remaining == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(Exit::Failed as u8)
    })
}

/// Worktrees and branches of items that are closed or gone. Repairs use git's own
/// safe forms: `git worktree remove` refuses a worktree with changes, `git branch
/// -d` a branch that is not merged, so nothing unmerged is lost.
fn git_problems(repo: &Path, store: &Store, fix: bool) -> Vec<work_items::Problem> {
    use work_items::Problem;
    let mut out = Vec::new();
    if git::common_dir(repo).is_none() {
        return out;
    }
    let (items, _) = store.list(&[]).unwrap_or_default();
    let live = |slug: &str| {
        items
            .iter()
            .any(|i| i.meta.slug == slug && i.meta.status != Status::Closed)
    };
    let wt_root = repo.join(".worktrees");
    if let Ok(rd) = std::fs::read_dir(&wt_root) {
        for e in rd.flatten() {
            let slug = e.file_name().to_string_lossy().into_owned();
            if live(&slug) {
                continue;
            }
            let path = e.path();
            let mut p = Problem::new(
                "orphan_worktree",
                &path,
                format!("no open or pending item has slug {slug}"),
                true,
            );
            if fix {
                match git::remove_item_dir(repo, &path) {
                    Ok(_) => p.fixed = true,
                    Err(err) => p.message.push_str(&format!("; not removed: {err}")),
                }
            }
            out.push(p);
        }
    }
    for slug in git::work_branches(repo) {
        if live(&slug) {
            continue;
        }
        let branch = git::branch_name(&slug);
        let mut p = Problem::new(
            "leftover_branch",
            &repo.join(".git/refs/heads").join(&branch),
            format!("branch {branch} belongs to no open or pending item"),
            true,
        );
        if fix {
            match git::git(repo, &["branch", "-d", &branch]) {
                Ok(_) => p.fixed = true,
                Err(err) => p.message.push_str(&format!("; not deleted: {err}")),
            }
        }
        out.push(p);
    }
    out
}

fn flow_ctx(
    repo: &Path,
    store: Store,
    author: String,
    roots: &pod_ids::Roots,
    dir_flags: &[std::ffi::OsString],
    pod: PodFlagArgs,
) -> flow::Ctx {
    flow::Ctx {
        repo: repo.to_path_buf(),
        store,
        author,
        roots: roots.clone(),
        dir_flags: dir_flags.to_vec(),
        flags: pod.into(),
    }
}

/// `pod work run`: readies the item, then runs its lead Pod `work-<slug>` in the
/// foreground (a new one through `pod run`'s own checks, or the existing one
/// resumed: it continues where its item and children are).
fn run_lead(
    repo: &Path,
    store: &Store,
    author: &str,
    roots: &pod_ids::Roots,
    item: &str,
    rounds: Option<u16>,
    pod: PodFlagArgs,
) -> anyhow::Result<ExitCode> {
    let flags = flow::PodFlags::from(pod);
    let it = flow::prepare(repo, store, author, item)
        .map_err(|e| fail(Exit::Usage, format!("{e:#}")))?;
    let slug = &it.meta.slug;
    let lead = crate::cli::pod_name(&flow::lead_name(slug))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if let Some(rec) = crate::record::RecordStore::new(roots.pods.clone()).load(&lead)? {
        // A Pod keeps what it was granted across restarts (grant.json): a flag that
        // would change it is refused, never silently ignored.
        let had = rec.manifest.workflow.as_ref().map_or(0, |w| w.rounds);
        let mut differs = Vec::new();
        if let Some(r) = rounds.map(usize::from).filter(|r| *r != had) {
            differs.push(format!("--rounds {r} (it has {had})"));
        }
        differs.extend(flags.changed(&rec.manifest, &roots.config));
        if !differs.is_empty() {
            return Err(fail(
                Exit::Usage,
                format!(
                    "{lead} was started before and keeps its settings: {}; `pod work run {slug}` (or `pod resume {lead}`) continues it as it is, `pod rm {lead}` and its children start over with new ones",
                    differs.join(", ")
                ),
            ));
        }
        return rt.block_on(super::start::resume(
            roots,
            &lead,
            None,
            super::OutputMode {
                approve_all: flags.approve_all,
                ..Default::default()
            },
        ));
    }
    let dir = git::item_dir(repo, slug).display().to_string();
    let repo_s = repo.display().to_string();
    let mut argv: Vec<String> = [
        "--name",
        lead.as_str(),
        "--write",
        &dir,
        "--read",
        &repo_s,
        "--cwd",
        &repo_s,
        "--work-item",
        &it.meta.id,
        "--work-rights",
        "comment,review,status",
        "--work-lead-rounds",
        &rounds.unwrap_or(3).to_string(),
        "--print",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    argv.extend(flags.args());
    rt.block_on(super::start::run_lead(roots, &argv))
}

/// Adds `.worktrees/` to the repository's `.gitignore` unless a line says so
/// already (items' worktrees must not show up as untracked files of the main tree).
fn ignore_worktrees(repo: &Path) -> anyhow::Result<()> {
    let p = repo.join(".gitignore");
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot read {}", p.display()))),
    };
    if text.lines().any(|l| {
        matches!(
            l.trim(),
            ".worktrees" | ".worktrees/" | "/.worktrees" | "/.worktrees/"
        )
    }) {
        return Ok(());
    }
    let sep = if text.is_empty() || text.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    // Replaced whole (temp, fsync, rename): a crash leaves the old file or the new.
    work_items::durable::write_atomic(&p, format!("{text}{sep}.worktrees/\n").as_bytes())
        .with_context(|| format!("cannot write {}", p.display()))
}

/// `validate = "CMD"` in `work-items/config.toml`, if set.
fn configured_validation(store_root: &Path) -> anyhow::Result<Option<String>> {
    #[derive(serde::Deserialize)]
    struct WorkConfig {
        validate: Option<String>,
    }
    let p = store_root.join("config.toml");
    match std::fs::read_to_string(&p) {
        Ok(s) => Ok(toml::from_str::<WorkConfig>(&s)
            .map_err(|e| fail(Exit::Usage, format!("{}: {e}", p.display())))?
            .validate),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot read {}", p.display()))),
    }
}
