//! Runtime benchmarks, measured side by side in one run (issue 6):
//! 1. start-to-ready latency of a Pod process (spawn → socket bound), p50/p95;
//! 2. resident memory of an idle Pod after one turn;
//! 3. the runtime's added time per turn: a turn through a Pod (socket request →
//!    `run_completed` event, log appends and fsyncs included) minus the same model
//!    call made directly with the `llm` client against the same mock-llm;
//! 4. 20 Pods running 10 turns each at once, counting errors.
//!
//! A plain `harness = false` binary rather than criterion: each sample is a process
//! or a socket round trip across processes, and the issue asks for percentiles,
//! memory and an error count that criterion does not report. Run with
//! `cargo bench -p pod --bench runtime`.
// A benchmark aborts on a broken setup; it handles no user input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt;
use pod::client::PodClient;
use pod::launch::{LaunchConfig, Manifest, StartMode};
use pod_ids::{PodName, Roots};
use protocol::{Event, InputMode, Request};

const SCRIPT: &str = "responses: [{times: 1000000, output: [{text: 'ok, done'}]}]";

fn manifest(base_url: &str, dir: &Path) -> Manifest {
    Manifest {
        pins: Default::default(),
        provider: "openai".into(),
        dialect: None,
        reasoning_echo: Default::default(),
        base_url: base_url.into(),
        api_key_env: None,
        model: "m".into(),
        max_output_tokens: None,
        headers: Default::default(),
        idle_timeout_secs: None,
        call_limits: Default::default(),
        max_attempts: Some(1),
        system_prompt_source: "default".into(),
        allow_unconfined_shell: false,
        tools: vec!["read_file".into(), "grep".into()],
        scope: scope::Scope::allowing(vec![
            scope::ScopeRule::new(dir, scope::Access::Write, true).unwrap(),
        ]),
        cwd: dir.to_path_buf(),
        agent: Default::default(),
        work: None,
        workflow: None,
        mcp_servers: Default::default(),
        permissions: Default::default(),
        hooks: Default::default(),
    }
}

fn start(roots: &Roots, name: &str, base_url: &str, home: &Path) -> (PodName, u32, Duration) {
    let dir = home.join("work").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let name = PodName::new(name).unwrap();
    let cfg = LaunchConfig {
        name: name.clone(),
        roots: roots.into(),
        mode: StartMode::Fresh,
        manifest: Some(manifest(base_url, &dir)),
        child: None,
        owner: None,
        ask_mode: Default::default(),
        allow_broad_write: false,
    };
    let t = Instant::now();
    let pid = pod::launcher::launch(roots, &cfg, Duration::from_secs(30)).unwrap();
    (name, pid, t.elapsed())
}

fn sock(roots: &Roots, name: &PodName) -> PathBuf {
    pod::layout::PodPaths::new(roots, name).socket()
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

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn stop(c: &mut PodClient) {
    let _ = c.request(Request::Shutdown).await;
    while c.next_message().await.is_ok() {}
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is ignored.
    unsafe_env();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

/// The bench binary is not the `pod` binary: point the launcher at it.
fn unsafe_env() {
    // SAFETY: called first thing in main, before any other thread exists.
    unsafe { std::env::set_var("POD_EXE", env!("CARGO_BIN_EXE_pod")) };
}

async fn run() {
    let home = tempfile::tempdir().unwrap();
    let roots = Roots::under(home.path());
    let server = mock_llm::MockServer::start(mock_llm::Script::from_yaml_str(SCRIPT).unwrap())
        .await
        .unwrap();
    let base = format!("{}/v1", server.base_url());

    // 1. start-to-ready latency.
    let mut lat = Vec::new();
    for i in 0..20 {
        let (name, _, took) = {
            let (r, b, h) = (roots.clone(), base.clone(), home.path().to_path_buf());
            tokio::task::spawn_blocking(move || start(&r, &format!("lat{i}"), &b, &h))
                .await
                .unwrap()
        };
        lat.push(took.as_secs_f64() * 1000.0);
        let mut c = PodClient::connect(&sock(&roots, &name), None)
            .await
            .unwrap();
        stop(&mut c).await;
    }
    let (p50, p95) = (pct(&mut lat, 0.5), pct(&mut lat, 0.95));
    println!("start-to-ready latency over 20 starts: p50 {p50:.1} ms, p95 {p95:.1} ms");

    // 2 + 3. one Pod: idle RSS, and time per turn vs direct.
    let (r, b, h) = (roots.clone(), base.clone(), home.path().to_path_buf());
    let (name, pid, _) = tokio::task::spawn_blocking(move || start(&r, "turns", &b, &h))
        .await
        .unwrap();
    let mut c = PodClient::connect(&sock(&roots, &name), None)
        .await
        .unwrap();
    turn(&mut c, "warm up").await.unwrap();
    println!(
        "idle RSS after one turn: {:.1} MB",
        rss_kb(pid) as f64 / 1024.0
    );

    let client = llm::Client::new(llm::ProviderConfig::new(
        llm::ProviderKind::OpenAiChat,
        base.clone(),
        None,
    ))
    .unwrap();
    let n = 50;
    let mut direct = Vec::new();
    let mut history = Vec::new();
    for i in 0..n {
        history.push(transcript::Item::UserMessage {
            text: format!("turn {i}"),
        });
        let req = llm::Request {
            system: "s".into(),
            history: history.clone(),
            tools: Vec::new(),
            config: transcript::RequestConfig {
                provider: "openai".into(),
                model: "m".into(),
                ..Default::default()
            },
            images: Default::default(),
        };
        let t = Instant::now();
        let mut s = llm::Provider::stream(&client, &req, Default::default()).unwrap();
        while let Some(ev) = s.next().await {
            if let Ok(llm::StreamEvent::Completed(c)) = ev {
                history.extend(c.items);
                break;
            }
        }
        direct.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let mut via_pod = Vec::new();
    for i in 0..n {
        let t = Instant::now();
        turn(&mut c, &format!("turn {i}")).await.unwrap();
        via_pod.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (d50, p50) = (pct(&mut direct, 0.5), pct(&mut via_pod, 0.5));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "per turn over {n} turns: direct llm→mock-llm p50 {d50:.2} ms (mean {:.2}); through a Pod p50 {p50:.2} ms (mean {:.2}); runtime adds p50 {:.2} ms",
        mean(&direct),
        mean(&via_pod),
        p50 - d50
    );
    stop(&mut c).await;

    // 4. 20 Pods × 10 turns at once.
    let t = Instant::now();
    let mut names = Vec::new();
    for i in 0..20 {
        let (r, b, h) = (roots.clone(), base.clone(), home.path().to_path_buf());
        let (name, _, _) =
            tokio::task::spawn_blocking(move || start(&r, &format!("many{i}"), &b, &h))
                .await
                .unwrap();
        names.push(name);
    }
    let started = t.elapsed();
    let t = Instant::now();
    let tasks: Vec<_> = names
        .iter()
        .map(|name| {
            let s = sock(&roots, name);
            tokio::spawn(async move {
                let mut c = PodClient::connect(&s, None)
                    .await
                    .map_err(|e| e.to_string())?;
                let mut errors = 0;
                for i in 0..10 {
                    if turn(&mut c, &format!("job {i}")).await.is_err() {
                        errors += 1;
                    }
                }
                stop(&mut c).await;
                Ok::<u32, String>(errors)
            })
        })
        .collect();
    let mut errors = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(e) => errors += e,
            Err(e) => {
                eprintln!("pod failed: {e}");
                errors += 10;
            }
        }
    }
    println!(
        "20 Pods started in {:.0} ms; 20 × 10 turns at once in {:.0} ms with {errors} errors",
        started.as_secs_f64() * 1000.0,
        t.elapsed().as_secs_f64() * 1000.0
    );
    server.shutdown().await;
}
