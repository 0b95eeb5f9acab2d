//! Issue 14, the Pod's side: images and files attached to input, the `view_image`
//! tool, the partial answer kept on interrupt, and the in-progress text a client
//! joining mid-answer is given.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Env, Mock, wait_until};
use serde_json::Value;
use session_store::EntryKind;

/// A real 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn base(mock: &Mock, dialect: &str) -> String {
    let root = mock.server.as_ref().unwrap().base_url();
    match dialect {
        "anthropic" => root,
        "gemini" => format!("{root}/v1beta"),
        _ => format!("{root}/v1"),
    }
}

fn run_in_project(env: &Env, args: &[&str]) -> std::process::Output {
    env.pod()
        .current_dir(&env.project)
        .env("ANTHROPIC_API_KEY", "test-key")
        .env("GEMINI_API_KEY", "test-key")
        .args(args)
        .args(["--model", "m"])
        .output()
        .unwrap()
}

/// Where each dialect puts an image of the first user message.
fn image_in(dialect: &str, body: &Value) -> Value {
    match dialect {
        "openai_chat" => body["messages"][2]["content"][0].clone(),
        "anthropic" => body["messages"][0]["content"][1].clone(),
        "responses" => body["input"][1]["content"][0].clone(),
        "gemini" => body["contents"][0]["parts"][1].clone(),
        _ => unreachable!(),
    }
}

#[test]
fn an_attached_image_reaches_each_dialect_in_its_own_shape_and_the_log_keeps_a_reference() {
    let data = b64(PNG);
    let url = format!("data:image/png;base64,{data}");
    for (provider, dialect, expected) in [
        (
            "openai",
            "openai_chat",
            serde_json::json!({"type": "image_url", "image_url": {"url": url}}),
        ),
        (
            "anthropic",
            "anthropic",
            serde_json::json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}),
        ),
        (
            "responses",
            "responses",
            serde_json::json!({"type": "input_image", "image_url": url}),
        ),
        (
            "gemini",
            "gemini",
            serde_json::json!({"inlineData": {"mimeType": "image/png", "data": data}}),
        ),
    ] {
        let env = Env::new();
        std::fs::write(env.project.join("shot.png"), PNG).unwrap();
        let mock = Mock::start("responses:\n  - output: [{text: 'a red dot'}]\n");
        let out = run_in_project(
            &env,
            &[
                "run",
                "what is this?",
                "--name",
                "p",
                "--provider",
                provider,
                "--base-url",
                &base(&mock, dialect),
                "--image",
                "shot.png",
                "--print",
            ],
        );
        assert!(out.status.success(), "{provider}: {out:?}");
        let requests = mock.requests();
        assert_eq!(requests.len(), 1, "{provider}");
        assert_eq!(image_in(dialect, &requests[0].body), expected, "{provider}");
        // The log holds a reference; the bytes are one blob beside the logs.
        let images: Vec<_> = env
            .log("p")
            .into_iter()
            .filter_map(|e| match e.kind {
                EntryKind::Images { images } => Some(images),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(images.len(), 1, "{provider}");
        assert_eq!(images[0].media_type, "image/png");
        let blob = env.roots.sessions.join("blobs").join(&images[0].sha256);
        assert_eq!(std::fs::read(blob).unwrap(), PNG);
        let logs = env.ok(&["logs", "p", "--full"]);
        assert!(!logs.contains(&data), "the log must not carry the bytes");
        let shown = format!("shot.png (image/png, {} bytes)", PNG.len());
        assert!(logs.contains(&shown), "{logs}");
    }
}

/// The blob of the only image `name`'s log shows.
fn blob_of(env: &Env, name: &str) -> std::path::PathBuf {
    let sha = env
        .log(name)
        .into_iter()
        .find_map(|e| match e.kind {
            EntryKind::Images { images } => Some(images[0].sha256.clone()),
            _ => None,
        })
        .unwrap();
    env.roots.sessions.join("blobs").join(sha)
}

#[test]
fn pod_rm_frees_the_images_no_other_log_mentions() {
    let env = Env::new();
    std::fs::write(env.project.join("shared.png"), PNG).unwrap();
    let mut own = PNG.to_vec();
    own.extend_from_slice(b"trailing bytes make another blob");
    std::fs::write(env.project.join("own.png"), &own).unwrap();
    let mock = Mock::start("responses:\n  - output: [{text: seen}]\n  - output: [{text: seen}]\n");
    let url = mock.url();
    for (name, images) in [
        ("a", &["shared.png", "own.png"][..]),
        ("b", &["shared.png"][..]),
    ] {
        let mut args = vec!["run", "look", "--name", name, "--base-url", &url];
        for i in images {
            args.extend(["--image", i]);
        }
        args.push("--print");
        let out = run_in_project(&env, &args);
        assert!(out.status.success(), "{out:?}");
    }
    let shared = blob_of(&env, "b");
    let blobs = env.roots.sessions.join("blobs");
    let own_blob = blobs.join(session_store::sha256_hex(&own));
    assert!(own_blob.exists());
    // Stored two hours ago, as far as the sweep can tell.
    let old = std::time::SystemTime::now() - Duration::from_secs(7200);
    for b in [&shared, &own_blob] {
        std::fs::File::open(b).unwrap().set_modified(old).unwrap();
    }
    let out = env.ok(&["rm", "a", "--yes"]);
    assert!(out.contains("freed 1 unreferenced image blob(s)"), "{out}");
    assert!(!own_blob.exists(), "only a's log mentioned it");
    assert_eq!(
        std::fs::read(&shared).unwrap(),
        PNG,
        "b's log still shows it"
    );
    let out = env.ok(&["rm", "b", "--yes"]);
    assert!(out.contains("freed 1"), "{out}");
    assert_eq!(std::fs::read_dir(&blobs).unwrap().count(), 0);
}

#[test]
fn an_attached_file_is_read_inside_the_pods_scope_or_the_input_is_refused() {
    let env = Env::new();
    let mock = Mock::start("responses:\n  - output: [{text: ok}]\n");
    let out = run_in_project(
        &env,
        &[
            "run",
            "explain",
            "--name",
            "p",
            "--base-url",
            &mock.url(),
            "--attach",
            "src/main.rs",
            "--print",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let body = &mock.requests()[0].body;
    let text = body["messages"][1]["content"].as_str().unwrap();
    assert!(
        text.starts_with("explain\n\n<attached_file path=\""),
        "{text}"
    );
    assert!(text.contains("src/main.rs\">\n     1\tfn main() {}\n</attached_file>"));

    // Outside the Pod's readable scope: refused before anything is queued.
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "top secret").unwrap();
    let out = run_in_project(
        &env,
        &[
            "run",
            "explain",
            "--name",
            "q",
            "--base-url",
            &mock.url(),
            "--attach",
            secret.to_str().unwrap(),
            "--print",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot attach") && err.contains("secret.txt"),
        "{err}"
    );
    assert_eq!(mock.requests().len(), 1, "no request for the refused input");
    assert!(
        !env.log("q")
            .iter()
            .any(|e| matches!(&e.kind, EntryKind::UserInput { .. })),
        "nothing queued"
    );
}

#[test]
fn view_image_shows_an_image_in_scope_after_the_calls_results() {
    let env = Env::new();
    std::fs::write(env.project.join("plot.png"), PNG).unwrap();
    let mock = Mock::start(
        r#"responses:
  - output:
      - {tool_call: view_image, id: c1, arguments: {path: plot.png}}
      - {tool_call: read_file, id: c2, arguments: {path: a.txt}}
  - output: [{text: 'a dot'}]
"#,
    );
    let out = run_in_project(
        &env,
        &[
            "run",
            "look",
            "--name",
            "p",
            "--base-url",
            &mock.url(),
            "--print",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let body = &mock.requests()[1].body;
    let roles: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    // Both results directly after the calls, then the image.
    assert_eq!(
        roles,
        ["system", "user", "assistant", "tool", "tool", "user"]
    );
    let last = &body["messages"][5]["content"][0];
    assert_eq!(
        last["image_url"]["url"],
        format!("data:image/png;base64,{}", b64(PNG))
    );
}

#[test]
fn an_interrupt_keeps_the_partial_answer_and_a_joining_client_gets_it_from_the_first_character() {
    let env = Env::new();
    let mock = Mock::start(
        "responses:\n  - output: [{text: 'FIRST words of a long answer '}, {text: 'more '}]\n    pace_ms: 20\n    endless: true\n",
    );
    let out = run_in_project(
        &env,
        &[
            "run",
            "write",
            "--name",
            "p",
            "--base-url",
            &mock.url(),
            "--detach",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sock = env.socket("p");
    // Join mid-answer: the hello carries what was streamed before we came.
    let joined = rt.block_on(async {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let c = pod::client::PodClient::connect(&sock, None).await.unwrap();
            if c.in_progress_text.contains("more more") {
                return c.in_progress_text;
            }
            assert!(std::time::Instant::now() < deadline, "no streamed text");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    assert!(
        joined.starts_with("FIRST words of a long answer more"),
        "{joined}"
    );
    env.ok(&["send", "p", "stop", "--interrupt"]);
    wait_until(
        "the partial answer is logged",
        Duration::from_secs(20),
        || {
            env.log("p").iter().any(|e| {
            matches!(&e.kind, EntryKind::AssistantItem { item: transcript::Item::AssistantMessage { text } }
                if text.starts_with("FIRST words") && text.ends_with("[interrupted]"))
        })
        },
    );
    let logs = env.ok(&["logs", "p"]);
    assert!(logs.contains("FIRST words of a long answer"), "{logs}");
    assert!(logs.contains("[interrupted]"), "{logs}");
    env.ok(&["stop", "p"]);
}
