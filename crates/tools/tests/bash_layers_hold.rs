//! Issue 19, the layered sandbox of `bash`, where Landlock alone does not reach:
//! inherited fds, metadata (mode, owner, times, xattrs) outside the write scope,
//! device nodes, and signals to processes outside the sandbox.
//!
//! Run as root, each test whose outcome differs for an ordinary user runs itself
//! again as a throw-away user (`setpriv` into this same test binary).
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::*;
use scope::{Access, Scope};
use serde_json::json;

async fn sh(ctx: &tools::ToolContext, cmd: &str) -> String {
    call(ctx, "bash", json!({"command": cmd}))
        .await
        .unwrap()
        .text
}

fn ok(out: &str) -> bool {
    out.ends_with("[exit code: 0]")
}

/// w (write), ro (read), out (outside the scope), each with a file `f`.
fn tree() -> (Tree, Scope) {
    let t = Tree::new();
    for d in ["w", "ro", "out"] {
        t.write(&format!("{d}/f"), "data\n");
    }
    // The re-run as an ordinary user must be able to walk there.
    std::fs::set_permissions(&t.base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let scope = Scope::allowing(vec![
        rule(&t.p("w"), Access::Write),
        rule(&t.p("ro"), Access::Read),
    ]);
    (t, scope)
}

#[tokio::test]
async fn an_inherited_fd_to_a_file_outside_is_not_usable() {
    if !require_landlock() {
        return;
    }
    let (t, scope) = tree();
    let (_tx, ctx) = ctx(scope, &t.p("w"));
    let outside = std::fs::OpenOptions::new()
        .append(true)
        .open(t.p("out/f"))
        .unwrap();
    // An fd without O_CLOEXEC (as a shell's `7>>file` leaves it), high enough not
    // to collide with the runtime's own fds.
    // SAFETY: F_DUPFD on a valid fd; the copy is closed below.
    let fd = unsafe { libc::fcntl(outside.as_raw_fd(), libc::F_DUPFD, 100) };
    assert!(fd >= 100);
    let out = sh(&ctx, &format!("echo x >&{fd}")).await;
    // SAFETY: our own dup from above.
    unsafe { libc::close(fd) };
    assert!(!ok(&out), "{out}");
    assert!(out.contains("Bad file descriptor"), "{out}");
    assert_eq!(std::fs::read_to_string(t.p("out/f")).unwrap(), "data\n");
}

/// What `bash` can set on `f`: (mode 600, owner = self, mtime 2000-01-01,
/// xattr user.pods) each as "did it work", judged by the file afterwards.
async fn metadata_changes(ctx: &tools::ToolContext, f: &Path, xattr: bool) -> [bool; 4] {
    let before = std::fs::metadata(f).unwrap();
    let p = f.display();
    let chmod = sh(ctx, &format!("chmod 600 {p}")).await;
    let chown = sh(ctx, &format!("chown $(id -u):$(id -g) {p}")).await;
    let touch = sh(ctx, &format!("touch -d 2000-01-01 {p}")).await;
    let after = std::fs::metadata(f).unwrap();
    let mut set_xattr = false;
    if xattr {
        let out = sh(
            ctx,
            &format!(
                "/usr/bin/python3 -c 'import os; os.setxattr(\"{p}\", \"user.pods\", b\"1\")'"
            ),
        )
        .await;
        set_xattr = ok(&out);
    }
    // chown to the owner it already has changes nothing visible: its exit status
    // is the evidence (EROFS / EPERM when refused).
    [
        ok(&chmod) && after.mode() & 0o777 == 0o600 && before.mode() & 0o777 != 0o600,
        ok(&chown),
        ok(&touch) && after.mtime() < 1_000_000_000,
        set_xattr,
    ]
}

/// Whether user xattrs work on this filesystem and python3 is there to set them.
fn xattrs_testable(f: &Path) -> bool {
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(format!(
            "import os; os.setxattr('{}', 'user.probe', b'1'); os.removexattr('{}', 'user.probe')",
            f.display(),
            f.display()
        ))
        .output();
    let usable = out.is_ok_and(|o| o.status.success());
    if !usable {
        println!("skipping the xattr checks: /usr/bin/python3 or user xattrs unavailable");
    }
    usable
}

#[tokio::test]
async fn metadata_outside_the_write_scope_cannot_change_inside_it_can() {
    if !require_landlock() {
        return;
    }
    let (t, scope) = tree();
    let xattr = xattrs_testable(&t.p("w/f"));
    let (_tx, ctx) = ctx(scope, &t.p("w"));
    let inside = metadata_changes(&ctx, &t.p("w/f"), xattr).await;
    assert_eq!(inside, [true, true, true, xattr], "inside the write scope");
    for region in ["ro/f", "out/f"] {
        let changed = metadata_changes(&ctx, &t.p(region), xattr).await;
        assert_eq!(changed, [false; 4], "{region} (chmod, chown, touch, xattr)");
    }
    rerun_as_user("metadata_outside_the_write_scope_cannot_change_inside_it_can");
}

#[tokio::test]
async fn without_a_mount_namespace_seccomp_still_stops_metadata_outside() {
    if !require_landlock() {
        return;
    }
    let (t, scope) = tree();
    let xattr = xattrs_testable(&t.p("w/f"));
    let (_tx, mut ctx) = ctx(scope, &t.p("w"));
    ctx.shell.assume_no_mount_namespace = true;
    for region in ["ro/f", "out/f"] {
        let changed = metadata_changes(&ctx, &t.p(region), xattr).await;
        assert_eq!(changed, [false; 4], "{region} (chmod, chown, touch, xattr)");
    }
    // Documented cost: seccomp cannot see paths, so inside is refused too, while
    // plain writes still work.
    let out = sh(&ctx, "echo more >> f && chmod 600 f").await;
    assert!(out.contains("Operation not permitted"), "{out}");
    assert_eq!(std::fs::read_to_string(t.p("w/f")).unwrap(), "data\nmore\n");
}

#[tokio::test]
async fn device_nodes_cannot_be_made() {
    if !require_landlock() {
        return;
    }
    let (t, scope) = tree();
    let (_tx, ctx) = ctx(scope, &t.p("w"));
    for cmd in ["mknod blk b 7 0", "mknod chr c 1 3"] {
        let out = sh(&ctx, cmd).await;
        assert!(!ok(&out), "{cmd}: {out}");
    }
    assert!(!t.p("w/blk").exists() && !t.p("w/chr").exists());
    // FIFOs are not devices and stay allowed.
    let out = sh(&ctx, "mkfifo fifo").await;
    assert!(ok(&out), "{out}");
}

#[tokio::test]
async fn bash_cannot_signal_a_process_outside_its_sandbox() {
    if !require_landlock() {
        return;
    }
    let (t, scope) = tree();
    let (_tx, ctx) = ctx(scope, &t.p("w"));
    let mut victim = Command::new("sleep").arg("100").spawn().unwrap();
    let pid = victim.id();
    for sig in ["-9", "-STOP", "-INT"] {
        let out = sh(&ctx, &format!("kill {sig} {pid}")).await;
        assert!(!ok(&out), "kill {sig}: {out}");
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let alive = victim.try_wait().unwrap().is_none();
    let _ = victim.kill();
    let _ = victim.wait();
    assert!(alive, "the process outside the sandbox was killed");
    // Its own processes it can still signal.
    let out = sh(&ctx, "sleep 100 & kill -9 $! && wait $!; echo done").await;
    assert!(out.contains("done"), "{out}");
    rerun_as_user("bash_cannot_signal_a_process_outside_its_sandbox");
}

#[tokio::test]
async fn abstract_sockets_outside_the_sandbox_are_unreachable() {
    if !require_landlock() {
        return;
    }
    if !Path::new("/usr/bin/python3").exists() {
        println!("skipping: /usr/bin/python3 is needed to connect to an abstract socket");
        return;
    }
    use std::os::linux::net::SocketAddrExt;
    let name = format!("pods-test-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let listener = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
    listener.set_nonblocking(true).unwrap();
    let (t, scope) = tree();
    let (_tx, ctx) = ctx(scope, &t.p("w"));
    let connect = |n: &str| {
        format!(
            "/usr/bin/python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); s.connect(\"\\0{n}\"); print(\"connected\")'"
        )
    };
    let out = sh(&ctx, &connect(&name)).await;
    assert!(!out.contains("connected"), "{out}");
    assert!(listener.accept().is_err(), "a connection arrived");
    // Within the sandbox, abstract sockets work.
    let inner = format!(
        "/usr/bin/python3 -c 'import socket; l = socket.socket(socket.AF_UNIX); l.bind(\"\\0{name}-in\"); l.listen(); s = socket.socket(socket.AF_UNIX); s.connect(\"\\0{name}-in\"); print(\"connected\")'"
    );
    let out = sh(&ctx, &inner).await;
    assert!(out.contains("connected"), "{out}");
}

#[tokio::test]
async fn hidden_paths_such_as_the_runtime_dir_are_empty_for_bash() {
    if !require_landlock() {
        return;
    }
    if !Path::new("/usr/bin/python3").exists() {
        println!("skipping: /usr/bin/python3 is needed to connect to a unix socket");
        return;
    }
    let (t, scope) = tree();
    // Another Pod's socket in the runtime directory, which is in the read scope
    // here to show that hiding does not depend on Landlock's rules.
    let rt = t.mkdir("ro/runtime");
    let sock = rt.join("other.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    listener.set_nonblocking(true).unwrap();
    let connect = format!(
        "ls {rt}; /usr/bin/python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); s.connect(\"{sock}\"); print(\"connected\")'",
        rt = rt.display(),
        sock = sock.display()
    );
    let (_tx, mut ctx) = ctx(scope, &t.p("w"));
    // Landlock (before ABI 9) does not mediate connecting to a pathname socket:
    let out = sh(&ctx, &connect).await;
    assert!(out.contains("connected"), "{out}");
    ctx.shell.hidden_paths = vec![rt.clone()];
    let out = sh(&ctx, &connect).await;
    assert!(
        !out.contains("connected") && !out.contains("other.sock"),
        "{out}"
    );
    rerun_as_user("hidden_paths_such_as_the_runtime_dir_are_empty_for_bash");
}
