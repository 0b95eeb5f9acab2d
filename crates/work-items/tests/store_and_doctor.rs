//! The store end to end on a temp folder: the journey of one item, concurrent
//! writers, and doctor on hand-made damage.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use work_items::store::{ARTIFACTS_DIR, ITEM_FILE, THREAD_FILE};
use work_items::{NewItem, Status, Store, Verdict, doctor};

fn new(title: &str) -> NewItem {
    NewItem {
        title: title.into(),
        kind: Some("bug".into()),
        priority: Some("high".into()),
        labels: vec!["auth".into()],
        body: "It fails.\n".into(),
        author: "alice".into(),
    }
}

fn kinds(ps: &[work_items::Problem]) -> Vec<&str> {
    let mut k: Vec<&str> = ps.iter().map(|p| p.kind.as_str()).collect();
    k.sort();
    k.dedup();
    k
}

#[test]
fn an_item_goes_from_open_to_closed_with_every_event() {
    let d = tempfile::tempdir().unwrap();
    let s = Store::init(d.path().join("work-items")).unwrap();
    let item = s.create(&new("Fix the login bug")).unwrap();
    assert_eq!(item.meta.slug, "fix-the-login-bug");
    assert!(item.dir.ends_with(format!("open/{}", item.meta.id)));
    // Same title again: a distinct slug, never a duplicate.
    assert_eq!(
        s.create(&new("Fix the login bug")).unwrap().meta.slug,
        "fix-the-login-bug-2"
    );

    s.comment("fix-the-login-bug", "coder", "plan", "1. reproduce")
        .unwrap();
    s.assign("fix-the-login-bug", "lead", "coder").unwrap();
    assert!(
        s.set_status("fix-the-login-bug", "lead", Status::Pending)
            .unwrap()
            .is_some()
    );
    assert!(
        s.set_status("fix-the-login-bug", "lead", Status::Pending)
            .unwrap()
            .is_none()
    );
    s.review(
        &item.meta.id,
        "reviewer",
        Verdict::RequestChanges,
        "Add a test.",
    )
    .unwrap();
    s.review(
        &item.meta.id,
        "reviewer",
        Verdict::Approve,
        "Verdict: approve\n\nGood.",
    )
    .unwrap();
    let err = s
        .review(
            &item.meta.id,
            "reviewer",
            Verdict::Approve,
            "Verdict: request changes\nno",
        )
        .unwrap_err();
    assert!(err.to_string().contains("opens with"), "{err}");
    s.close("fix-the-login-bug", "lead", "Fixed in abc123.")
        .unwrap();

    let it = s.load("fix-the-login-bug").unwrap();
    assert_eq!(it.meta.status, Status::Closed);
    assert!(it.dir.starts_with(d.path().join("work-items/closed")));
    assert_eq!(it.meta.assignee.as_deref(), Some("coder"));
    let kinds: Vec<&str> = it.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "create", "comment", "assign", "status", "review", "review", "close"
        ]
    );
    assert!(it.thread_problems.is_empty(), "{:?}", it.thread_problems);
    assert_eq!(it.artifacts, ["review.md", "review-r2.md"], "by round");
    let r1 = std::fs::read_to_string(it.dir.join("artifacts/review.md")).unwrap();
    assert!(
        r1.starts_with("Verdict: request-changes\n\nAdd a test."),
        "{r1}"
    );
    let r2 = std::fs::read_to_string(it.dir.join("artifacts/review-r2.md")).unwrap();
    assert_eq!(r2, "Verdict: approve\n\nGood.\n");
    assert_eq!(it.last_verdict(), Some(Verdict::Approve));
    assert_eq!(it.resolution.as_deref(), Some("Fixed in abc123.\n"));
    assert!(doctor::check(&s, false).unwrap().is_empty());
}

#[test]
fn threads_commenting_at_once_lose_nothing() {
    let d = tempfile::tempdir().unwrap();
    let s = Store::init(d.path().join("work-items")).unwrap();
    let id = s.create(&new("Busy item")).unwrap().meta.id;
    std::thread::scope(|sc| {
        for w in 0..4 {
            let (s, id) = (s.clone(), id.clone());
            sc.spawn(move || {
                for i in 0..50 {
                    s.comment(
                        &id,
                        &format!("w{w}"),
                        "comment",
                        &format!("note {i} from w{w}\nsecond line"),
                    )
                    .unwrap();
                }
            });
        }
    });
    let it = s.load(&id).unwrap();
    assert!(it.thread_problems.is_empty());
    assert_eq!(
        it.events.iter().filter(|e| e.kind == "comment").count(),
        200
    );
    for w in 0..4 {
        let mine: Vec<_> = it
            .events
            .iter()
            .filter(|e| e.author == format!("w{w}"))
            .collect();
        assert_eq!(mine.len(), 50);
        for (i, e) in mine.iter().enumerate() {
            assert_eq!(e.body, format!("note {i} from w{w}\nsecond line"));
        }
    }
}

fn edit(p: &Path, from: &str, to: &str) {
    let s = std::fs::read_to_string(p).unwrap();
    assert!(s.contains(from), "{from:?} not in {}", p.display());
    std::fs::write(p, s.replacen(from, to, 1)).unwrap();
}

#[test]
fn doctor_finds_hand_made_damage_and_fixes_the_safe_part() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("work-items");
    let s = Store::init(&root).unwrap();
    let a = s.create(&new("Alpha")).unwrap();
    let b = s.create(&new("Bravo")).unwrap();
    let c = s.create(&new("Charlie")).unwrap();
    let e = s.create(&new("Echo")).unwrap();
    s.review(&e.meta.id, "r", Verdict::Approve, "ok").unwrap();

    // 1 missing front matter field (derivable), 2 status/folder mismatch.
    edit(&a.dir.join(ITEM_FILE), "priority: high\n", "");
    edit(&b.dir.join(ITEM_FILE), "status: open", "status: pending");
    // 3 duplicate id: a copy of Charlie in closed/.
    let copy = root.join("closed").join(&c.meta.id);
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(c.dir.join(ITEM_FILE), copy.join(ITEM_FILE)).unwrap();
    std::fs::copy(c.dir.join(THREAD_FILE), copy.join(THREAD_FILE)).unwrap();
    // 4 duplicate slug: another id with Alpha's slug.
    let twin = root.join("open").join("20200101-000000-alpha");
    std::fs::create_dir_all(&twin).unwrap();
    let t = std::fs::read_to_string(e.dir.join(ITEM_FILE))
        .unwrap()
        .replace(&e.meta.id, "20200101-000000-alpha")
        .replace("slug: echo", "slug: alpha");
    std::fs::write(twin.join(ITEM_FILE), t).unwrap();
    std::fs::write(twin.join(THREAD_FILE), "").unwrap();
    // 5 malformed event, 6 missing artifact.
    std::fs::OpenOptions::new()
        .append(true)
        .open(e.dir.join(THREAD_FILE))
        .map(|mut f| {
            use std::io::Write;
            f.write_all(b"<!-- event: comment author: bob -->\n")
                .unwrap();
        })
        .unwrap();
    std::fs::remove_file(e.dir.join(ARTIFACTS_DIR).join("review.md")).unwrap();
    // 7 stray files, 8 leftovers of an interrupted write, 9 no front matter.
    std::fs::write(root.join("notes.txt"), "x").unwrap();
    std::fs::write(c.dir.join("scratch.md"), "x").unwrap();
    std::fs::write(c.dir.join("item.md.tmp"), "half").unwrap();
    let nofm = root.join("pending").join("20200101-000000-nofm");
    std::fs::create_dir_all(&nofm).unwrap();
    std::fs::write(nofm.join(ITEM_FILE), "# just text\n").unwrap();
    std::fs::write(nofm.join(THREAD_FILE), "").unwrap();

    let found = doctor::check(&s, false).unwrap();
    assert_eq!(
        kinds(&found),
        [
            "duplicate_id",
            "duplicate_slug",
            "leftover_temp",
            "malformed_event",
            "missing_artifact",
            "missing_field",
            "no_front_matter",
            "status_mismatch",
            "stray_file"
        ],
        "{found:#?}"
    );
    assert!(found.iter().all(|p| !p.fixed));

    let fixed = doctor::check(&s, true).unwrap();
    let repaired: Vec<&str> = fixed
        .iter()
        .filter(|p| p.fixed)
        .map(|p| p.kind.as_str())
        .collect();
    for k in [
        "missing_field",
        "status_mismatch",
        "stray_file",
        "leftover_temp",
    ] {
        assert!(repaired.contains(&k), "{k} not fixed: {fixed:#?}");
    }
    let after = doctor::check(&s, false).unwrap();
    assert_eq!(
        kinds(&after),
        [
            "duplicate_id",
            "duplicate_slug",
            "malformed_event",
            "missing_artifact",
            "no_front_matter",
            "status_mismatch"
        ],
        "{after:#?}"
    );
    // The one mismatch left is the duplicate's: moving it would replace the original.
    let left: Vec<_> = after
        .iter()
        .filter(|p| p.kind == "status_mismatch")
        .collect();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].path, copy);
    assert!(!left[0].fixable);
    // The repairs lost nothing: the stray files are in quarantine, Bravo moved.
    assert!(root.join(".quarantine/notes.txt").is_file());
    assert!(
        root.join("pending")
            .join(&b.meta.id)
            .join(ITEM_FILE)
            .is_file()
    );
    assert_eq!(s.load(&a.meta.id).unwrap().meta.priority, "normal");
}

#[test]
fn a_review_held_to_its_round_is_written_once() {
    let d = tempfile::tempdir().unwrap();
    let s = Store::init(d.path().join("work-items")).unwrap();
    let it = s.create(&new("Round trip")).unwrap();
    let id = it.meta.id.to_string();
    // Round 2 is not reached yet.
    let e = s
        .review_round(&id, "r", Verdict::Approve, "early", Some(2))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not reached yet"), "{e}");
    s.review_round(&id, "r", Verdict::RequestChanges, "fix it", Some(1))
        .unwrap();
    // The same round again (a resumed reviewer): refused, nothing written.
    let e = s
        .review_round(&id, "r", Verdict::Approve, "again", Some(1))
        .unwrap_err()
        .to_string();
    assert!(e.contains("already reviewed"), "{e}");
    let it = s.load(&id).unwrap();
    assert_eq!(it.events.iter().filter(|e| e.kind == "review").count(), 1);
    assert_eq!(it.last_verdict(), Some(Verdict::RequestChanges));
    assert!(!it.dir.join(ARTIFACTS_DIR).join("review-r2.md").exists());
}
