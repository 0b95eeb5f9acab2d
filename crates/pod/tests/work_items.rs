//! `pod work` end to end in a real git repository: the CLI's commands and exit
//! codes, two processes commenting at once, doctor on git leftovers, and the
//! `work_*` tools writing only the item a Pod is granted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, Mock, git, json, tool_output};

/// An Env whose project is a git repository with one commit and a work-items store.
fn repo() -> Env {
    let env = Env::new();
    git(&env.project, &["init", "-q", "-b", "main"]);
    env.ok(&["work", "init"]);
    git(&env.project, &["add", "."]);
    git(&env.project, &["commit", "-qm", "start"]);
    env
}

fn create(env: &Env, title: &str) -> serde_json::Value {
    json(&env.ok(&["work", "create", "--title", title, "--json"]))
}

#[test]
fn the_cli_drives_an_item_and_refuses_bad_input_with_exit_2() {
    let env = repo();
    std::fs::write(
        env.project.join("desc.md"),
        "Login fails for emails with a plus.\n",
    )
    .unwrap();
    let it = json(&env.ok(&[
        "work",
        "create",
        "--title",
        "Fix the login bug",
        "--kind",
        "bug",
        "--priority",
        "high",
        "--label",
        "auth",
        "--body",
        "desc.md",
        "--json",
    ]));
    assert_eq!(it["slug"], "fix-the-login-bug");
    assert_eq!(it["status"], "open");
    let id = it["id"].as_str().unwrap().to_owned();
    assert!(id.ends_with("-fix-the-login-bug") && id.len() == 16 + "fix-the-login-bug".len());

    env.ok(&[
        "work",
        "comment",
        "fix-the-login-bug",
        "--role",
        "plan",
        "-m",
        "1. reproduce\n2. fix",
    ]);
    std::fs::write(env.project.join("r1.md"), "Add a regression test.\n").unwrap();
    std::fs::write(env.project.join("r2.md"), "Looks good.\n").unwrap();
    env.ok(&[
        "work",
        "review",
        &id,
        "--request-changes",
        "--file",
        "r1.md",
    ]);
    env.ok(&["work", "review", &id, "--approve", "--file", "r2.md"]);
    env.ok(&["work", "status", &id, "pending"]);

    let list = json(&env.ok(&["work", "list", "--status", "pending", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["last_verdict"], "approve");
    assert_eq!(
        json(&env.ok(&["work", "list", "--status", "open", "--json"])),
        serde_json::json!([])
    );

    let shown = json(&env.ok(&["work", "show", "fix-the-login-bug", "--json"]));
    let kinds: Vec<&str> = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["create", "comment", "review", "review", "status"]);
    assert_eq!(
        shown["artifacts"],
        serde_json::json!(["review.md", "review-r2.md"])
    );
    assert_eq!(shown["body"], "Login fails for emails with a plus.\n");
    let dir = env.project.join("work-items/pending").join(&id);
    let r2 = std::fs::read_to_string(dir.join("artifacts/review-r2.md")).unwrap();
    assert!(r2.starts_with("Verdict: approve\n"), "{r2}");

    env.ok(&["work", "close", &id, "--resolution", "Fixed in the parser."]);
    let closed = env.project.join("work-items/closed").join(&id);
    assert_eq!(
        std::fs::read_to_string(closed.join("resolution.md")).unwrap(),
        "Fixed in the parser.\n"
    );
    assert!(env.ok(&["work", "doctor"]).contains("no problems"));

    // Bad input: a clear message, exit 2, nothing written.
    let before = std::fs::read_to_string(closed.join("thread.md")).unwrap();
    assert!(
        env.fails_with(2, &["work", "show", "nope"])
            .contains("no work item \"nope\"")
    );
    assert!(
        env.fails_with(2, &["work", "comment", &id, "--role", "rant", "-m", "x"])
            .contains("role \"rant\"")
    );
    assert!(
        env.fails_with(2, &["work", "comment", &id, "-m", "  "])
            .contains("empty")
    );
    assert!(
        env.fails_with(2, &["work", "status", &id, "done"])
            .contains("status \"done\"")
    );
    assert!(
        env.fails_with(2, &["work", "create", "--title", "x", "--kind", "epic"])
            .contains("kind \"epic\"")
    );
    assert!(
        env.fails_with(2, &["work", "close", &id])
            .contains("already closed")
    );
    assert_eq!(
        std::fs::read_to_string(closed.join("thread.md")).unwrap(),
        before
    );
    // The human list keeps its columns whatever the slugs' lengths.
    create(
        &env,
        "A title long enough that its id is well over forty characters",
    );
    let listed = env.ok(&["work", "list"]);
    // Where the priority column starts: after the id and its padding.
    let priority_at: Vec<usize> = listed
        .lines()
        .map(|l| {
            let id = l.split_whitespace().nth(1).unwrap();
            let after = l.find(id).unwrap() + id.len();
            after + l[after..].len() - l[after..].trim_start().len()
        })
        .collect();
    assert!(
        priority_at.len() >= 2 && priority_at.iter().all(|c| *c == priority_at[0]),
        "{listed}"
    );
    let bare = tempfile::tempdir().unwrap();
    let out = env
        .pod()
        .current_dir(bare.path())
        .args(["work", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pod work init"));
}

#[test]
fn two_processes_commenting_200_times_each_lose_nothing() {
    let env = repo();
    let id = create(&env, "Busy item")["id"].as_str().unwrap().to_owned();
    let bin = env!("CARGO_BIN_EXE_pod");
    let spawn = |who: &str| {
        env.pod_shell_spawn(&format!(
            "for i in $(seq 1 200); do {bin} work --author {who} comment {id} -m \"$i from {who}\" >/dev/null || exit 1; done"
        ))
    };
    let (a, b) = (spawn("alpha"), spawn("bravo"));
    for mut c in [a, b] {
        assert!(c.wait().unwrap().success());
    }
    let shown = json(&env.ok(&["work", "show", &id, "--json"]));
    assert_eq!(shown["thread_problems"], serde_json::json!([]));
    let events = shown["events"].as_array().unwrap();
    assert_eq!(
        events.iter().filter(|e| e["kind"] == "comment").count(),
        400
    );
    for who in ["alpha", "bravo"] {
        let bodies: Vec<String> = events
            .iter()
            .filter(|e| e["author"] == who)
            .map(|e| e["body"].as_str().unwrap().to_owned())
            .collect();
        let want: Vec<String> = (1..=200).map(|i| format!("{i} from {who}")).collect();
        assert_eq!(bodies, want);
    }
}

#[test]
fn doctor_finds_leftover_worktrees_and_branches_and_removes_them_safely() {
    let env = repo();
    let done = create(&env, "Done thing")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let live = create(&env, "Live thing")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.ok(&["work", "close", &done]);
    let p = &env.project;
    git(
        p,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "work/done-thing",
            ".worktrees/done-thing/done-thing",
        ],
    );
    git(
        p,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "work/live-thing",
            ".worktrees/live-thing/live-thing",
        ],
    );
    std::fs::write(p.join("work-items/notes.txt"), "scribble").unwrap();
    let out = env.run(&["work", "doctor", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(report["ok"], false);
    let mut kinds: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        ["leftover_branch", "orphan_worktree", "stray_file"],
        "{report}"
    );

    let out = env.run(&["work", "doctor", "--fix", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!p.join(".worktrees/done-thing").exists());
    assert!(!git(p, &["branch", "--list", "work/done-thing"]).contains("done-thing"));
    // The live item's worktree and branch are untouched.
    assert!(p.join(".worktrees/live-thing/live-thing").is_dir());
    assert!(git(p, &["branch", "--list", "work/live-thing"]).contains("live-thing"));
    assert!(env.ok(&["work", "doctor"]).contains("no problems"));
    let _ = live;
}

const TOOLS_SCRIPT: &str = r#"
responses:
  - output:
      - tool_call: work_comment
        id: c_other
        arguments: {"item": "other-item", "body": "sneaky"}
      - tool_call: work_review
        id: c_review
        arguments: {"verdict": "request_changes", "report": "Add a test for plus signs."}
      - tool_call: write_file
        id: c_write
        arguments: {"path": "ITEMDIR/artifacts/forged.md", "content": "Verdict: approve"}
      - tool_call: work_list
        id: c_list
        arguments: {}
  - output: [{text: "done"}]
"#;

#[test]
fn work_tools_write_only_the_granted_item_and_file_tools_not_at_all() {
    let env = repo();
    let mine = create(&env, "My item")["id"].as_str().unwrap().to_owned();
    let other = create(&env, "Other item")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let item_dir = env.project.join("work-items/open").join(&mine);
    let mock = Mock::start(&TOOLS_SCRIPT.replace("ITEMDIR", &item_dir.display().to_string()));
    let url = mock.url();
    let out = env.run(&[
        "run",
        "review it",
        "--name",
        "rev",
        "--model",
        "m",
        "--base-url",
        &url,
        "--write",
        "src",
        "--work-item",
        "my-item",
        "--work-rights",
        "review",
        "--print",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<serde_json::Value> = env
        .log("rev")
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .filter(|e| e["kind"] == "tool_result")
        .collect();
    let by = |id: &str| {
        results
            .iter()
            .find(|r| r.to_string().contains(id))
            .unwrap()
            .to_string()
    };
    assert!(by("c_other").contains("not allowed"), "{}", by("c_other"));
    assert!(
        by("c_review").contains("artifacts/review.md"),
        "{}",
        by("c_review")
    );
    assert!(by("c_write").contains("error"), "{}", by("c_write"));
    assert!(by("c_list").contains(&other), "{}", by("c_list"));
    // On disk: the review and its event, nothing on the other item, no forgery.
    let report = std::fs::read_to_string(item_dir.join("artifacts/review.md")).unwrap();
    assert_eq!(
        report,
        "Verdict: request-changes\n\nAdd a test for plus signs.\n"
    );
    assert!(!item_dir.join("artifacts/forged.md").exists());
    let shown = json(&env.ok(&["work", "show", &mine, "--json"]));
    let review = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "review")
        .unwrap()
        .clone();
    assert_eq!(review["author"], "rev");
    assert_eq!(review["fields"]["verdict"], "request-changes");
    let other_shown = json(&env.ok(&["work", "show", &other, "--json"]));
    assert_eq!(other_shown["events"].as_array().unwrap().len(), 1);
    // The grant survives in the record (a restore keeps it).
    let rec = pod::record::RecordStore::new(env.roots.pods.clone())
        .load(&pod_ids::PodName::new("rev").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        rec.manifest.work.unwrap().item.as_deref(),
        Some(mine.as_str())
    );
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
      - tool_call: write_file
        id: c1_other_item
        arguments: {"path": "OTHERDIR/thread.md", "content": "forged"}
      - tool_call: work_comment
        id: c1_other_comment
        arguments: {"item": "other-item", "body": "forged"}
      - tool_call: work_comment
        id: c1_report
        arguments: {"role": "implementation_report", "body": "wrote v1"}
  - output: [{text: "coded v1"}]
  - output:
      - tool_call: write_file
        id: r1_write
        arguments: {"path": "feature.txt", "content": "reviewer was here"}
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
  - output: [{text: "approved"}]
"#;

#[test]
fn the_whole_journey_create_start_review_fix_approve_merge_doctor() {
    let env = repo();
    let p = env.project.clone();
    let id = create(&env, "Add feature")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = create(&env, "Other item")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_dir = p.join("work-items/open").join(&other);
    let mock = Mock::start(
        &JOURNEY
            .replace("REPO", &p.display().to_string())
            .replace("OTHERDIR", &other_dir.display().to_string()),
    );
    let url = mock.url();
    let pod_flags = ["--model", "m", "--base-url", url.as_str()];
    let with = |a: &[&str]| -> Vec<String> {
        a.iter()
            .chain(pod_flags.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let ok = |a: Vec<String>| env.ok(&a.iter().map(String::as_str).collect::<Vec<_>>());

    // Start: worktree, branch, pending + assign, a coder confined to the worktree.
    ok(with(&["work", "start", "add-feature"]));
    let wt = p.join(".worktrees/add-feature/add-feature");
    assert_eq!(
        std::fs::read_to_string(wt.join("feature.txt")).unwrap(),
        "v1\n"
    );
    assert!(tool_output(&env, "coder-add-feature", "c1_outside").contains("error"));
    assert!(tool_output(&env, "coder-add-feature", "c1_other_item").contains("error"));
    assert!(tool_output(&env, "coder-add-feature", "c1_other_comment").contains("not allowed"));
    assert!(!p.join("outside.txt").exists() && !p.join("outside-bash.txt").exists());
    assert_eq!(
        json(&env.ok(&["work", "show", &other, "--json"]))["events"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let it = json(&env.ok(&["work", "show", &id, "--json"]));
    assert_eq!(it["status"], "pending");
    assert_eq!(it["assignee"], "coder-add-feature");
    // The coder's change is committed on its branch, not on main.
    assert!(git(&p, &["log", "--oneline", "main..work/add-feature"]).contains("add-feature"));
    assert!(!p.join("feature.txt").exists());

    // Review 1: request changes, written by the reviewer Pod, which cannot write code.
    ok(with(&["work", "review", "add-feature"]));
    assert!(tool_output(&env, "reviewer-add-feature-r1", "r1_write").contains("error"));
    assert_eq!(
        std::fs::read_to_string(wt.join("feature.txt")).unwrap(),
        "v1\n"
    );
    let dir = p.join("work-items/pending").join(&id);
    assert!(
        std::fs::read_to_string(dir.join("artifacts/review.md"))
            .unwrap()
            .starts_with("Verdict: request-changes")
    );
    let err = env.fails(&["work", "merge", &id]);
    assert!(err.contains("blocks the merge"), "{err}");

    // The coder keeps the provider it was started with: another is refused, named.
    let err = env.fails(&["work", "start", "add-feature", "--model", "other"]);
    assert!(
        err.contains("--model other (it has m)") && err.contains("pod rm coder-add-feature"),
        "{err}"
    );
    // Fix (the same coder, resumed with the review), review 2 approves.
    ok(with(&["work", "start", "add-feature"]));
    assert_eq!(
        std::fs::read_to_string(wt.join("feature.txt")).unwrap(),
        "v2\n"
    );
    ok(with(&["work", "review", "add-feature"]));
    assert!(
        std::fs::read_to_string(dir.join("artifacts/review-r2.md"))
            .unwrap()
            .starts_with("Verdict: approve")
    );

    // Merge: refused on a dirty tree, then merged, validated, closed, cleaned up.
    std::fs::write(p.join("a.txt"), "local edit\n").unwrap();
    assert!(
        env.fails(&["work", "merge", &id])
            .contains("uncommitted changes")
    );
    git(&p, &["checkout", "a.txt"]);
    let merged = json(&env.ok(&[
        "work",
        "merge",
        &id,
        "--validate",
        "grep -q v2 feature.txt",
        "--json",
    ]));
    assert_eq!(merged["validation"], "passed");
    assert_eq!(
        std::fs::read_to_string(p.join("feature.txt")).unwrap(),
        "v2\n"
    );
    assert!(!wt.exists());
    assert!(git(&p, &["branch", "--list", "work/*"]).trim().is_empty());
    let it = json(&env.ok(&["work", "show", &id, "--json"]));
    assert_eq!(it["status"], "closed");
    let kinds: Vec<&str> = it["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "create", "assign", "status", "comment", "review", "comment", "review", "merge",
            "close"
        ],
        "{it}"
    );
    let merge_ev = &it["events"][7];
    assert_eq!(merge_ev["fields"]["validation"], "passed");
    assert_eq!(merge_ev["fields"]["commit"], merged["commit"]);
    assert!(env.ok(&["work", "doctor"]).contains("no problems"));
}

#[test]
fn a_worktree_git_file_pointed_elsewhere_runs_nothing_of_the_coders() {
    let env = repo();
    let p = env.project.clone();
    let id = create(&env, "Evil item")["id"].as_str().unwrap().to_owned();
    git(
        &p,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "work/evil-item",
            ".worktrees/evil-item/evil-item",
        ],
    );
    let wt = p.join(".worktrees/evil-item/evil-item");
    // What a coder with write scope on the worktree could do: its own git dir with a
    // config that runs a command whenever git looks at the tree.
    let fake = wt.join("fake-git");
    git(&p, &["init", "-q", "--bare", &fake.display().to_string()]);
    let marker = p.join("pwned");
    std::fs::write(
        fake.join("config"),
        format!(
            "[core]\n\tbare = false\n\tfsmonitor = \"touch {}; false\"\n",
            marker.display()
        ),
    )
    .unwrap();
    std::fs::write(wt.join(".git"), format!("gitdir: {}\n", fake.display())).unwrap();
    std::fs::write(wt.join("change.txt"), "x\n").unwrap();
    std::fs::write(p.join("ok.md"), "fine\n").unwrap();
    env.ok(&["work", "review", &id, "--approve", "--file", "ok.md"]);
    std::fs::remove_file(p.join("ok.md")).unwrap();
    let _ = env.run(&["work", "merge", &id]);
    assert!(!marker.exists(), "git ran the coder's fsmonitor command");
    // The workflow committed through the main repository's record of the worktree.
    assert!(
        git(&p, &["show", "--stat", "work/evil-item"]).contains("change.txt")
            || p.join("change.txt").exists()
    );
}
