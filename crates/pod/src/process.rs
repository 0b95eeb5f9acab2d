//! The Pod process: everything between reading the launch file and exiting.
//!
//! Order matters: liveness lock (the name is ours) → record + segment (restore
//! reconciles here) → controller → socket bound (0600, in a 0700 dir) → "ready" line
//! to the launcher → wait for SIGTERM/SIGINT or a `shutdown` request → controller
//! writes the terminal entry → socket removed → lock dropped by exit.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use llm::{ApiKey, ProviderConfig, ProviderKind};
use pod_ids::Roots;
use serde_json::json;
use session_store::{EntryKind, SessionStore};
use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use transcript::RequestConfig;

use crate::allocation::Allocated;
use crate::cli::exit::Exit;
use crate::controller::{Controller, Identity};
use crate::launch::{LaunchConfig, Manifest, StartMode};
use crate::layout::PodPaths;
use crate::liveness::{self, Acquire};
use crate::record::RecordStore;
use crate::restore::{Fresh, open_conversation};
use crate::server::{ServerCtx, serve};
use crate::toolbox::{ScopedTools, ToolRunner};
use crate::turn::RunCtx;
use pod_registry::Registry as _;

/// The line a Pod process prints on stdout once its socket is bound.
pub const READY_LINE: &str = "ready";

/// Builds the model client of a manifest (the key comes from the environment).
pub fn provider_of(m: &Manifest) -> anyhow::Result<llm::Client> {
    let dialect = m.dialect.as_deref().unwrap_or(&m.provider);
    let kind = ProviderKind::parse(dialect).ok_or_else(|| {
        anyhow!("unknown provider dialect {dialect:?}: use openai, anthropic, responses or gemini")
    })?;
    let key = m.api_key_env.as_deref().and_then(ApiKey::from_env);
    let mut cfg = ProviderConfig::new(kind, m.base_url.clone(), key);
    cfg.reasoning_echo = m.reasoning_echo;
    // Errors name the service and the variable the user actually configured.
    if let Ok(p) = llm::Preset::lookup(&m.provider) {
        cfg.name = p.name;
    }
    cfg.key_env_var = m.api_key_env.clone();
    if let Some(secs) = m.idle_timeout_secs {
        cfg.timeouts.idle = std::time::Duration::from_secs(secs);
    }
    if let Some(n) = m.max_attempts {
        cfg.retry.max_attempts = n.max(1);
    }
    m.call_limits.apply(&mut cfg);
    cfg.extra_headers = m
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(llm::Client::new(cfg)?)
}

/// The tool runner of a manifest, with pods' own roots (data, runtime, config) out
/// of reach whatever the manifest's scope says, and its MCP servers (not started).
pub fn tools_of(m: &Manifest, roots: &Roots) -> ScopedTools {
    ScopedTools::new(
        m.cwd.clone(),
        m.scope.clone(),
        &m.tools,
        m.api_key_env.as_deref(),
        m.allow_unconfined_shell,
        &[
            roots.data.clone(),
            roots.runtime.clone(),
            roots.config.clone(),
        ],
    )
    .with_pins(m.pins.clone())
    .with_mcp(&m.mcp_servers)
}

/// Runs a Pod process to completion. `ready` is called once: `Ok` when the socket
/// is bound, `Err(message)` when startup failed.
pub async fn run_pod(
    launch: LaunchConfig,
    ready: impl FnOnce(Result<(), (Exit, String)>),
    roots: &Roots,
) -> anyhow::Result<()> {
    let mut ready = Some(ready);
    let res = run_inner(launch, &mut ready).await;
    if let (Err(e), Some(r)) = (&res, ready.take()) {
        r(Err(startup_failure(e, roots)));
    }
    res
}

async fn run_inner(
    mut launch: LaunchConfig,
    ready: &mut Option<impl FnOnce(Result<(), (Exit, String)>)>,
) -> anyhow::Result<()> {
    tracing::debug!("pod process starting");
    let roots: Roots = launch.roots.into();
    let name = launch.name;
    let paths = PodPaths::new(&roots, &name);
    paths
        .ensure_dirs()
        .with_context(|| format!("cannot create runtime dir {}", paths.dir.display()))?;
    let _alive = match liveness::acquire(&paths.lock())
        .with_context(|| format!("cannot lock {}", paths.lock().display()))?
    {
        Acquire::Acquired(l) => l,
        Acquire::HeldBy(pid) => {
            return Err(anyhow!(
                "Pod {} is already running{}; attach with `pod attach {}` or stop it with `pod stop {}`",
                name.as_str(),
                pid.map_or(String::new(), |p| format!(" (pid {p})")),
                name.as_str(),
                name.as_str()
            ));
        }
    };
    tracing::debug!("liveness lock taken");
    let records = RecordStore::new(roots.pods.clone());
    let sessions = SessionStore::new(roots.sessions.clone());
    let parent_name = launch.child.as_ref().map(|c| c.parent.clone());
    // Identity, not names: a root Pod's write roots are pinned as the user granted
    // them (a child's were pinned at delegation); every restore checks them.
    if launch.mode == StartMode::Fresh
        && parent_name.is_none()
        && let Some(m) = launch.manifest.as_mut()
        && m.pins.is_empty()
    {
        m.pins = crate::grant::pin_write_roots(&m.scope).map_err(|e| anyhow!(e))?;
    }
    // What the first segment's prompt was built from, recorded beside it.
    let discovered = std::cell::RefCell::new(None);
    // Filled in once the MCP servers started (below), before any segment exists.
    let mcp_specs = std::cell::RefCell::new(Vec::new());
    let fresh = |m: &Manifest| {
        let mut tools = tools_of(m, &roots).specs();
        tools.extend(mcp_specs.borrow().iter().cloned());
        tools.extend(crate::children::tools::child_specs());
        tools.push(crate::plan::spec());
        if m.work.is_some() {
            tools.extend(crate::work::tools::specs());
        }
        tools.push(crate::policy::guard::answer_approval_spec());
        let (system_prompt, instructions) =
            crate::prompt::build_for(&name, m, &tools, &roots.config, parent_name.as_ref());
        discovered.replace(Some(instructions));
        let mut config = RequestConfig {
            provider: m.provider.clone(),
            model: m.model.clone(),
            ..Default::default()
        };
        m.agent.sampling.apply(&mut config);
        config.max_output_tokens = m.max_output_tokens;
        Fresh {
            system_prompt,
            tools,
            config,
        }
    };
    // The manifest this start runs from: the launch's for a new Pod, the record's
    // (not today's config) for a restore.
    // A restore runs only from a record that matches what its grantor granted.
    let start_manifest = match (&launch.manifest, launch.mode) {
        (Some(m), StartMode::Fresh) => m.clone(),
        _ => {
            let record = records
                .load(&name)?
                .ok_or_else(|| crate::restore::OpenError::Unknown(name.clone()))?;
            crate::grant::verify(&roots, &record)?;
            record.manifest
        }
    };
    let granted_by = match &parent_name {
        Some(p) => format!("parent {p}"),
        None => "pod run".to_owned(),
    };
    let fresh_with_grant = launch.manifest.map(|m| {
        let g = crate::grant::Grant::of(&m, granted_by, launch.allow_broad_write);
        (m, g)
    });
    // Building the HTTP client loads the system's CA roots (tens of ms); do it on a
    // blocking thread while the registry, record and log are set up.
    let provider_task = {
        let m = start_manifest.clone();
        tokio::task::spawn_blocking(move || provider_of(&m))
    };
    // Register before touching the record or log: a duplicate name or a write scope
    // overlapping another live Pod refuses the start with nothing written.
    // A child adopts the reservation its parent made (only the token holder can); a
    // top-level Pod registers.
    let restoring = if launch.mode == StartMode::Resume {
        crate::children::restore::outstanding(&pod_store::PodStore::new(roots.pods.clone()), &name)
    } else {
        Vec::new()
    };
    let owner = launch.owner;
    let (allocation, registered) =
        match launch.child.as_ref().and_then(|c| c.reservation.as_deref()) {
            Some(token) => Allocated::adopt(&roots, &name, token, paths.socket())?,
            None => Allocated::register(
                &roots,
                &name,
                &start_manifest.scope,
                paths.socket(),
                restoring,
            )?,
        };
    tracing::debug!("registered");
    // After registering (a refused start starts nothing), before the first segment
    // (whose tool list must include the servers' tools). The start is bounded by
    // each server's `startup_timeout`; a Pod without servers pays nothing.
    let scoped = tools_of(&start_manifest, &roots);
    crate::allocation::on_lease_change(scoped.lease_hook());
    let mcp_started = scoped.mcp().start_all().await;
    mcp_specs.replace(scoped.mcp().specs());
    let mut opened = open_conversation(
        &records,
        &sessions,
        &name,
        launch.mode == StartMode::Resume,
        fresh_with_grant,
        fresh,
    )?;
    tracing::debug!("record and segment open");
    if let Some(i) = discovered.take() {
        crate::instructions::record(&opened.journal, &i)?;
    }
    if let Some(c) = &launch.child {
        pod_store::PodStore::new(roots.pods.clone()).set_parent(
            &name,
            Some(pod_store::ParentLink {
                name: c.parent.clone(),
                socket: Some(c.parent_socket.clone()),
                pid: None,
            }),
        )?;
    }
    let manifest = opened.record.manifest.clone();
    let provider = provider_task.await??;
    tracing::debug!("provider client built");
    let journal = opened.journal.clone();
    let (session_id, segment_id) = opened
        .record
        .active_segment()
        .ok_or_else(|| anyhow!("record of {} has no active segment", name.as_str()))?;
    let background = scoped.background().clone();
    let mcp_hub = scoped.mcp().clone();
    let notices = Arc::new(crate::notice_log::Notices::new(
        journal.clone(),
        std::mem::take(&mut opened.notices.keys),
    ));
    let children = crate::children::Children::new(
        roots.clone(),
        name.clone(),
        allocation.incarnation(),
        allocation.registry().clone(),
        manifest.clone(),
        scoped.clone(),
        launch.ask_mode,
    );
    children.set_notices(notices);
    let mut conv = opened.conv;
    let mut notes = opened.notes;
    if launch.mode == StartMode::Resume {
        // Before the controller exists: the first model request sees every notice.
        notes.extend(children.reconcile(&registered, &journal, &mut conv));
    }
    notes.extend(crate::mcp_session::record_start(
        &journal,
        &mut conv,
        &mcp_hub,
        &mcp_started,
        launch.mode == StartMode::Resume,
    )?);
    let hooks = crate::policy::HookRunner::new(
        manifest.hooks.clone(),
        scoped.context(),
        journal.clone(),
        json!({
            "session_id": session_id.to_string(),
            "pod": name.as_str(),
            "cwd": manifest.cwd,
        }),
    );
    children.set_hooks(hooks.clone());
    let resumed = launch.mode == StartMode::Resume;
    notes.extend(crate::policy::hooks::session_start(&hooks, resumed, &journal, &mut conv).await?);
    let approvals = Arc::new(crate::policy::Approvals::new(
        launch.ask_mode,
        journal.clone(),
    ));
    journal.record(
        &EntryKind::Extension {
            domain: crate::LIFECYCLE_DOMAIN.into(),
            payload: json!({
                "event": if launch.mode == StartMode::Resume { "restored" } else { "started" },
                "pid": std::process::id(),
                "notes": notes,
            }),
        },
        None,
    )?;
    let mut pod_tools: Arc<dyn ToolRunner> = Arc::new(crate::plan::PlanTools::new(
        Arc::new(crate::children::tools::PodTools::new(
            scoped,
            children.clone(),
        )),
        journal.clone(),
    ));
    if let Some(grant) = manifest.work.clone() {
        pod_tools = Arc::new(crate::work::tools::WorkTools::new(
            pod_tools,
            grant,
            name.as_str(),
        ));
    }
    let ctx = Arc::new(RunCtx {
        provider: Arc::new(provider),
        // The guard goes around everything, so every tool is held to the rules.
        tools: Arc::new(crate::policy::GuardedTools(Arc::new(
            crate::policy::Guard {
                inner: pod_tools,
                policy: manifest.permissions.clone(),
                hooks: hooks.clone(),
                approvals: approvals.clone(),
                cwd: manifest.cwd.clone(),
                children: children.clone(),
            },
        ))),
        hooks: Some(hooks),
        journal: journal.clone(),
        images: crate::images::Images::new(Some(sessions.clone())),
        compactor: Some(Arc::new(crate::compaction::Compactor {
            sessions: sessions.clone(),
            records: records.clone(),
            name: name.clone(),
            window: manifest.agent.context_window,
            percent: manifest
                .agent
                .compact_at_percent
                .unwrap_or(crate::settings::DEFAULT_COMPACT_AT_PERCENT),
            on_switch: {
                let reg = allocation.registry().clone();
                let (n, inc) = (name.clone(), allocation.incarnation());
                // Other Pods' lookups of our segment; a stale copy is harmless (the
                // segment's flock is what keeps a second writer out).
                Some(Box::new(move |seg| {
                    if let Err(e) = reg.update_segment(&n, inc, Some(seg)) {
                        tracing::warn!(error = %e, "cannot record the compacted segment in the registry");
                    }
                }))
            },
        })),
    });
    let id = Identity {
        name: name.clone(),
        session_id,
        segment_id,
        scope: manifest.scope.clone(),
    };
    // A workflow lead's children report to its driver through their logs; a
    // notice (new, or waiting in the log since before a restore) must not start a
    // model turn in a Pod whose driver is code.
    let lead = manifest.workflow.is_some();
    // Notices whose `child_finished` hooks a crash cut off run them again first.
    let (unhooked, waiting): (Vec<_>, Vec<_>) = if lead {
        Default::default()
    } else {
        opened
            .notices
            .waiting
            .into_iter()
            .partition(|w| w.hook.is_some())
    };
    let (controller, ctl_task) = Controller::new(id, ctx, conv, opened.state)
        .with_pending(opened.pending_inputs)
        .with_waiting_notices(waiting)
        .spawn();
    if !lead {
        children.set_controller(controller.clone());
    }
    for w in unhooked {
        if let Some(input) = w.hook {
            children.notify_after_hooks(input, w.text, w.quiet, w.key);
        }
    }

    // We hold the liveness lock, so a socket file left here is from a dead process.
    let sock = paths.socket();
    let token = write_token(&sock)?;
    let _ = std::fs::remove_file(&sock);
    let listener =
        UnixListener::bind(&sock).with_context(|| format!("cannot bind {}", sock.display()))?;
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot chmod {}", sock.display()))?;
    let shutdown = CancellationToken::new();
    let stop_server = CancellationToken::new();
    let server = tokio::spawn(serve(
        listener,
        ServerCtx {
            controller: controller.clone(),
            journal: journal.clone(),
            shutdown: shutdown.clone(),
            children: children.clone(),
            approvals,
            token: Arc::new(token),
            mcp: mcp_hub.clone(),
            parent_lock: launch
                .child
                .as_ref()
                .map(|c| c.parent_socket.with_file_name("lock")),
            refuses_input: lead.then(|| {
                format!(
                    "{name} is the lead of a `pod work run`: its driver is the workflow, not a model, so it takes no input; talk to its coder or reviewer, or `pod stop {name}`"
                )
            }),
        },
        stop_server.clone(),
    ));
    // Handlers before "ready": a SIGTERM sent the moment the launcher returns must
    // take the clean path, not the default action (immediate death).
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let reporter = launch.child.as_ref().map(|c| {
        crate::children::report::spawn_reporter(
            journal.clone(),
            name.as_str().to_string(),
            c.parent_socket.clone(),
            c.callback_token.clone(),
        )
    });
    if let Some(r) = ready.take() {
        r(Ok(()));
    }
    // Off the start-up path: the segment's flock (held by our writer) is what keeps a
    // second writer out; the registry's copy of the segment id is for other Pods'
    // lookups, and a moment without it is harmless.
    if let Err(e) = allocation.set_segment(segment_id) {
        tracing::warn!(error = %e, "cannot record the segment in the registry");
    }
    tracing::info!(pod = name.as_str(), pid = std::process::id(), "ready");
    // A `pod work run` lead: its driver starts now, at launch and after every
    // restore (it reads where the workflow is from disk), and stops the Pod when
    // the workflow ends.
    let driver = match (&manifest.workflow, &manifest.work) {
        (Some(wf), Some(grant)) => Some(tokio::spawn(crate::work::lead::drive(
            crate::work::lead::Lead {
                name: name.clone(),
                roots: roots.clone(),
                children: children.clone(),
                journal: journal.clone(),
                store: grant.store.clone(),
                workflow: wf.clone(),
            },
            shutdown.clone(),
        ))),
        _ => None,
    };

    // A one-shot Pod lives for its `pod run` process: if that dies (SIGKILL, a CI
    // timeout, a closed terminal) the run is cancelled like any interrupt and the
    // Pod stops, releasing its scope. The pidfd wakes us within milliseconds.
    let owner_gone = async {
        match owner {
            Some(o) => o.gone().await,
            None => std::future::pending().await,
        }
    };
    let reason = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
        () = shutdown.cancelled() => "shutdown requested",
        () = owner_gone => "the pod run process that owned this one-shot Pod exited",
    };
    tracing::info!(reason, "shutting down");
    if let Some(d) = driver {
        d.abort();
    }
    controller.shutdown(reason).await;
    drop(controller);
    let _ = ctl_task.await;
    // Children first: our scope (and theirs, inside it) is released only once every
    // child process is gone.
    children.stop_all().await;
    // Background processes get SIGTERM and 3 s (a dev server shuts down cleanly);
    // a Pod killed outright takes them along through their PID namespace anyway.
    background.stop_all().await;
    mcp_hub.shutdown().await;
    if let Some(r) = reporter {
        r.abort();
    }
    stop_server.cancel();
    let _ = server.await;
    let _ = std::fs::remove_file(&sock);
    let _ = std::fs::remove_file(protocol::token_path(&sock));
    // Released by incarnation, after the socket is gone: a successor registering
    // under this name finds neither.
    drop(allocation);
    Ok(())
}

/// A fresh capability token for this Pod's socket, written 0600 beside it before the
/// socket exists (temp + rename: a client never reads half a token).
fn write_token(sock: &std::path::Path) -> anyhow::Result<String> {
    use rand::RngCore;
    use std::os::unix::fs::OpenOptionsExt;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let path = protocol::token_path(sock);
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(token.as_bytes())?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(token)
}

/// Entry point of the hidden `__serve` subcommand: reads the launch file, reports
/// readiness on stdout, runs the Pod.
pub fn serve_main(launch_file: &std::path::Path) -> anyhow::Result<()> {
    // Our own session (and process group): no controlling terminal, so neither a
    // Ctrl-C in the launching terminal nor its hangup reaches the Pod, and a parent
    // can signal the Pod's whole group. Fails only if we already lead a group, in
    // which case we are detached anyway.
    if let Err(e) = rustix::process::setsid() {
        tracing::debug!(error = %e, "setsid");
    }
    let launch = LaunchConfig::take_from(launch_file)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let roots: Roots = launch.roots.clone().into();
    let res = rt.block_on(run_pod(
        launch,
        |r| {
            let mut out = std::io::stdout().lock();
            let _ = match r {
                Ok(()) => writeln!(out, "{READY_LINE}"),
                Err((code, e)) => writeln!(out, "error[{}]: {}", code as u8, e.replace('\n', " ")),
            };
            let _ = out.flush();
        },
        &roots,
    ));
    // Everything that matters is recorded and released by now; a tool still blocked
    // in a system call on a blocking thread must not keep a stopped Pod alive.
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    log_peak_memory();
    res
}

/// Logs the process's peak resident memory at exit (`VmHWM`), which the headless
/// benchmark reads back: the Pod is not the benchmark's child once it called setsid
/// and may outlive the CLI, so `wait4`'s rusage cannot see it.
fn log_peak_memory() {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:"))
    {
        let kib = line
            .trim_start_matches("VmHWM:")
            .trim()
            .trim_end_matches(" kB");
        tracing::info!(peak_rss_kib = kib, "exit");
    }
}

/// The exit code and one clear line for a start-up failure; a scope conflict is
/// told in the user's terms (which Pod, its pid, what to do).
fn startup_failure(e: &anyhow::Error, roots: &Roots) -> (Exit, String) {
    use pod_registry::{Registry, RegistryError as R};
    for cause in e.chain() {
        if let Some(R::WriteConflict {
            ours,
            owner,
            theirs,
            ..
        }) = cause.downcast_ref::<R>()
        {
            let pid = crate::allocation::registry(roots)
                .and_then(|r| r.list())
                .ok()
                .and_then(|rows| rows.into_iter().find(|a| &a.name == owner))
                .and_then(|a| a.process.map(|p| p.pid))
                .map_or(String::new(), |p| format!(" (pid {p})"));
            let (o, t) = (ours.path.as_path(), theirs.path.as_path());
            let what = if o == t {
                format!("this directory ({}) is already being written", o.display())
            } else {
                format!(
                    "{} overlaps {}, which is already being written",
                    o.display(),
                    t.display()
                )
            };
            let n = owner.as_str();
            return (
                Exit::Conflict,
                format!(
                    "{what} by Pod {n}{pid} — `pod attach {n}`, `pod stop {n}`, or pass --write SUBDIR (or --read-only)"
                ),
            );
        }
    }
    (crate::cli::exit::code_of(e), format!("{e:#}"))
}
