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
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => match unreachable(err) {
            Some(why) => format!("could not reach the AWS endpoint: {}", why.reason()),
            None => format!("request could not be sent: {}", chain_text(err)),
        },
        _ => chain_text(err),
    }
}

// ---------------------------------------------------------------- reachability

/// Why a request got no answer from its endpoint, read from the HTTP connector's typed errors
/// (the connect phase, the I/O error kind, the timeout types), never from their text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unreachable {
    /// Nothing listens there: the connection was refused.
    Refused,
    /// No answer to the connection attempt within the connect timeout (packets dropped).
    ConnectTimeout,
    /// The connection could not be made for another reason (name resolution, TLS, routing).
    Connect,
    /// Connected (or the attempt started), but no response came within the read or attempt
    /// timeout (an endpoint that accepts and never answers, or a stalled proxy).
    NoResponse,
}

impl Unreachable {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Unreachable::Refused => "connection refused",
            Unreachable::ConnectTimeout => "no answer to the connection attempt (timed out)",
            Unreachable::Connect => {
                "the connection could not be made (name resolution, TLS or routing)"
            }
            Unreachable::NoResponse => "no response in time",
        }
    }

    /// Whether the request never reached a server: such failures are not retried (a retry
    /// cannot help within seconds, and they are not throttling).
    pub(crate) fn before_connecting(self) -> bool {
        !matches!(self, Unreachable::NoResponse)
    }
}

/// The first error of type `T` in `err`'s source chain (`err` included).
fn find_in_chain<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(t) = e.downcast_ref::<T>() {
            return Some(t);
        }
        cur = e.source();
    }
    None
}

/// How a connector error (what the HTTP client reports when no response came) failed to reach
/// the endpoint, if it did.
pub(crate) fn connector_unreachable(
    err: &aws_smithy_runtime_api::client::result::ConnectorError,
) -> Option<Unreachable> {
    let err: &(dyn std::error::Error + 'static) = err;
    let connect_phase = find_in_chain::<hyper_util::client::legacy::Error>(err)
        .is_some_and(hyper_util::client::legacy::Error::is_connect);
    let timed_out =
        find_in_chain::<aws_smithy_async::future::timeout::TimedOutError>(err).is_some();
    let refused = find_in_chain::<std::io::Error>(err)
        .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused);
    match (connect_phase, refused, timed_out) {
        (_, true, _) => Some(Unreachable::Refused),
        (true, false, true) => Some(Unreachable::ConnectTimeout),
        (true, false, false) => Some(Unreachable::Connect),
        (false, false, true) => Some(Unreachable::NoResponse),
        (false, false, false) => None,
    }
}

/// Whether (and how) an SDK error means the endpoint could not be reached: a connector
/// failure, or no response within the attempt or operation timeout.
pub(crate) fn unreachable<E, R>(err: &SdkError<E, R>) -> Option<Unreachable> {
    match err {
        SdkError::TimeoutError(_) => Some(Unreachable::NoResponse),
        SdkError::DispatchFailure(d) => d.as_connector_error().and_then(connector_unreachable),
        _ => None,
    }
}

/// `unreachable` for an assumed-role session that could not be had: the STS error the
/// credential provider wraps.
pub(crate) fn credentials_unreachable(
    e: &aws_credential_types::provider::error::CredentialsError,
) -> Option<Unreachable> {
    if let Some(sdk) = find_in_chain::<AssumeRoleSdkError>(e) {
        return unreachable(sdk);
    }
    find_in_chain::<aws_smithy_runtime_api::client::result::ConnectorError>(e)
        .and_then(connector_unreachable)
}

/// A retry classifier that forbids retrying a request that never reached a server (refused,
/// no answer to connect, name resolution): the SDK's standard classifier retries those like
/// throttling, with backoff, which turned an unreachable endpoint into 35 s of silence. Read
/// timeouts on an established connection are left to the standard strategy.
///
/// With `nor_unanswered`, requests that got no response in time are not retried either (the
/// identity probe: an endpoint that accepts and never answers is reported at its first timeout).
#[derive(Debug, Default)]
pub(crate) struct NoRetryBeforeConnecting {
    pub(crate) nor_unanswered: bool,
}

impl aws_smithy_runtime_api::client::retries::classifiers::ClassifyRetry
    for NoRetryBeforeConnecting
{
    fn classify_retry(
        &self,
        ctx: &aws_smithy_runtime_api::client::interceptors::context::InterceptorContext,
    ) -> aws_smithy_runtime_api::client::retries::classifiers::RetryAction {
        use aws_smithy_runtime_api::client::retries::classifiers::RetryAction;
        let connect_failure = match ctx.output_or_error() {
            Some(Err(e)) => match e.as_connector_error().and_then(connector_unreachable) {
                Some(why) => why.before_connecting() || self.nor_unanswered,
                None => self.nor_unanswered && e.is_timeout_error(),
            },
            _ => false,
        };
        if connect_failure {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "pipeline-run: no retry before connecting"
    }

    fn priority(
        &self,
    ) -> aws_smithy_runtime_api::client::retries::classifiers::RetryClassifierPriority {
        aws_smithy_runtime_api::client::retries::classifiers::RetryClassifierPriority::run_after(
            aws_smithy_runtime_api::client::retries::classifiers::RetryClassifierPriority::transient_error_classifier(),
        )
    }
}

/// The error and its sources, each once.
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

/// Whether an assumed-role session could not be had because its AssumeRole call failed (STS
/// answered with an error, or gave no answer), as opposed to the credentials it was to be made
/// from: read from the typed STS error the credential provider wraps.
pub(crate) fn is_assume_role_failure(
    e: &aws_credential_types::provider::error::CredentialsError,
) -> bool {
    find_in_chain::<AssumeRoleSdkError>(e).is_some()
}

/// STS's code for a refused AssumeRole: the caller's identity policy does not allow
/// `sts:AssumeRole` on the role, or the role's trust policy does not allow the caller.
const ACCESS_DENIED: &str = "AccessDenied";

/// Whether an assumed-role session could not be had because STS answered `AccessDenied` (as
/// opposed to no answer, expired or missing base credentials, or a malformed request): read from
/// the typed STS error the credential provider wraps.
pub(crate) fn is_assume_role_access_denied(
    e: &aws_credential_types::provider::error::CredentialsError,
) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(sdk) = err.downcast_ref::<AssumeRoleSdkError>() {
            return error_code(sdk) == Some(ACCESS_DENIED);
        }
        cur = err.source();
    }
    false
}

// ---------------------------------------------------------------- CloudFormation refusals
//
// The codes below are the ones the SDK maps to typed variants (`ChangeSetNotFoundException` of
// DescribeChangeSet and ExecuteChangeSet, `InvalidChangeSetStatusException` of ExecuteChangeSet
// and DeleteChangeSet). They are matched by code so one classifier serves every operation.

/// A change set that is not there (any more): deleted, or removed by another execution.
const CHANGE_SET_NOT_FOUND: &str = "ChangeSetNotFound";
/// A change set that cannot be executed or deleted in its current state.
const INVALID_CHANGE_SET_STATUS: &str = "InvalidChangeSetStatus";
/// CloudFormation's catch-all code for a refused request (AWS Query protocol).
const VALIDATION_ERROR: &str = "ValidationError";

/// The message of a `ValidationError`. Some refusals pipeline-run must tell apart have no code of
/// their own: CloudFormation answers them with `ValidationError` and a fixed message, so for those
/// (and only those, below) the message is checked, each time for one documented answer.
fn validation_message<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    match err {
        SdkError::ServiceError(se) if se.err().code() == Some(VALIDATION_ERROR) => {
            Some(se.err().message().unwrap_or_default())
        }
        _ => None,
    }
}

/// DescribeStacks of a stack that does not exist (or is deleted): CloudFormation answers
/// `ValidationError: Stack with id NAME does not exist` — there is no not-found code.
pub(crate) fn is_stack_not_found<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    validation_message(err).is_some_and(|m| m.contains("does not exist"))
}

/// An update with nothing to change, refused synchronously (UpdateStack, and CreateChangeSet on
/// some implementations): `ValidationError: No updates are to be performed.`
pub(crate) fn is_no_updates<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    validation_message(err).is_some_and(|m| m.contains("No updates are to be performed"))
}

/// Another deployment of the same stack got there first (two runs at once), by CloudFormation's
/// answer: the stack is busy (`ValidationError: Stack:ARN is in STATUS state and can not be
/// updated.`), was created meanwhile (`ValidationError: Stack [NAME] already exists and cannot be
/// created again with the changeSet [CS].`), or its execution removed or obsoleted our change set
/// (`ChangeSetNotFound`, `InvalidChangeSetStatus`).
pub(crate) fn is_lost_race<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    if matches!(
        error_code(err),
        Some(CHANGE_SET_NOT_FOUND | INVALID_CHANGE_SET_STATUS)
    ) {
        return true;
    }
    validation_message(err).is_some_and(|m| {
        m.contains("state and can not be updated")
            || m.contains("already exists and cannot be created again")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksError;
    use aws_smithy_types::error::ErrorMetadata;

    fn refusal(code: &str, message: &str) -> SdkError<DescribeStacksError, ()> {
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        SdkError::service_error(DescribeStacksError::generic(meta), ())
    }

    #[test]
    fn the_refusals_of_a_concurrent_deployment_are_recognised() {
        assert!(is_lost_race(&refusal(
            "ValidationError",
            "Stack:arn:aws:cloudformation:ap-northeast-1:111111111111:stack/VpcA/x is in CREATE_IN_PROGRESS state and can not be updated."
        )));
        assert!(is_lost_race(&refusal(
            "ValidationError",
            "Stack [VpcA] already exists and cannot be created again with the changeSet [pipeline-run-1]."
        )));
        assert!(is_lost_race(&refusal(
            "ChangeSetNotFound",
            "ChangeSet [x] does not exist"
        )));
        assert!(is_lost_race(&refusal(
            "InvalidChangeSetStatus",
            "ChangeSet [x] cannot be executed in its current status of [OBSOLETE]"
        )));
        assert!(!is_lost_race(&refusal(
            "ValidationError",
            "Template format error: Unresolved resource dependencies"
        )));
        // The texts count only as CloudFormation's ValidationError answer.
        assert!(!is_lost_race(&refusal(
            "AccessDenied",
            "x is in CREATE_IN_PROGRESS state and can not be updated."
        )));
    }

    #[test]
    fn unreachable_endpoints_are_told_apart_by_the_connector_error_types() {
        use aws_smithy_runtime_api::client::result::ConnectorError;
        let refused = ConnectorError::io(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        assert_eq!(connector_unreachable(&refused), Some(Unreachable::Refused));
        assert!(Unreachable::Refused.before_connecting());
        // A timeout outside the connect phase: the request was sent, no response came.
        let no_response =
            ConnectorError::timeout(Box::new(aws_smithy_async::future::timeout::TimedOutError));
        assert_eq!(
            connector_unreachable(&no_response),
            Some(Unreachable::NoResponse)
        );
        assert!(!Unreachable::NoResponse.before_connecting());
        // A reset on an established connection is not "unreachable" (the SDK retries it).
        let reset = ConnectorError::io(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        assert_eq!(connector_unreachable(&reset), None);
        let timed_out: SdkError<DescribeStacksError, ()> =
            SdkError::timeout_error(Box::new(aws_smithy_async::future::timeout::TimedOutError));
        assert_eq!(unreachable(&timed_out), Some(Unreachable::NoResponse));
        assert_eq!(unreachable(&refusal("AccessDenied", "no")), None);
        assert!(
            describe_sdk_error(&SdkError::<DescribeStacksError, ()>::dispatch_failure(
                refused
            ))
            .contains("connection refused")
        );
    }

    #[test]
    fn missing_stacks_and_empty_updates_are_recognised_only_as_validation_errors() {
        assert!(is_stack_not_found(&refusal(
            "ValidationError",
            "Stack with id VpcA does not exist"
        )));
        assert!(!is_stack_not_found(&refusal(
            "AccessDenied",
            "role does not exist"
        )));
        assert!(is_no_updates(&refusal(
            "ValidationError",
            "No updates are to be performed."
        )));
        assert!(!is_no_updates(&refusal(
            "ValidationError",
            "Template format error"
        )));
    }
}
