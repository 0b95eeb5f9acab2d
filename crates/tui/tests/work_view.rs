//! The work-items view (issue 15): snapshots of the list and of an item (thread,
//! artifacts, the Pods on it) at 80×24 and 160×45, built from a repository made
//! with the `work-items` crate's API; keys; refresh; the hints for a repository
//! without items and for a damaged item.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use protocol::PodState;
use tui::{Action, App, Discovered, LinkUpdate, Overlay, PodInfo, WorkLink, handle_key};
use work_items::{NewItem, Status, Store, Verdict};

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

/// A repository `repo/` with four items, made through the store's API:
/// - `allow-plus-signs-in-login-addresses`: pending, assigned to a coder Pod,
///   two review rounds (request-changes, then approve), comments;
/// - `broken-item`: its front matter lost its title (damaged);
/// - `clean-up-the-old-config-loader`: closed with a resolution;
/// - `document-the-work-items-format`: open, nobody on it.
///
/// Titles are in creation order alphabetically, so the order is the same
/// whether or not they were created in the same second.
fn repo() -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let store = Store::init(repo.join("work-items")).unwrap();
    let new = |title: &str, kind: &str, priority: &str, body: &str| NewItem {
        title: title.into(),
        kind: Some(kind.into()),
        priority: Some(priority.into()),
        labels: vec!["auth".into()],
        body: body.into(),
        author: "alice".into(),
    };
    let login = store
        .create(&new(
            "Allow plus signs in login addresses",
            "bug",
            "high",
            "`a+b@example.com` cannot log in: the parser drops everything after the `+`.",
        ))
        .unwrap();
    let id = login.meta.id.clone();
    store.assign(&id, "alice", "coder-login").unwrap();
    store.set_status(&id, "alice", Status::Pending).unwrap();
    store
        .comment(
            &id,
            "coder-login",
            "implementation_report",
            "Split on the **last** `@` only; added `tests/plus_sign.rs`.",
        )
        .unwrap();
    store
        .review(
            &id,
            "reviewer-login",
            Verdict::RequestChanges,
            "The test does not cover `+` in the domain part.\n\n- add a case for `a@b+c.example`\n- keep the old cases",
        )
        .unwrap();
    store
        .comment(&id, "coder-login", "comment", "Covered the domain part.")
        .unwrap();
    store
        .review(&id, "reviewer-login", Verdict::Approve, "Covered now.")
        .unwrap();
    let broken = store
        .create(&new("Broken item", "task", "normal", ""))
        .unwrap();
    let md = broken.dir.join("item.md");
    let text = std::fs::read_to_string(&md).unwrap();
    let without_title: String = text
        .lines()
        .filter(|l| !l.starts_with("title:"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&md, without_title).unwrap();
    let old = store
        .create(&new("Clean up the old config loader", "chore", "low", ""))
        .unwrap();
    store
        .close(&old.meta.id, "alice", "Removed in the config rewrite.")
        .unwrap();
    store
        .create(&new(
            "Document the work-items format",
            "docs",
            "normal",
            "A page with an example item.",
        ))
        .unwrap();
    (dir, repo, id)
}

/// The dashboard's three Pods plus a coder (live, idle) and a reviewer
/// (stopped) whose work grants name the login item.
fn app_with_workers(repo: &Path, item: &str) -> App {
    let mut app = three_pods();
    let store = std::fs::canonicalize(repo.join("work-items")).unwrap();
    let mut pods: Vec<PodInfo> = app.tree.pods().cloned().collect();
    for (n, live, rights) in [
        ("coder-login", true, vec!["comment", "status"]),
        ("reviewer-login", false, vec!["review"]),
    ] {
        let mut p = PodInfo::named(name(n));
        p.parent = Some(name("lead"));
        p.live_pid = live.then_some(7);
        p.cwd = Some(repo.to_path_buf());
        p.work = Some(WorkLink {
            store: store.clone(),
            item: Some(item.into()),
            rights: rights.into_iter().map(String::from).collect(),
        });
        pods.push(p);
    }
    app.set_discovered(Discovered {
        pods,
        problems: vec![],
    });
    app.apply_link(
        &name("coder-login"),
        LinkUpdate::Hello {
            status: status("coder-login", PodState::Idle),
            last_seq: 0,
            in_progress_text: String::new(),
        },
    );
    app.default_cwd = repo.to_path_buf();
    app
}

/// Performs the view's reads the way the I/O layer does.
fn perform(app: &mut App, actions: Vec<Action>) -> bool {
    let mut changed = false;
    for a in actions {
        if let Action::LoadWork(q) = a {
            changed |= app.set_work(tui::load_work(&q));
        }
    }
    changed
}

/// Stamps made now, as fixed text of the same width (the layout is unchanged):
/// `YYYY-MM-DD HH:MM` and the `YYYYMMDD-HHMMSS` of ids.
fn fixed_times(screen: &str) -> String {
    let pat_time = "0000-00-00 00:00";
    let pat_id = "00000000-000000";
    let matches = |w: &[char], pat: &str| {
        w.len() == pat.chars().count()
            && w.iter().zip(pat.chars()).all(|(c, p)| {
                if p == '0' {
                    c.is_ascii_digit()
                } else {
                    *c == p
                }
            })
    };
    let mut chars: Vec<char> = screen.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        for (pat, with) in [(pat_time, "2026-01-02 15:04"), (pat_id, "20260102-150405")] {
            let n = pat.chars().count();
            if i + n <= chars.len() && matches(&chars[i..i + n], pat) {
                chars.splice(i..i + n, with.chars());
            }
        }
        i += 1;
    }
    chars.into_iter().collect()
}

fn screen(app: &mut App, w: u16, h: u16) -> String {
    let t = draw(app, w, h);
    fixed_times(&format!("{}", t.backend()))
}

/// Opens the view with `w` from the tree and performs its first read.
fn open_list(repo: &Path, item: &str) -> App {
    let mut app = app_with_workers(repo, item);
    app.focus = tui::Focus::Tree;
    let actions = handle_key(&mut app, key(KeyCode::Char('w')));
    assert!(matches!(app.overlay, Overlay::Work(_)), "w opens the view");
    assert!(perform(&mut app, actions), "the first read shows items");
    app
}

/// The list, then the login item opened (two rows down: the open group holds
/// the broken item and the docs item).
fn open_login(repo: &Path, item: &str) -> App {
    let mut app = open_list(repo, item);
    handle_key(&mut app, key(KeyCode::Down));
    handle_key(&mut app, key(KeyCode::Down));
    let actions = handle_key(&mut app, key(KeyCode::Enter));
    assert!(
        matches!(&actions[..], [Action::LoadWork(q)] if q.open.as_deref() == Some(item)),
        "Enter reads the item's artifacts: {actions:?}"
    );
    perform(&mut app, actions);
    app
}

#[test]
fn list_by_status_with_a_damaged_item_in_place() {
    let (_d, repo, id) = repo();
    for (w, h) in [(80, 24), (160, 45)] {
        let mut app = open_list(&repo, &id);
        let s = screen(&mut app, w, h);
        assert!(
            s.contains("open (2)") && s.contains("pending (1)") && s.contains("closed (1)"),
            "{s}"
        );
        assert!(s.contains("✗ approve") || s.contains("✓ approve"), "{s}");
        assert!(s.contains("missing"), "the damaged item's error: {s}");
        insta::assert_snapshot!(format!("work_list_{w}x{h}"), s);
    }
}

#[test]
fn item_thread_with_its_pods_and_artifact_tabs() {
    let (_d, repo, id) = repo();
    for (w, h) in [(80, 24), (160, 45)] {
        let mut app = open_login(&repo, &id);
        let s = screen(&mut app, w, h);
        assert!(
            s.contains("coder-login") && s.contains("reviewer-login"),
            "{s}"
        );
        assert!(s.contains("review.md") && s.contains("review-r2.md"), "{s}");
        insta::assert_snapshot!(format!("work_item_thread_{w}x{h}"), s);
    }
}

#[test]
fn item_artifact_opens_with_its_verdict_highlighted() {
    let (_d, repo, id) = repo();
    for (w, h) in [(80, 24), (160, 45)] {
        let mut app = open_login(&repo, &id);
        // Thread → Description → review.md
        handle_key(&mut app, key(KeyCode::Tab));
        handle_key(&mut app, key(KeyCode::Tab));
        let t = draw(&mut app, w, h);
        let s = fixed_times(&format!("{}", t.backend()));
        assert!(s.contains("Verdict: request-changes"), "{s}");
        assert!(s.contains("• add a case"), "markdown rendered: {s}");
        // The verdict line is highlighted in the verdict's colour.
        let buf = t.backend().buffer();
        let bg = (0..buf.area.height)
            .find_map(|y| {
                let row: String = (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect();
                let x = row.find("Verdict:")?;
                let col = row[..x].chars().count() as u16;
                Some(buf[(col, y)].bg)
            })
            .unwrap();
        assert_eq!(bg, ratatui::style::Color::Red);
        insta::assert_snapshot!(format!("work_item_artifact_{w}x{h}"), s);
    }
}

#[test]
fn the_pods_on_an_item_are_its_grant_holders_and_its_assignee() {
    let (_d, repo, id) = repo();
    let app = open_login(&repo, &id);
    let Overlay::Work(view) = &app.overlay else {
        panic!("the view is open")
    };
    let row = view.open_row().unwrap();
    let item = row.item.as_ref().unwrap();
    let store = &view.snapshot.as_ref().unwrap().store;
    let pods = tui::pods_on(&app, store, item);
    let got: Vec<(&str, Option<&str>, bool)> = pods
        .iter()
        .map(|p| (p.name.as_str(), p.state.map(|s| s.label()), p.assignee))
        .collect();
    assert_eq!(
        got,
        [
            ("coder-login", Some("idle"), true),
            ("reviewer-login", Some("stopped"), false)
        ]
    );
    // A grant on the same id in another repository's store is not this item's.
    let other = tui::pods_on(&app, Path::new("/elsewhere/work-items"), item);
    assert_eq!(other.len(), 1, "only the assignee: {other:?}");
    assert_eq!(other[0].rights, Vec::<String>::new());
}

#[test]
fn a_repository_without_work_items_says_how_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = three_pods();
    app.default_cwd = dir.path().to_path_buf();
    // `/work` opens the same view as `w`.
    app.focus = tui::Focus::Composer;
    for c in "/work".chars() {
        handle_key(&mut app, key(KeyCode::Char(c)));
    }
    let actions = handle_key(&mut app, key(KeyCode::Enter));
    assert!(matches!(app.overlay, Overlay::Work(_)));
    perform(&mut app, actions);
    let s = screen(&mut app, 100, 20);
    assert!(s.contains("has no work-items/ folder"), "{s}");
    assert!(s.contains("pod work init"), "{s}");
}

#[test]
fn a_damaged_item_opens_to_its_whole_error() {
    let (_d, repo, id) = repo();
    let mut app = open_list(&repo, &id);
    // The first row is the broken item.
    let actions = handle_key(&mut app, key(KeyCode::Enter));
    perform(&mut app, actions);
    let s = screen(&mut app, 100, 20);
    assert!(s.contains("cannot be read"), "{s}");
    assert!(s.contains("title"), "names the missing field: {s}");
    assert!(s.contains("pod work doctor"), "{s}");
}

#[test]
fn the_tick_rereads_and_redraws_only_on_change() {
    let (_d, repo, id) = repo();
    let mut app = open_login(&repo, &id);
    // Nothing changed on disk: a read changes nothing on screen.
    let again = app.refresh_work();
    assert!(!perform(&mut app, again));
    // No second read starts while one is under way.
    let first = app.refresh_work();
    assert_eq!(first.len(), 1);
    assert!(app.refresh_work().is_empty());
    perform(&mut app, first);
    Store::open(repo.join("work-items"))
        .unwrap()
        .comment(&id, "lead", "decision", "Ship it after the **docs**.")
        .unwrap();
    let again = app.refresh_work();
    assert!(perform(&mut app, again), "the comment shows");
    // The newest event is at the end of the thread: scroll there.
    handle_key(&mut app, key(KeyCode::End));
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("Ship it after the docs."), "{s}");
    assert!(s.contains("decision"), "{s}");
}

#[test]
fn esc_goes_back_to_the_list_then_closes_and_the_composer_keeps_w() {
    let (_d, repo, id) = repo();
    let mut app = open_login(&repo, &id);
    handle_key(&mut app, key(KeyCode::Esc));
    match &app.overlay {
        Overlay::Work(v) => {
            assert!(v.open.is_none(), "Esc goes back to the list");
            assert_eq!(v.selected.as_deref(), Some(id.as_str()), "still selected");
        }
        o => panic!("the view stays open: {o:?}"),
    }
    handle_key(&mut app, key(KeyCode::Esc));
    assert!(app.overlay_is_none(), "Esc on the list closes it");
    // In the composer `w` is a letter.
    app.focus = tui::Focus::Composer;
    assert!(handle_key(&mut app, key(KeyCode::Char('w'))).is_empty());
    assert!(app.overlay_is_none());
    assert_eq!(app.composer.text(), "w");
    // From the transcript it opens the view.
    app.focus = tui::Focus::Transcript;
    let actions = handle_key(&mut app, key(KeyCode::Char('w')));
    assert!(matches!(&actions[..], [Action::LoadWork(_)]));
}

#[test]
fn the_wheel_scrolls_the_open_item_not_the_transcript_behind() {
    let (_d, repo, id) = repo();
    let mut app = open_login(&repo, &id);
    let _ = draw(&mut app, 80, 24); // the thread is longer than the screen
    let wheel = |kind| crossterm::event::MouseEvent {
        kind,
        column: 10,
        row: 10,
        modifiers: KeyModifiers::NONE,
    };
    let scroll = |app: &App| match &app.overlay {
        Overlay::Work(v) => v.open.as_ref().unwrap().scroll,
        o => panic!("the view stays open: {o:?}"),
    };
    tui::handle_mouse(
        &mut app,
        wheel(crossterm::event::MouseEventKind::ScrollDown),
    );
    assert_eq!(scroll(&app), 3);
    tui::handle_mouse(&mut app, wheel(crossterm::event::MouseEventKind::ScrollUp));
    assert_eq!(scroll(&app), 0);
    assert!(
        app.views[&name("lead")].scroll.is_following(),
        "the transcript behind did not move"
    );
}

#[test]
fn a_digit_goes_to_that_pod_on_the_item() {
    let (_d, repo, id) = repo();
    let mut app = open_login(&repo, &id);
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("1-2 go to Pod"), "{s}");
    // 3 is no Pod here: the view stays and says so.
    handle_key(&mut app, key(KeyCode::Char('3')));
    assert!(matches!(app.overlay, Overlay::Work(_)));
    assert_eq!(app.message.as_deref(), Some("no Pod 3 on this item"));
    // 2 is the reviewer (stopped): its transcript loads from its log.
    let actions = handle_key(&mut app, key(KeyCode::Char('2')));
    assert!(app.overlay_is_none(), "the view closes");
    assert_eq!(app.selected, Some(name("reviewer-login")));
    assert_eq!(app.focus, tui::Focus::Tree);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::LoadLog { pod, .. } if pod.as_str() == "reviewer-login")),
        "{actions:?}"
    );
}

#[test]
fn an_opened_item_removed_by_hand_goes_back_to_the_list() {
    let (_d, repo, id) = repo();
    let mut app = open_login(&repo, &id);
    std::fs::remove_dir_all(repo.join("work-items/pending").join(&id)).unwrap();
    let again = app.refresh_work();
    assert!(perform(&mut app, again));
    let Overlay::Work(view) = &app.overlay else {
        panic!("the view stays open")
    };
    assert!(view.open.is_none());
    let s = screen(&mut app, 100, 20);
    assert!(s.contains("pending (0)"), "{s}");
}
