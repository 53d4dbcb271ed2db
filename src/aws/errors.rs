//! SDK errors, rendered and classified from the SDK's own error metadata (service code, typed
//! variants), never from message text. Nothing rendered carries request ids, headers or signed
//! material.

use std::fmt;

use aws_sdk_sts::error::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Renders an SDK error with its service code and message.
pub(crate) fn describe_sdk_error<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
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

/// The error and its sources, each once.
pub(crate) fn chain_text(err: &dyn std::error::Error) -> String {
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
pub(crate) fn error_code<E, R>(err: &SdkError<E, R>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(se) => se.err().code(),
        _ => None,
    }
}

type AssumeRoleSdkError = SdkError<
    aws_sdk_sts::operation::assume_role::AssumeRoleError,
    aws_sdk_sts::config::http::HttpResponse,
>;

/// Why an assumed-role session could not be had: STS's code and message when STS answered
/// (the credential provider wraps the typed STS error), else the error chain.
pub(crate) fn credentials_error_text(
    e: &aws_credential_types::provider::error::CredentialsError,
) -> String {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(sdk) = err.downcast_ref::<AssumeRoleSdkError>() {
            return describe_sdk_error(sdk);
        }
        cur = err.source();
    }
    chain_text(e)
}
