//! `grep`: regex or literal search over a tree with ripgrep's crates.
//!
//! Files are opened beneath the allowed root with one `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)` each, so a symlink swapped into the tree mid-walk cannot
//! lead the search outside or into a denied region; a FIFO swapped in is opened
//! non-blocking and skipped, and at most `GREP_MAX_FILE_BYTES` are searched per file. One unreadable file is skipped and counted, never fatal.

use std::fmt::Write as _;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use cap_std::fs::Dir;
use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder, Sink, SinkContext, SinkMatch};
use ignore::WalkState;
use ignore::overrides::OverrideBuilder;
use rustix::fs::{Mode, OFlags};
use schemars::JsonSchema;
use scope::Access;
use serde::Deserialize;

use crate::beneath::{open_beneath, require_regular};
use crate::capability::resolve;
use crate::error::ToolError;
use crate::tool::{Tool, ToolContext, ToolOutput, blocking, parse_args, schema_of};
use crate::walk::walker;

/// Results (files, or matching lines in `content` mode) when the call names no limit.
pub const GREP_DEFAULT_MAX: usize = 200;
/// Upper bound on `max_results`.
pub const GREP_HARD_MAX: usize = 100_000;
/// Bytes of output per call; cut at a line boundary with a marker.
pub const GREP_MAX_OUTPUT_BYTES: usize = 64 * 1024;
/// Characters kept of one matching line.
pub const GREP_MAX_LINE_CHARS: usize = 500;
/// Bytes searched per file at most.
pub const GREP_MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// Bytes of one line the searcher buffers at most.
const GREP_MAX_LINE_BUFFER: usize = 64 * 1024 * 1024;
/// Context lines at most.
pub const GREP_MAX_CONTEXT: usize = 20;

/// What `grep` reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutputMode {
    /// Paths of files with at least one match (default).
    #[default]
    FilesWithMatches,
    /// Matching lines as `path:line:text`, context lines as `path-line-text`.
    Content,
    /// `path:count` of matching lines per file.
    Count,
}

/// Arguments of `grep`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrepParams {
    /// Regular expression (Rust regex syntax), or a literal string if `literal`.
    pub pattern: String,
    /// File or directory to search (default: the working directory).
    #[serde(default)]
    pub path: Option<String>,
    /// Only search files matching this glob, e.g. `*.rs` or `src/**/*.ts`
    /// (ripgrep's `-g`; prefix with `!` to exclude).
    #[serde(default)]
    pub glob: Option<String>,
    /// Treat `pattern` as a literal string (default false).
    #[serde(default)]
    pub literal: bool,
    /// Case-insensitive matching (default false).
    #[serde(default)]
    pub case_insensitive: bool,
    /// `files_with_matches` (default), `content` or `count`.
    #[serde(default)]
    pub output_mode: OutputMode,
    /// Lines of context before and after each match (content mode; max 20).
    #[serde(default)]
    pub context: Option<usize>,
    /// Maximum files (or matching lines in content mode) reported (default 200).
    #[serde(default)]
    pub max_results: Option<usize>,
}

/// Searches file contents, respecting `.gitignore` and skipping `.git`, `target`,
/// `node_modules` and binary files.
#[derive(Debug, Default)]
pub struct Grep;

#[async_trait::async_trait]
impl Tool for Grep {
    fn name(&self) -> &'static str {
        "grep"
    }
    fn description(&self) -> &'static str {
        "Search file contents for a regex (or a literal with literal=true). Respects .gitignore; skips .git, target, node_modules and binary files. output_mode: files_with_matches (default), content (path:line:text, with optional context lines), count. Filter files with glob (e.g. `*.rs`)."
    }
    fn parameters_schema(&self) -> serde_json::Value {
        schema_of::<GrepParams>()
    }
    async fn call(
        &self,
        ctx: &ToolContext,
        args: serde_json::Value,
    ) -> Result<ToolOutput, ToolError> {
        let p: GrepParams = parse_args(self.name(), args)?;
        let scope = ctx.current_scope();
        let cwd = ctx.cwd.clone();
        let cancel = ctx.cancel.clone();
        blocking(self.name(), move || {
            let stop = Arc::new(AtomicBool::new(false));
            let _watch = CancelFlag::spawn(cancel, stop.clone());
            let base = resolve(&scope, &cwd, p.path.as_deref().unwrap_or("."), Access::Read)?;
            let root = base.open_root()?;
            let matcher = build_matcher(&p)?;
            let (mut wb, skipped_dirs) = walker(&base.canonical, &scope);
            if let Some(g) = &p.glob {
                let mut ob = OverrideBuilder::new(&base.canonical);
                let bad = |e: ignore::Error| ToolError::BadPattern {
                    kind: "glob",
                    pattern: g.clone(),
                    message: e.to_string(),
                };
                ob.add(g).map_err(bad)?;
                wb.overrides(ob.build().map_err(bad)?);
            }
            let max = p
                .max_results
                .unwrap_or(GREP_DEFAULT_MAX)
                .clamp(1, GREP_HARD_MAX);
            let search = Search {
                root,
                root_path: base.root.clone(),
                matcher,
                mode: p.output_mode,
                context: p.context.unwrap_or(0).min(GREP_MAX_CONTEXT),
                max,
                units: AtomicUsize::new(0),
                stop,
                hits: Mutex::new(Vec::new()),
                skipped: Mutex::new(Vec::new()),
            };
            search.run(wb)?;
            for (dir, why) in skipped_dirs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .drain(..)
            {
                search.skip(&dir, format!("directory skipped: {why}"));
            }
            Ok(search.render(&base.canonical))
        })
        .await
    }
}

fn build_matcher(p: &GrepParams) -> Result<RegexMatcher, ToolError> {
    RegexMatcherBuilder::new()
        .case_insensitive(p.case_insensitive)
        .fixed_strings(p.literal)
        // Never let a match span lines: enables ripgrep's line-oriented fast paths.
        .line_terminator(Some(b'\n'))
        .build(&p.pattern)
        .map_err(|e| ToolError::BadPattern {
            kind: "regex",
            pattern: p.pattern.clone(),
            message: e.to_string(),
        })
}

/// Sets `stop` when the call is cancelled, so the blocking walk notices.
struct CancelFlag(tokio::task::JoinHandle<()>);

impl CancelFlag {
    fn spawn(cancel: tokio_util::sync::CancellationToken, stop: Arc<AtomicBool>) -> CancelFlag {
        let handle = tokio::runtime::Handle::current();
        CancelFlag(handle.spawn(async move {
            cancel.cancelled().await;
            stop.store(true, Ordering::Relaxed);
        }))
    }
}

impl Drop for CancelFlag {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One line of `content` output.
#[derive(Debug)]
enum Line {
    Match(u64, String),
    Context(u64, String),
    Break,
}

/// Results of one file.
#[derive(Debug)]
struct FileHit {
    path: PathBuf,
    count: u64,
    lines: Vec<Line>,
}

struct Search {
    root: Dir,
    root_path: PathBuf,
    matcher: RegexMatcher,
    mode: OutputMode,
    context: usize,
    max: usize,
    /// Files (or matching lines in content mode) found so far, across threads.
    units: AtomicUsize,
    /// Set when enough was found or the call was cancelled.
    stop: Arc<AtomicBool>,
    hits: Mutex<Vec<FileHit>>,
    skipped: Mutex<Vec<(PathBuf, String)>>,
}

impl Search {
    fn run(&self, wb: ignore::WalkBuilder) -> Result<(), ToolError> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
        let mut wb = wb;
        wb.threads(threads).build_parallel().run(|| {
            let mut searcher = SearcherBuilder::new()
                .binary_detection(BinaryDetection::quit(0))
                .line_number(true)
                // One line longer than this is an error (the file is skipped),
                // not an ever-growing buffer.
                .heap_limit(Some(GREP_MAX_LINE_BUFFER))
                .before_context(self.context)
                .after_context(self.context)
                .build();
            Box::new(move |entry| {
                if self.stop.load(Ordering::Relaxed) {
                    return WalkState::Quit;
                }
                // An unreadable directory only loses its subtree.
                let Ok(entry) = entry else {
                    return WalkState::Continue;
                };
                let Some(ft) = entry.file_type() else {
                    return WalkState::Continue;
                };
                if ft.is_dir() || ft.is_symlink() {
                    // Like ripgrep: symlinks are not followed during a walk.
                    return WalkState::Continue;
                }
                if !ft.is_file() {
                    // Opening a FIFO would block forever; devices and sockets are
                    // not text either.
                    self.skip(entry.path(), "not a regular file (fifo, socket or device)");
                    return WalkState::Continue;
                }
                self.search_file(&mut searcher, entry.path());
                WalkState::Continue
            })
        });
        Ok(())
    }

    fn skip(&self, path: &Path, why: impl Into<String>) {
        let mut s = self.skipped.lock().unwrap_or_else(|p| p.into_inner());
        s.push((path.to_owned(), why.into()));
    }

    fn search_file(&self, searcher: &mut Searcher, path: &Path) {
        let Ok(rel) = path.strip_prefix(&self.root_path) else {
            self.skip(path, "outside the allowed root");
            return;
        };
        // Resolve once, never follow a symlink, never block on a FIFO swapped in
        // after the walk saw a regular file, and check the type on the opened fd.
        let file = match open_beneath(
            self.root.as_fd(),
            rel,
            OFlags::RDONLY | OFlags::NONBLOCK,
            Mode::empty(),
        ) {
            Ok(fd) => std::fs::File::from(fd),
            Err(e) => return self.skip(path, e.to_string()),
        };
        let stat = match rustix::fs::fstat(&file) {
            Ok(st) => st,
            Err(e) => return self.skip(path, e.to_string()),
        };
        if require_regular(&stat).is_err() {
            return self.skip(path, "not a regular file (fifo, socket or device)");
        }
        let mut sink = Collect {
            mode: self.mode,
            count: 0,
            lines: Vec::new(),
            limit: self.max,
        };
        // At most GREP_MAX_FILE_BYTES per file, so a file growing while it is
        // searched cannot keep the call running forever.
        let bounded = std::io::Read::take(&file, GREP_MAX_FILE_BYTES);
        if let Err(e) = searcher.search_reader(&self.matcher, bounded, &mut sink) {
            return self.skip(path, e.to_string());
        }
        if stat.st_size as u64 > GREP_MAX_FILE_BYTES {
            self.skip(
                path,
                format!("only its first {GREP_MAX_FILE_BYTES} bytes were searched"),
            );
        }
        if sink.count == 0 {
            return;
        }
        let units = match self.mode {
            OutputMode::Content => sink.count as usize,
            _ => 1,
        };
        if self.units.fetch_add(units, Ordering::Relaxed) + units > self.max {
            self.stop.store(true, Ordering::Relaxed);
        }
        let mut hits = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        hits.push(FileHit {
            path: path.to_owned(),
            count: sink.count,
            lines: sink.lines,
        });
    }

    fn render(self, base: &Path) -> ToolOutput {
        let mut hits = self.hits.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut skipped = self.skipped.into_inner().unwrap_or_else(|p| p.into_inner());
        hits.sort_by(|a, b| a.path.cmp(&b.path));
        skipped.sort();
        let mut out = String::new();
        let mut shown = 0usize;
        let mut truncated = self.stop.load(Ordering::Relaxed);
        'files: for (i, h) in hits.iter().enumerate() {
            match self.mode {
                OutputMode::FilesWithMatches | OutputMode::Count => {
                    if shown == self.max {
                        truncated = true;
                        break;
                    }
                    shown += 1;
                    if self.mode == OutputMode::Count {
                        let _ = writeln!(out, "{}:{}", h.path.display(), h.count);
                    } else {
                        let _ = writeln!(out, "{}", h.path.display());
                    }
                }
                OutputMode::Content => {
                    if i > 0 && self.context > 0 {
                        out.push_str("--\n");
                    }
                    for l in &h.lines {
                        match l {
                            Line::Match(n, t) => {
                                if shown == self.max {
                                    truncated = true;
                                    break 'files;
                                }
                                shown += 1;
                                let _ = writeln!(out, "{}:{n}:{t}", h.path.display());
                            }
                            Line::Context(n, t) => {
                                let _ = writeln!(out, "{}-{n}-{t}", h.path.display());
                            }
                            Line::Break => out.push_str("--\n"),
                        }
                    }
                }
            }
            if out.len() > GREP_MAX_OUTPUT_BYTES {
                truncated = true;
                break;
            }
        }
        if out.len() > GREP_MAX_OUTPUT_BYTES {
            let mut cut = GREP_MAX_OUTPUT_BYTES;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            let cut = out[..cut].rfind('\n').map_or(cut, |i| i + 1);
            out.truncate(cut);
        }
        if hits.is_empty() {
            let _ = writeln!(out, "no matches under {}", base.display());
        }
        if truncated {
            let _ = writeln!(
                out,
                "[output truncated at {} results / {} bytes: narrow the pattern, path or glob, or raise max_results]",
                self.max, GREP_MAX_OUTPUT_BYTES
            );
        }
        if !skipped.is_empty() {
            let n = skipped.len();
            let _ = writeln!(
                out,
                "[{n} file{} skipped because {} could not be read:",
                if n == 1 { "" } else { "s" },
                if n == 1 { "it" } else { "they" }
            );
            for (p, why) in skipped.iter().take(5) {
                let _ = writeln!(out, "  {}: {why}", p.display());
            }
            if n > 5 {
                let _ = writeln!(out, "  ... and {} more", n - 5);
            }
            out.push_str("]\n");
        }
        ToolOutput::new(out, truncated)
    }
}

/// Collects one file's results.
struct Collect {
    mode: OutputMode,
    count: u64,
    lines: Vec<Line>,
    /// No file needs more matching lines than the whole call may show.
    limit: usize,
}

fn line_text(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s = s.trim_end_matches(['\n', '\r']);
    if s.chars().count() > GREP_MAX_LINE_CHARS {
        let cut: String = s.chars().take(GREP_MAX_LINE_CHARS).collect();
        format!("{cut}[... line cut]")
    } else {
        s.to_owned()
    }
}

impl Sink for Collect {
    type Error = std::io::Error;

    fn matched(&mut self, _: &Searcher, m: &SinkMatch<'_>) -> Result<bool, std::io::Error> {
        self.count += 1;
        match self.mode {
            OutputMode::FilesWithMatches => Ok(false), // one match decides the file
            OutputMode::Count => Ok(true),
            OutputMode::Content => {
                self.lines.push(Line::Match(
                    m.line_number().unwrap_or(0),
                    line_text(m.bytes()),
                ));
                Ok((self.count as usize) < self.limit)
            }
        }
    }

    fn context(&mut self, _: &Searcher, c: &SinkContext<'_>) -> Result<bool, std::io::Error> {
        if self.mode == OutputMode::Content {
            self.lines.push(Line::Context(
                c.line_number().unwrap_or(0),
                line_text(c.bytes()),
            ));
        }
        Ok(true)
    }

    fn context_break(&mut self, _: &Searcher) -> Result<bool, std::io::Error> {
        if self.mode == OutputMode::Content {
            self.lines.push(Line::Break);
        }
        Ok(true)
    }
}
