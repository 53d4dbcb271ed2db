//! Failure categories and the exit codes CI scripts can rely on.

use std::fmt;

/// Exit codes, documented in the README ("Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// The stage file, a template or the command line is wrong; nothing was sent to AWS.
    Validation = 2,
    /// A change set, a stack or an upload failed.
    Deploy = 3,
    /// A network expectation of `verify` does not hold.
    Verification = 4,
    /// No credentials, or a role could not be assumed (trust / bootstrap).
    Credentials = 5,
    /// Interrupted by Ctrl-C (SIGINT).
    Interrupted = 130,
}

/// An error that carries the exit code it should end the process with. Anything else that
/// reaches `main` exits with 1 (an unexpected failure).
#[derive(Debug)]
pub struct Failure {
    pub kind: ExitKind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: ExitKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

pub fn fail(kind: ExitKind, message: impl Into<String>) -> anyhow::Error {
    Failure::new(kind, message).into()
}

/// The exit code for an error chain: the first `Failure` in it decides.
pub fn exit_code_of(err: &anyhow::Error) -> i32 {
    err.chain()
        .find_map(|e| e.downcast_ref::<Failure>())
        .map(|f| f.kind as i32)
        .unwrap_or(1)
}

/// Renders an SDK error with its service code and message, without request ids, headers or
/// anything else that could carry signed material.
pub fn describe_sdk_error<E, R>(err: &aws_sdk_sts::error::SdkError<E, R>) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
    use aws_sdk_sts::error::SdkError;
    match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            match (e.code(), e.message()) {
                (Some(code), Some(msg)) => format!("{code}: {msg}"),
                (Some(code), None) => code.to_string(),
                _ => e.to_string(),
            }
        }
        SdkError::TimeoutError(_) => "request timed out".to_string(),
        SdkError::DispatchFailure(d) => {
            if d.is_io() {
                "could not connect to the AWS endpoint (is it reachable?)".to_string()
            } else {
                format!("request could not be sent: {}", chain_text(err))
            }
        }
        _ => chain_text(err),
    }
}

fn chain_text(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

/// The AWS error code of an SDK error, if the service answered with one.
pub fn error_code<E, R>(err: &aws_sdk_sts::error::SdkError<E, R>) -> Option<String>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    use aws_sdk_sts::error::SdkError;
    match err {
        SdkError::ServiceError(se) => se.err().code().map(str::to_string),
        _ => None,
    }
}
