//! Issue 19, unbounded input: every reader requires a regular file, opens it
//! non-blocking and reads at most limit + 1 bytes. A FIFO (with or without a
//! writer), a device node and a growing file never make a tool hang or grow.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use scope::{Access, Scope, ScopeRule};
use serde_json::json;
use tools::{READ_MAX_FILE_BYTES, ToolError};

/// Bytes this process has read so far (`rchar` of /proc/self/io): how much a
/// tool call really read, whatever it kept.
fn bytes_read_by_process() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// The tests measuring `rchar` must not overlap other readers in this binary.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn mkfifo(p: &Path) {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
}

/// Opens the FIFO for writing without blocking, if a reader has it open.
fn open_writer(p: &Path) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(p)
        .ok()
}

fn w_ctx(t: &Tree) -> (tokio::sync::watch::Sender<Scope>, tools::ToolContext) {
    ctx(
        Scope::allowing(vec![rule(&t.p("w"), Access::Write)]),
        &t.p("w"),
    )
}

/// Every reading tool on `path` must end within 5 s with an error saying it is
/// not a regular file. `release` unblocks a reader of the old code so the test
/// fails instead of hanging.
async fn refused_promptly(ctx: &tools::ToolContext, path: &Path, release: impl Fn()) {
    let p = path.display().to_string();
    for (tool, args) in [
        ("read_file", json!({"path": p})),
        (
            "edit_file",
            json!({"path": p, "old_string": "a", "new_string": "b"}),
        ),
    ] {
        let started = Instant::now();
        let fut = call(ctx, tool, args);
        tokio::pin!(fut);
        let r = match tokio::time::timeout(Duration::from_secs(5), &mut fut).await {
            Ok(r) => r,
            Err(_) => {
                release();
                panic!("{tool} on {p} did not return within 5 s");
            }
        };
        let e = r.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{tool}: {:?}",
            started.elapsed()
        );
        if tool == "read_file" || !matches!(e, ToolError::NotRead { .. }) {
            assert!(e.to_string().contains("not a regular file"), "{tool}: {e}");
        }
    }
}

#[tokio::test]
async fn a_fifo_without_writer_is_refused_promptly() {
    let _g = SERIAL.lock().await;
    let t = Tree::new();
    t.mkdir("w");
    let fifo = t.p("w/pipe");
    mkfifo(&fifo);
    let (_tx, ctx) = w_ctx(&t);
    refused_promptly(&ctx, &fifo, || {
        // A reader blocked in open() gets EOF once a writer came and went.
        drop(open_writer(&fifo));
    })
    .await;
}

#[tokio::test]
async fn a_fifo_fed_endlessly_is_not_read() {
    let _g = SERIAL.lock().await;
    let t = Tree::new();
    t.mkdir("w");
    let fifo = t.p("w/pipe");
    mkfifo(&fifo);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (fifo, stop) = (fifo.clone(), stop.clone());
        std::thread::spawn(move || feed_endlessly(&fifo, &stop))
    };
    let (_tx, ctx) = w_ctx(&t);
    let before = bytes_read_by_process();
    refused_promptly(&ctx, &fifo, || stop.store(true, Ordering::Relaxed)).await;
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let read = bytes_read_by_process() - before;
    assert!(read < 1024 * 1024, "read {read} bytes from the FIFO");
}

/// Writes to the FIFO whenever a reader has it open, until `stop`.
fn feed_endlessly(fifo: &Path, stop: &AtomicBool) {
    use std::io::Write;
    let chunk = vec![b'a'; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        let Some(mut w) = open_writer(fifo) else {
            std::thread::sleep(Duration::from_millis(5)); // no reader yet
            continue;
        };
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            match w.write(&chunk) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(_) => break, // the reader left
            }
        }
    }
}

#[tokio::test]
async fn device_nodes_are_refused() {
    let _g = SERIAL.lock().await;
    let t = Tree::new();
    t.mkdir("w");
    let (_tx, ctx) = w_ctx(&t);
    // A symlink in scope to /dev/zero resolves outside the scope.
    std::os::unix::fs::symlink("/dev/zero", t.p("w/zero-link")).unwrap();
    let e = call(&ctx, "read_file", json!({"path": "zero-link"}))
        .await
        .unwrap_err();
    assert!(matches!(e, ToolError::OutOfScope { .. }), "{e}");

    // /dev/zero made reachable by a read rule: still not a regular file.
    let zero = ScopeRule::trusted(PathBuf::from("/dev/zero"), Access::Read, false).unwrap();
    let (_tx2, ctx2) = common::ctx(
        Scope::allowing(vec![rule(&t.p("w"), Access::Write), zero]),
        &t.p("w"),
    );
    let before = bytes_read_by_process();
    let r = tokio::time::timeout(
        Duration::from_secs(20),
        call(&ctx2, "read_file", json!({"path": "/dev/zero"})),
    )
    .await
    .expect("read_file on /dev/zero did not return within 20 s");
    let e = r.unwrap_err();
    assert!(e.to_string().contains("not a regular file"), "{e}");
    assert!(bytes_read_by_process() - before < 1024 * 1024);

    // A character device made inside the scope (needs CAP_MKNOD).
    let dev = t.p("w/zero");
    let c = CString::new(dev.as_os_str().as_bytes()).unwrap();
    // SAFETY: valid path; makedev(1, 5) is /dev/zero's device number.
    let made = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 5)) };
    if made != 0 {
        println!(
            "skipping the in-scope device node: mknod failed ({}), needs CAP_MKNOD",
            std::io::Error::last_os_error()
        );
        return;
    }
    let before = bytes_read_by_process();
    refused_promptly(&ctx, &dev, || {}).await;
    let r = call(&ctx, "grep", json!({"pattern": "x", "path": "zero"}))
        .await
        .unwrap();
    assert!(r.text.contains("skipped"), "{}", r.text);
    assert!(bytes_read_by_process() - before < 1024 * 1024);
}

#[tokio::test]
async fn a_growing_file_is_read_to_the_limit_only() {
    let _g = SERIAL.lock().await;
    let t = Tree::new();
    t.mkdir("w");
    let f = t.write("w/log", "");
    let stop = Arc::new(AtomicBool::new(false));
    // Grows by 1 MiB of text per write until 1 GiB or `stop`.
    let writer = {
        let (f, stop) = (f.clone(), stop.clone());
        std::thread::spawn(move || {
            use std::io::Write;
            let mut out = std::fs::OpenOptions::new().append(true).open(&f).unwrap();
            let chunk: Vec<u8> = b"0123456789abcde\n".repeat(64 * 1024);
            for _ in 0..1024 {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                out.write_all(&chunk).unwrap();
            }
        })
    };
    let (_tx, ctx) = w_ctx(&t);
    let limit = READ_MAX_FILE_BYTES;
    let mut max_read = 0;
    for _ in 0..40 {
        let before = bytes_read_by_process();
        let r = call(&ctx, "read_file", json!({"path": "log", "limit": 1})).await;
        let read = bytes_read_by_process() - before;
        max_read = max_read.max(read);
        if let Err(e) = &r {
            assert!(matches!(e, ToolError::TooLarge { .. }), "{e}");
        }
        if writer.is_finished() {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    // limit + 1 for the file, plus a little for /proc/self/io itself.
    assert!(
        max_read <= limit + 1 + 64 * 1024,
        "one read_file call read {max_read} bytes (limit {limit})"
    );
}

#[tokio::test]
async fn ignore_files_that_are_fifos_or_links_to_devices_do_not_hang_the_walk() {
    let _g = SERIAL.lock().await;
    let t = Tree::new();
    t.write("w/a.rs", "fn main() {}\n");
    t.write("w/sub/b.rs", "fn main() {}\n");
    t.write("w/dev/c.rs", "fn main() {}\n");
    mkfifo(&t.p("w/.gitignore"));
    mkfifo(&t.p("w/sub/.ignore"));
    std::os::unix::fs::symlink("/dev/zero", t.p("w/dev/.gitignore")).unwrap();
    let (_tx, ctx) = w_ctx(&t);
    let fifos = [t.p("w/.gitignore"), t.p("w/sub/.ignore")];
    for (tool, args) in [
        ("glob", json!({"pattern": "**/*.rs"})),
        ("grep", json!({"pattern": "main"})),
    ] {
        let before = bytes_read_by_process();
        let r = match tokio::time::timeout(Duration::from_secs(5), call(&ctx, tool, args)).await {
            Ok(r) => r.unwrap(),
            Err(_) => {
                fifos.iter().for_each(|f| drop(open_writer(f)));
                panic!("{tool} did not return within 5 s");
            }
        };
        assert!(bytes_read_by_process() - before < 1024 * 1024);
        // Walking goes on where the ignore files are harmless; the rest is named.
        assert!(
            r.text.contains(&t.p("w/a.rs").display().to_string()),
            "{tool}: {}",
            r.text
        );
        for skipped in ["w/sub", "w/dev"] {
            assert!(
                r.text.contains(&format!("{} ", t.p(skipped).display()))
                    || r.text.contains(&format!("{}:", t.p(skipped).display())),
                "{tool}: {skipped} not reported: {}",
                r.text
            );
        }
        assert!(r.text.contains("not a regular file"), "{tool}: {}", r.text);
    }
}
