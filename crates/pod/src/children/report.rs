//! The child side of reports: when a run of this (child) Pod ends, tell the parent,
//! retrying until it answers — the parent may be down or restarting (PITFALLS:
//! fire-and-forget child events are lost exactly when they matter). The parent's
//! socket path is stable across its restarts, so a restored parent gets the report.

use std::path::PathBuf;
use std::time::Duration;

use protocol::{ChildReport, Event, Request};
use tokio::sync::broadcast::error::RecvError;

use crate::client::PodClient;
use crate::journal::Journal;

/// How long a report is retried before it is given up (logged).
const REPORT_DEADLINE: Duration = Duration::from_secs(600);

/// Watches this Pod's events and reports every run end and approval request to the
/// parent.
pub fn spawn_reporter(
    journal: Journal,
    child: String,
    parent_socket: PathBuf,
    token: String,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let (mut rx, _) = journal.subscribe_since(Some(journal.last_seq()));
        let mut quiet = false;
        loop {
            let report = match rx.recv().await {
                Ok((_, Event::RunStarted { quiet: q })) => {
                    quiet = q;
                    continue;
                }
                Ok((_, Event::RunCompleted { final_text })) => ChildReport::Finished { final_text },
                Ok((
                    _,
                    Event::RunErrored {
                        error,
                        cancelled: false,
                        ..
                    },
                )) => ChildReport::Errored { error },
                // The parent may answer it (ARCHITECTURE §9, approvals).
                Ok((_, Event::ApprovalRequested { approval })) => {
                    ChildReport::ApprovalRequested { approval }
                }
                Ok(_) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            };
            // One id per report, kept across its retries (the parent records it once).
            let req = Request::ChildReport {
                child: child.clone(),
                token: token.clone(),
                report,
                quiet,
                report_id: Some(super::random_hex()),
            };
            deliver(&parent_socket, req).await;
        }
    })
}

async fn deliver(sock: &std::path::Path, req: Request) {
    let deadline = tokio::time::Instant::now() + REPORT_DEADLINE;
    let mut backoff = Duration::from_millis(50);
    loop {
        let attempt = async {
            let mut c = PodClient::connect(sock, None)
                .await
                .map_err(|e| e.to_string())?;
            c.request(req.clone()).await.map_err(|e| e.to_string())
        };
        match attempt.await {
            Ok(_) => return,
            Err(e) => {
                if tokio::time::Instant::now() + backoff > deadline {
                    tracing::error!(error = %e, "giving up reporting to the parent");
                    return;
                }
                tracing::debug!(error = %e, "report to parent failed; retrying");
                // Backoff between attempts to reach a parent that is down: a retry
                // timer, not synchronisation.
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}
