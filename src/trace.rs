//! `-vv`: the AWS SDK's own tracing on stderr, for "why was I denied" debugging: every request
//! the SDK sends (service, operation, URL, headers), every response (status, headers, the error
//! body with AWS's message), the identity each request was signed with, retries and endpoints.
//!
//! Nothing is installed below `-vv`, so a default run stays quiet whatever `RUST_LOG` says (a
//! runner's environment may set it for other tools). At `-vv`, `RUST_LOG`, when set, replaces the
//! default filter ([`DEFAULT_FILTER`]); `-vvv` traces every crate.
//!
//! Every line goes through one writer that redacts credentials before anything reaches stderr:
//! by structure (the values of header, query, form, JSON, XML and Debug fields whose names end in
//! `token`, `secret`, `signature`, `credential`, `authorization`, `password`, `assertion`,
//! `secretaccesskey`…) and by value (the secrets in the environment, and every value once
//! redacted by structure, wherever it shows up again). Each event is one line: line breaks a
//! runner honours (`\r`, `\n`, NEL, the Unicode line and paragraph separators) are written as
//! visible escapes, and a line starts with its timestamp, so no trace line is a workflow command.

use std::io::{self, Write};
use std::sync::{Mutex, OnceLock};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// The SDK's request-level view: the orchestrator's requests and responses (trace), credential
/// providers, signing and endpoints (debug), and pipeline-run's own events.
const DEFAULT_FILTER: &str = "warn,pipeline_run=debug,aws_config=debug,aws_credential_types=debug,aws_sigv4=debug,aws_smithy_runtime=debug,aws_smithy_runtime::client::orchestrator=trace,aws_sdk_sts=debug,aws_sdk_cloudformation=debug,aws_sdk_s3=debug,aws_sdk_ssm=debug,aws_sdk_ec2=debug";

/// What replaces a secret.
const REDACTED: &str = "** redacted **";

/// Field names (lower case, compared with the end of a name) whose values are secret.
const SECRET_NAME_ENDINGS: &[&str] = &[
    "token",
    "secret",
    "secretkey",
    "secretaccesskey",
    "secret_access_key",
    "signature",
    "credential",
    "authorization",
    "password",
    "assertion",
];

/// Environment variables holding a secret (or, for `_FILE`, a file holding one).
const SECRET_ENV: &[&str] = &[
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
];

/// Values shorter than this are never redacted by value (too likely to be ordinary text).
const MIN_KNOWN_LEN: usize = 12;

/// Secret values seen so far: from the environment, and every value redacted by structure.
fn known() -> &'static Mutex<Vec<String>> {
    static KNOWN: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    KNOWN.get_or_init(|| Mutex::new(Vec::new()))
}

fn remember(value: &str) {
    let value = value.trim();
    if value.len() < MIN_KNOWN_LEN || value.contains(REDACTED) {
        return;
    }
    let mut known = known().lock().unwrap_or_else(|e| e.into_inner());
    if !known.iter().any(|k| k == value) {
        known.push(value.to_string());
    }
}

/// Installs the redacting subscriber when `verbosity` (the count of `-v`) is 2 or more.
pub fn init(verbosity: u8) {
    if verbosity < 2 {
        return;
    }
    for name in SECRET_ENV {
        let Some(value) = std::env::var_os(name) else {
            continue;
        };
        if name.ends_with("_FILE") {
            if let Ok(text) = std::fs::read_to_string(&value) {
                remember(&text);
            }
        } else {
            remember(&value.to_string_lossy());
        }
    }
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => directives,
        _ if verbosity >= 3 => "trace".to_string(),
        _ => DEFAULT_FILTER.to_string(),
    };
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|e| {
        eprintln!("warning: RUST_LOG {filter:?} is not a tracing filter ({e}); using the default");
        EnvFilter::new(DEFAULT_FILTER)
    });
    // The orchestrator's dump of its runtime components (~45 KB a call) says nothing about a
    // request: left out.
    let no_dumps = filter_fn(|meta| meta.fields().field("runtime_components").is_none());
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(Redacting)
        .with_filter(filter)
        .with_filter(no_dumps);
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// Hands the subscriber one [`Line`] per event.
struct Redacting;

impl<'a> MakeWriter<'a> for Redacting {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line(Vec::new())
    }
}

/// One formatted event, written to stderr redacted and as one line when dropped.
struct Line(Vec<u8>);

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.0);
        let mut line = one_line(&redact(&text));
        line.push('\n');
        let _ = io::stderr().lock().write_all(line.as_bytes());
    }
}

/// `text` with its secrets replaced: by structure first (which learns the values), then by value.
pub(crate) fn redact(text: &str) -> String {
    let structured = redact_fields(text);
    let known = known().lock().unwrap_or_else(|e| e.into_inner());
    let mut out = structured;
    for value in known.iter() {
        if out.contains(value.as_str()) {
            out = out.replace(value.as_str(), REDACTED);
        }
    }
    out
}

/// The event as one line: trailing breaks dropped, inner ones shown as escapes.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.trim_end_matches(['\n', '\r']).chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{b}' | '\u{c}' => {
                out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_NAME_ENDINGS.iter().any(|end| lower.ends_with(end))
}

/// Redacts the value after every secret-named field: `name=v`, `name: v`, `"name": "v"`,
/// `\"name\":\"v\"` (JSON inside a Debug-printed body), `name: Some("v")` and `<Name>v</Name>`.
fn redact_fields(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if !is_name_byte(b[i]) || (i > 0 && is_name_byte(b[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && is_name_byte(b[i]) {
            i += 1;
        }
        if !secret_name(&text[start..i]) {
            continue;
        }
        let xml = start > 0 && b[start - 1] == b'<' && b.get(i) == Some(&b'>');
        let value = if xml {
            Some((i + 1, find_from(b, i + 1, b"<").unwrap_or(b.len())))
        } else {
            value_after_separator(b, i)
        };
        let Some((from, to)) = value else {
            continue;
        };
        if from == to || text[from..to].starts_with("**") {
            i = to.max(i);
            continue;
        }
        remember(&text[from..to]);
        out.push_str(&text[copied..from]);
        out.push_str(REDACTED);
        copied = to;
        i = to;
    }
    out.push_str(&text[copied..]);
    out
}

fn find_from(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn skip_spaces(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    i
}

/// After a name ending at `i`: an optional closing quote (`"` or `\"`), spaces, `=` or `:`, spaces,
/// an optional `Some(`, then the value: quoted (to its closing quote) or bare (to a delimiter).
/// The byte range of the value.
fn value_after_separator(b: &[u8], mut i: usize) -> Option<(usize, usize)> {
    if b[i..].starts_with(b"\\\"") {
        i += 2;
    } else if b.get(i) == Some(&b'"') {
        i += 1;
    }
    i = skip_spaces(b, i);
    if !matches!(b.get(i), Some(b'=') | Some(b':')) {
        return None;
    }
    i = skip_spaces(b, i + 1);
    if b[i..].starts_with(b"Some(") {
        i += 5;
    }
    if b[i..].starts_with(b"\\\"") {
        let from = i + 2;
        return Some((from, find_from(b, from, b"\\\"").unwrap_or(b.len())));
    }
    if b.get(i) == Some(&b'"') {
        let from = i + 1;
        let mut j = from;
        while j < b.len() && b[j] != b'"' {
            j += if b[j] == b'\\' { 2 } else { 1 };
        }
        return Some((from, j.min(b.len())));
    }
    let mut j = i;
    while j < b.len() && !b" \t&,;)}<\"\\".contains(&b[j]) {
        j += 1;
    }
    Some((i, j))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_query_form_json_xml_and_debug_fields_are_redacted() {
        let cases = [
            (
                r#"headers: {"authorization": "AWS4-HMAC-SHA256 Credential=AKIAX/2026, Signature=abc123"}"#,
                "abc123",
            ),
            (
                "GET /?X-Amz-Signature=deadbeef99&X-Amz-Credential=AKIAX%2F2026&x=1",
                "deadbeef99",
            ),
            (
                "b\"Action=AssumeRoleWithWebIdentity&WebIdentityToken=eyJhbGciOi.payload.sig&Version=2011\"",
                "eyJhbGciOi.payload.sig",
            ),
            (
                r#"b"{\"roleCredentials\":{\"secretAccessKey\":\"sso-secret-value\",\"sessionToken\":\"sso-token-value\"}}""#,
                "sso-secret-value",
            ),
            (
                "<Credentials><SessionToken>FQoGZXIvYXdzEBYaDtoken</SessionToken><SecretAccessKey>wJalrXUtnFEMI/K7MDENG</SecretAccessKey></Credentials>",
                "wJalrXUtnFEMI/K7MDENG",
            ),
            (
                r#"Credentials { secret_access_key: Some("plain-secret-123"), session_token: "tok-456" }"#,
                "plain-secret-123",
            ),
            (
                "aws_secret_access_key = fromTheProfile0001",
                "fromTheProfile0001",
            ),
            (
                "\"x-amz-security-token\": \"IQoJb3JpZ2luX2Vj\"",
                "IQoJb3JpZ2luX2Vj",
            ),
        ];
        for (text, secret) in cases {
            let out = redact(text);
            assert!(!out.contains(secret), "{text}\n→ {out}");
            assert!(out.contains(REDACTED), "{out}");
        }
        let xml = redact("<SessionToken>FQoGZXIvYXdzEBYaDtoken</SessionToken>");
        assert_eq!(xml, "<SessionToken>** redacted **</SessionToken>");
    }

    #[test]
    fn a_value_redacted_once_is_redacted_wherever_it_shows_up_again() {
        redact("<SecretAccessKey>learnedSecretValue0042</SecretAccessKey>");
        let out = redact("some Debug output without a name: learnedSecretValue0042.");
        assert_eq!(out, "some Debug output without a name: ** redacted **.");
    }

    #[test]
    fn ordinary_fields_are_kept() {
        let text = r#"uri: "https://sts.ap-northeast-1.amazonaws.com/", "x-amz-date": "20261201T000000Z", access_key_id: "AKIAPIPELINECI111111", StackName=app"#;
        assert_eq!(redact(text), text);
        // already redacted by the SDK: left as it is
        let sdk = r#""authorization": "** redacted (length=200) **""#;
        assert_eq!(redact(sdk), sdk);
    }

    #[test]
    fn every_event_is_one_line_that_starts_where_the_formatter_started_it() {
        let line = one_line(
            "2026-12-01T00:00:00Z DEBUG x: reason\r::stop-commands::tok\n::add-mask::s\u{2028}y\u{85}z\n",
        );
        assert!(!line.contains(['\r', '\n', '\u{2028}', '\u{85}']), "{line}");
        assert!(line.starts_with("2026-12-01T00:00:00Z DEBUG"), "{line}");
        assert!(line.contains("\\r::stop-commands::"), "{line}");
    }
}
