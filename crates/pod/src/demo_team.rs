//! The second half of `pod demo`: a lead Pod splits work between two child Pods,
//! each with write access to its own directory only; the lead cannot write there
//! while they live, hears when they finish, and gets the scope back when it stops
//! them. Offline: its own mock-llm, responses told apart by model name.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use pod_ids::{PodName, Roots};
use protocol::Request;
use scope::{Access, Scope, ScopeRule};
use session_store::{EntryKind, SessionStore};

use crate::client::PodClient;
use crate::launch::{LaunchConfig, Manifest, StartMode};
use crate::launcher::launch;
use crate::layout::PodPaths;
use crate::record::RecordStore;
use crate::toolbox::available_tools;

/// The lead's and the children's scripted answers.
pub const TEAM_SCRIPT: &str = r##"
responses:
  - when: {model: lead-model}
    output:
      - text: "I'll give the tests to one child and the docs to another."
      - tool_call: spawn_pod
        id: spawn_tests
        arguments: {"name": "tester", "task": "Write tests/add.rs for add()", "write": ["tests"], "model": "tests-model"}
      - tool_call: spawn_pod
        id: spawn_docs
        arguments: {"name": "writer", "task": "Write docs/add.md for add()", "write": ["docs"], "model": "docs-model"}
  - when: {model: lead-model, last_tool_result: spawn_pod}
    output:
      - tool_call: write_file
        id: lead_write
        arguments: {"path": "tests/lead.rs", "content": "// the lead tries to write here"}
  - when: {model: lead-model, last_tool_result: write_file}
    output:
      - text: "tests/ belongs to tester while it runs, as expected. Waiting for both children."
  - when: {model: lead-model, last_user_contains: "child_finished"}
    times: 2
    output:
      - text: "Noted."
  - when: {model: tests-model, last_user_contains: "tests/add.rs"}
    output:
      - tool_call: write_file
        id: t1
        arguments: {"path": "add.rs", "content": "#[test]\nfn adds() { assert_eq!(demo::add(2, 2), 4); }\n"}
  - when: {model: tests-model, last_tool_result: write_file}
    output:
      - text: "Wrote tests/add.rs with one test."
  - when: {model: docs-model, last_user_contains: "docs/add.md"}
    output:
      - tool_call: write_file
        id: d1
        arguments: {"path": "add.md", "content": "# add\nAdds two numbers.\n"}
  - when: {model: docs-model, last_tool_result: write_file}
    output:
      - text: "Wrote docs/add.md."
"##;

fn finished_notices(roots: &Roots, name: &PodName) -> Vec<String> {
    let Ok(Some(rec)) = RecordStore::new(roots.pods.clone()).load(name) else {
        return Vec::new();
    };
    let Some((_, seg)) = rec.active_segment() else {
        return Vec::new();
    };
    SessionStore::new(roots.sessions.clone())
        .read_segment(seg)
        .map(|r| {
            r.entries
                .into_iter()
                .filter_map(|e| match e.kind {
                    EntryKind::SystemItem { text } if text.starts_with("child_finished") => {
                        Some(text)
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Runs the team part of the demo in `project` (already generated).
pub async fn team(roots: &Roots, project: &Path, step: usize) -> anyhow::Result<()> {
    for d in ["tests", "docs"] {
        std::fs::create_dir_all(project.join(d))?;
    }
    let script = mock_llm::Script::from_yaml_str(TEAM_SCRIPT)?;
    let server = mock_llm::MockServer::start(script).await?;
    let name = PodName::new("lead")?;
    let manifest = Manifest {
        pins: Default::default(),
        provider: "openai".into(),
        dialect: None,
        reasoning_echo: Default::default(),
        base_url: format!("{}/v1", server.base_url()),
        api_key_env: None,
        model: "lead-model".into(),
        max_output_tokens: None,
        headers: Default::default(),
        idle_timeout_secs: None,
        call_limits: Default::default(),
        max_attempts: None,
        system_prompt_source: "default".into(),
        allow_unconfined_shell: false,
        tools: available_tools().iter().map(|s| s.to_string()).collect(),
        scope: Scope::allowing(vec![ScopeRule::new(project, Access::Write, true)?]),
        cwd: project.to_path_buf(),
        agent: Default::default(),
        work: None,
        workflow: None,
        mcp_servers: Default::default(),
        permissions: Default::default(),
        hooks: Default::default(),
    };
    let cfg = LaunchConfig {
        name: name.clone(),
        roots: roots.into(),
        mode: StartMode::Fresh,
        manifest: Some(manifest),
        child: None,
        owner: None,
        ask_mode: Default::default(),
        allow_broad_write: false,
    };
    let r2 = roots.clone();
    let pid =
        tokio::task::spawn_blocking(move || launch(&r2, &cfg, Duration::from_secs(15))).await??;
    println!(
        "{step}. Started Pod \"lead\" (pid {pid}) with write {}. Asked: \"Add tests and docs for add().\"",
        project.display()
    );
    let sock = PodPaths::new(roots, &name).socket();
    let mut c = PodClient::connect(&sock, None).await?;
    let answer = crate::demo::ask(&mut c, "Add tests and docs for add().").await?;
    println!("   Lead: {answer}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while finished_notices(roots, &name).len() < 2 {
        if Instant::now() > deadline {
            bail!("the children did not both report");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "{}. Both children reported; the notices in the lead's log (child: answer):",
        step + 1
    );
    for n in finished_notices(roots, &name) {
        let mut lines = n.lines();
        let head = lines.next().unwrap_or("");
        let name = head
            .split(['{', '}'])
            .nth(1)
            .unwrap_or("")
            .trim_start_matches("name: ");
        println!("   {name}: {}", lines.next().unwrap_or(""));
    }
    println!("{}. `pod ls` shows the tree:", step + 2);
    let (rows, _) = crate::cli::pod_rows(roots).await;
    for l in crate::cli::tree_lines(&rows) {
        println!("   {l}");
    }
    println!(
        "   tests/add.rs: {} · docs/add.md: {} · tests/lead.rs (the lead's refused write): {}",
        exists(project, "tests/add.rs"),
        exists(project, "docs/add.md"),
        exists(project, "tests/lead.rs")
    );
    c.request(Request::Shutdown).await.ok();
    while c.next_message().await.is_ok() {}
    // The registry row goes last (after the socket): wait for the process itself.
    let lock = PodPaths::new(roots, &name).lock();
    while crate::liveness::probe(&lock).is_some() {
        if Instant::now() > deadline {
            bail!("the lead did not stop");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let reg = crate::allocation::registry(roots).context("registry")?;
    let left = pod_registry::Registry::list(&reg)?.len();
    println!(
        "{}. Stopped the lead: it stopped both children first; registry rows left: {left}.",
        step + 3
    );
    server.shutdown().await;
    Ok(())
}

fn exists(project: &Path, p: &str) -> &'static str {
    if project.join(p).exists() {
        "written"
    } else {
        "absent"
    }
}
