//! The model checker's long run: `cargo run --release -p verify --bin model --
//! [--kills N] [--starts N] [--lapses N]` (defaults 2, 5 and 1). Prints states
//! explored, time and each property's outcome.

use std::time::Instant;

use anyhow::{Context, bail};
use stateright::{Checker, Model};
use verify::model::ScopeProtocol;

fn main() -> anyhow::Result<()> {
    let mut m = ScopeProtocol {
        kills: 2,
        lapses: 1,
        starts: 5,
        grandchild: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--kills" => m.kills = args.next().context("--kills N")?.parse()?,
            "--starts" => m.starts = args.next().context("--starts N")?.parse()?,
            "--lapses" => m.lapses = args.next().context("--lapses N")?.parse()?,
            "--no-grandchild" => m.grandchild = false,
            other => bail!(
                "unknown option {other}; usage: model [--kills N] [--starts N] [--lapses N] [--no-grandchild]"
            ),
        }
    }
    let props: Vec<&'static str> = m.properties().iter().map(|p| p.name).collect();
    let started = Instant::now();
    let checker = m.clone().checker().threads(2).spawn_bfs().join();
    println!(
        "kills {} starts {} lapses {}: {} states ({} unique), max depth {}, {:.1} s",
        m.kills,
        m.starts,
        m.lapses,
        checker.state_count(),
        checker.unique_state_count(),
        checker.max_depth(),
        started.elapsed().as_secs_f64()
    );
    for name in props {
        match checker.discovery(name) {
            Some(path) => {
                let last = path.last_state().clone();
                println!("{name}: discovery\n  path: {:?}", path.into_actions());
                if std::env::var_os("MODEL_VERBOSE").is_some() {
                    println!(
                        "  last state: {last:?}\n  recovered: {:?}",
                        m.recover(&last)
                    );
                }
            }
            None => println!("{name}: none"),
        }
    }
    Ok(())
}
