//! What the work-items view costs: one re-read of a repository with 300 items
//! (done on every 2 s tick while the view is open), and one frame of the list and
//! of an item with a 200-event thread and a review artifact.
// A benchmark aborts on a broken setup; it handles no user input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tui::{Action, App, WorkQuery};
use work_items::{NewItem, Store, Verdict};

fn perform(app: &mut App, actions: Vec<Action>) {
    for a in actions {
        if let Action::LoadWork(q) = a {
            app.set_work(tui::load_work(&q));
        }
    }
}

fn work_view(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let store = Store::init(repo.join("work-items")).unwrap();
    let mut busy = String::new();
    for i in 0..300 {
        let item = store
            .create(&NewItem {
                title: format!("Item number {i:03} with a title of a usual length"),
                body: "A description of a few lines.\n\nWith a second paragraph.\n".into(),
                author: "bench".into(),
                ..Default::default()
            })
            .unwrap();
        if i == 0 {
            busy = item.meta.id;
        }
    }
    for i in 0..199 {
        store
            .comment(
                &busy,
                "coder",
                "comment",
                &format!("Comment {i}: changed **the parser** in `src/lib.rs`."),
            )
            .unwrap();
    }
    store
        .review(
            &busy,
            "reviewer",
            Verdict::RequestChanges,
            "Add a test.\n\n- one\n- two",
        )
        .unwrap();
    let query = WorkQuery {
        from: repo.clone(),
        repo: Some(repo.clone()),
        open: Some(busy.clone()),
    };
    let mut g = c.benchmark_group("work_view");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    g.bench_function("re-read 300 items (one tick)", |b| {
        b.iter(|| black_box(tui::load_work(&query)))
    });
    let mut app = App::new(None);
    app.default_cwd = repo.clone();
    let actions = app.open_work();
    perform(&mut app, actions);
    let mut term = Terminal::new(TestBackend::new(160, 45)).unwrap();
    g.bench_function("list frame, 300 items, 160x45", |b| {
        b.iter(|| term.draw(|f| tui::render(&mut app, f)).unwrap().area)
    });
    // The busy item is the first row.
    let enter = KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE);
    let actions = tui::handle_key(&mut app, enter);
    perform(&mut app, actions);
    g.bench_function("item frame, 201-event thread, 160x45", |b| {
        b.iter(|| term.draw(|f| tui::render(&mut app, f)).unwrap().area)
    });
    g.finish();
}

criterion_group!(benches, work_view);
criterion_main!(benches);
