//! The built-in system prompt: tells the model who and where it is, what it may
//! touch and which tools it has.

use std::fmt::Write;

use pod_ids::PodName;

use crate::launch::Manifest;

/// The system prompt for a Pod with this manifest.
pub fn system_prompt(name: &PodName, m: &Manifest) -> String {
    let mut s = format!(
        "You are a coding agent running as the Pod \"{}\".\nWorking directory: {}\n",
        name.as_str(),
        m.cwd.display()
    );
    let mut rules = |label: &str, access: scope::Access| {
        let paths: Vec<String> = m
            .scope
            .allow
            .iter()
            .filter(|r| r.access == access)
            .map(|r| r.path.as_path().display().to_string())
            .collect();
        if !paths.is_empty() {
            let _ = writeln!(s, "You may {label}: {}", paths.join(", "));
        }
    };
    rules("read and write", scope::Access::Write);
    rules("read", scope::Access::Read);
    let denied: Vec<String> = m
        .scope
        .deny
        .iter()
        .map(|r| format!("{} ({})", r.path.as_path().display(), r.access))
        .collect();
    if !denied.is_empty() {
        let _ = writeln!(s, "Denied: {}", denied.join(", "));
    }
    let _ = writeln!(
        s,
        "Tools: {}.\nUse the tools to inspect and change files; stay inside your scope. \
         When the task is done, answer with a short summary.",
        m.tools.join(", ")
    );
    s
}
