//! `pod demo`: the whole life of a Pod, offline, with no configuration.
//!
//! A temporary `PODS_HOME`, a generated three-file project, `mock-llm` in-process on
//! 127.0.0.1:0 with the built-in [`SCRIPT`], and a real Pod process (this binary) that
//! reads, greps and edits the project through its tools; then, while a shell tool
//! call runs, the Pod is SIGKILLed and restored with `resume`, and the narrative shows
//! the unfinished call closed as interrupted instead of being run again. Then a lead
//! Pod splits work between two children ([`crate::demo_team`]).

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use pod_ids::{PodName, Roots};
use protocol::{Event, InputMode, Request, ServerMessage};
use scope::{Access, Scope, ScopeRule};
use session_store::SessionStore;

use crate::client::PodClient;
use crate::launch::{LaunchConfig, Manifest, StartMode};
use crate::launcher::launch;
use crate::layout::PodPaths;
use crate::record::RecordStore;
use crate::toolbox::available_tools;

/// The scripted model's answers, in the order the demo asks for them.
pub const SCRIPT: &str = r#"
responses:
  - output:
      - text: "I'll read the library and look for TODOs."
      - tool_call: read_file
        id: call_read
        arguments: {"path": "src/lib.rs"}
      - tool_call: grep
        id: call_grep
        arguments: {"pattern": "TODO"}
  - output:
      - tool_call: edit_file
        id: call_edit
        arguments: {"path": "src/lib.rs", "old_string": "a - b // TODO: should add", "new_string": "a + b"}
  - output:
      - text: "Fixed `add` in src/lib.rs: it subtracted instead of adding."
  - output:
      - tool_call: bash
        id: call_test
        arguments: {"command": "echo run >> test-runs.log; echo $$ > .test.pid; exec sleep 60"}
  - output:
      - text: "The test command was interrupted when I was restarted; I did not run it again. Check test-runs.log before retrying."
"#;

fn generate_project(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::write(
        dir.join("src/lib.rs"),
        "/// Adds two numbers.\npub fn add(a: i32, b: i32) -> i32 {\n    a - b // TODO: should add\n}\n",
    )?;
    std::fs::write(
        dir.join("src/main.rs"),
        "fn main() {\n    println!(\"{}\", demo::add(2, 2));\n}\n",
    )?;
    std::fs::write(dir.join("README.md"), "# demo\nA tiny crate with a bug.\n")?;
    Ok(())
}

/// Runs the demo and prints its narrative.
pub fn run_demo() -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(demo())
}

pub(crate) async fn ask(c: &mut PodClient, text: &str) -> anyhow::Result<String> {
    c.request(Request::SendInput {
        text: text.into(),
        mode: InputMode::Queue,
        attachments: Vec::new(),
    })
    .await?;
    let mut started = false;
    loop {
        let ServerMessage::Event { event, .. } = c.next_message().await? else {
            continue;
        };
        match event {
            Event::UserInput { text: t } if t == text => started = true,
            Event::ToolStarted { name, .. } if started => println!("     → tool {name} …"),
            Event::ToolResult {
                result,
                duration_ms,
            } if started => {
                println!(
                    "     ← {} {} ({duration_ms} ms)",
                    result.name,
                    if result.is_error { "failed" } else { "ok" }
                );
                // A refusal is the story (scope at work): say why, in one line.
                if result.is_error {
                    println!("       why: {}", crate::cli::one_line(&result.output, 150));
                }
            }
            Event::RunCompleted { final_text } if started => return Ok(final_text),
            Event::RunErrored { error, .. } if started => bail!("run failed: {error}"),
            _ => {}
        }
    }
}

async fn demo() -> anyhow::Result<ExitCode> {
    let home = tempfile::tempdir().context("cannot create a temporary PODS_HOME")?;
    let roots = Roots::under(home.path());
    let project = home.path().join("project");
    generate_project(&project)?;
    let project = scope::canonicalize(&project)?.as_path().to_path_buf();
    println!(
        "pods demo: offline, against a scripted model (mock-llm). Nothing leaves this machine.\n"
    );
    println!("1. Generated a small project in {}", project.display());

    let script = mock_llm::Script::from_yaml_str(SCRIPT)?;
    let server = mock_llm::MockServer::start(script).await?;
    let name = PodName::new("demo")?;
    let manifest = Manifest {
        pins: Default::default(),
        provider: "openai".into(),
        dialect: None,
        reasoning_echo: Default::default(),
        base_url: format!("{}/v1", server.base_url()),
        api_key_env: None,
        model: "scripted-model".into(),
        max_output_tokens: None,
        headers: Default::default(),
        idle_timeout_secs: None,
        call_limits: Default::default(),
        max_attempts: None,
        system_prompt_source: "default".into(),
        allow_unconfined_shell: false,
        tools: available_tools().iter().map(|s| s.to_string()).collect(),
        scope: Scope {
            allow: vec![ScopeRule::new(&project, Access::Write, true)?],
            deny: Vec::new(),
        },
        cwd: project.clone(),
        agent: Default::default(),
        work: None,
        workflow: None,
        mcp_servers: Default::default(),
        permissions: Default::default(),
        hooks: Default::default(),
    };
    let start = Instant::now();
    let cfg = LaunchConfig {
        name: name.clone(),
        roots: (&roots).into(),
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
        "2. Started Pod \"demo\" as its own process (pid {pid}), ready in {} ms; scope: write {}",
        start.elapsed().as_millis(),
        project.display()
    );
    let sock = PodPaths::new(&roots, &name).socket();
    let mut c = PodClient::connect(&sock, None).await?;
    println!("3. Asked: \"Fix the add function.\"");
    let answer = ask(&mut c, "Fix the add function.").await?;
    println!("   Answer: {answer}");
    let lib = std::fs::read_to_string(project.join("src/lib.rs"))?;
    println!(
        "   src/lib.rs line 3 is now: {}",
        lib.lines().nth(2).unwrap_or("").trim()
    );

    println!("4. Asked: \"Run the tests.\" The model starts a long shell command …");
    c.request(Request::SendInput {
        text: "Run the tests.".into(),
        mode: InputMode::Queue,
        attachments: Vec::new(),
    })
    .await?;
    let marker = project.join("test-runs.log");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        // Wait for the tool to have started (its event), then for its side effect.
        if let ServerMessage::Event {
            event: Event::ToolStarted { .. },
            ..
        } = c.next_message().await?
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("the shell tool never started");
        }
    }
    while !marker.exists() {
        if Instant::now() > deadline {
            bail!("the shell tool never wrote {}", marker.display());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(c);
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid as i32).context("bad pid")?,
        rustix::process::Signal::KILL,
    )?;
    println!("   … and while it runs, the Pod process is killed with SIGKILL (pid {pid}).");
    let lock = PodPaths::new(&roots, &name).lock();
    while crate::liveness::probe(&lock).is_some() {
        if Instant::now() > deadline {
            bail!("the Pod did not die");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let cfg = LaunchConfig {
        name: name.clone(),
        roots: (&roots).into(),
        mode: StartMode::Resume,
        manifest: None,
        child: None,
        owner: None,
        ask_mode: Default::default(),
        allow_broad_write: false,
    };
    let r2 = roots.clone();
    let pid2 =
        tokio::task::spawn_blocking(move || launch(&r2, &cfg, Duration::from_secs(15))).await??;
    let mut c = PodClient::connect(&sock, None).await?;
    println!(
        "5. `pod resume demo`: restored from its record and session log (pid {pid2}), state {:?}.",
        c.status.state
    );
    println!(
        "   The shell call had no result: it was closed as \"interrupted\" and NOT run again."
    );
    println!("6. Asked: \"Carry on.\"");
    let answer = ask(&mut c, "Carry on.").await?;
    println!("   Answer: {answer}");
    let runs = std::fs::read_to_string(&marker)?.lines().count();
    println!("   The test command ran {runs} time(s) in total.");
    // The kernel killed the shell command with its Pod (PR_SET_PDEATHSIG); killing
    // its group again is a no-op kept as a belt-and-braces cleanup.
    if let Some(pid) = std::fs::read_to_string(project.join(".test.pid"))
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    c.request(Request::Shutdown).await.ok();
    while c.next_message().await.is_ok() {}

    let rec = RecordStore::new(roots.pods.clone())
        .load(&name)?
        .context("demo record vanished")?;
    if let Some((_, seg)) = rec.active_segment() {
        let read = SessionStore::new(roots.sessions.clone()).read_segment(seg)?;
        println!(
            "7. Stopped. Of the {} entries in its session log, the ones that tell the story:",
            read.entries.len()
        );
        for e in read.entries.iter().filter(|e| tells_the_story(e)) {
            println!("   {}", crate::cli::describe_entry(e));
        }
    }
    server.shutdown().await;
    println!();
    crate::demo_team::team(&roots, &project, 8).await?;
    println!("{NEXT_STEPS}");
    Ok(ExitCode::SUCCESS)
}

/// The demo's closing lines: what to try next, for real.
const NEXT_STEPS: &str = "
Done. Try it for real (a provider key in its variable, e.g. export ANTHROPIC_API_KEY=...):
  pod run \"fix the failing test\" --provider anthropic --model claude-sonnet-4-5 --print
  pod run \"explain src/\" --provider openrouter --model anthropic/claude-sonnet-4.5 --read-only --print
  pod                     the dashboard: every Pod, live
  pod ls · pod show NAME · pod logs NAME --follow · pod resume NAME
  pod doctor --online     checks your provider keys";

/// The entries of the demo Pod's log that show the restore: the call that was cut,
/// how it was closed, the interrupted run, the restore notice and the answer after.
fn tells_the_story(e: &session_store::Entry) -> bool {
    use session_store::EntryKind as K;
    use transcript::Item;
    match &e.kind {
        K::AssistantItem {
            item: Item::ToolCall(c),
        } => c.call_id == "call_test",
        K::AssistantItem {
            item: Item::AssistantMessage { text },
        } => text.starts_with("The test command was interrupted"),
        K::ToolResult { result } => result.call_id == "call_test",
        K::RunErrored { .. } => true,
        K::Extension { payload, .. } => payload["event"] == "restored",
        _ => false,
    }
}
