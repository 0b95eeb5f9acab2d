//! Permission rules: `allow` / `ask` / `deny` lists of `TOOL` or `TOOL(ARGUMENT)`
//! patterns, on top of the Pod's scope (the scope is the boundary the kernel
//! enforces; rules decide what runs without a human's word).
//!
//! What the argument part of a rule is matched against ([`Subject`]):
//! - `bash`: the command string. A command line is split at unquoted `;`, `&&`,
//!   `||`, `|`, `&` and newlines; a `deny`/`ask` rule hits when *any* part matches,
//!   an `allow` rule only when *every* part does, and never when the line holds a
//!   command substitution (`$(…)`, backticks, `<(…)`), so `git status && rm -rf x`
//!   is not allowed by `bash(git status*)`. Runs of blanks count as one space and
//!   leading `NAME=value` assignments are also tried stripped.
//! - file tools (`read_file`, `write_file`, `edit_file`, `list_dir`, `glob`,
//!   `grep`): the `path` argument (default `.`), resolved like the scope resolves
//!   it (symlinks in the existing prefix, `..`), tried both as the canonical
//!   absolute path and relative to the Pod's working directory when inside it.
//! - every other tool (child tools, `update_plan`, `mcp__SERVER__TOOL`): the
//!   arguments as compact JSON with sorted keys.
//!
//! Patterns are globs in which `*` also matches `/` and spaces; `**` is the same as
//! `*`. The tool part is a glob over the tool name (`mcp__github__*`, `*`).
//!
//! Precedence inside one rule set: deny › ask › allow › `default` (which is `allow`
//! unless configured). A Pod's policy is a stack of rule sets (its own, its
//! parent's, …) and the strictest answer of any layer wins, so a layer added later
//! (a child's spawn request) can narrow but never widen.

use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};
use serde::{Deserialize, Serialize};

/// What a rule set says about one call. Ordered from most to least permissive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Runs without asking.
    Allow,
    /// Needs an approval (a human, or the parent Pod).
    Ask,
    /// Never runs.
    Deny,
}

impl Decision {
    /// `allow`, `ask`, `deny`.
    pub fn name(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Ask => "ask",
            Decision::Deny => "deny",
        }
    }
}

/// One rule set as configured (`[permissions]`, flags, a spawn request).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// Run without asking.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Ask first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ask: Vec<String>,
    /// Never run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
    /// What a call no rule matches gets (`None`: allow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Decision>,
}

impl RuleSet {
    /// Whether the set says nothing.
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty()
            && self.ask.is_empty()
            && self.deny.is_empty()
            && self.default.is_none()
    }

    /// Checks every pattern; the error names the list and the rule.
    pub fn validate(&self) -> Result<(), String> {
        for (list, rules) in [
            ("allow", &self.allow),
            ("ask", &self.ask),
            ("deny", &self.deny),
        ] {
            for r in rules {
                Rule::parse(r).map_err(|e| format!("{list} rule {r:?}: {e}"))?;
            }
        }
        Ok(())
    }

    /// This set's answer for `subject`, and the rule that gave it (`None`: the default).
    pub fn decide(&self, subject: &Subject) -> (Decision, Option<String>) {
        let hit = |rules: &[String], every_part: bool| {
            rules
                .iter()
                .find(|r| Rule::parse(r).is_ok_and(|rule| rule.matches(subject, every_part)))
                .cloned()
        };
        if let Some(r) = hit(&self.deny, false) {
            return (Decision::Deny, Some(r));
        }
        if let Some(r) = hit(&self.ask, false) {
            return (Decision::Ask, Some(r));
        }
        if let Some(r) = hit(&self.allow, true) {
            return (Decision::Allow, Some(r));
        }
        (self.default.unwrap_or(Decision::Allow), None)
    }
}

/// The rule sets a Pod answers to: the strictest answer of any layer wins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Policy(pub Vec<RuleSet>);

impl Policy {
    /// The answer for `subject` with the rule that gave it.
    pub fn decide(&self, subject: &Subject) -> (Decision, Option<String>) {
        let mut best = (Decision::Allow, None);
        for set in &self.0 {
            let d = set.decide(subject);
            if d.0 > best.0 || (d.0 == best.0 && best.1.is_none()) {
                best = d;
            }
        }
        best
    }

    /// This policy with `layer` on top (a child's narrowing); an empty layer adds
    /// nothing.
    pub fn narrowed(&self, layer: RuleSet) -> Policy {
        let mut p = self.clone();
        if !layer.is_empty() {
            p.0.push(layer);
        }
        p
    }

    /// Whether no layer says anything (every call allowed).
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(RuleSet::is_empty)
    }
}

/// One parsed rule: a tool-name glob and an optional argument glob.
#[derive(Debug)]
pub struct Rule {
    tool: GlobMatcher,
    arg: Option<GlobMatcher>,
}

fn glob(p: &str) -> Result<GlobMatcher, String> {
    GlobBuilder::new(p)
        .literal_separator(false)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| e.kind().to_string())
}

impl Rule {
    /// Parses `TOOL` or `TOOL(ARGUMENT)`.
    pub fn parse(s: &str) -> Result<Rule, String> {
        let s = s.trim();
        let (tool, arg) = match s.find('(') {
            Some(i) => {
                let Some(inner) = s[i + 1..].strip_suffix(')') else {
                    return Err("an argument pattern must end with `)`: TOOL(PATTERN)".into());
                };
                (&s[..i], Some(inner))
            }
            None => (s, None),
        };
        if tool.is_empty()
            || !tool
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.*?".contains(c))
        {
            return Err(
                "the tool part must be a tool name or a glob over names (letters, digits, _ - . * ?)"
                    .into(),
            );
        }
        Ok(Rule {
            tool: glob(tool)?,
            arg: arg.map(|a| glob(&normalize_blanks(a))).transpose()?,
        })
    }

    /// Whether the rule covers `subject`. `every_part`: a command line matches only
    /// when all its commands do (allow rules); otherwise any one suffices.
    pub fn matches(&self, subject: &Subject, every_part: bool) -> bool {
        if !self.tool.is_match(&subject.tool) {
            return false;
        }
        let Some(arg) = &self.arg else { return true };
        match &subject.arg {
            Arg::Command { parts, substitutes } => {
                let part_hits = |p: &String| strip_assignments(p).iter().any(|c| arg.is_match(c));
                if every_part {
                    !substitutes && !parts.is_empty() && parts.iter().all(part_hits)
                } else {
                    // The whole line too, for patterns spanning an operator.
                    parts.iter().any(part_hits) || arg.is_match(&subject.text)
                }
            }
            Arg::Path(forms) => forms.iter().any(|f| arg.is_match(f)),
            Arg::Json => arg.is_match(&subject.text),
        }
    }
}

/// A tool call as rules see it.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The tool's name.
    pub tool: String,
    /// The argument part in one string (the command, the canonical path, the JSON).
    pub text: String,
    arg: Arg,
}

#[derive(Debug, Clone)]
enum Arg {
    Command {
        parts: Vec<String>,
        substitutes: bool,
    },
    Path(Vec<String>),
    Json,
}

/// Tools whose argument part is their `path`.
pub const PATH_TOOLS: &[&str] = &[
    "read_file",
    "write_file",
    "edit_file",
    "list_dir",
    "glob",
    "grep",
];

impl Subject {
    /// The subject of calling `tool` with `args` (a JSON object) in `cwd`.
    pub fn of(tool: &str, args: &serde_json::Value, cwd: &Path) -> Subject {
        let str_arg = |k: &str| args.get(k).and_then(|v| v.as_str());
        if tool == "bash"
            && let Some(cmd) = str_arg("command")
        {
            let text = normalize_blanks(cmd);
            let (parts, substitutes) = split_command(&text);
            return Subject {
                tool: tool.into(),
                text,
                arg: Arg::Command { parts, substitutes },
            };
        }
        if PATH_TOOLS.contains(&tool) {
            let raw = str_arg("path").unwrap_or(".");
            let forms = path_forms(raw, cwd);
            return Subject {
                tool: tool.into(),
                text: forms.first().cloned().unwrap_or_else(|| raw.into()),
                arg: Arg::Path(forms),
            };
        }
        Subject {
            tool: tool.into(),
            // serde_json's maps are sorted (no `preserve_order`), so equal arguments
            // give equal text.
            text: serde_json::to_string(args).unwrap_or_default(),
            arg: Arg::Json,
        }
    }

    /// What an "always for this Pod" approval covers: the exact command or path for
    /// `bash` and file tools, the tool itself for every other tool.
    pub fn always_key(&self) -> String {
        match self.arg {
            Arg::Json => self.tool.clone(),
            _ => format!("{}({})", self.tool, self.text),
        }
    }
}

/// The canonical path first, then the path relative to `cwd` when inside it.
fn path_forms(raw: &str, cwd: &Path) -> Vec<String> {
    let p = if let Some(rest) = raw.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        PathBuf::from(home).join(rest)
    } else {
        cwd.join(raw)
    };
    // A path the scope cannot resolve (a `..` past a missing component) is matched
    // as given: the file tools refuse it anyway.
    let canon = scope::canonicalize(&p)
        .map(|c| c.as_path().to_path_buf())
        .unwrap_or(p);
    let mut forms = vec![canon.display().to_string()];
    let cwd_canon = scope::canonicalize(cwd)
        .map(|c| c.as_path().to_path_buf())
        .unwrap_or_else(|_| cwd.to_path_buf());
    if let Ok(rel) = canon.strip_prefix(&cwd_canon) {
        let rel = rel.display().to_string();
        forms.push(if rel.is_empty() { ".".into() } else { rel });
    }
    forms
}

fn normalize_blanks(s: &str) -> String {
    s.split([' ', '\t'])
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `FOO=1 BAR=2 git push` → [`FOO=1 BAR=2 git push`, `git push`].
fn strip_assignments(part: &str) -> Vec<&str> {
    let mut rest = part;
    let mut out = vec![part];
    while let Some((word, tail)) = rest.split_once(' ') {
        let is_assignment = word.split_once('=').is_some_and(|(name, _)| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        if !is_assignment {
            break;
        }
        rest = tail;
        out.push(rest);
    }
    out
}

/// Splits a command line at unquoted control operators, and says whether it holds
/// a command substitution. Hand-written rather than a shell parser crate: rules need
/// only the boundaries of simple commands, and the split is deliberately
/// conservative (an unbalanced quote keeps the rest as one part, which an allow rule
/// must then match whole).
fn split_command(line: &str) -> (Vec<String>, bool) {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut substitutes = false;
    let (mut single, mut double) = (false, false);
    let mut chars = line.chars().peekable();
    let flush = |cur: &mut String, parts: &mut Vec<String>| {
        let t = cur.trim();
        if !t.is_empty() {
            parts.push(t.to_string());
        }
        cur.clear();
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' if !single => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '\'' if !double => {
                single = !single;
                cur.push(c);
            }
            '"' if !single => {
                double = !double;
                cur.push(c);
            }
            '`' if !single => {
                substitutes = true;
                cur.push(c);
            }
            '$' | '<' | '>' if !single && chars.peek() == Some(&'(') => {
                substitutes = true;
                cur.push(c);
            }
            ';' | '\n' | '&' | '|' if !single && !double => {
                // `&&`, `||`, `|&`: one operator.
                if matches!(chars.peek(), Some('&' | '|')) && c != ';' && c != '\n' {
                    chars.next();
                }
                // `2>&1`, `>&2`: a redirection, not a background operator.
                if c == '&' && cur.ends_with('>') {
                    cur.push(c);
                    continue;
                }
                flush(&mut cur, &mut parts);
            }
            _ => cur.push(c),
        }
    }
    flush(&mut cur, &mut parts);
    (parts, substitutes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn bash(cmd: &str) -> Subject {
        Subject::of("bash", &json!({ "command": cmd }), Path::new("/"))
    }

    fn set(allow: &[&str], ask: &[&str], deny: &[&str]) -> RuleSet {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        RuleSet {
            allow: v(allow),
            ask: v(ask),
            deny: v(deny),
            default: None,
        }
    }

    #[test]
    fn command_lines_split_at_operators_not_inside_quotes() {
        let (p, s) = split_command("git status && rm -rf x; echo 'a;b' | wc -l 2>&1 &");
        assert_eq!(p, ["git status", "rm -rf x", "echo 'a;b'", "wc -l 2>&1"]);
        assert!(!s);
        assert!(split_command("echo $(whoami)").1);
        assert!(split_command("echo `id`").1);
        assert!(!split_command("echo '$(x)'").1);
    }

    #[test]
    fn deny_hits_any_part_allow_needs_every_part() {
        let rules = set(&["bash(git status*)"], &[], &["bash(rm *)"]);
        assert_eq!(rules.decide(&bash("git status")).0, Decision::Allow);
        assert_eq!(
            rules.decide(&bash("git status && rm -rf /")).0,
            Decision::Deny
        );
        let ask_default = RuleSet {
            default: Some(Decision::Ask),
            ..set(&["bash(git status*)"], &[], &[])
        };
        assert_eq!(
            ask_default.decide(&bash("git  status   -s")).0,
            Decision::Allow
        );
        assert_eq!(
            ask_default.decide(&bash("git status; curl x")).0,
            Decision::Ask
        );
        assert_eq!(
            ask_default.decide(&bash("git status $(curl x)")).0,
            Decision::Ask
        );
        assert_eq!(
            set(&[], &[], &["bash(git push*)"])
                .decide(&bash("GIT_TRACE=1 git push origin"))
                .0,
            Decision::Deny
        );
    }

    #[test]
    fn paths_match_relative_and_canonical_forms() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = scope::canonicalize(dir.path())
            .unwrap()
            .as_path()
            .to_path_buf();
        std::fs::create_dir(cwd.join("sub")).unwrap();
        let s = Subject::of("write_file", &json!({"path": "sub/../Cargo.lock"}), &cwd);
        let rules = set(&[], &[], &["write_file(*.lock)"]);
        assert_eq!(rules.decide(&s).0, Decision::Deny);
        let rel = set(&[], &["write_file(Cargo.lock)"], &[]);
        assert_eq!(rel.decide(&s).0, Decision::Ask);
        let abs = set(&[], &[], &[&format!("*({}/**)", cwd.display())]);
        assert_eq!(abs.decide(&s).0, Decision::Deny);
        assert_eq!(
            s.always_key(),
            format!("write_file({}/Cargo.lock)", cwd.display())
        );
    }

    #[test]
    fn tool_globs_cover_mcp_names_and_json_arguments() {
        let s = Subject::of(
            "mcp__github__create_issue",
            &json!({"title": "x"}),
            Path::new("/"),
        );
        assert_eq!(
            set(&[], &[], &["mcp__github__*"]).decide(&s).0,
            Decision::Deny
        );
        assert_eq!(
            set(&[], &["*(*\"title\":\"x\"*)"], &[]).decide(&s).0,
            Decision::Ask
        );
        assert_eq!(
            set(&[], &[], &["mcp__gitlab__*"]).decide(&s).0,
            Decision::Allow
        );
        assert_eq!(s.always_key(), "mcp__github__create_issue");
    }

    #[test]
    fn a_layer_on_top_narrows_and_never_widens() {
        let parent = Policy(vec![set(
            &[],
            &["bash(git push*)"],
            &["write_file(*.lock)"],
        )]);
        let child = parent.narrowed(set(&["bash", "write_file"], &[], &["bash(curl*)"]));
        assert_eq!(child.decide(&bash("git push")).0, Decision::Ask);
        assert_eq!(child.decide(&bash("curl x")).0, Decision::Deny);
        let lock = Subject::of("write_file", &json!({"path": "/x/a.lock"}), Path::new("/x"));
        assert_eq!(child.decide(&lock).0, Decision::Deny);
        assert_eq!(child.decide(&bash("ls")).0, Decision::Allow);
    }

    #[test]
    fn bad_rules_are_refused_with_the_rule_named() {
        let e = set(&["bash(git"], &[], &[]).validate().unwrap_err();
        assert!(e.contains("allow rule \"bash(git\""), "{e}");
        assert!(set(&[], &[], &["ba sh"]).validate().is_err());
        assert!(set(&["bash(*)", "mcp__*"], &[], &[]).validate().is_ok());
    }
}
