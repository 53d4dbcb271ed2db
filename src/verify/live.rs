//! The live check: the bootstrap's ping document (`cdk-<q>-pipeline-run-ping`, the only command
//! the deploy role may run) sent to the source instance through SSM Run Command, polled until it
//! ends, and its output read back.

use std::time::{Duration, Instant};

use crate::aws::errors::{describe_sdk_error, error_code};
use crate::model::env::Environment;
use crate::model::roles::{self, VERIFY_TAG};
use crate::poll::Backoff;
use aws_sdk_ssm::operation::send_command::SendCommandError;
use aws_sdk_ssm::types::CommandInvocationStatus;

use super::ping::{self, PingSummary};

/// How long SSM may keep answering `InvocationDoesNotExist` for a command it has just accepted
/// before that stops being eventual consistency.
const INVOCATION_APPEARS_WITHIN: Duration = Duration::from_secs(30);
/// SSM's delivery timeout (its minimum): an agent that has not picked the command up by then is
/// not coming, and SSM says so with "Delivery Timed Out" before our own deadline.
const DELIVERY_TIMEOUT_SECS: i32 = 30;
/// Slack on top of the ping's own running time for delivery and reporting.
const OVERALL_SLACK: Duration = Duration::from_secs(60);

/// How one live check ended. Each kind has its own message because each has a different fix.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LiveOutcome {
    /// ping ran and printed its statistics; any reply means reachable.
    Replied(PingSummary),
    /// ping ran but printed no statistics (unknown host, not ping output...).
    NoSummary(String),
    /// The command never ran: instance not managed by SSM, agent offline, instance gone.
    Undeliverable(String),
    /// The command did not finish in time.
    TimedOut(String),
    /// The environment has no ping document: bootstrapped by an older pipeline-run or by
    /// `cdk bootstrap`. Carries the fix.
    NotBootstrapped(String),
    /// SSM refused to send the ping document to the instance (AccessDenied): the instance lacks
    /// the verification tag. Carries the fix.
    Refused(String),
    /// An API call failed (permissions, throttling, cancelled command...).
    Failed(String),
    /// Ctrl-C stopped the wait.
    Interrupted,
}

impl LiveOutcome {
    /// `None` when the check proved nothing either way.
    pub(crate) fn reachable(&self) -> Option<bool> {
        match self {
            LiveOutcome::Replied(s) => Some(s.received > 0),
            _ => None,
        }
    }

    /// Stable, machine-readable kind for the JSON report.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            LiveOutcome::Replied(s) if s.received > 0 => "reachable",
            LiveOutcome::Replied(_) => "unreachable",
            LiveOutcome::NoSummary(_) => "no_summary",
            LiveOutcome::Undeliverable(_) => "undeliverable",
            LiveOutcome::TimedOut(_) => "timed_out",
            LiveOutcome::NotBootstrapped(_) => "not_bootstrapped",
            LiveOutcome::Refused(_) => "refused",
            LiveOutcome::Failed(_) => "error",
            LiveOutcome::Interrupted => "interrupted",
        }
    }

    /// One line saying what happened.
    pub(crate) fn reason(&self) -> String {
        match self {
            LiveOutcome::Replied(s) if s.received > 0 => {
                format!("ping got replies ({})", summary_text(s))
            }
            LiveOutcome::Replied(s) => format!("ping got no reply ({})", summary_text(s)),
            LiveOutcome::NoSummary(m)
            | LiveOutcome::Undeliverable(m)
            | LiveOutcome::TimedOut(m)
            | LiveOutcome::NotBootstrapped(m)
            | LiveOutcome::Refused(m)
            | LiveOutcome::Failed(m) => m.clone(),
            LiveOutcome::Interrupted => {
                "interrupted (Ctrl-C) before the ping finished; the command may still run on the instance".into()
            }
        }
    }
}

/// "3/3 received, 0% loss", "2/3 received, 33.3% loss".
pub(crate) fn summary_text(s: &PingSummary) -> String {
    let loss = if s.loss_percent.fract() == 0.0 {
        format!("{}", s.loss_percent)
    } else {
        format!("{:.1}", s.loss_percent)
    };
    format!("{}/{} received, {loss}% loss", s.received, s.transmitted)
}

#[derive(Debug, Clone)]
pub(crate) struct LiveResult {
    pub(crate) outcome: LiveOutcome,
    pub(crate) command_id: Option<String>,
    pub(crate) seconds: f64,
}

pub(crate) struct PingRequest<'a> {
    pub(crate) check: &'a str,
    /// The stage and output naming the instance (`VpcA`, `InstanceAId`).
    pub(crate) from_stage: &'a str,
    pub(crate) from_output: &'a str,
    /// The instance's environment, and the qualifier whose bootstrap owns the ping document.
    pub(crate) env: &'a Environment,
    pub(crate) qualifier: &'a str,
    pub(crate) instance: &'a str,
    pub(crate) ip: &'a str,
    pub(crate) count: u32,
    pub(crate) timeout_seconds: u32,
}

/// Sends the ping command and waits for its result. Never fails: every way it can end is an
/// outcome of the check.
pub(crate) async fn ping(ssm: &aws_sdk_ssm::Client, req: &PingRequest<'_>) -> LiveResult {
    let started = Instant::now();
    let (outcome, command_id) = run(ssm, req).await;
    LiveResult {
        outcome,
        command_id,
        seconds: started.elapsed().as_secs_f64(),
    }
}

async fn run(ssm: &aws_sdk_ssm::Client, req: &PingRequest<'_>) -> (LiveOutcome, Option<String>) {
    let parameters = match ping::ping_parameters(req.ip, req.count, req.timeout_seconds) {
        Ok(p) => p,
        Err(e) => return (LiveOutcome::Failed(format!("{e:#}")), None),
    };
    match send(ssm, req, parameters).await {
        Ok(command_id) => {
            let outcome = wait(ssm, req, &command_id, Instant::now()).await;
            (outcome, Some(command_id))
        }
        Err(outcome) => (outcome, None),
    }
}

/// How long the ping may run: `count` pings of at most `timeout_seconds` each.
fn running_time(req: &PingRequest<'_>) -> Duration {
    Duration::from_secs(u64::from(req.count) * u64::from(req.timeout_seconds))
}

/// Sends the ping document with `parameters` to the instance; the command id, or how the check
/// ended without one.
async fn send(
    ssm: &aws_sdk_ssm::Client,
    req: &PingRequest<'_>,
    parameters: [(&'static str, String); 3],
) -> Result<String, LiveOutcome> {
    let instance = req.instance;
    let document = roles::ping_document(req.qualifier);
    let comment: String = format!("pipeline-run verify: {}", req.check)
        .chars()
        .take(100)
        .collect();
    let mut send = ssm
        .send_command()
        .document_name(&document)
        .instance_ids(instance)
        .timeout_seconds(DELIVERY_TIMEOUT_SECS)
        .comment(comment);
    for (name, value) in parameters {
        send = send.parameters(name, vec![value]);
    }
    let sent = send.send().await;
    match sent {
        Ok(out) => match out.command().and_then(|c| c.command_id()) {
            Some(id) => Ok(id.to_string()),
            None => Err(LiveOutcome::Failed(
                "SendCommand answered without a command id".into(),
            )),
        },
        Err(e) => Err(refused(req, &document, &e)),
    }
}

/// How a refused SendCommand ends the check: each cause with its own fix.
fn refused<R: std::fmt::Debug>(
    req: &PingRequest<'_>,
    document: &str,
    e: &aws_sdk_ssm::error::SdkError<SendCommandError, R>,
) -> LiveOutcome {
    let instance = req.instance;
    let env = req.env;
    let code = error_code(e);
    if e.as_service_error()
        .is_some_and(SendCommandError::is_invalid_document)
    {
        let qualifier = if req.qualifier == roles::DEFAULT_QUALIFIER {
            String::new()
        } else {
            format!(" --qualifier {}", req.qualifier)
        };
        return LiveOutcome::NotBootstrapped(format!(
            "{env} has no ping document {document} (it was bootstrapped by an older pipeline-run or by `cdk bootstrap`); fix: re-run `pipeline-run bootstrap {env}{qualifier}` (with the same --trust options) for {env}, which adds it"
        ));
    }
    if code == Some("AccessDeniedException") {
        return LiveOutcome::Refused(format!(
            "SSM refused to send {document} to instance {instance} ({}): the deploy role of {env} may ping only from instances tagged {VERIFY_TAG}=true; fix: add `{{Key: {VERIFY_TAG}, Value: 'true'}}` to the Tags of the instance behind {}.{} in the template of stage {}, and deploy (if it carries the tag, {env} was bootstrapped by `cdk bootstrap`, whose deploy role may send no command: re-run `pipeline-run bootstrap` for {env})",
            describe_sdk_error(e),
            req.from_stage,
            req.from_output,
            req.from_stage
        ));
    }
    if code == Some("InvalidInstanceId") {
        return LiveOutcome::Undeliverable(format!(
            "instance {instance} is not managed by SSM or its agent is offline (SendCommand: {})",
            describe_sdk_error(e)
        ));
    }
    LiveOutcome::Failed(format!(
        "SendCommand {document} on {instance} failed: {}",
        describe_sdk_error(e)
    ))
}

/// Polls the invocation of `command_id` (sent at `sent_at`) until it ends or the deadline passes.
async fn wait(
    ssm: &aws_sdk_ssm::Client,
    req: &PingRequest<'_>,
    command_id: &str,
    sent_at: Instant,
) -> LiveOutcome {
    let instance = req.instance;
    let deadline = running_time(req) + OVERALL_SLACK;
    // SSM usually answers in about a second on AWS and at once locally: start fast, slow down.
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
    let mut last_status = String::from("not yet visible");
    loop {
        let answer = ssm
            .get_command_invocation()
            .command_id(command_id)
            .instance_id(instance)
            .send()
            .await;
        match answer {
            Ok(out) => {
                let status = out.status().cloned();
                let invocation = Invocation {
                    instance,
                    status: status.as_ref(),
                    details: out.status_details().unwrap_or_default(),
                    response_code: out.response_code(),
                    stdout: out.standard_output_content().unwrap_or_default(),
                    stderr: out.standard_error_content().unwrap_or_default(),
                };
                if let Some(outcome) = classify(&invocation) {
                    return outcome;
                }
                last_status = status
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "without status".into());
            }
            Err(e) if error_code(&e) == Some("InvocationDoesNotExist") => {
                if sent_at.elapsed() > INVOCATION_APPEARS_WITHIN {
                    return LiveOutcome::Failed(format!(
                        "SSM accepted command {command_id} for {instance} but still does not know its invocation {}s later (InvocationDoesNotExist)",
                        INVOCATION_APPEARS_WITHIN.as_secs()
                    ));
                }
            }
            Err(e) => {
                return LiveOutcome::Failed(format!(
                    "cannot read the result of command {command_id} on {instance}: {}",
                    describe_sdk_error(&e)
                ));
            }
        }
        let elapsed = sent_at.elapsed();
        if elapsed >= deadline {
            return LiveOutcome::TimedOut(format!(
                "command {command_id} on {instance} still {last_status} after {}s (limit: {} ping(s) × {}s + {}s)",
                elapsed.as_secs(),
                req.count,
                req.timeout_seconds,
                OVERALL_SLACK.as_secs()
            ));
        }
        tokio::time::sleep(backoff.next_delay().min(deadline - elapsed)).await;
    }
}

/// What GetCommandInvocation said, reduced to what decides the outcome.
pub(crate) struct Invocation<'a> {
    pub(crate) instance: &'a str,
    pub(crate) status: Option<&'a CommandInvocationStatus>,
    pub(crate) details: &'a str,
    pub(crate) response_code: i32,
    pub(crate) stdout: &'a str,
    pub(crate) stderr: &'a str,
}

/// The outcome of a finished invocation, or `None` while it is still on its way.
pub(crate) fn classify(inv: &Invocation<'_>) -> Option<LiveOutcome> {
    let instance = inv.instance;
    // StatusDetails is finer than Status: a Failed status can mean the command never ran.
    match inv.details {
        "Undeliverable" => {
            return Some(LiveOutcome::Undeliverable(format!(
                "instance {instance} is not managed by SSM or its agent is offline (command Undeliverable)"
            )));
        }
        "Terminated" => {
            return Some(LiveOutcome::Undeliverable(format!(
                "instance {instance} was stopped or terminated before the command ran (command Terminated)"
            )));
        }
        "Delivery Timed Out" => {
            return Some(LiveOutcome::Undeliverable(format!(
                "the SSM agent of {instance} did not pick the command up within {DELIVERY_TIMEOUT_SECS}s: it is not managed by SSM or its agent is offline (Delivery Timed Out)"
            )));
        }
        "Execution Timed Out" => {
            return Some(LiveOutcome::TimedOut(format!(
                "ping on {instance} did not finish within the command's execution timeout (Execution Timed Out)"
            )));
        }
        _ => {}
    }
    match inv.status? {
        CommandInvocationStatus::Pending
        | CommandInvocationStatus::InProgress
        | CommandInvocationStatus::Delayed
        | CommandInvocationStatus::Cancelling => None,
        CommandInvocationStatus::TimedOut => Some(LiveOutcome::TimedOut(format!(
            "the command on {instance} timed out ({})",
            if inv.details.is_empty() {
                "TimedOut"
            } else {
                inv.details
            }
        ))),
        CommandInvocationStatus::Cancelled => Some(LiveOutcome::Failed(format!(
            "the command on {instance} was cancelled"
        ))),
        CommandInvocationStatus::Success | CommandInvocationStatus::Failed => {
            let output = format!("{}\n{}", inv.stdout, inv.stderr);
            Some(match ping::parse_ping_output(&output) {
                Ok(summary) => LiveOutcome::Replied(summary),
                Err(e) => LiveOutcome::NoSummary(format!(
                    "{e} (on {instance}, exit status {}{})",
                    inv.response_code,
                    if inv.details.is_empty()
                        || inv.details == inv.status.map_or("", |s| s.as_str())
                    {
                        String::new()
                    } else {
                        format!(", {}", inv.details)
                    }
                )),
            })
        }
        // A status newer than this SDK: keep polling, the deadline still applies.
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv<'a>(
        status: &'a CommandInvocationStatus,
        details: &'a str,
        code: i32,
        stdout: &'a str,
        stderr: &'a str,
    ) -> Invocation<'a> {
        Invocation {
            instance: "i-0abc",
            status: Some(status),
            details,
            response_code: code,
            stdout,
            stderr,
        }
    }

    const REPLIES: &str = "PING 10.1.1.10 (10.1.1.10) 56(84) bytes of data.\n64 bytes from 10.1.1.10: icmp_seq=1 ttl=64 time=0.4 ms\n\n--- 10.1.1.10 ping statistics ---\n3 packets transmitted, 3 received, 0% packet loss, time 2003ms\nrtt min/avg/max/mdev = 0.433/0.462/0.512/0.035 ms\n";
    const NO_REPLY: &str = "PING 10.2.1.10 (10.2.1.10) 56(84) bytes of data.\n\n--- 10.2.1.10 ping statistics ---\n3 packets transmitted, 0 received, 100% packet loss, time 2051ms\n";

    #[test]
    fn a_successful_ping_is_reachable() {
        let s = CommandInvocationStatus::Success;
        let o = classify(&inv(&s, "Success", 0, REPLIES, "")).unwrap();
        assert_eq!(o.reachable(), Some(true));
        assert_eq!(o.kind(), "reachable");
        let LiveOutcome::Replied(summary) = &o else {
            panic!("{o:?}")
        };
        assert_eq!(summary_text(summary), "3/3 received, 0% loss");
    }

    #[test]
    fn total_loss_fails_the_command_but_is_a_clear_unreachable() {
        // ping exits 1 when nothing comes back, which SSM reports as a Failed command.
        let s = CommandInvocationStatus::Failed;
        let o = classify(&inv(
            &s,
            "Failed",
            1,
            NO_REPLY,
            "failed to run commands: exit status 1",
        ))
        .unwrap();
        assert_eq!(o.reachable(), Some(false));
        assert_eq!(o.reason(), "ping got no reply (0/3 received, 100% loss)");
    }

    #[test]
    fn unknown_host_is_neither_reachable_nor_unreachable() {
        let s = CommandInvocationStatus::Failed;
        let o = classify(&inv(
            &s,
            "Failed",
            2,
            "",
            "ping: nosuchhost: Name or service not known\nfailed to run commands: exit status 2",
        ))
        .unwrap();
        assert_eq!(o.reachable(), None);
        assert_eq!(o.kind(), "no_summary");
        assert!(
            o.reason().contains("could not resolve host"),
            "{}",
            o.reason()
        );
        assert!(o.reason().contains("exit status 2"), "{}", o.reason());
    }

    #[test]
    fn running_invocations_keep_the_poll_going() {
        for s in [
            CommandInvocationStatus::Pending,
            CommandInvocationStatus::InProgress,
            CommandInvocationStatus::Delayed,
        ] {
            assert_eq!(classify(&inv(&s, s.as_str(), -1, "", "")), None);
        }
    }

    #[test]
    fn undelivered_commands_name_the_instance_and_the_agent() {
        let s = CommandInvocationStatus::Failed;
        let o = classify(&inv(&s, "Undeliverable", -1, "", "")).unwrap();
        assert_eq!(o.kind(), "undeliverable");
        assert_eq!(
            o.reason(),
            "instance i-0abc is not managed by SSM or its agent is offline (command Undeliverable)"
        );
        let o = classify(&inv(&s, "Terminated", -1, "", "")).unwrap();
        assert_eq!(o.kind(), "undeliverable");
        assert!(o.reason().contains("stopped or terminated"));
        let s = CommandInvocationStatus::TimedOut;
        let o = classify(&inv(&s, "Delivery Timed Out", -1, "", "")).unwrap();
        assert_eq!(o.kind(), "undeliverable");
    }

    #[test]
    fn execution_timeouts_are_their_own_outcome() {
        let s = CommandInvocationStatus::TimedOut;
        let o = classify(&inv(&s, "Execution Timed Out", -1, "", "")).unwrap();
        assert_eq!(o.kind(), "timed_out");
        assert_eq!(o.reachable(), None);
    }

    fn request<'a>(env: &'a Environment, qualifier: &'a str) -> PingRequest<'a> {
        PingRequest {
            check: "B → C",
            from_stage: "VpcA",
            from_output: "InstanceBId",
            env,
            qualifier,
            instance: "i-0abc",
            ip: "10.2.1.10",
            count: 3,
            timeout_seconds: 2,
        }
    }

    fn refusal(err: SendCommandError) -> aws_sdk_ssm::error::SdkError<SendCommandError, ()> {
        aws_sdk_ssm::error::SdkError::service_error(err, ())
    }

    #[test]
    fn a_missing_ping_document_names_the_bootstrap_to_re_run() {
        let env = Environment::new("222222222222", "ap-northeast-1").unwrap();
        let missing = refusal(SendCommandError::InvalidDocument(
            aws_sdk_ssm::types::error::InvalidDocument::builder()
                .message("Document with name cdk-q1-pipeline-run-ping does not exist.")
                .build(),
        ));
        let o = refused(&request(&env, "q1"), "cdk-q1-pipeline-run-ping", &missing);
        assert_eq!(o.kind(), "not_bootstrapped");
        assert_eq!(o.reachable(), None);
        assert!(
            o.reason().contains(
                "aws://222222222222/ap-northeast-1 has no ping document cdk-q1-pipeline-run-ping"
            ) && o.reason().contains(
                "fix: re-run `pipeline-run bootstrap aws://222222222222/ap-northeast-1 --qualifier q1`"
            ),
            "{}",
            o.reason()
        );
        let default = refused(&request(&env, DEFAULT_Q), "d", &missing);
        assert!(
            default
                .reason()
                .contains("`pipeline-run bootstrap aws://222222222222/ap-northeast-1` (with"),
            "{}",
            default.reason()
        );
    }

    const DEFAULT_Q: &str = roles::DEFAULT_QUALIFIER;

    #[test]
    fn a_refused_instance_names_the_tag_to_add() {
        let env = Environment::new("222222222222", "ap-northeast-1").unwrap();
        let meta = aws_smithy_types::error::ErrorMetadata::builder()
            .code("AccessDeniedException")
            .message("not authorized to perform: ssm:SendCommand")
            .build();
        let denied = refusal(SendCommandError::generic(meta));
        let o = refused(
            &request(&env, DEFAULT_Q),
            "cdk-hnb659fds-pipeline-run-ping",
            &denied,
        );
        assert_eq!(o.kind(), "refused");
        assert!(
            o.reason().contains("tagged pipeline-run:verify=true")
                && o.reason()
                    .contains("the instance behind VpcA.InstanceBId in the template of stage VpcA"),
            "{}",
            o.reason()
        );
        let meta = aws_smithy_types::error::ErrorMetadata::builder()
            .code("InvalidInstanceId")
            .build();
        let o = refused(
            &request(&env, DEFAULT_Q),
            "d",
            &refusal(SendCommandError::generic(meta)),
        );
        assert_eq!(o.kind(), "undeliverable");
    }

    #[test]
    fn partial_loss_is_reachable_with_its_loss_shown() {
        let s = PingSummary {
            transmitted: 3,
            received: 2,
            loss_percent: 33.3333,
            rtt_avg_ms: None,
        };
        assert_eq!(summary_text(&s), "2/3 received, 33.3% loss");
        assert_eq!(LiveOutcome::Replied(s).reachable(), Some(true));
    }
}
