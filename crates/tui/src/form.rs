//! The new-Pod form: name, task, provider, model, working directory, write scope.
//!
//! It says what will happen: the defaults are filled in (a generated name, the
//! dashboard's directory, write access to `.`), and an empty write scope starts
//! the Pod with `--read-only` (no writes at all), not with the configured default.

use std::path::PathBuf;

use pod_ids::PodName;

/// A request to start a Pod, as the form collected it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPod {
    /// Validated name.
    pub name: PodName,
    /// First message (`None`: the Pod starts idle).
    pub task: Option<String>,
    /// Provider (`None`: the configured default).
    pub provider: Option<String>,
    /// Model (`None`: the configured default).
    pub model: Option<String>,
    /// Working directory.
    pub cwd: Option<String>,
    /// Write paths as typed (the `pod` binary canonicalises them at its ingress);
    /// empty means read-only.
    pub write: Vec<String>,
}

/// Field indexes.
pub const NAME: usize = 0;
/// Task.
pub const TASK: usize = 1;
/// Provider.
pub const PROVIDER: usize = 2;
/// Model.
pub const MODEL: usize = 3;
/// Working directory.
pub const CWD: usize = 4;
/// Write scope.
pub const WRITE: usize = 5;

/// Labels of the fields, in order, with their hints.
pub const FIELDS: [(&str, &str); 6] = [
    ("Name", "lowercase letters, digits, . _ -"),
    ("Task", "first message; empty: start idle"),
    ("Provider", "empty: the configured default"),
    ("Model", "empty: the configured default"),
    ("Directory", "where the Pod runs; relative paths start here"),
    ("Write", "paths, comma-separated; empty: read-only"),
];

/// Form state.
#[derive(Debug, Clone, Default)]
pub struct NewPodForm {
    /// Field values.
    pub values: [String; 6],
    /// Focused field.
    pub focus: usize,
    /// Validation error of the last submit.
    pub error: Option<String>,
}

/// A fresh name (`pod-` and six hex digits), like `pod run` gives.
pub fn generated_name() -> String {
    let id = pod_ids::SessionId::new().to_string();
    let tail: String = id
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .rev()
        .take(6)
        .collect();
    format!("pod-{tail}")
}

impl NewPodForm {
    /// A form with the defaults filled in: `name` (generated when empty), the
    /// directory `cwd`, write access to it.
    pub fn new(name: &str, cwd: PathBuf) -> NewPodForm {
        let mut f = NewPodForm::default();
        f.values[NAME] = if name.trim().is_empty() {
            generated_name()
        } else {
            name.trim().to_string()
        };
        f.values[CWD] = cwd.display().to_string();
        f.values[WRITE] = ".".into();
        f.focus = TASK;
        f
    }

    /// Types a character into the focused field.
    pub fn insert(&mut self, c: char) {
        self.values[self.focus].push(c);
        self.error = None;
    }

    /// Deletes the last character of the focused field.
    pub fn backspace(&mut self) {
        self.values[self.focus].pop();
    }

    /// Clears the focused field.
    pub fn clear_field(&mut self) {
        self.values[self.focus].clear();
    }

    /// Next field (wraps).
    pub fn next(&mut self) {
        self.focus = (self.focus + 1) % FIELDS.len();
    }

    /// Previous field (wraps).
    pub fn prev(&mut self) {
        self.focus = (self.focus + FIELDS.len() - 1) % FIELDS.len();
    }

    /// What the write field will do, in words (shown under it as it is typed).
    pub fn write_effect(&self) -> String {
        let paths = self.write_paths();
        if paths.is_empty() {
            "read-only: the Pod cannot write anywhere".into()
        } else {
            format!("may write in {}", paths.join(", "))
        }
    }

    fn write_paths(&self) -> Vec<String> {
        self.values[WRITE]
            .split([',', ' '])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Validates; on error keeps the form open with the message.
    pub fn submit(&mut self) -> Option<NewPod> {
        let name = match PodName::new(self.values[NAME].trim()) {
            Ok(n) => n,
            Err(e) => {
                self.error = Some(e.to_string());
                self.focus = NAME;
                return None;
            }
        };
        let opt = |i: usize| Some(self.values[i].trim().to_string()).filter(|v| !v.is_empty());
        Some(NewPod {
            name,
            task: opt(TASK),
            provider: opt(PROVIDER),
            model: opt(MODEL),
            cwd: opt(CWD),
            write: self.write_paths(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submit_validates_the_name_and_splits_paths() {
        let mut f = NewPodForm::new("", "/w".into());
        assert!(f.values[NAME].starts_with("pod-") && f.values[NAME].len() == 10);
        assert_eq!(f.focus, TASK, "the name is filled in: the task comes first");
        f.values[NAME] = "Bad/Name".into();
        assert!(f.submit().is_none());
        assert!(f.error.is_some());
        f.values[NAME] = "worker".into();
        f.values[WRITE] = "/w/a, /w/b".into();
        let p = f.submit().unwrap();
        assert_eq!(p.name.as_str(), "worker");
        assert_eq!(
            (p.model, p.task, p.cwd.as_deref()),
            (None, None, Some("/w"))
        );
        assert_eq!(p.write, ["/w/a", "/w/b"]);
        f.values[WRITE].clear();
        assert_eq!(f.write_effect(), "read-only: the Pod cannot write anywhere");
        assert!(f.submit().unwrap().write.is_empty());
    }
}
