//! `[registry] backend = "postgres"`: real Pods register in a real PostgreSQL server,
//! `pod registry` and `pod doctor` read it (never showing the URL's password), a
//! killed Pod's ended lease is reported, an unreachable database refuses new Pods
//! clearly, and a project's config cannot redirect the registry.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Output;
use std::time::Duration;

use common::{Env, Mock, wait_until};
use serde_json::Value;

const URL_ENV: &str = "PODS_TEST_REGISTRY_URL";

fn configure(env: &Env) {
    env.write_user_config(&format!(
        "[registry]\nbackend = \"postgres\"\nurl_env = \"{URL_ENV}\"\nlease_seconds = 1\n"
    ));
}

fn pod(env: &Env, url: &str, args: &[&str]) -> Output {
    env.pod().env(URL_ENV, url).args(args).output().unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn pods_register_in_postgres_and_registry_and_doctor_read_it() {
    let cluster = pg_fixture::Cluster::shared();
    // A password the server ignores (trust auth) but that must never be printed.
    let url = format!(
        "{} password=hunter2secret",
        cluster.create_database().unwrap()
    );
    let env = Env::new();
    configure(&env);
    let mock = Mock::start("responses: []");
    let run = |name: &str| {
        pod(
            &env,
            &url,
            &[
                "run",
                "--name",
                name,
                "--model",
                "m",
                "--base-url",
                &mock.url(),
                "--detach",
            ],
        )
    };
    let out = run("d");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(env.roots.runtime.join("d/pod.log")).unwrap_or_default()
    );
    // Same project, same write scope: the database refuses the second Pod.
    let second = run("e");
    assert_eq!(
        second.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(String::from_utf8_lossy(&second.stderr).contains("already being written"));

    let rows = json(&pod(&env, &url, &["registry", "--json"]));
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows:#}");
    assert_eq!(rows[0]["name"], "d");
    assert_eq!(rows[0]["pid"], env.pid("d"));
    // Nothing went to the file registry.
    let file = pod_registry::FileRegistry::open(env.roots.registry.clone()).unwrap();
    assert!(pod_registry::Registry::list(&file).unwrap().is_empty());

    let doctor = pod(&env, &url, &["doctor", "--json"]);
    let report = json(&doctor);
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(!text.contains("hunter2secret"), "{text}");
    let loc = report["registry"]["location"].as_str().unwrap();
    assert!(loc.starts_with("postgres postgres://pods@"), "{loc}");
    assert!(
        loc.contains("TLS"),
        "doctor says what protects the connection: {loc}"
    );
    assert_eq!(report["registry"]["live"], 1);
    assert!(report["registry"]["clock_skew_ms"].is_i64(), "{report:#}");
    assert_eq!(report["problems"], serde_json::json!([]), "{report:#}");

    // Killed: this machine's registry sees the pid gone at once; the row stays until
    // an allocation needs the region, and doctor reports its ended lease.
    common::signal(env.pid("d"), rustix::process::Signal::KILL);
    wait_until("the Pod to die", Duration::from_secs(5), || {
        !env.is_live("d")
    });
    let rows = json(&pod(&env, &url, &["registry", "--json"]));
    assert_eq!(rows, serde_json::json!([]));
    wait_until(
        "doctor to report the ended lease",
        Duration::from_secs(10),
        || {
            let r = json(&pod(&env, &url, &["doctor", "--json"]));
            r["registry"]["expired_leases"] == serde_json::json!(["d"])
                && r["problems"].to_string().contains("lease that ended")
        },
    );
    let out = run("e");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.ok(&["stop", "e"]);
}

#[test]
fn an_unreachable_database_refuses_new_pods_clearly_without_the_password() {
    let env = Env::new();
    configure(&env);
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "postgres://pods:hunter2secret@{}/nowhere?connect_timeout=2",
        dir.path().display().to_string().replace('/', "%2F")
    );
    let mock = Mock::start("responses: []");
    let out = pod(
        &env,
        &url,
        &[
            "run",
            "--name",
            "x",
            "--model",
            "m",
            "--base-url",
            &mock.url(),
            "--detach",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("unreachable") && err.contains("no new Pod can start"),
        "{err}"
    );
    assert!(!err.contains("hunter2secret"), "{err}");
    assert!(!env.is_live("x"));
}

#[test]
fn a_project_config_cannot_choose_the_registry() {
    let env = Env::new();
    std::fs::create_dir_all(env.project.join(".pods")).unwrap();
    std::fs::write(
        env.project.join(".pods/config.toml"),
        "[registry]\nbackend = \"postgres\"\nurl = \"postgres://evil/db\"\n",
    )
    .unwrap();
    // Refused even once trusted (untrusted, it is refused before it is read).
    env.ok(&["trust"]);
    let err = env.fails_with(3, &["run", "hi", "--model", "m", "--detach"]);
    assert!(
        err.contains("[registry] is read only from the user's config.toml"),
        "{err}"
    );
}
