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
//! The same run is then measured under a policy (issue 16's overhead): 30
//! permission rules (none of which holds the call) and a `pre_tool_use` plus a
//! `post_tool_use` hook (`cat >/dev/null`, each run confined like `bash`), so the
//! difference of the p50s is what rules and two hooks cost one tool call.
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

/// The user config of the "with policy" runs.
const POLICY: &str = r#"
[permissions]
allow = ["read_file", "grep", "glob", "list_dir", "bash(cargo test*)", "bash(git status*)", "bash(git diff*)", "bash(ls*)", "bash(cat *)", "bash(rg *)"]
ask = ["bash(git push*)", "bash(rm -rf *)", "bash(curl *)", "bash(wget *)", "write_file(*.lock)", "edit_file(*.lock)", "bash(sudo *)", "bash(npm publish*)", "bash(cargo publish*)", "bash(docker *)"]
deny = ["write_file(.env*)", "edit_file(.env*)", "read_file(.env*)", "bash(*id_rsa*)", "bash(dd *)", "bash(mkfs*)", "bash(shutdown*)", "bash(reboot*)", "mcp__*__delete_*", "bash(chmod 777*)"]

[[hooks.pre_tool_use]]
command = "cat >/dev/null"

[[hooks.post_tool_use]]
command = "cat >/dev/null"
"#;

struct Measured {
    wall: Vec<f64>,
    cli_rss: Vec<f64>,
    pod_rss: Vec<f64>,
}

/// `RUNS` one-shot runs in a fresh PODS_HOME with `config` as the user config.
// The child is reaped by `wait4` (for its rusage), which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn measure(url: &str, config: Option<&str>) -> Measured {
    let home = tempfile::tempdir().expect("temp dir");
    let project = home.path().join("project");
    std::fs::create_dir_all(&project).expect("project dir");
    std::fs::write(project.join("a.txt"), "alpha\n").expect("a.txt");
    let roots = pod_ids::Roots::under(home.path());
    if let Some(c) = config {
        std::fs::create_dir_all(&roots.config).expect("config dir");
        std::fs::write(roots.config.join("config.toml"), c).expect("config");
    }
    let mut m = Measured {
        wall: Vec::new(),
        cli_rss: Vec::new(),
        pod_rss: Vec::new(),
    };
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
            .args(["--base-url", url, "--print"])
            .env("PODS_HOME", home.path())
            .env("OPENAI_API_KEY", "bench")
            .current_dir(&project)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn pod");
        let (status, rss_kib) = wait_with_rusage(child.id());
        m.wall.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(status, 0, "run {i} failed");
        m.cli_rss.push(rss_kib as f64 / 1024.0);
        let log =
            std::fs::read_to_string(roots.runtime.join(&name).join("pod.log")).unwrap_or_default();
        if let Some(kib) = log
            .lines()
            .rev()
            .find_map(|l| l.split("peak_rss_kib=").nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.trim_matches('"').parse::<f64>().ok())
        {
            m.pod_rss.push(kib / 1024.0);
        }
    }
    if config.is_some() {
        // The policy really was in force: both hooks ran for the tool call.
        let log = std::process::Command::new(env!("CARGO_BIN_EXE_pod"))
            .args(["logs", "b0", "--json"])
            .env("PODS_HOME", home.path())
            .output()
            .expect("pod logs");
        let text = String::from_utf8_lossy(&log.stdout);
        assert!(
            text.contains("pre_tool_use") && text.contains("post_tool_use"),
            "the hooks did not run"
        );
    }
    m
}

fn main() {
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
    let mut plain = measure(&url, None);
    let mut policy = measure(&url, Some(POLICY));
    println!("one `pod run --print` with one tool call, {RUNS} runs, end to end:");
    let nan_or = |v: &mut Vec<f64>, p: f64| if v.is_empty() { f64::NAN } else { pct(v, p) };
    println!(
        "  wall time    p50 {:.1} ms  p95 {:.1} ms  (target < 50 ms)",
        pct(&mut plain.wall, 0.5),
        pct(&mut plain.wall, 0.95)
    );
    println!(
        "  peak RSS     CLI p50 {:.1} MiB max {:.1} MiB · Pod p50 {:.1} MiB max {:.1} MiB ({} samples)  (target < 15 MiB)",
        pct(&mut plain.cli_rss, 0.5),
        pct(&mut plain.cli_rss, 1.0),
        nan_or(&mut plain.pod_rss, 0.5),
        nan_or(&mut plain.pod_rss, 1.0),
        plain.pod_rss.len()
    );
    let (p50, base) = (pct(&mut policy.wall, 0.5), pct(&mut plain.wall, 0.5));
    println!(
        "  with 30 rules and 2 hooks: wall p50 {p50:.1} ms  p95 {:.1} ms  (+{:.1} ms per tool call) · Pod RSS p50 {:.1} MiB",
        pct(&mut policy.wall, 0.95),
        p50 - base,
        nan_or(&mut policy.pod_rss, 0.5),
    );
    rt.block_on(server.shutdown());
}
