//! [`ToolSet`]: the tools offered to the model, listed in a stable order and
//! dispatched by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use transcript::ToolSpec;

use crate::error::ToolError;
use crate::tool::{Tool, ToolContext, ToolOutput};

/// A set of tools keyed by name. Iteration is sorted by name, so the tool list
/// sent to the provider is byte-identical across requests (prompt caching depends
/// on it).
#[derive(Clone, Default)]
pub struct ToolSet {
    tools: BTreeMap<&'static str, Arc<dyn Tool>>,
}

impl std::fmt::Debug for ToolSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.tools.keys()).finish()
    }
}

impl ToolSet {
    /// A set of the given tools; a later tool with the same name replaces an
    /// earlier one.
    pub fn new(tools: impl IntoIterator<Item = Arc<dyn Tool>>) -> ToolSet {
        ToolSet {
            tools: tools.into_iter().map(|t| (t.name(), t)).collect(),
        }
    }

    /// All built-in tools: `background`, `bash`, `edit_file`, `glob`, `grep`, `list_dir`,
    /// `read_file`, `view_image`, `write_file`.
    pub fn standard() -> ToolSet {
        ToolSet::new([
            Arc::new(crate::Background) as Arc<dyn Tool>,
            Arc::new(crate::Bash),
            Arc::new(crate::EditFile),
            Arc::new(crate::Glob),
            Arc::new(crate::Grep),
            Arc::new(crate::ListDir),
            Arc::new(crate::ReadFile),
            Arc::new(crate::ViewImage),
            Arc::new(crate::WriteFile),
        ])
    }

    /// The specs to offer the model, sorted by name.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools
            .values()
            .map(|t| ToolSpec {
                name: t.name().to_owned(),
                description: t.description().to_owned(),
                parameters: t.parameters_schema(),
            })
            .collect()
    }

    /// The tool of that name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.tools.get(name)
    }

    /// Names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.tools.keys().copied().collect()
    }

    /// Calls tool `name` with `arguments` as the model sent them (a JSON object in
    /// a string; empty means `{}`).
    pub async fn call(
        &self,
        ctx: &ToolContext,
        name: &str,
        arguments: &str,
    ) -> Result<ToolOutput, ToolError> {
        let tool = self.get(name).ok_or_else(|| ToolError::UnknownTool {
            name: name.to_owned(),
            available: self.names().join(", "),
        })?;
        let args: serde_json::Value = if arguments.trim().is_empty() {
            serde_json::Value::Object(Default::default())
        } else {
            serde_json::from_str(arguments).map_err(|e| ToolError::InvalidArguments {
                tool: name.to_owned(),
                message: format!("arguments are not valid JSON ({e}); send a JSON object"),
            })?
        };
        if !args.is_object() {
            return Err(ToolError::InvalidArguments {
                tool: name.to_owned(),
                message: "arguments must be a JSON object".into(),
            });
        }
        tool.call(ctx, args).await
    }
}
