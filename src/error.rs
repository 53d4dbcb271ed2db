//! Failures: one typed value with the exit code CI scripts rely on, a summary, the fix, and the
//! error it came from. Rendered in one place (`Display`); callers branch on the kind, never on
//! the text.

use std::fmt;

/// Exit codes, documented in the README ("Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitKind {
    /// The stage file, a template or the command line is wrong; nothing was sent to AWS.
    Validation = 2,
    /// A change set, a stack or an upload failed.
    Deploy = 3,
    /// A network expectation of `verify` does not hold.
    Verification = 4,
    /// No credentials, a role could not be assumed (trust), or the bootstrap state forbids the
    /// step: not bootstrapped, or a bootstrap that `bootstrap` will not replace without `--force`.
    Credentials = 5,
    /// An AWS endpoint could not be reached: connection refused, no answer, name resolution
    /// (the network, a proxy or AWS_ENDPOINT_URL is wrong); nothing was judged about credentials.
    Unreachable = 6,
    /// Interrupted by Ctrl-C (SIGINT) or SIGTERM (what CI sends on cancel).
    Interrupted = 130,
}

impl ExitKind {
    pub(crate) fn code(self) -> i32 {
        self as i32
    }
}

/// An error that carries the exit code it should end the process with. Anything else that
/// reaches `main` exits with 1 (an unexpected failure).
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: ExitKind,
    /// What went wrong, in one or more lines.
    pub(crate) summary: String,
    /// What to do about it, when something can be done.
    pub(crate) fix: Option<String>,
    /// Typed detail a caller may branch on (e.g. how a stack ended).
    pub(crate) detail: Option<Detail>,
}

/// Facts about a failure that later code needs as values, not as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Detail {
    /// A stack operation ended in `status`; `cause` is the root-cause event, when one was found.
    StackEnded {
        status: String,
        cause: Option<String>,
    },
    /// STS refused to let the caller assume a role (`AccessDenied`): its policy or the role's
    /// trust does not allow it, as for a pull-request role that may only assume lookup roles.
    AssumeRoleDenied,
}

impl Failure {
    pub(crate) fn new(kind: ExitKind, summary: impl Into<String>) -> Self {
        Failure {
            kind,
            summary: summary.into(),
            fix: None,
            detail: None,
        }
    }

    pub(crate) fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    pub(crate) fn with_detail(mut self, detail: Detail) -> Self {
        self.detail = Some(detail);
        self
    }

    /// The first `Failure` in an error chain.
    pub(crate) fn of(err: &anyhow::Error) -> Option<&Failure> {
        err.chain().find_map(|e| e.downcast_ref::<Failure>())
    }

    /// The stack status a failure ended in, if it is a stack failure.
    pub(crate) fn stack_status(err: &anyhow::Error) -> Option<String> {
        match Failure::of(err)?.detail.as_ref()? {
            Detail::StackEnded { status, .. } => Some(status.clone()),
            Detail::AssumeRoleDenied => None,
        }
    }

    /// Whether the error is STS refusing a role to the caller (`Detail::AssumeRoleDenied`).
    pub(crate) fn is_assume_role_denied(err: &anyhow::Error) -> bool {
        Failure::of(err).and_then(|f| f.detail.as_ref()) == Some(&Detail::AssumeRoleDenied)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n  fix: {fix}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

/// A failure without a fix.
pub(crate) fn fail(kind: ExitKind, summary: impl Into<String>) -> anyhow::Error {
    Failure::new(kind, summary).into()
}

/// A failure and what to do about it.
pub(crate) fn fail_fix(
    kind: ExitKind,
    summary: impl Into<String>,
    fix: impl Into<String>,
) -> anyhow::Error {
    Failure::new(kind, summary).with_fix(fix).into()
}

/// `err` with `fix` as what to do about it. The first `Failure` in it keeps its kind, summary
/// and detail (its fix is replaced; context around it is dropped, the summary says it all); any
/// other error becomes a failure of `kind` summarised by its chain.
pub(crate) fn with_fix(
    err: anyhow::Error,
    kind: ExitKind,
    fix: impl Into<String>,
) -> anyhow::Error {
    let failure = match err.downcast::<Failure>() {
        Ok(f) => f,
        Err(err) => match Failure::of(&err) {
            Some(f) => Failure {
                kind: f.kind,
                summary: f.summary.clone(),
                fix: None,
                detail: f.detail.clone(),
            },
            None => Failure::new(kind, format!("{err:#}")),
        },
    };
    failure.with_fix(fix).into()
}

/// The exit code for an error chain: the first `Failure` in it decides.
pub(crate) fn exit_code_of(err: &anyhow::Error) -> i32 {
    Failure::of(err).map(|f| f.kind.code()).unwrap_or(1)
}

/// The kind of an error chain, when it carries one.
pub(crate) fn kind_of(err: &anyhow::Error) -> Option<ExitKind> {
    Failure::of(err).map(|f| f.kind)
}

/// An error chain on one line, as `{:#}` renders it but with each `Failure` by its summary
/// alone: the headline, without the fix.
pub(crate) fn summary_of(err: &anyhow::Error) -> String {
    err.chain()
        .map(|e| match e.downcast_ref::<Failure>() {
            Some(f) => f.summary.clone(),
            None => e.to_string(),
        })
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_renders_its_fix_on_its_own_line_and_keeps_its_kind() {
        let err = fail_fix(ExitKind::Credentials, "cannot assume role", "bootstrap it");
        assert_eq!(err.to_string(), "cannot assume role\n  fix: bootstrap it");
        assert_eq!(exit_code_of(&err), 5);
        let wrapped = err.context("stage A");
        assert_eq!(kind_of(&wrapped), Some(ExitKind::Credentials));
        assert_eq!(exit_code_of(&anyhow::anyhow!("plain")), 1);
    }

    #[test]
    fn the_summary_of_a_chain_leaves_the_fix_out() {
        let err = fail_fix(ExitKind::Credentials, "cannot assume role", "bootstrap it")
            .context("cannot read the network");
        assert_eq!(
            format!("{err:#}"),
            "cannot read the network: cannot assume role\n  fix: bootstrap it"
        );
        assert_eq!(
            summary_of(&err),
            "cannot read the network: cannot assume role"
        );
        assert_eq!(summary_of(&anyhow::anyhow!("plain")), "plain");
    }

    #[test]
    fn a_fix_set_on_a_failure_keeps_its_kind_and_summary() {
        let err = with_fix(
            fail_fix(ExitKind::Credentials, "cannot assume role", "old fix").context("ctx"),
            ExitKind::Deploy,
            "new fix",
        );
        assert_eq!(err.to_string(), "cannot assume role\n  fix: new fix");
        assert_eq!(kind_of(&err), Some(ExitKind::Credentials));
        let plain = with_fix(anyhow::anyhow!("plain"), ExitKind::Deploy, "do this");
        assert_eq!(plain.to_string(), "plain\n  fix: do this");
        assert_eq!(kind_of(&plain), Some(ExitKind::Deploy));
    }

    #[test]
    fn the_stack_status_is_read_from_the_typed_detail() {
        let err: anyhow::Error = Failure::new(ExitKind::Deploy, "stack X ended ROLLBACK_COMPLETE")
            .with_detail(Detail::StackEnded {
                status: "ROLLBACK_COMPLETE".into(),
                cause: None,
            })
            .into();
        assert_eq!(
            Failure::stack_status(&err).as_deref(),
            Some("ROLLBACK_COMPLETE")
        );
        assert_eq!(
            Failure::stack_status(&fail(ExitKind::Deploy, "x ended y")),
            None
        );
    }
}
