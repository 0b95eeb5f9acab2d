//! The validated Pod name.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// Names that would collide with files the runtime keeps beside Pod directories.
const RESERVED: &[&str] = &["registry"];
/// Suffixes used by temp and lock files next to Pod records.
const RESERVED_SUFFIXES: &[&str] = &[".tmp", ".lock"];
const MAX_LEN: usize = 63;

/// A Pod's name: `^[a-z0-9][a-z0-9._-]{0,62}$`, not `registry`, not ending in
/// `.tmp` or `.lock`.
///
/// Because it cannot contain `/` and cannot start with `.`, joining it onto a
/// directory never leaves that directory.
///
/// ```
/// use pod_ids::PodName;
/// let n: PodName = "lead-1".parse().unwrap();
/// assert_eq!(n.as_str(), "lead-1");
/// assert!("../x".parse::<PodName>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct PodName(String);

/// Why a string is not a valid [`PodName`]; the message names the string and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pod name {name:?} is invalid: {reason}")]
pub struct NameError {
    /// The rejected input, verbatim.
    pub name: String,
    /// Which rule it broke and how to fix it.
    pub reason: String,
}

impl PodName {
    /// Validates `s` as a Pod name.
    pub fn new(s: impl Into<String>) -> Result<Self, NameError> {
        let s = s.into();
        match reason_invalid(&s) {
            None => Ok(PodName(s)),
            Some(reason) => Err(NameError { name: s, reason }),
        }
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn reason_invalid(s: &str) -> Option<String> {
    const RULE: &str = "use 1 to 63 characters: lowercase letters, digits, '.', '_' or '-', starting with a letter or digit";
    if s.is_empty() {
        return Some(format!("it is empty; {RULE}"));
    }
    if s.len() > MAX_LEN {
        return Some(format!("it has {} characters; {RULE}", s.chars().count()));
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Some(format!(
            "it must start with a lowercase letter or digit; {RULE}"
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')))
    {
        return Some(format!("character {c:?} is not allowed; {RULE}"));
    }
    if RESERVED.contains(&s) {
        return Some(format!("{s:?} is reserved; choose another name"));
    }
    if let Some(suf) = RESERVED_SUFFIXES.iter().find(|suf| s.ends_with(*suf)) {
        return Some(format!(
            "names may not end in {suf:?} (reserved for runtime files)"
        ));
    }
    None
}

impl FromStr for PodName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PodName::new(s)
    }
}

impl TryFrom<String> for PodName {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        PodName::new(s)
    }
}

impl<'de> Deserialize<'de> for PodName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PodName::new(s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for PodName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PodName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl AsRef<str> for PodName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_are_rejected_at_the_type() {
        let long = "a".repeat(64);
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "A",
            "../x",
            long.as_str(),
            "registry",
            "a\nb",
            "-a",
            "_a",
            "x.tmp",
            "x.lock",
            "a b",
            "é",
        ] {
            let err = PodName::new(bad).expect_err(bad);
            assert_eq!(err.name, bad);
            assert!(err.to_string().contains("is invalid"), "{err}");
        }
    }

    #[test]
    fn good_names_pass() {
        let max = "a".repeat(63);
        for good in [
            "a",
            "0",
            "lead",
            "a.b_c-d",
            max.as_str(),
            "registry2",
            "x.tmpl",
        ] {
            assert_eq!(PodName::new(good).expect(good).as_str(), good);
        }
    }

    #[test]
    fn deserialising_validates() {
        assert!(serde_json::from_str::<PodName>("\"../x\"").is_err());
        let n: PodName = serde_json::from_str("\"ok\"").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"ok\"");
    }

    #[test]
    fn error_names_the_input_and_the_rule() {
        let e = PodName::new("../x").unwrap_err().to_string();
        assert!(e.contains("\"../x\""), "{e}");
        assert!(e.contains("lowercase letters"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn valid_names_never_contain_a_separator(s in "\\PC{0,70}") {
            if let Ok(n) = PodName::new(s) {
                proptest::prop_assert!(!n.as_str().contains('/'));
                proptest::prop_assert!(!n.as_str().starts_with('.'));
            }
        }
    }
}
