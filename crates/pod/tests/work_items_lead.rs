//! `pod work run` as a lead Pod whose children are the coder and the reviewers,
//! end to end in a real git repository with mock-llm: the journey to an approved
//! merge with the parent links on record and the children held to their scopes,
//! and a lead SIGKILLed mid-round that `pod resume` continues with no review lost
//! or duplicated.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Env, Mock, git, json, tool_output};

/// A git repository with a work-items store (its `.gitignore` line committed)
/// and one item, `add-feature`; returns the item's id.
fn repo() -> (Env, String) {
    let env = Env::new();
    git(&env.project, &["init", "-q", "-b", "main"]);
    env.ok(&["work", "init"]);
    env.ok(&["work", "init"]);
    let ignore = std::fs::read_to_string(env.project.join(".gitignore")).unwrap();
    assert_eq!(ignore, ".worktrees/\n", "init adds the line once");
    git(&env.project, &["add", "."]);
    git(&env.project, &["commit", "-qm", "start"]);
    let out = env.ok(&["work", "create", "--title", "Add feature", "--json"]);
    let id = json(&out)["id"].as_str().unwrap().to_owned();
    (env, id)
}

/// (author, round, verdict) of every review event of the item.
fn reviews(env: &Env, id: &str) -> Vec<(String, String, String)> {
    json(&env.ok(&["work", "show", id, "--json"]))["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "review")
        .map(|e| {
            let s = |v: &serde_json::Value| v.as_str().unwrap().to_owned();
            (
                s(&e["author"]),
                s(&e["fields"]["round"]),
                s(&e["fields"]["verdict"]),
            )
        })
        .collect()
}

/// `pod ls --json` as (name, parent) pairs.
fn parents(env: &Env) -> Vec<(String, Option<String>)> {
    let mut v: Vec<_> = json(&env.ok(&["ls", "--json"]))
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["parent"].as_str().map(str::to_owned),
            )
        })
        .collect();
    v.sort();
    v
}

fn lead_children(env: &Env) {
    let lead = Some("work-add-feature".to_owned());
    assert_eq!(
        parents(env),
        [
            ("coder-add-feature".to_owned(), lead.clone()),
            ("reviewer-add-feature-r1".to_owned(), lead.clone()),
            ("reviewer-add-feature-r2".to_owned(), lead),
            ("work-add-feature".to_owned(), None),
        ]
    );
}

fn count(env: &Env, pod: &str, kind: &str) -> usize {
    common::kinds(&env.log(pod))
        .iter()
        .filter(|k| *k == kind)
        .count()
}

const JOURNEY: &str = r#"
responses:
  - output:
      - tool_call: write_file
        id: c1_feature
        arguments: {"path": "feature.txt", "content": "v1\n"}
      - tool_call: write_file
        id: c1_outside
        arguments: {"path": "REPO/outside.txt", "content": "x"}
      - tool_call: bash
        id: c1_shell
        arguments: {"command": "echo x > REPO/outside-bash.txt"}
      - tool_call: work_comment
        id: c1_report
        arguments: {"role": "implementation_report", "body": "wrote v1"}
  - output: [{text: "coded v1"}]
  - output:
      - tool_call: write_file
        id: r1_write
        arguments: {"path": "feature.txt", "content": "reviewer was here"}
      - tool_call: bash
        id: r1_shell
        arguments: {"command": "echo x > reviewer-bash.txt"}
      - tool_call: work_review
        id: r1_review
        arguments: {"verdict": "request_changes", "report": "feature.txt must say v2."}
  - output: [{text: "reviewed"}]
  - output:
      - tool_call: write_file
        id: c2_fix
        arguments: {"path": "feature.txt", "content": "v2\n"}
  - output: [{text: "fixed: v2"}]
  - output:
      - tool_call: work_review
        id: r2_review
        arguments: {"verdict": "approve", "report": "v2 it is."}
  - output:
      - tool_call: work_review
        id: r2_again
        arguments: {"verdict": "request_changes", "report": "second thoughts"}
  - output: [{text: "approved"}]
"#;

#[test]
fn work_run_is_a_lead_pod_whose_children_code_and_review_until_approval() {
    let (env, id) = repo();
    let p = env.project.clone();
    let mock = Mock::start(&JOURNEY.replace("REPO", &p.display().to_string()));
    let url = mock.url();
    let out = env.run(&[
        "work",
        "run",
        "add-feature",
        "--rounds",
        "3",
        "--model",
        "m",
        "--base-url",
        &url,
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("approved after 2 review(s); `pod work merge add-feature` merges it"),
        "{stdout}"
    );
    assert!(
        stderr.contains("round 2: reviewer reviewer-add-feature-r2 reviews"),
        "{stderr}"
    );

    // One tree: the lead is the parent of the coder and of each round's reviewer,
    // and everything stopped (scopes released) when the lead finished.
    lead_children(&env);
    for pod in [
        "work-add-feature",
        "coder-add-feature",
        "reviewer-add-feature-r1",
        "reviewer-add-feature-r2",
    ] {
        assert!(!env.is_live(pod), "{pod} still runs");
    }
    // The coder child's scope is the worktree exactly, delegated by the lead.
    let wt = p.join(".worktrees/add-feature/add-feature");
    let rec = pod::record::RecordStore::new(env.roots.pods.clone())
        .load(&pod_ids::PodName::new("coder-add-feature").unwrap())
        .unwrap()
        .unwrap();
    let writes: Vec<_> = rec
        .manifest
        .scope
        .allow
        .iter()
        .filter(|r| r.access == scope::Access::Write)
        .map(|r| r.path.as_path().to_path_buf())
        .collect();
    assert_eq!(writes, std::slice::from_ref(&wt));
    assert_eq!(
        rec.manifest.work.as_ref().unwrap().rights,
        [pod::work::WorkRight::Comment, pod::work::WorkRight::Status]
    );
    // The coder child cannot write outside the worktree, by file tool or shell.
    assert!(tool_output(&env, "coder-add-feature", "c1_outside").contains("error"));
    assert!(!p.join("outside.txt").exists() && !p.join("outside-bash.txt").exists());
    // The reviewer child cannot write the worktree, by file tool or shell.
    assert!(tool_output(&env, "reviewer-add-feature-r1", "r1_write").contains("error"));
    assert!(!wt.join("reviewer-bash.txt").exists());
    assert!(git(&p, &["show", "work/add-feature~1:feature.txt"]).starts_with("v1"));
    // Round 2's reviewer may write review 2 only: its second verdict was refused.
    assert!(
        tool_output(&env, "reviewer-add-feature-r2", "r2_again").contains("round 2"),
        "{}",
        tool_output(&env, "reviewer-add-feature-r2", "r2_again")
    );
    assert_eq!(
        reviews(&env, &id),
        [
            (
                "reviewer-add-feature-r1".to_owned(),
                "1".to_owned(),
                "request-changes".to_owned()
            ),
            (
                "reviewer-add-feature-r2".to_owned(),
                "2".to_owned(),
                "approve".to_owned()
            ),
        ]
    );
    let dir = p.join("work-items/pending").join(&id);
    assert!(
        std::fs::read_to_string(dir.join("artifacts/review.md"))
            .unwrap()
            .starts_with("Verdict: request-changes")
    );
    assert!(
        std::fs::read_to_string(dir.join("artifacts/review-r2.md"))
            .unwrap()
            .starts_with("Verdict: approve")
    );
    // The coder did not report in round 2; the lead recorded its answer.
    let it = json(&env.ok(&["work", "show", &id, "--json"]));
    assert!(
        it["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["author"] == "coder-add-feature"
                && e["fields"]["role"] == "implementation_report"
                && e["body"].as_str().unwrap_or("").contains("fixed: v2")),
        "{it}"
    );

    // Started again once approved: nothing to do, same answer.
    let again = env.ok(&[
        "work",
        "run",
        "add-feature",
        "--rounds",
        "3",
        "--model",
        "m",
        "--base-url",
        &url,
    ]);
    assert!(again.contains("approved after 2 review(s)"), "{again}");
    // Without flags it continues as it was started; a flag that would change what the
    // lead was granted is refused, naming it, not silently ignored.
    let bare = env.ok(&["work", "run", "add-feature"]);
    assert!(bare.contains("approved after 2 review(s)"), "{bare}");
    // A model alias standing for the lead's own model is no change.
    env.write_user_config("[models.fast]\nprovider = \"openai\"\nmodel = \"m\"\n");
    let aliased = env.ok(&["work", "run", "add-feature", "--model", "fast"]);
    assert!(aliased.contains("approved after 2 review(s)"), "{aliased}");
    let refused = env.fails_with(
        2,
        &[
            "work",
            "run",
            "add-feature",
            "--rounds",
            "5",
            "--base-url",
            "http://127.0.0.1:1",
        ],
    );
    assert!(
        refused.contains("--rounds 5 (it has 3)")
            && refused.contains(&format!("--base-url http://127.0.0.1:1 (it has {url})"))
            && refused.contains("pod rm work-add-feature"),
        "{refused}"
    );
    let zero = env.fails_with(2, &["work", "run", "add-feature", "--rounds", "0"]);
    assert!(zero.contains("--rounds"), "{zero}");

    let merged = json(&env.ok(&[
        "work",
        "merge",
        &id,
        "--validate",
        "grep -q v2 feature.txt",
        "--json",
    ]));
    assert_eq!(merged["validation"], "passed");
    assert!(!p.join(".worktrees/add-feature").exists());
    assert!(env.ok(&["work", "doctor"]).contains("no problems"));
}

const KILLED: &str = r#"
responses:
  - output:
      - tool_call: write_file
        id: c1
        arguments: {"path": "feature.txt", "content": "v1\n"}
      - tool_call: work_comment
        id: c1_report
        arguments: {"role": "implementation_report", "body": "wrote v1"}
  - output: [{text: "coded v1"}]
  - output:
      - tool_call: work_review
        id: r1
        arguments: {"verdict": "request_changes", "report": "feature.txt must say v2."}
    stall_after_events: 1
    stall_ms: 2000
  - output: [{text: "reviewed"}]
  - output:
      - tool_call: write_file
        id: c2
        arguments: {"path": "feature.txt", "content": "v2\n"}
    stall_after_events: 1
    stall_ms: 2000
  - output: [{text: "fixed"}]
  - output:
      - tool_call: work_review
        id: r2
        arguments: {"verdict": "approve", "report": "Good."}
  - output: [{text: "approved"}]
"#;

/// Starts `pod ARGS` (a foreground lead), waits until mock-llm got `requests`
/// requests (a child's held model call), runs `meanwhile`, SIGKILLs the lead
/// only, and checks the foreground command says how to continue.
fn kill_lead_at(env: &Env, mock: &Mock, args: &[&str], requests: usize, meanwhile: impl Fn()) {
    let run = env
        .pod()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    common::wait_until("a child's model call", Duration::from_secs(60), || {
        mock.requests().len() >= requests
    });
    meanwhile();
    common::signal(env.pid("work-add-feature"), rustix::process::Signal::KILL);
    let out = run.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`pod resume work-add-feature` continues the same round"),
        "{stderr}"
    );
}

#[test]
fn a_lead_killed_mid_round_is_resumed_and_continues_that_round() {
    let (env, id) = repo();
    let mock = Mock::start(KILLED);
    let url = mock.url();
    let run: [&str; 7] = [
        "work",
        "run",
        "add-feature",
        "--model",
        "m",
        "--base-url",
        &url,
    ];
    // Killed while the reviewer of round 1 is in its (held) model call.
    kill_lead_at(&env, &mock, &run, 3, || {
        assert!(env.is_live("reviewer-add-feature-r1"));
        // Its driver is code: the lead takes no input that could start a model turn.
        let sent = env.run(&["send", "work-add-feature", "hello"]);
        assert!(!sent.status.success());
        assert!(String::from_utf8_lossy(&sent.stderr).contains("takes no input"));
    });
    // Its children outlive it and keep their delegated scope meanwhile.
    assert!(env.is_live("coder-add-feature"));
    // Resumed, then killed again while the coder of round 2 is in its model call.
    kill_lead_at(&env, &mock, &["resume", "work-add-feature"], 5, || {
        assert!(env.is_live("coder-add-feature"));
    });
    assert_eq!(reviews(&env, &id).len(), 1);
    // `pod work run` again continues it too, to the end.
    let out = env.run(&run);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Exactly the two reviews, each once, by its round's reviewer.
    assert_eq!(
        reviews(&env, &id),
        [
            (
                "reviewer-add-feature-r1".to_owned(),
                "1".to_owned(),
                "request-changes".to_owned()
            ),
            (
                "reviewer-add-feature-r2".to_owned(),
                "2".to_owned(),
                "approve".to_owned()
            ),
        ]
    );
    // Nothing was started or asked twice: the living children were relinked to
    // the restored lead, and each got each message once.
    assert_eq!(count(&env, "reviewer-add-feature-r1", "user_input"), 1);
    assert_eq!(count(&env, "coder-add-feature", "user_input"), 2);
    lead_children(&env);
    let restores = env
        .log("work-add-feature")
        .iter()
        .filter(|e| {
            matches!(&e.kind, session_store::EntryKind::Extension { domain, payload }
                if domain == "pod.lifecycle" && payload["event"] == "restored")
        })
        .count();
    assert_eq!(restores, 2, "the lead was restored from its record, twice");
    // Every scope came back: no Pod is live, and the worktree is writable by a
    // new Pod (the registry holds no delegation any more).
    for pod in [
        "work-add-feature",
        "coder-add-feature",
        "reviewer-add-feature-r1",
        "reviewer-add-feature-r2",
    ] {
        assert!(!env.is_live(pod), "{pod} still runs");
    }
    assert_eq!(
        std::fs::read_to_string(
            env.project
                .join(".worktrees/add-feature/add-feature/feature.txt")
        )
        .unwrap(),
        "v2\n"
    );
    // The registry holds nothing of the tree: a new Pod may write the lead's region.
    let region = env.project.join(".worktrees/add-feature");
    env.ok(&[
        "run",
        "--name",
        "probe",
        "--write",
        &region.display().to_string(),
        "--model",
        "m",
        "--base-url",
        &url,
        "--detach",
    ]);
    env.ok(&["stop", "probe"]);
    let merged = json(&env.ok(&["work", "merge", &id, "--json"]));
    assert_eq!(merged["validation"], "skipped");
    assert!(env.ok(&["work", "doctor"]).contains("no problems"));
}

const DELEGATE: &str = r#"
responses:
  - when: {model: boss, last_user_contains: "delegate"}
    output:
      - tool_call: spawn_pod
        id: s_wide
        arguments: {"name": "kid-wide", "task": "x", "model": "kid", "work": {"rights": ["review"]}}
      - tool_call: spawn_pod
        id: s_other
        arguments: {"name": "kid-other", "task": "x", "model": "kid", "work": {"item": "other-item", "rights": ["comment"]}}
      - tool_call: spawn_pod
        id: s_ok
        arguments: {"name": "kid", "task": "comment please", "model": "kid", "work": {"rights": ["comment"]}}
  - when: {model: boss}
    output: [{text: "noted"}]
    times: 5
  - when: {model: kid, last_user_contains: "comment please"}
    output:
      - tool_call: work_comment
        id: k_comment
        arguments: {"body": "from the kid"}
      - tool_call: work_review
        id: k_review
        arguments: {"verdict": "approve", "report": "not mine to give"}
  - when: {model: kid}
    output: [{text: "done"}]
"#;

#[test]
fn spawn_pod_hands_a_child_part_of_a_work_grant_and_refuses_more() {
    let (env, id) = repo();
    env.ok(&["work", "create", "--title", "Other item"]);
    let mock = Mock::start(DELEGATE);
    let url = mock.url();
    env.ok(&[
        "run",
        "delegate",
        "--name",
        "boss",
        "--model",
        "boss",
        "--base-url",
        &url,
        "--work-item",
        "add-feature",
        "--work-rights",
        "comment,status",
        "--detach",
    ]);
    let records = pod::record::RecordStore::new(env.roots.pods.clone());
    let kid_name = pod_ids::PodName::new("kid").unwrap();
    common::wait_until("the kid's tool calls", Duration::from_secs(60), || {
        let started = records
            .load(&kid_name)
            .unwrap()
            .is_some_and(|r| r.active_segment().is_some());
        started
            && env.log("kid").iter().any(|e| {
                serde_json::to_value(e)
                    .unwrap()
                    .to_string()
                    .contains("k_review")
                    && matches!(e.kind, session_store::EntryKind::ToolResult { .. })
            })
    });
    let wide = tool_output(&env, "boss", "s_wide");
    assert!(wide.contains("more than yours"), "{wide}");
    let other = tool_output(&env, "boss", "s_other");
    assert!(other.contains("not yours"), "{other}");
    // The refused children do not exist; the kid holds exactly what it was given.
    for n in ["kid-wide", "kid-other"] {
        assert!(
            records
                .load(&pod_ids::PodName::new(n).unwrap())
                .unwrap()
                .is_none()
        );
    }
    let kid = records.load(&kid_name).unwrap().unwrap();
    let grant = kid.manifest.work.unwrap();
    assert_eq!(grant.item.as_deref(), Some(id.as_str()));
    assert_eq!(grant.rights, [pod::work::WorkRight::Comment]);
    assert!(tool_output(&env, "kid", "k_review").contains("not allowed"));
    let it = json(&env.ok(&["work", "show", &id, "--json"]));
    let events = it["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["author"] == "kid" && e["body"].as_str().unwrap().contains("from the kid")),
        "{it}"
    );
    assert!(!events.iter().any(|e| e["kind"] == "review"));
    env.ok(&["stop", "boss"]);
}

const ASKED_BASH: &str = r#"
responses:
  - output:
      - tool_call: bash
        id: c_shell
        arguments: {"command": "echo made > by-bash.txt"}
  - output: [{text: "coded"}]
  - output:
      - tool_call: work_review
        id: r_review
        arguments: {"verdict": "approve", "report": "fine"}
  - output: [{text: "approved"}]
"#;

/// Under an `ask` rule the lead's children have nobody to ask: their held calls are
/// denied, unless `pod work run --approve-all` approves them (down the tree).
#[test]
fn work_run_approve_all_reaches_the_children_and_without_it_asks_are_denied() {
    for approve_all in [true, false] {
        let (env, _id) = repo();
        env.write_user_config("[permissions]\nask = [\"bash\"]\n");
        let mock = Mock::start(ASKED_BASH);
        let url = mock.url();
        let mut args = vec![
            "work",
            "run",
            "add-feature",
            "--rounds",
            "1",
            "--model",
            "m",
            "--base-url",
            &url,
        ];
        if approve_all {
            args.push("--approve-all");
        }
        let out = env.run(&args);
        assert!(out.status.success(), "{out:?}");
        let result = tool_output(&env, "coder-add-feature", "c_shell");
        let made = env
            .project
            .join(".worktrees/add-feature/add-feature/by-bash.txt");
        if approve_all {
            assert!(!result.contains("denied"), "{result}");
            assert_eq!(std::fs::read_to_string(&made).unwrap(), "made\n");
        } else {
            assert!(
                result.contains("denied: this call needs an approval"),
                "{result}"
            );
            assert!(!made.exists());
        }
    }
}
