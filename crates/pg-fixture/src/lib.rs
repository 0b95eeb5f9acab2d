//! Test support: a private PostgreSQL cluster for a test binary, started from the
//! machine's server binaries (`initdb`, `pg_ctl`, `postgres` of PostgreSQL 15, or
//! `$PODS_PG_BIN`), reached only through a Unix socket in its own temp folder (no TCP
//! port, so parallel test binaries never collide), stopped and deleted when the test
//! process exits — even when it panics or is killed, because a watchdog shell waits
//! on a pipe from this process and shuts the cluster down when the pipe closes.
//!
//! Owns: cluster lifecycle, one fresh database per test. Must never be a dependency
//! of anything but tests and benches.
//!
//! Hand-written rather than a crate: the crates that do this (`postgresql_embedded`,
//! `pg-embed`, testcontainers) download server builds or need Docker; CI here has the
//! distribution's server package and no network at test time.
//!
//! As root (CI), `initdb` and `postgres` refuse to run; they run as the `postgres`
//! system user instead, in a folder handed to it.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The socket's port number (only names the socket file; no TCP listener unless
/// the cluster serves TLS, see [`Cluster::start_tls`]).
const PORT: u16 = 5432;
/// Superuser created by `initdb` (trust auth on the private socket).
pub const USER: &str = "pods";

/// A running private cluster.
pub struct Cluster {
    root: PathBuf,
    bin: PathBuf,
    run_as: Option<(u32, u32)>,
    port: u16,
    // Writing nothing and dropping it (process exit) tells the watchdog to stop the
    // cluster and delete `root`.
    _watchdog: Mutex<Child>,
    next_db: AtomicU32,
}

/// Why the cluster could not be set up.
#[derive(Debug)]
pub struct FixtureError(pub String);

impl std::fmt::Display for FixtureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FixtureError {}

fn err(what: impl std::fmt::Display) -> FixtureError {
    FixtureError(what.to_string())
}

/// Where the server binaries are: `$PODS_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin` with an `initdb`.
pub fn server_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PODS_PG_BIN").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b)
}

impl Cluster {
    /// One cluster per test binary, started on first use.
    pub fn shared() -> &'static Cluster {
        static SHARED: OnceLock<Cluster> = OnceLock::new();
        SHARED.get_or_init(|| match Cluster::start() {
            Ok(c) => c,
            Err(e) => panic!("cannot start the test PostgreSQL cluster: {e}"),
        })
    }

    /// Initialises and starts a new cluster in a fresh temp folder.
    pub fn start() -> Result<Cluster, FixtureError> {
        Cluster::start_with(None)
    }

    /// A cluster that also listens on 127.0.0.1 ([`Cluster::tcp_port`]) and accepts
    /// TCP connections only over TLS, with this certificate and key (PEM). PostgreSQL
    /// never speaks TLS on a Unix socket, hence TCP; the port is a free one picked
    /// just before the start.
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Result<Cluster, FixtureError> {
        Cluster::start_with(Some((cert_pem, key_pem)))
    }

    /// The TCP port of a [`Cluster::start_tls`] cluster.
    pub fn tcp_port(&self) -> u16 {
        self.port
    }

    fn start_with(tls: Option<(&str, &str)>) -> Result<Cluster, FixtureError> {
        let bin = server_bin().ok_or_else(|| {
            err("no PostgreSQL server binaries (install the `postgresql` package or set PODS_PG_BIN)")
        })?;
        let root = tempfile::Builder::new()
            .prefix("pods-pg-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .tempdir()
            .map_err(err)?
            .keep();
        let run_as = if rustix::process::geteuid().is_root() {
            Some(postgres_user()?)
        } else {
            None
        };
        let cluster_dir = root.join("pg");
        std::fs::create_dir(&cluster_dir).map_err(err)?;
        std::fs::create_dir(cluster_dir.join("sock")).map_err(err)?;
        if let Some((uid, gid)) = run_as {
            for d in [&cluster_dir, &cluster_dir.join("sock")] {
                rustix::fs::chown(
                    d,
                    Some(rustix::fs::Uid::from_raw(uid)),
                    Some(rustix::fs::Gid::from_raw(gid)),
                )
                .map_err(err)?;
            }
        }
        // The watchdog first: whatever happens next, the folder is removed when we exit.
        let script = format!(
            "read _ignored; pid=$(head -n1 '{data}/postmaster.pid' 2>/dev/null); \
             [ -n \"$pid\" ] && kill -QUIT \"$pid\" 2>/dev/null; \
             for _ in $(seq 100); do kill -0 \"$pid\" 2>/dev/null || break; sleep 0.05; done; \
             rm -rf '{root}'",
            data = cluster_dir.join("data").display(),
            root = root.display()
        );
        let watchdog = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(err)?;
        let cluster = Cluster {
            root,
            bin,
            run_as,
            port: match tls {
                None => PORT,
                Some(_) => std::net::TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .map_err(err)?
                    .port(),
            },
            _watchdog: Mutex::new(watchdog),
            next_db: AtomicU32::new(0),
        };
        let data = cluster.data_dir();
        cluster.run(
            "initdb",
            &[
                "-D",
                path_str(&data)?,
                "-U",
                USER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
        )?;
        let mut conf = format!(
            "listen_addresses = ''\nport = {}\nunix_socket_directories = '{}'\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n\
             max_connections = 200\nshared_buffers = 32MB\n",
            cluster.port,
            cluster.socket_dir().display()
        );
        if let Some((cert, key)) = tls {
            for (file, pem) in [("server.crt", cert), ("server.key", key)] {
                let path = data.join(file);
                std::fs::write(&path, pem).map_err(err)?;
                std::fs::set_permissions(
                    &path,
                    std::os::unix::fs::PermissionsExt::from_mode(0o600),
                )
                .map_err(err)?;
                if let Some((uid, gid)) = cluster.run_as {
                    rustix::fs::chown(
                        &path,
                        Some(rustix::fs::Uid::from_raw(uid)),
                        Some(rustix::fs::Gid::from_raw(gid)),
                    )
                    .map_err(err)?;
                }
            }
            conf.push_str(
                "listen_addresses = '127.0.0.1'\nssl = on\n\
                 ssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n",
            );
            // Over TCP only TLS is accepted: a client that got in used it.
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
            )
            .map_err(err)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .map_err(err)?;
        f.write_all(conf.as_bytes()).map_err(err)?;
        cluster.resume()?;
        Ok(cluster)
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("pg").join("data")
    }

    /// The folder holding the server's socket (the `host` to connect to).
    pub fn socket_dir(&self) -> PathBuf {
        self.root.join("pg").join("sock")
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<(), FixtureError> {
        let mut cmd = Command::new(self.bin.join(tool));
        cmd.args(args).stdin(Stdio::null()).env("LC_ALL", "C");
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid).current_dir(self.root.join("pg"));
        }
        let out = cmd.output().map_err(|e| err(format!("{tool}: {e}")))?;
        if !out.status.success() {
            return Err(err(format!(
                "{tool} {args:?} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(())
    }

    /// Stops the server (fast shutdown: sessions are cut), e.g. to test an outage.
    pub fn stop(&self) -> Result<(), FixtureError> {
        let data = self.data_dir();
        self.run(
            "pg_ctl",
            &["-D", path_str(&data)?, "-m", "fast", "-w", "stop"],
        )
    }

    /// Starts the (stopped) server again and waits until it accepts connections.
    pub fn resume(&self) -> Result<(), FixtureError> {
        let data = self.data_dir();
        let log = self.root.join("pg").join("server.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                path_str(&data)?,
                "-l",
                path_str(&log)?,
                "-w",
                "-t",
                "30",
                "start",
            ],
        )
    }

    /// Key-value connection string for database `db`.
    pub fn conninfo(&self, db: &str) -> String {
        format!(
            "host={} port={} user={USER} dbname={db} connect_timeout=2",
            self.socket_dir().display(),
            self.port
        )
    }

    /// A new empty database; returns its connection string.
    pub fn create_database(&self) -> Result<String, FixtureError> {
        let n = self.next_db.fetch_add(1, Ordering::Relaxed);
        let db = format!("t{}_{n}", std::process::id());
        let sock = self.socket_dir();
        let started = Instant::now();
        // A just-started server may still refuse for a moment.
        loop {
            let out = Command::new(self.bin.join("createdb"))
                .args([
                    "-h",
                    path_str(&sock)?,
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    USER,
                    &db,
                ])
                .stdin(Stdio::null())
                .output()
                .map_err(err)?;
            if out.status.success() {
                return Ok(self.conninfo(&db));
            }
            if started.elapsed() > Duration::from_secs(20) {
                return Err(err(format!(
                    "createdb {db}: {}",
                    String::from_utf8_lossy(&out.stderr)
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's log (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("pg").join("server.log")).unwrap_or_default()
    }

    /// The temp folder everything lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

fn path_str(p: &Path) -> Result<&str, FixtureError> {
    p.to_str()
        .ok_or_else(|| err(format!("path {p:?} is not UTF-8")))
}

fn postgres_user() -> Result<(u32, u32), FixtureError> {
    let id = |flag: &str| -> Result<u32, FixtureError> {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .map_err(err)?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| err("running as root needs the `postgres` system user (install the `postgresql` package)"))
    };
    Ok((id("-u")?, id("-g")?))
}
