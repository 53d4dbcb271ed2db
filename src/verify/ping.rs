//! The parameters of the ping document run on test instances through SSM, and
//! reading ping's output back. Both iputils (Amazon Linux, Ubuntu) and busybox (Alpine)
//! output formats are understood.

use std::fmt;
use std::net::Ipv4Addr;

use anyhow::{Context, ensure};
use serde::Serialize;

/// The statistics block ping prints when it finishes, whether or not any
/// reply arrived. Fields in alphabetical order, the order of the keys in the JSON report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct PingSummary {
    pub(crate) loss_percent: f64,
    pub(crate) received: u32,
    /// Absent when no reply arrived, because ping then omits the rtt line.
    pub(crate) rtt_avg_ms: Option<f64>,
    pub(crate) transmitted: u32,
}

/// Why ping output carries no statistics block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PingError {
    UnknownHost {
        host: String,
    },
    NetworkUnreachable,
    /// Garbage, truncated output, or ping not running at all; keeps the last
    /// non-empty line because it usually says what went wrong.
    NoSummary {
        last_line: String,
    },
}

impl fmt::Display for PingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PingError::UnknownHost { host } => {
                write!(
                    f,
                    "ping could not resolve host {host:?} (DNS lookup failed)"
                )
            }
            PingError::NetworkUnreachable => write!(
                f,
                "ping failed at once: network is unreachable (the instance's OS has no route to the target)"
            ),
            PingError::NoSummary { last_line } if last_line.is_empty() => {
                write!(f, "ping printed nothing (did the command run?)")
            }
            PingError::NoSummary { last_line } => write!(
                f,
                "ping output has no statistics summary (truncated, or not ping output); last line: {last_line:?}"
            ),
        }
    }
}

impl std::error::Error for PingError {}

/// The parameters of the bootstrap's ping document (`TargetIp`, `Count`, `TimeoutSeconds`; see
/// `PingDocument` in bootstrap/bootstrap-template.yaml), in that order. SSM checks them against
/// the document's `allowedPattern`s too; checking here first turns a bad value into a clear error
/// instead of SSM's `InvalidParameters`.
pub(crate) fn ping_parameters(
    ip: &str,
    count: u32,
    timeout_secs: u32,
) -> anyhow::Result<[(&'static str, String); 3]> {
    let ip: Ipv4Addr = ip
        .parse()
        .with_context(|| format!("ping target {ip:?} is not an IPv4 address"))?;
    // iputils treats `-c 0` as "ping forever" and `-W 0` as "wait forever"; the document accepts
    // the ranges the stage file does (verify.count 1..100, verify.timeout_seconds 1..60).
    ensure!((1..=100).contains(&count), "ping count must be 1..100");
    ensure!(
        (1..=60).contains(&timeout_secs),
        "ping timeout must be 1..60 seconds"
    );
    Ok([
        ("TargetIp", ip.to_string()),
        ("Count", count.to_string()),
        ("TimeoutSeconds", timeout_secs.to_string()),
    ])
}

/// Parses ping's combined stdout and stderr. A summary with 100% loss is
/// still `Ok`: the packets went out, and deciding what loss is acceptable
/// belongs to the caller.
pub(crate) fn parse_ping_output(output: &str) -> Result<PingSummary, PingError> {
    if let Some(summary) = output.lines().find_map(parse_summary_line) {
        return Ok(PingSummary {
            rtt_avg_ms: output.lines().find_map(parse_rtt_average),
            ..summary
        });
    }
    if let Some(host) = output.lines().find_map(unresolved_host) {
        return Err(PingError::UnknownHost { host });
    }
    if output.contains("Network is unreachable") {
        return Err(PingError::NetworkUnreachable);
    }
    let last_line = output
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or_default();
    Err(PingError::NoSummary {
        last_line: last_line.chars().take(200).collect(),
    })
}

/// iputils: `3 packets transmitted, 2 received, +1 errors, 33.3333% packet loss, time 2003ms`
/// busybox: `3 packets transmitted, 2 packets received, 33% packet loss`
fn parse_summary_line(line: &str) -> Option<PingSummary> {
    let (mut transmitted, mut received, mut loss_percent) = (None, None, None);
    for field in line.split(',').map(str::trim) {
        if let Some(n) = field.strip_suffix(" packets transmitted") {
            transmitted = n.parse().ok();
        } else if let Some(n) = field
            .strip_suffix(" packets received")
            .or_else(|| field.strip_suffix(" received"))
        {
            received = n.parse().ok();
        } else if let Some(percent) = field.strip_suffix("% packet loss") {
            loss_percent = percent.parse().ok();
        }
    }
    Some(PingSummary {
        transmitted: transmitted?,
        received: received?,
        loss_percent: loss_percent?,
        rtt_avg_ms: None,
    })
}

/// iputils: `rtt min/avg/max/mdev = 0.433/0.462/0.512/0.035 ms`
/// busybox: `round-trip min/avg/max = 0.069/0.079/0.091 ms`
fn parse_rtt_average(line: &str) -> Option<f64> {
    let line = line.trim_start();
    if !(line.starts_with("rtt ") || line.starts_with("round-trip ")) {
        return None;
    }
    let (_, values) = line.split_once('=')?;
    values.trim().split('/').nth(1)?.trim().parse().ok()
}

/// The host name from a resolver failure, in any of the forms iputils
/// (old and new) and busybox print.
fn unresolved_host(line: &str) -> Option<String> {
    let line = line.trim();
    if let Some((_, host)) = line.split_once("unknown host ") {
        return Some(host.trim().to_string());
    }
    if let Some((_, host)) = line.split_once("bad address ") {
        return Some(host.trim().trim_matches('\'').to_string());
    }
    const RESOLVER_FAILURES: [&str; 3] = [
        ": Name or service not known",
        ": Temporary failure in name resolution",
        ": No address associated with hostname",
    ];
    let before_failure = RESOLVER_FAILURES
        .iter()
        .find_map(|failure| line.strip_suffix(failure))?;
    let host = before_failure
        .strip_prefix("ping: ")
        .unwrap_or(before_failure);
    Some(host.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPUTILS_SUCCESS: &str = "\
PING 10.1.0.10 (10.1.0.10) 56(84) bytes of data.
64 bytes from 10.1.0.10: icmp_seq=1 ttl=127 time=0.512 ms
64 bytes from 10.1.0.10: icmp_seq=2 ttl=127 time=0.433 ms
64 bytes from 10.1.0.10: icmp_seq=3 ttl=127 time=0.441 ms

--- 10.1.0.10 ping statistics ---
3 packets transmitted, 3 received, 0% packet loss, time 2003ms
rtt min/avg/max/mdev = 0.433/0.462/0.512/0.035 ms
";

    const IPUTILS_PARTIAL_LOSS: &str = "\
PING 10.1.0.10 (10.1.0.10) 56(84) bytes of data.
64 bytes from 10.1.0.10: icmp_seq=1 ttl=127 time=1.02 ms
64 bytes from 10.1.0.10: icmp_seq=3 ttl=127 time=0.981 ms

--- 10.1.0.10 ping statistics ---
3 packets transmitted, 2 received, 33.3333% packet loss, time 2036ms
rtt min/avg/max/mdev = 0.981/1.000/1.020/0.019 ms
";

    const IPUTILS_TOTAL_LOSS: &str = "\
PING 10.2.0.10 (10.2.0.10) 56(84) bytes of data.

--- 10.2.0.10 ping statistics ---
3 packets transmitted, 0 received, 100% packet loss, time 2051ms

";

    const IPUTILS_TOTAL_LOSS_WITH_ERRORS: &str = "\
PING 10.0.0.99 (10.0.0.99) 56(84) bytes of data.
From 10.0.0.10 icmp_seq=1 Destination Host Unreachable
From 10.0.0.10 icmp_seq=2 Destination Host Unreachable
From 10.0.0.10 icmp_seq=3 Destination Host Unreachable

--- 10.0.0.99 ping statistics ---
3 packets transmitted, 0 received, +3 errors, 100% packet loss, time 2047ms
pipe 3
";

    const BUSYBOX_SUCCESS: &str = "\
PING 10.1.0.10 (10.1.0.10): 56 data bytes
64 bytes from 10.1.0.10: seq=0 ttl=127 time=0.069 ms
64 bytes from 10.1.0.10: seq=1 ttl=127 time=0.091 ms
64 bytes from 10.1.0.10: seq=2 ttl=127 time=0.078 ms

--- 10.1.0.10 ping statistics ---
3 packets transmitted, 3 packets received, 0% packet loss
round-trip min/avg/max = 0.069/0.079/0.091 ms
";

    const BUSYBOX_TOTAL_LOSS: &str = "\
PING 10.2.0.10 (10.2.0.10): 56 data bytes

--- 10.2.0.10 ping statistics ---
3 packets transmitted, 0 packets received, 100% packet loss
";

    #[test]
    fn iputils_success() {
        assert_eq!(
            parse_ping_output(IPUTILS_SUCCESS).unwrap(),
            PingSummary {
                transmitted: 3,
                received: 3,
                loss_percent: 0.0,
                rtt_avg_ms: Some(0.462),
            }
        );
    }

    #[test]
    fn iputils_partial_loss() {
        let summary = parse_ping_output(IPUTILS_PARTIAL_LOSS).unwrap();
        assert_eq!((summary.transmitted, summary.received), (3, 2));
        assert!((summary.loss_percent - 33.3333).abs() < 1e-9);
        assert_eq!(summary.rtt_avg_ms, Some(1.0));
    }

    #[test]
    fn iputils_total_loss_is_a_summary_without_rtt() {
        for output in [IPUTILS_TOTAL_LOSS, IPUTILS_TOTAL_LOSS_WITH_ERRORS] {
            assert_eq!(
                parse_ping_output(output).unwrap(),
                PingSummary {
                    transmitted: 3,
                    received: 0,
                    loss_percent: 100.0,
                    rtt_avg_ms: None,
                }
            );
        }
    }

    #[test]
    fn busybox_formats() {
        assert_eq!(
            parse_ping_output(BUSYBOX_SUCCESS).unwrap(),
            PingSummary {
                transmitted: 3,
                received: 3,
                loss_percent: 0.0,
                rtt_avg_ms: Some(0.079),
            }
        );
        let lost = parse_ping_output(BUSYBOX_TOTAL_LOSS).unwrap();
        assert_eq!(
            (lost.received, lost.loss_percent, lost.rtt_avg_ms),
            (0, 100.0, None)
        );
    }

    #[test]
    fn duplicates_do_not_confuse_the_counts() {
        let output =
            "3 packets transmitted, 3 received, +1 duplicates, 0% packet loss, time 2002ms\n";
        let summary = parse_ping_output(output).unwrap();
        assert_eq!((summary.transmitted, summary.received), (3, 3));
    }

    #[test]
    fn unknown_host_in_every_resolver_wording() {
        let cases = [
            ("ping: unknown host test-b.internal\n", "test-b.internal"),
            (
                "ping: test-b.internal: Name or service not known\n",
                "test-b.internal",
            ),
            (
                "ping: test-b.internal: Temporary failure in name resolution\n",
                "test-b.internal",
            ),
            (
                "ping: test-b.internal: No address associated with hostname\n",
                "test-b.internal",
            ),
            ("ping: bad address 'test-b.internal'\n", "test-b.internal"),
        ];
        for (output, host) in cases {
            let err = parse_ping_output(output).unwrap_err();
            assert_eq!(
                err,
                PingError::UnknownHost {
                    host: host.to_string()
                },
                "{output}"
            );
            assert!(
                err.to_string()
                    .contains("could not resolve host \"test-b.internal\"")
            );
        }
    }

    #[test]
    fn network_unreachable() {
        for output in [
            "connect: Network is unreachable\n",
            "ping: connect: Network is unreachable\n",
            "PING 10.2.0.10 (10.2.0.10): 56 data bytes\nping: sendto: Network is unreachable\n",
        ] {
            assert_eq!(
                parse_ping_output(output).unwrap_err(),
                PingError::NetworkUnreachable
            );
        }
    }

    #[test]
    fn truncated_or_garbage_output_has_no_summary() {
        let truncated = "PING 10.1.0.10 (10.1.0.10) 56(84) bytes of data.\n\
                         64 bytes from 10.1.0.10: icmp_seq=1 ttl=127 time=0.512 ms\n";
        assert_eq!(
            parse_ping_output(truncated).unwrap_err(),
            PingError::NoSummary {
                last_line: "64 bytes from 10.1.0.10: icmp_seq=1 ttl=127 time=0.512 ms".into()
            }
        );
        let missing = parse_ping_output("sh: 1: ping: not found\n").unwrap_err();
        assert!(missing.to_string().contains("ping: not found"), "{missing}");
        assert_eq!(
            parse_ping_output("").unwrap_err().to_string(),
            "ping printed nothing (did the command run?)"
        );
        let mangled = "3 packets transmitted, lots received, 0% packet loss\n";
        assert!(matches!(
            parse_ping_output(mangled),
            Err(PingError::NoSummary { .. })
        ));
    }

    #[test]
    fn ping_parameters_are_the_documents() {
        assert_eq!(
            ping_parameters("10.1.0.10", 3, 2).unwrap(),
            [
                ("TargetIp", "10.1.0.10".to_string()),
                ("Count", "3".to_string()),
                ("TimeoutSeconds", "2".to_string()),
            ]
        );
    }

    #[test]
    fn ping_parameters_refuse_anything_but_an_ipv4_address() {
        for target in [
            "10.1.0.10; rm -rf /",
            "$(reboot)",
            "10.1.0.10 ",
            "test-b.internal",
            "::1",
            "",
        ] {
            let err = ping_parameters(target, 3, 2).unwrap_err();
            assert!(
                err.to_string().contains("not an IPv4 address"),
                "{target}: {err}"
            );
        }
    }

    #[test]
    fn ping_parameters_refuse_values_the_document_refuses() {
        assert!(ping_parameters("10.1.0.10", 0, 2).is_err());
        assert!(ping_parameters("10.1.0.10", 101, 2).is_err());
        assert!(ping_parameters("10.1.0.10", 3, 0).is_err());
        assert!(ping_parameters("10.1.0.10", 3, 61).is_err());
        assert!(ping_parameters("10.1.0.10", 100, 60).is_ok());
    }
}
