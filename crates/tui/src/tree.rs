//! The Pod tree: what discovery found, flattened into display rows.

use std::collections::{BTreeMap, HashSet};

use pod_ids::{PodName, SegmentId};

/// One Pod as discovery (pod store + registry) sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodInfo {
    /// Name.
    pub name: PodName,
    /// Parent, if a child.
    pub parent: Option<PodName>,
    /// Model from the stored manifest.
    pub model: String,
    /// Write scope in short form (`~/w/src +1`).
    pub write_short: String,
    /// Has a pod-store record.
    pub stored: bool,
    /// Pid of its live process per the registry.
    pub live_pid: Option<u32>,
    /// Its parent's record says it was lost.
    pub lost: bool,
    /// Store record still `pending` (never started on its segment).
    pub pending: bool,
    /// Active segment from the pod store.
    pub segment: Option<SegmentId>,
    /// Working directory (from the stored manifest).
    pub cwd: Option<std::path::PathBuf>,
    /// Directories it may read (write scope included), for the `@` picker.
    pub readable: Vec<std::path::PathBuf>,
    /// Its socket exists: worth trying to connect (a hint only, like every socket
    /// path; a stale socket just fails to connect). Covers Pods the registry does
    /// not list, e.g. runtimes that do not register.
    pub socket_present: bool,
    /// Its grant on a work item (from the stored manifest), if any.
    pub work: Option<WorkLink>,
}

/// A Pod's grant on a work item, as its stored manifest records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkLink {
    /// The `work-items` folder (canonical).
    pub store: std::path::PathBuf,
    /// The item's id (`None`: read-only on the whole store).
    pub item: Option<String>,
    /// What it may do there (`comment`, `review`, `status`).
    pub rights: Vec<String>,
}

impl PodInfo {
    /// A stopped Pod with no details, for tests and placeholders.
    pub fn named(name: PodName) -> PodInfo {
        PodInfo {
            name,
            parent: None,
            model: String::new(),
            write_short: String::new(),
            stored: true,
            live_pid: None,
            lost: false,
            pending: false,
            segment: None,
            cwd: None,
            readable: Vec::new(),
            socket_present: false,
            work: None,
        }
    }
}

/// Result of one discovery pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovered {
    /// Every Pod, any order.
    pub pods: Vec<PodInfo>,
    /// Records that could not be read (shown in the status line, never fatal).
    pub problems: Vec<String>,
}

/// A row of the tree pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeRow {
    /// The Pod.
    pub name: PodName,
    /// Nesting depth (0 = top level).
    pub depth: usize,
}

/// The discovered Pods and their display order.
#[derive(Debug, Default)]
pub struct Tree {
    pods: BTreeMap<PodName, PodInfo>,
    rows: Vec<TreeRow>,
    /// Last discovery problems.
    pub problems: Vec<String>,
}

impl Tree {
    /// Replaces the content; returns whether anything changed.
    pub fn set(&mut self, d: Discovered) -> bool {
        let pods: BTreeMap<_, _> = d.pods.into_iter().map(|p| (p.name.clone(), p)).collect();
        if pods == self.pods && d.problems == self.problems {
            return false;
        }
        self.pods = pods;
        self.problems = d.problems;
        self.rows = flatten(&self.pods);
        true
    }

    /// Rows in display order.
    pub fn rows(&self) -> &[TreeRow] {
        &self.rows
    }

    /// One Pod.
    pub fn get(&self, name: &PodName) -> Option<&PodInfo> {
        self.pods.get(name)
    }

    /// All Pods.
    pub fn pods(&self) -> impl Iterator<Item = &PodInfo> {
        self.pods.values()
    }

    /// Row index of a Pod.
    pub fn index_of(&self, name: &PodName) -> Option<usize> {
        self.rows.iter().position(|r| &r.name == name)
    }

    /// First child of a Pod in display order.
    pub fn first_child(&self, name: &PodName) -> Option<&PodName> {
        let i = self.index_of(name)?;
        let depth = self.rows[i].depth;
        self.rows
            .get(i + 1)
            .filter(|r| r.depth == depth + 1)
            .map(|r| &r.name)
    }
}

/// Depth-first order: roots (no parent, or parent unknown) by name, each followed by
/// its children by name. A parent cycle (corrupt data) cannot loop: each Pod is
/// visited once, and Pods only reachable through a cycle are listed as roots.
fn flatten(pods: &BTreeMap<PodName, PodInfo>) -> Vec<TreeRow> {
    let mut children: BTreeMap<&PodName, Vec<&PodName>> = BTreeMap::new();
    let mut roots = Vec::new();
    for p in pods.values() {
        match &p.parent {
            Some(parent) if pods.contains_key(parent) && parent != &p.name => {
                children.entry(parent).or_default().push(&p.name)
            }
            _ => roots.push(&p.name),
        }
    }
    let mut rows = Vec::with_capacity(pods.len());
    let mut seen = HashSet::new();
    fn visit<'a>(
        n: &'a PodName,
        depth: usize,
        children: &BTreeMap<&'a PodName, Vec<&'a PodName>>,
        seen: &mut HashSet<&'a PodName>,
        rows: &mut Vec<TreeRow>,
    ) {
        if !seen.insert(n) {
            return;
        }
        rows.push(TreeRow {
            name: n.clone(),
            depth,
        });
        for c in children.get(n).into_iter().flatten() {
            visit(c, depth + 1, children, seen, rows);
        }
    }
    for r in roots {
        visit(r, 0, &children, &mut seen, &mut rows);
    }
    for p in pods.keys() {
        if !seen.contains(p) {
            visit(p, 0, &children, &mut seen, &mut rows);
        }
    }
    rows
}

/// Short form of a write scope: home as `~`, long paths cut to their last two
/// components, and `+N` for further rules.
pub fn short_scope(paths: &[std::path::PathBuf], home: Option<&std::path::Path>) -> String {
    let Some(first) = paths.first() else {
        return "read-only".to_string();
    };
    let mut s = match home.and_then(|h| first.strip_prefix(h).ok()) {
        Some(rel) if rel.as_os_str().is_empty() => "~".to_string(),
        Some(rel) => format!("~/{}", rel.display()),
        None => first.display().to_string(),
    };
    if s.chars().count() > 24 {
        let comps: Vec<_> = first.components().collect();
        let tail: std::path::PathBuf = comps[comps.len().saturating_sub(2)..].iter().collect();
        s = format!("…/{}", tail.display());
    }
    if paths.len() > 1 {
        s.push_str(&format!(" +{}", paths.len() - 1));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn info(name: &str, parent: Option<&str>) -> PodInfo {
        let mut p = PodInfo::named(name.parse().unwrap());
        p.parent = parent.map(|p| p.parse().unwrap());
        p
    }

    #[test]
    fn children_nest_under_parents_and_cycles_terminate() {
        let mut t = Tree::default();
        t.set(Discovered {
            pods: vec![
                info("b", None),
                info("a", None),
                info("a-child", Some("a")),
                info("x", Some("y")),
                info("y", Some("x")),
            ],
            problems: vec![],
        });
        let rows: Vec<_> = t
            .rows()
            .iter()
            .map(|r| (r.name.as_str().to_string(), r.depth))
            .collect();
        assert_eq!(
            rows[..3],
            [("a".into(), 0), ("a-child".into(), 1), ("b".into(), 0)]
        );
        assert_eq!(rows.len(), 5, "cycle members listed once each: {rows:?}");
        assert_eq!(
            t.first_child(&"a".parse().unwrap()).map(|n| n.as_str()),
            Some("a-child")
        );
        assert!(!t.set(Discovered {
            pods: t.pods().cloned().collect(),
            problems: vec![]
        }));
    }

    #[test]
    fn scope_is_shortened() {
        let home = Path::new("/home/u");
        assert_eq!(short_scope(&[], Some(home)), "read-only");
        assert_eq!(
            short_scope(
                &[PathBuf::from("/home/u/w/src"), PathBuf::from("/tmp")],
                Some(home)
            ),
            "~/w/src +1"
        );
        assert_eq!(
            short_scope(
                &[PathBuf::from("/very/long/path/to/some/project/dir")],
                None
            ),
            "…/project/dir"
        );
    }
}
