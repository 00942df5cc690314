//! How a hook refused or failed an operation.

#[derive(Debug, Clone, thiserror::Error)]
pub enum HookError {
    /// `validate` threw, or a webhook answered `{"reject": …}`: the operation is refused.
    #[error("rejected by hook `{hook}`: {message}")]
    Rejected { hook: String, message: String },
    /// The hook itself went wrong: a script error, a runaway loop, a bad return value, a webhook
    /// that did not answer.
    #[error("hook `{hook}` failed in `{function}`: {message}")]
    Failed {
        hook: String,
        function: String,
        message: String,
    },
}

impl HookError {
    pub fn missing(hook: &str) -> Self {
        HookError::Failed {
            hook: hook.to_string(),
            function: "-".into(),
            message: "the hook is not loaded".into(),
        }
    }
}
