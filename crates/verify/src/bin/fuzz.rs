//! The long fuzz run: `cargo run --release -p verify --bin fuzz -- [--cases N]
//! [--seed S] [TARGET...]` (default: 1,000,000 inputs per target, seed 1, every
//! target). Prints one line per target and exits 1 if any input failed.

use anyhow::{Context, bail};

fn main() -> anyhow::Result<()> {
    let mut cases: u32 = 1_000_000;
    let mut seed: u64 = 1;
    let mut only = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--cases" => cases = args.next().context("--cases N")?.parse()?,
            "--seed" => seed = args.next().context("--seed S")?.parse()?,
            "--list" => {
                for t in verify::targets::all()? {
                    println!("{}", t.name());
                }
                return Ok(());
            }
            name if !name.starts_with('-') => only.push(name.to_owned()),
            other => bail!(
                "unknown option {other}; usage: fuzz [--cases N] [--seed S] [--list] [TARGET...]"
            ),
        }
    }
    let mut failed = 0;
    for target in verify::targets::all()? {
        if !only.is_empty() && !only.iter().any(|n| n == target.name()) {
            continue;
        }
        let r = verify::fuzz::run(target.as_ref(), cases, seed);
        let secs = r.elapsed.as_secs_f64();
        println!(
            "{:<16} {:>9} inputs  {:>7.1} s  {:>8.0} inputs/s  {}",
            r.target,
            r.inputs,
            secs,
            r.inputs as f64 / secs.max(1e-9),
            if r.failure.is_some() {
                "FAILED"
            } else {
                "0 panics, 0 failed properties"
            }
        );
        if let Some(why) = r.failure {
            failed += 1;
            println!("  {why}");
        }
    }
    if failed > 0 {
        bail!("{failed} target(s) failed");
    }
    Ok(())
}
