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

    /// Counts a hook that went wrong in `syncgate_hook_failures_total` (a refusal is the hook
    /// doing its job, not a failure), and passes the error on.
    pub fn counted(self) -> Self {
        if let HookError::Failed { hook, .. } = &self {
            metrics::counter!(crate::ops::metrics::HOOK_FAILURES, "script" => hook.clone())
                .increment(1);
        }
        self
    }
}
