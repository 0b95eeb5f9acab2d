//! The driver of a `pod work run` lead Pod (ARCHITECTURE §15): deterministic
//! workflow code running inside the lead's own process, not a model. It runs the
//! item's coder and one reviewer per round as the lead's *children* (so the
//! coder's write scope is delegated from the lead, and the tree, restore and
//! scope rules apply), until a review approves or `rounds` reviews were made.
//!
//! Nothing is kept in memory between steps. Each step reads where the workflow
//! is from the item's thread (reviews so far, the last verdict, whether the
//! coder reported since the last review) and each child's progress from the
//! child's own session log (was it given this step's message, did the run that
//! message started end). The message of each step carries a tag
//! (`[work run: …]`), which is how the log says "asked already". So a lead
//! killed at any point and restored (`pod resume`) continues the same round:
//! a child that exists is resumed or waited for, never started twice, a message
//! already given is not given again, and a reviewer's grant names its round, so
//! the store refuses a second verdict for it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use pod_ids::{PodName, Roots};
use protocol::InputMode;
use serde_json::json;
use session_store::{EntryKind, SessionStore};
use tokio_util::sync::CancellationToken;
use transcript::Item as ConvItem;
use work_items::{Item, Store, Verdict};

use super::flow::{
    coder_name, commit_worktree, fix_message, reported_since, review_task, reviewer_name,
    since_last_review, task_of,
};
use super::{WorkDelegation, Workflow, git};
use crate::children::{Children, SpawnArgs};
use crate::journal::Journal;
use crate::record::RecordStore;

/// The session-log domain of the driver's progress and outcome.
pub const DOMAIN: &str = "pod.workflow";
/// How often a child's log is looked at while it works.
const POLL: Duration = Duration::from_millis(200);
/// "Continue" messages for one step per lead start (a child whose runs keep
/// failing ends the lead's run instead of looping).
const RETRIES: usize = 2;

/// How a `pod work run` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The last review approves.
    Approved,
    /// `rounds` reviews were made and the last one blocks.
    Blocking,
    /// A step failed (the message says which); `pod resume` tries again.
    Failed,
}

/// What the driver works with: the lead's children, its log and its item.
pub struct Lead {
    /// The lead's name (the author of its own thread events).
    pub name: PodName,
    /// Storage roots (child records and logs).
    pub roots: Roots,
    /// The lead's children.
    pub children: Arc<Children>,
    /// The lead's session log (progress lines, the outcome).
    pub journal: Journal,
    /// The item's store (from the lead's work grant).
    pub store: PathBuf,
    /// The workflow.
    pub workflow: Workflow,
}

/// Runs the workflow, records its outcome and stops the lead (its children
/// first): a lead lives for one `pod work run`, and `pod resume` starts it again.
pub async fn drive(lead: Lead, shutdown: CancellationToken) {
    let (outcome, message) = match lead.run().await {
        Ok((o, m)) => (o, m),
        Err(e) => (Outcome::Failed, format!("{e:#}")),
    };
    lead.record(json!({"event": "finished", "outcome": outcome, "text": message}));
    shutdown.cancel();
}

/// Where a child is with the message of one step, read from its log.
#[derive(Debug, PartialEq)]
enum Progress {
    /// The message is not in its log.
    NotAsked,
    /// The run it started (or a later one) has not ended.
    Working,
    /// The run ended; its last answer.
    Done(String),
    /// The run ended with an error (a restore closes an interrupted run so).
    Failed(String),
}

impl Lead {
    fn record(&self, payload: serde_json::Value) {
        let entry = EntryKind::Extension {
            domain: DOMAIN.into(),
            payload,
        };
        if let Err(e) = self.journal.record(&entry, None) {
            tracing::warn!(error = %e, "cannot record workflow progress");
        }
    }

    fn say(&self, text: String) {
        tracing::info!(%text, "workflow");
        self.record(json!({"event": "progress", "text": text}));
    }

    async fn run(&self) -> anyhow::Result<(Outcome, String)> {
        let store = Store::open(&self.store)?;
        let repo = super::repo_root(&self.store);
        let item = &self.workflow.item;
        let rounds = self.workflow.rounds.max(1);
        let me = self.name.as_str();
        // Idempotent: done by `pod work run` already, unless the lead is resumed
        // after someone moved the item.
        let it = super::flow::prepare(&repo, &store, me, item)?;
        let wt = scope::canonicalize(git::worktree_path(&repo, &it.meta.slug))?
            .as_path()
            .to_path_buf();
        loop {
            let it = store.load(item)?;
            let reviews = it.events.iter().filter(|e| e.kind == "review").count();
            match it.last_verdict() {
                Some(Verdict::Approve) => {
                    return Ok((
                        Outcome::Approved,
                        format!(
                            "{}: approved after {reviews} review(s); `pod work merge {}` merges it",
                            it.meta.id, it.meta.slug
                        ),
                    ));
                }
                Some(v) if reviews >= rounds => {
                    return Ok((
                        Outcome::Blocking,
                        format!(
                            "{}: {reviews} review(s), the last is {v}; go on by hand with `pod work start {slug}` and `pod work review {slug}`",
                            it.meta.id,
                            slug = it.meta.slug,
                        ),
                    ));
                }
                _ => {}
            }
            let round = reviews + 1;
            if reported_since(&it, since_last_review(&it)) {
                self.review(&store, &repo, &wt, &it, round).await?;
            } else {
                self.code(&store, &repo, &wt, &it, round).await?;
            }
        }
    }

    /// The coder's step of round `round`: its task (round 1) or the latest
    /// review, then its implementation report (written from its answer when the
    /// model did not), then its changes committed on the branch.
    async fn code(
        &self,
        store: &Store,
        repo: &Path,
        wt: &Path,
        it: &Item,
        round: usize,
    ) -> anyhow::Result<()> {
        let coder = coder_name(&it.meta.slug);
        self.stop_all_but(&[&coder]).await;
        let tag = format!("[work run: coder, round {round}]");
        let text = if round == 1 {
            task_of(it, wt)
        } else {
            fix_message(it, wt)
        };
        self.say(format!("round {round}: coder {coder} works"));
        let mark = it.events.len();
        let spawn = SpawnArgs {
            name: coder.clone(),
            task: format!("{text}\n\n{tag}"),
            write: vec![wt.display().to_string()],
            read: Vec::new(),
            cwd: Some(wt.display().to_string()),
            model: None,
            permissions: None,
            work: Some(WorkDelegation {
                item: None,
                rights: vec!["comment".into(), "status".into()],
                round: None,
            }),
        };
        let answer = self.ask(spawn, &tag).await?;
        let after = store.load(&it.meta.id)?;
        if !reported_since(&after, mark) {
            let text = if answer.is_empty() {
                "(the coder ended without a report)".to_owned()
            } else {
                answer
            };
            store.comment(&it.meta.id, &coder, "implementation_report", &text)?;
        }
        let committed = commit_worktree(repo, wt, &format!("{}: {}", it.meta.slug, it.meta.title))?;
        self.say(format!(
            "round {round}: coder reported{}",
            committed
                .map(|c| format!("; committed {}", &c[..c.len().min(12)]))
                .unwrap_or_default()
        ));
        Ok(())
    }

    /// The reviewer's step of round `round`: a new reviewer child, read-only on
    /// the worktree and the main tree, whose grant may write review `round` only.
    async fn review(
        &self,
        store: &Store,
        repo: &Path,
        wt: &Path,
        it: &Item,
        round: usize,
    ) -> anyhow::Result<()> {
        let reviewer = reviewer_name(&it.meta.slug, round);
        let coder = coder_name(&it.meta.slug);
        self.stop_all_but(&[&coder, &reviewer]).await;
        commit_worktree(repo, wt, &format!("{}: {}", it.meta.slug, it.meta.title))?;
        let base = git::git(repo, &["rev-parse", "--abbrev-ref", "HEAD"])?;
        let repo_c = scope::canonicalize(repo)?.as_path().display().to_string();
        self.say(format!("round {round}: reviewer {reviewer} reviews"));
        let reviewed = |it: &Item| it.events.iter().filter(|e| e.kind == "review").count() >= round;
        for (n, text) in [
            review_task(it, wt, &base),
            "Finish your review: call work_review with your verdict and report.".to_owned(),
        ]
        .into_iter()
        .enumerate()
        {
            let tag = format!(
                "[work run: review {round}{}]",
                if n == 0 { "" } else { ", again" }
            );
            let spawn = SpawnArgs {
                name: reviewer.clone(),
                task: format!("{text}\n\n{tag}"),
                write: Vec::new(),
                read: vec![wt.display().to_string(), repo_c.clone()],
                cwd: Some(wt.display().to_string()),
                model: None,
                permissions: None,
                work: Some(WorkDelegation {
                    item: None,
                    rights: vec!["review".into(), "comment".into()],
                    round: Some(round),
                }),
            };
            self.ask(spawn, &tag).await?;
            let after = store.load(&it.meta.id)?;
            if reviewed(&after) {
                let v = after
                    .last_verdict()
                    .map_or_else(|| "?".to_owned(), |v| v.to_string());
                self.say(format!("round {round}: {reviewer} says {v}"));
                if let Ok(n) = PodName::new(&reviewer) {
                    // Its work is done; a stopped reviewer is not asked again.
                    let _ = self.children.stop(&n).await;
                }
                return Ok(());
            }
        }
        bail!(
            "reviewer {reviewer} ended twice without a verdict (no work_review call); `pod resume {}` asks again",
            self.name
        )
    }

    /// Stops running children other than `keep` (a reviewer of an earlier round
    /// left running by a killed lead, the coder while no step needs it).
    async fn stop_all_but(&self, keep: &[&str]) {
        for c in self.children.records() {
            if keep.contains(&c.name.as_str()) || !self.children.is_running(&c.name) {
                continue;
            }
            if let Err(e) = self.children.stop(&c.name).await {
                tracing::warn!(child = c.name.as_str(), error = %e, "cannot stop");
            }
        }
    }

    /// Gives child `spawn.name` the message `spawn.task` (tagged `tag`) unless its
    /// log shows it has it already, and waits for the run it starts to end;
    /// returns the child's last answer. A child that does not exist is spawned;
    /// one that is not running is resumed under this lead (never started twice);
    /// a run that failed (or that a restore closed as interrupted) is asked to go
    /// on, at most [`RETRIES`] times per lead start.
    async fn ask(&self, spawn: SpawnArgs, tag: &str) -> anyhow::Result<String> {
        let child = PodName::new(&spawn.name)?;
        let ours = self.children.records().iter().any(|c| c.name == child);
        let exists = RecordStore::new(self.roots.pods.clone())
            .load(&child)?
            .is_some();
        if exists && !ours {
            bail!(
                "a Pod named {child} exists and is not a child of {}: remove it (`pod rm {child}`) or go on with `pod work start`/`pod work review`",
                self.name
            );
        }
        // No record of its own: never started (or a spawn the lead's restore
        // reclaimed before the child wrote one), so it is started now.
        if !exists {
            self.children
                .spawn(spawn.clone())
                .await
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("cannot start {child}"))?;
        }
        let mut retries = 0;
        let mut resumed = 0;
        loop {
            if !self.children.is_running(&child) {
                if resumed > RETRIES {
                    bail!(
                        "{child} keeps exiting; `pod resume {}` tries again",
                        self.name
                    );
                }
                resumed += 1;
                self.say(format!("resuming {child}"));
                self.children
                    .resume_child(&child)
                    .await
                    .map_err(anyhow::Error::msg)
                    .with_context(|| format!("cannot resume {child}"))?;
            }
            match progress(&self.roots, &child, tag)? {
                Progress::Done(answer) => return Ok(answer),
                Progress::Working => tokio::time::sleep(POLL).await,
                Progress::NotAsked => {
                    self.children
                        .send(&child, &spawn.task, InputMode::Queue)
                        .await
                        .map_err(anyhow::Error::msg)?;
                }
                Progress::Failed(error) => {
                    if retries == RETRIES {
                        bail!("{child}'s run failed: {error}");
                    }
                    retries += 1;
                    self.say(format!(
                        "{child}'s run ended with an error ({error}); asking it to go on"
                    ));
                    self.children
                        .send(
                            &child,
                            &format!("Go on with your task where you stopped.\n\n{tag}"),
                            InputMode::Queue,
                        )
                        .await
                        .map_err(anyhow::Error::msg)?;
                }
            }
        }
    }
}

/// `child`'s log: its active segment, after the segments it was compacted from
/// (so a message given before the child compacted is still seen as given, and not
/// given twice). `None`: no record or no segment yet.
pub(crate) fn child_entries(
    roots: &Roots,
    child: &PodName,
) -> anyhow::Result<Option<Vec<EntryKind>>> {
    let Some(record) = RecordStore::new(roots.pods.clone()).load(child)? else {
        return Ok(None);
    };
    let Some((_, segment)) = record.active_segment() else {
        return Ok(None);
    };
    let sessions = SessionStore::new(roots.sessions.clone());
    let mut notes = Vec::new();
    let entries = crate::restore::with_lineage(&sessions, segment, &mut notes)?;
    for n in notes {
        tracing::warn!(child = child.as_str(), "{n}");
    }
    Ok(Some(entries))
}

/// Where `child` is with the message tagged `tag`, from its log: a run started by
/// an input carrying the tag (or any run after it) and whether the last of those
/// ended. A message still queued counts as asked.
fn progress(roots: &Roots, child: &PodName, tag: &str) -> anyhow::Result<Progress> {
    let Some(entries) = child_entries(roots, child)? else {
        return Ok(Progress::NotAsked);
    };
    // Inputs are consumed in order (ARCHITECTURE §8, durable input): a tagged
    // input is queued, then opens a run with its `user_input`; a run ends with
    // one terminal entry.
    let (mut asked, mut pending, mut running) = (false, false, false);
    let mut ended = None;
    let mut answer = String::new();
    for e in &entries {
        match e {
            EntryKind::Extension { domain, payload }
                if domain == crate::input_log::DOMAIN
                    && payload["event"] == "queued"
                    && payload["text"].as_str().is_some_and(|t| t.contains(tag)) =>
            {
                (asked, pending) = (true, true);
            }
            EntryKind::UserInput { text } if asked || text.contains(tag) => {
                (asked, pending, running) = (true, false, true);
                answer.clear();
            }
            EntryKind::AssistantItem {
                item: ConvItem::AssistantMessage { text },
            } if running => answer = text.clone(),
            EntryKind::RunCompleted if running => {
                running = false;
                ended = Some(Progress::Done(std::mem::take(&mut answer)));
            }
            EntryKind::RunErrored { error } if running => {
                running = false;
                ended = Some(Progress::Failed(error.clone()));
            }
            _ => {}
        }
    }
    Ok(match ended {
        _ if !asked => Progress::NotAsked,
        Some(p) if !pending && !running => p,
        _ => Progress::Working,
    })
}

/// Follows lead `name` (process `pid`) in the foreground, as `pod work run` and
/// `pod resume LEAD` do: its progress lines on stderr, its outcome on stdout,
/// until its process ends. Exit 0 approved, 5 blocking after the last round, 1
/// failed or gone without an outcome (killed: `pod resume` continues). The Pod's
/// log is the only channel, so a follower attached late misses nothing.
pub async fn follow(
    roots: &Roots,
    name: &PodName,
    pid: u32,
    detach: bool,
) -> anyhow::Result<std::process::ExitCode> {
    use crate::cli::exit::Exit;
    if detach {
        crate::outln!("{} ready (pid {pid})", name.as_str())?;
        return Ok(std::process::ExitCode::SUCCESS);
    }
    eprintln!("[{name}] lead started (pid {pid})");
    let lock = crate::layout::PodPaths::new(roots, name).lock();
    let sessions = SessionStore::new(roots.sessions.clone());
    let records = RecordStore::new(roots.pods.clone());
    let mut after: Option<u64> = None;
    let mut outcome = None;
    loop {
        // Looked at before the log, so the last read covers everything it wrote.
        let gone = crate::liveness::probe(&lock).is_none();
        if let Some((_, segment)) = records.load(name)?.and_then(|r| r.active_segment()) {
            let read = match after {
                Some(seq) => sessions.read_from(segment, seq)?,
                None => sessions.read_segment(segment)?,
            };
            // This start's entries only: from its `started`/`restored` line on.
            let from = if after.is_none() {
                read.entries
                    .iter()
                    .rposition(|e| {
                        matches!(&e.kind, EntryKind::Extension { domain, payload }
                            if domain == crate::LIFECYCLE_DOMAIN && payload["pid"] == pid)
                    })
                    .unwrap_or(0)
            } else {
                0
            };
            for e in &read.entries[from..] {
                after = Some(e.seq);
                let EntryKind::Extension { domain, payload } = &e.kind else {
                    continue;
                };
                if domain != DOMAIN {
                    continue;
                }
                let text = payload["text"].as_str().unwrap_or_default();
                match payload["event"].as_str() {
                    Some("finished") => {
                        outcome = serde_json::from_value::<Outcome>(payload["outcome"].clone())
                            .ok()
                            .map(|o| (o, text.to_owned()));
                    }
                    _ => eprintln!("[{name}] {text}"),
                }
            }
            if after.is_none() {
                after = read.entries.last().map(|e| e.seq);
            }
        }
        if gone {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(match outcome {
        Some((Outcome::Approved, text)) => {
            crate::outln!("{text}")?;
            std::process::ExitCode::SUCCESS
        }
        Some((Outcome::Blocking, text)) => {
            crate::outln!("{text}")?;
            Exit::Blocking.into()
        }
        Some((Outcome::Failed, text)) => {
            eprintln!("error: {text}");
            Exit::Failed.into()
        }
        None => {
            eprintln!(
                "error: lead {name} ended before the workflow did (killed?); `pod resume {name}` continues the same round"
            );
            Exit::Failed.into()
        }
    })
}
