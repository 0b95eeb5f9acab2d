//! `pod compact`, `pod fork` and `pod rewind`: commands on a Pod's conversation that
//! always continue in a new segment and never rewrite a log (ARCHITECTURE §7).

use std::process::ExitCode;

use anyhow::Context;
use pod_ids::{PodName, Roots};

use super::exit::{Exit, fail};
use crate::client::PodClient;
use crate::layout::PodPaths;
use crate::liveness;
use crate::outln;

/// `pod compact NAME`: asks the live Pod to compact now.
pub async fn compact(roots: &Roots, name: &PodName, json: bool) -> anyhow::Result<ExitCode> {
    let paths = PodPaths::new(roots, name);
    if liveness::probe(&paths.lock()).is_none() {
        return Err(fail(
            Exit::Usage,
            format!(
                "Pod {0} is not running; start it with `pod resume {0} --detach`, then compact it",
                name.as_str()
            ),
        ));
    }
    let mut c = PodClient::connect(&paths.socket(), None)
        .await
        .with_context(|| format!("cannot talk to Pod {}", name.as_str()))?;
    let r = c
        .request(protocol::Request::Compact)
        .await
        .with_context(|| format!("Pod {} did not compact", name.as_str()))?;
    if json {
        outln!("{}", serde_json::to_string(&r)?)?;
    } else {
        outln!(
            "{} compacted: ~{} → ~{} tokens; continuing in segment {} (the old segment {} is unchanged)",
            name.as_str(),
            r["before_tokens"],
            r["after_tokens"],
            r["segment_id"].as_str().unwrap_or("?"),
            r["from_segment"].as_str().unwrap_or("?"),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
