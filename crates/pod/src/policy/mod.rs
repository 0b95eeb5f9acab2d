//! What may run without asking, and the user's commands around it: permission
//! rules ([`rules`]), hooks ([`hooks`]), approvals ([`approvals`]) and the guard
//! that applies them to every tool call ([`guard`]).
//!
//! Must never own: the scope (rules sit on top of it; only the scope is enforced by
//! the kernel) or the tools themselves.
//!
//! Invariants:
//! - Rules only narrow down the tree: a Pod's policy is its parent's layers plus
//!   its own, and the strictest answer of any layer wins.
//! - No hook, approval or parent overrides a deny rule.
//! - Every hook outcome and every permission decision is in the session log.
//! - A hook never outlives its timeout (its process group is killed) and runs
//!   inside the Pod's sandbox.

pub mod approvals;
pub mod guard;
pub mod hooks;
pub mod rules;

pub use approvals::{Approvals, AskMode};
pub use guard::{ANSWER_APPROVAL, Guard, GuardedTools};
pub use hooks::{HookEvent, HookRunner, HookSpec, Hooks};
pub use rules::{Decision, Policy, RuleSet, Subject};
