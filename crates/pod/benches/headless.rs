//! One headless run end to end (issue 11): `pod run TASK --print` with one tool call,
//! as a script would run it — the CLI process, the Pod process it starts, the model
//! (mock-llm on 127.0.0.1) asked twice, the tool run, the answer printed, the Pod
//! stopped and its scope released — timed from spawn to exit of the CLI.
//!
//! Reported: wall time p50/p95 over the runs, the CLI's peak RSS (`wait4` rusage) and
//! the Pod's peak RSS (its `VmHWM`, which the Pod logs when it exits: once it has
//! called setsid and may outlive the CLI, no rusage of ours covers it). Targets: under
//! 50 ms and 15 MiB. A plain `harness = false` binary: each sample is two processes,
//! and criterion reports neither percentiles of such samples nor memory.
//! Run with `cargo bench -p pod --bench headless`.
// A benchmark aborts on a broken setup; it handles no user input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Instant;

const RUNS: usize = 40;

// First request: a tool call; second (it carries the tool result): the answer.
const SCRIPT: &str = r#"
responses:
  - when: {last_tool_result: read_file}
    times: 1000000
    output: [{text: "It says alpha."}]
  - times: 1000000
    output:
      - tool_call: read_file
        arguments: {"path": "a.txt"}
"#;

fn wait_with_rusage(pid: u32) -> (i32, i64) {
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child; both pointers are valid for the call.
    unsafe { libc::wait4(pid as i32, &mut status, 0, &mut usage) };
    (status, usage.ru_maxrss)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

// The child is reaped by `wait4` (for its rusage), which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn main() {
    let home = tempfile::tempdir().expect("temp dir");
    let project = home.path().join("project");
    std::fs::create_dir_all(&project).expect("project dir");
    std::fs::write(project.join("a.txt"), "alpha\n").expect("a.txt");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let script = mock_llm::Script::from_yaml_str(SCRIPT).expect("script");
    let server = rt
        .block_on(mock_llm::MockServer::start(script))
        .expect("mock-llm");
    let url = format!("{}/v1", server.base_url());
    let roots = pod_ids::Roots::under(home.path());

    let mut wall = Vec::new();
    let mut cli_rss = Vec::new();
    let mut pod_rss = Vec::new();
    for i in 0..RUNS {
        let name = format!("b{i}");
        let t = Instant::now();
        let child = Command::new(env!("CARGO_BIN_EXE_pod"))
            .args([
                "run",
                "what does a.txt say",
                "--name",
                &name,
                "--model",
                "m",
            ])
            .args(["--base-url", &url, "--print"])
            .env("PODS_HOME", home.path())
            .env("OPENAI_API_KEY", "bench")
            .current_dir(&project)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn pod");
        let (status, rss_kib) = wait_with_rusage(child.id());
        wall.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(status, 0, "run {i} failed");
        cli_rss.push(rss_kib as f64 / 1024.0);
        let log =
            std::fs::read_to_string(roots.runtime.join(&name).join("pod.log")).unwrap_or_default();
        if let Some(kib) = log
            .lines()
            .rev()
            .find_map(|l| l.split("peak_rss_kib=").nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.trim_matches('"').parse::<f64>().ok())
        {
            pod_rss.push(kib / 1024.0);
        }
    }
    println!("one `pod run --print` with one tool call, {RUNS} runs, end to end:");
    println!(
        "  wall time    p50 {:.1} ms  p95 {:.1} ms  (target < 50 ms)",
        pct(&mut wall, 0.5),
        pct(&mut wall, 0.95)
    );
    println!(
        "  peak RSS     CLI p50 {:.1} MiB max {:.1} MiB · Pod p50 {:.1} MiB max {:.1} MiB ({} samples)  (target < 15 MiB)",
        pct(&mut cli_rss, 0.5),
        pct(&mut cli_rss, 1.0),
        if pod_rss.is_empty() {
            f64::NAN
        } else {
            pct(&mut pod_rss, 0.5)
        },
        if pod_rss.is_empty() {
            f64::NAN
        } else {
            pct(&mut pod_rss, 1.0)
        },
        pod_rss.len()
    );
    rt.block_on(server.shutdown());
}
