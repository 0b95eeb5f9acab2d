//! The new-Pod form: name, model, write scope.

use pod_ids::PodName;

/// A request to start a Pod, as the form collected it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPod {
    /// Validated name.
    pub name: PodName,
    /// Model (`None`: the configured default).
    pub model: Option<String>,
    /// Write paths as typed (the `pod` binary canonicalises them at its ingress).
    pub write: Vec<String>,
}

/// Labels of the fields, in order.
pub const FIELDS: [&str; 3] = ["Name", "Model", "Write scope"];

/// Form state.
#[derive(Debug, Clone, Default)]
pub struct NewPodForm {
    /// Field values.
    pub values: [String; 3],
    /// Focused field.
    pub focus: usize,
    /// Validation error of the last submit.
    pub error: Option<String>,
}

impl NewPodForm {
    /// Types a character into the focused field.
    pub fn insert(&mut self, c: char) {
        self.values[self.focus].push(c);
        self.error = None;
    }

    /// Deletes the last character of the focused field.
    pub fn backspace(&mut self) {
        self.values[self.focus].pop();
    }

    /// Next field (wraps).
    pub fn next(&mut self) {
        self.focus = (self.focus + 1) % FIELDS.len();
    }

    /// Previous field (wraps).
    pub fn prev(&mut self) {
        self.focus = (self.focus + FIELDS.len() - 1) % FIELDS.len();
    }

    /// Validates; on error keeps the form open with the message.
    pub fn submit(&mut self) -> Option<NewPod> {
        let name = match PodName::new(self.values[0].trim()) {
            Ok(n) => n,
            Err(e) => {
                self.error = Some(e.to_string());
                self.focus = 0;
                return None;
            }
        };
        let model = Some(self.values[1].trim().to_string()).filter(|m| !m.is_empty());
        let write = self.values[2]
            .split([',', ' '])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        Some(NewPod { name, model, write })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submit_validates_the_name_and_splits_paths() {
        let mut f = NewPodForm::default();
        "Bad/Name".chars().for_each(|c| f.insert(c));
        assert!(f.submit().is_none());
        assert!(f.error.is_some());
        f.values[0] = "worker".into();
        f.values[2] = "/w/a, /w/b".into();
        let p = f.submit().unwrap();
        assert_eq!(p.name.as_str(), "worker");
        assert_eq!(p.model, None);
        assert_eq!(p.write, ["/w/a", "/w/b"]);
    }
}
