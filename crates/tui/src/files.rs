//! The `@` picker's candidates: the files a Pod may read (walked with ripgrep's
//! `ignore` crate, so `.gitignore` and hidden files are honoured), ranked by a
//! fuzzy match of what follows the `@`.
//!
//! The matcher is a small subsequence scorer rather than `nucleo`/`fuzzy-matcher`:
//! the candidate list is capped ([`MAX_FILES`]) and short, ranking a few
//! thousand paths per key press takes well under a millisecond, and the rules
//! (consecutive letters, starts of path segments, the file name) fit in a page.

use std::path::{Path, PathBuf};

/// Most files listed per Pod (a huge tree would make every key press slow).
pub const MAX_FILES: usize = 20_000;

/// Readable files under `roots`, as paths relative to `cwd` where they are
/// inside it (absolute otherwise), sorted.
pub fn index(roots: &[PathBuf], cwd: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for root in roots {
        let walker = ignore::WalkBuilder::new(root)
            // Honour .gitignore also outside a git checkout.
            .require_git(false)
            .follow_links(false)
            .build();
        for entry in walker.flatten() {
            if out.len() >= MAX_FILES {
                break;
            }
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            let p = entry.path();
            let shown = match p.strip_prefix(cwd) {
                Ok(rel) => rel.display().to_string(),
                Err(_) => p.display().to_string(),
            };
            out.push(shown);
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The score of `query` against `candidate` (higher is better), or `None` when
/// the query's characters do not all occur in order (case-insensitive).
pub fn score(query: &str, candidate: &str) -> Option<i64> {
    if query.is_empty() {
        return Some(0);
    }
    let cand: Vec<char> = candidate.chars().collect();
    let name_start = candidate
        .rfind('/')
        .map_or(0, |i| candidate[..=i].chars().count());
    let mut score = 0i64;
    let mut ci = 0;
    let mut prev: Option<usize> = None;
    for q in query.chars().map(|c| c.to_ascii_lowercase()) {
        let found = (ci..cand.len()).find(|&i| cand[i].to_ascii_lowercase() == q)?;
        score += 1;
        if prev.is_some_and(|p| p + 1 == found) {
            score += 8; // consecutive
        }
        if found == 0 || matches!(cand[found - 1], '/' | '_' | '-' | '.') {
            score += 6; // start of a segment or word
        }
        if found >= name_start {
            score += 2; // in the file name
        }
        prev = Some(found);
        ci = found + 1;
    }
    // Shorter paths first among equals.
    Some(score * 1000 - cand.len() as i64)
}

/// The best `limit` candidates for `query`, best first.
pub fn best<'a>(query: &str, candidates: &'a [String], limit: usize) -> Vec<&'a str> {
    let mut scored: Vec<(i64, &str)> = candidates
        .iter()
        .filter_map(|c| score(query, c).map(|s| (s, c.as_str())))
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    scored.into_iter().take(limit).map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_name_and_segment_matches_first() {
        let c: Vec<String> = [
            "src/lib.rs",
            "src/main.rs",
            "crates/lib/src/x.rs",
            "README.md",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(best("lib", &c, 2), ["src/lib.rs", "crates/lib/src/x.rs"]);
        assert_eq!(best("srcmain", &c, 5), ["src/main.rs"]);
        assert!(best("zzz", &c, 5).is_empty());
        assert_eq!(best("", &c, 1).len(), 1);
    }

    #[test]
    fn the_index_honours_gitignore_and_hides_dotfiles() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(root.join("target")).unwrap();
        std::fs::write(root.join(".gitignore"), "target/\n").unwrap();
        std::fs::write(root.join("src/lib.rs"), "").unwrap();
        std::fs::write(root.join("target/junk"), "").unwrap();
        std::fs::write(root.join(".secret"), "").unwrap();
        let files = index(&[root.to_path_buf()], root);
        assert_eq!(files, ["src/lib.rs"]);
    }
}
