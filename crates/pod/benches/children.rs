//! Child Pod benchmarks (issue 7), one run:
//! 1. spawn-to-child-ready latency: the duration of each `spawn_pod` tool call as the
//!    lead reports it (pending record + reservation + child process start + adopt +
//!    socket bound + record live + task handed over), p50/p95 over 10 spawns;
//! 2. a lead that spawns 10 children which each run 5 turns (the first is their task,
//!    four more are driven over their sockets concurrently): wall time until every
//!    child finished its 5 turns and the lead's log holds all 50 `child_finished`
//!    notices, plus an error count.
//!
//! Plain `harness = false` like `runtime.rs` (percentiles over real processes).
//! Run with `cargo bench -p pod --bench children`.
// A benchmark aborts on a broken setup; it handles no user input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use pod::client::PodClient;
use pod::launch::{LaunchConfig, Manifest, StartMode};
use pod_ids::{PodName, Roots};
use protocol::{Event, InputMode, Request, ServerMessage};
use session_store::{EntryKind, SessionStore};

const CHILDREN: usize = 10;
const TURNS: usize = 5;

fn script() -> String {
    let mut s = String::from("responses:\n");
    for i in 0..CHILDREN {
        let when = if i == 0 {
            "{model: lead, last_user_contains: go}".to_string()
        } else {
            "{model: lead, last_tool_result: spawn_pod}".to_string()
        };
        s.push_str(&format!(
            "  - when: {when}\n    output:\n      - tool_call: spawn_pod\n        id: s{i}\n        arguments: {{\"name\": \"c{i}\", \"task\": \"task {i}\", \"write\": [\"c{i}\"], \"model\": \"child\"}}\n"
        ));
    }
    s.push_str(
        "  - when: {model: lead, last_tool_result: spawn_pod}\n    output: [{text: spawned}]\n",
    );
    s.push_str("  - when: {model: lead}\n    times: 100000\n    output: [{text: noted}]\n");
    s.push_str(
        "  - when: {model: child}\n    times: 100000\n    output: [{text: 'child turn done'}]\n",
    );
    s
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

async fn turn(c: &mut PodClient, text: &str) -> Result<(), String> {
    c.request(Request::SendInput {
        text: text.into(),
        mode: InputMode::Queue,
        attachments: Vec::new(),
    })
    .await
    .map_err(|e| e.to_string())?;
    loop {
        match c.next_event().await.map_err(|e| e.to_string())?.1 {
            Event::RunCompleted { .. } => return Ok(()),
            Event::RunErrored { error, .. } => return Err(error),
            _ => {}
        }
    }
}

fn notices(roots: &Roots, lead: &PodName) -> usize {
    let rec = pod::record::RecordStore::new(roots.pods.clone())
        .load(lead)
        .unwrap()
        .unwrap();
    let (_, seg) = rec.active_segment().unwrap();
    SessionStore::new(roots.sessions.clone())
        .read_segment(seg)
        .unwrap()
        .entries
        .iter()
        .filter(|e| matches!(&e.kind, EntryKind::SystemItem { text } if text.starts_with("child_finished")))
        .count()
}

fn main() {
    // SAFETY: first thing in main, before any other thread exists.
    unsafe { std::env::set_var("POD_EXE", env!("CARGO_BIN_EXE_pod")) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let home = tempfile::tempdir().unwrap();
    let roots = Roots::under(home.path());
    let work = home.path().join("work");
    for i in 0..CHILDREN {
        std::fs::create_dir_all(work.join(format!("c{i}"))).unwrap();
    }
    let work = scope::canonicalize(&work).unwrap().as_path().to_path_buf();
    let server = mock_llm::MockServer::start(mock_llm::Script::from_yaml_str(&script()).unwrap())
        .await
        .unwrap();
    let lead = PodName::new("lead").unwrap();
    let manifest = Manifest {
        pins: Default::default(),
        provider: "openai".into(),
        dialect: None,
        reasoning_echo: Default::default(),
        base_url: format!("{}/v1", server.base_url()),
        api_key_env: None,
        model: "lead".into(),
        max_output_tokens: None,
        headers: Default::default(),
        idle_timeout_secs: None,
        call_limits: Default::default(),
        max_attempts: Some(1),
        system_prompt_source: "default".into(),
        allow_unconfined_shell: false,
        tools: vec!["read_file".into()],
        scope: scope::Scope::allowing(vec![
            scope::ScopeRule::new(&work, scope::Access::Write, true).unwrap(),
        ]),
        cwd: work.clone(),
        agent: Default::default(),
        work: None,
        workflow: None,
        mcp_servers: Default::default(),
        permissions: Default::default(),
        hooks: Default::default(),
    };
    let cfg = LaunchConfig {
        name: lead.clone(),
        roots: (&roots).into(),
        mode: StartMode::Fresh,
        manifest: Some(manifest),
        child: None,
        owner: None,
        ask_mode: Default::default(),
        allow_broad_write: false,
    };
    pod::launcher::launch(&roots, &cfg, Duration::from_secs(30)).unwrap();
    let sock = pod::layout::PodPaths::new(&roots, &lead).socket();
    let mut c = PodClient::connect(&sock, None).await.unwrap();
    let t0 = Instant::now();
    c.request(Request::SendInput {
        text: "go".into(),
        mode: InputMode::Queue,
        attachments: Vec::new(),
    })
    .await
    .unwrap();
    let mut spawn_ms = Vec::new();
    let mut errors = 0usize;
    while spawn_ms.len() < CHILDREN {
        if let ServerMessage::Event {
            event:
                Event::ToolResult {
                    result,
                    duration_ms,
                },
            ..
        } = c.next_message().await.unwrap()
        {
            if result.is_error {
                errors += 1;
                eprintln!("spawn failed: {}", result.output);
            }
            spawn_ms.push(duration_ms as f64);
        }
    }
    // Each child ran its task (turn 1); drive turns 2..=5 on all children at once.
    let drives = (0..CHILDREN).map(|i| {
        let roots = roots.clone();
        tokio::spawn(async move {
            let name = PodName::new(format!("c{i}")).unwrap();
            let sock = pod::layout::PodPaths::new(&roots, &name).socket();
            let mut c = PodClient::connect(&sock, None)
                .await
                .map_err(|e| e.to_string())?;
            // Wait for the task's run to end before queueing the next input.
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let st = c
                    .request(Request::Status)
                    .await
                    .map_err(|e| e.to_string())?;
                if st["turns"].as_u64() == Some(1) && st["state"] == "idle" {
                    break;
                }
                if Instant::now() > deadline {
                    return Err("child never finished its task".to_string());
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            for t in 2..=TURNS {
                turn(&mut c, &format!("turn {t}")).await?;
            }
            Ok::<(), String>(())
        })
    });
    for d in futures::future::join_all(drives).await {
        if !matches!(d, Ok(Ok(()))) {
            errors += 1;
            eprintln!("child drive failed: {d:?}");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while notices(&roots, &lead) < CHILDREN * TURNS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let all = t0.elapsed();
    let got = notices(&roots, &lead);
    let p50 = pct(&mut spawn_ms, 0.5);
    let p95 = pct(&mut spawn_ms, 0.95);
    println!(
        "spawn-to-child-ready (spawn_pod tool call), {CHILDREN} spawns: p50 {p50:.1} ms, p95 {p95:.1} ms"
    );
    println!(
        "lead + {CHILDREN} children x {TURNS} turns: {:.0} ms until all {} notices were in the lead's log ({got} seen), {errors} errors",
        all.as_secs_f64() * 1000.0,
        CHILDREN * TURNS
    );
    let _ = c.request(Request::Shutdown).await;
    while c.next_message().await.is_ok() {}
    server.shutdown().await;
}
