//! Progress for people and for CI logs. On a terminal: one indicatif line per stage (phase,
//! resources done/total, elapsed). Elsewhere: one plain, timestamped line per event. Under GitHub
//! Actions: the same lines, with each stage's details folded into a `::group::` when it ends and
//! failures raised as `::error` annotations.
//!
//! Everything goes to stderr; stdout is reserved for machine-readable output.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Terminal,
    Plain,
    GitHub,
}

impl Mode {
    /// Bars only on a terminal with colour allowed; GitHub's conventions when it runs us.
    pub(crate) fn detect() -> Mode {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Mode::choose(
            var("GITHUB_ACTIONS").as_deref(),
            std::io::stderr().is_terminal(),
            var("NO_COLOR").is_some(),
            var("TERM").as_deref(),
        )
    }

    /// `NO_COLOR` (https://no-color.org) set to anything non-empty turns colour and bars off.
    fn choose(
        github_actions: Option<&str>,
        stderr_is_tty: bool,
        no_color: bool,
        term: Option<&str>,
    ) -> Mode {
        if github_actions == Some("true") {
            Mode::GitHub
        } else if stderr_is_tty && !no_color && term != Some("dumb") {
            Mode::Terminal
        } else {
            Mode::Plain
        }
    }
}

pub(crate) struct Reporter {
    mode: Mode,
    verbose: bool,
    started: Instant,
    multi: Option<MultiProgress>,
    /// GitHub mode: per-stage detail lines, printed inside a group when the stage ends.
    buffered: Mutex<HashMap<String, Vec<String>>>,
    out: Mutex<()>,
    /// Error annotations emitted so far: the run's closing error is not annotated a second time.
    annotated: AtomicUsize,
    /// Values masked so far: each is masked once.
    masked: Mutex<HashSet<String>>,
}

impl Reporter {
    pub(crate) fn new(mode: Mode, verbose: bool) -> Arc<Reporter> {
        let multi = (mode == Mode::Terminal)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Arc::new(Reporter {
            mode,
            verbose,
            started: Instant::now(),
            multi,
            buffered: Mutex::new(HashMap::new()),
            out: Mutex::new(()),
            annotated: AtomicUsize::new(0),
            masked: Mutex::new(HashSet::new()),
        })
    }

    fn emit(&self, line: &str) {
        let _guard = self.out.lock().unwrap();
        let line = safe_lines(line);
        match &self.multi {
            Some(m) => {
                let _ = m.println(line);
            }
            None => {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(
                    err,
                    "[{:>7.2}s] {line}",
                    self.started.elapsed().as_secs_f64()
                );
            }
        }
    }

    pub(crate) fn info(&self, msg: &str) {
        self.emit(msg);
    }

    pub(crate) fn warn(&self, msg: &str) {
        if self.mode == Mode::GitHub {
            self.raw(&format!("::warning::{}", escape_data(msg)));
        } else {
            self.emit(&format!("warning: {msg}"));
        }
    }

    /// An error annotation (GitHub) or an error line; `file`/`line` point into the stage file.
    pub(crate) fn error(&self, msg: &str, file: Option<&str>, line: Option<usize>) {
        if self.mode == Mode::GitHub {
            let mut props = Vec::new();
            if let Some(f) = file {
                props.push(format!("file={}", escape_property(&annotation_path(f))));
            }
            if let Some(l) = line {
                props.push(format!("line={l}"));
            }
            props.push("title=pipeline-run".to_string());
            self.annotated.fetch_add(1, Ordering::SeqCst);
            self.raw(&format!(
                "::error {}::{}",
                props.join(","),
                escape_data(msg)
            ));
        } else {
            self.emit(&format!("error: {msg}"));
        }
    }

    /// The error that ends the run. Under GitHub, when the problems were already annotated one
    /// by one (each with its file and line), it is logged as a line instead of a second,
    /// less precise annotation.
    pub(crate) fn fatal(&self, msg: &str) {
        if self.mode == Mode::GitHub && self.annotated.load(Ordering::SeqCst) > 0 {
            let _guard = self.out.lock().unwrap();
            let mut err = std::io::stderr().lock();
            for l in safe_lines(msg).split('\n') {
                let _ = writeln!(err, "error: {l}");
            }
        } else {
            self.error(msg, None, None);
        }
    }

    /// Hides a value from GitHub's logs from now on. Each line of a multi-line value is also
    /// masked on its own, because the runner matches masks line by line.
    pub(crate) fn mask(&self, value: &str) {
        if self.mode != Mode::GitHub || !self.masked.lock().unwrap().insert(value.to_string()) {
            return;
        }
        let mut parts = vec![value];
        if value.contains('\n') {
            parts.extend(value.lines().map(str::trim).filter(|l| l.len() > 2));
        }
        for p in parts.into_iter().filter(|p| !p.is_empty()) {
            self.raw(&format!("::add-mask::{}", escape_data(p)));
        }
    }

    fn raw(&self, line: &str) {
        let _guard = self.out.lock().unwrap();
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }

    /// Prints, each in its group, the buffered GitHub-mode lines of stages that never finished
    /// (interrupted or timed out): called when a run ends, so no stage's detail is lost.
    pub(crate) fn flush_unfinished(&self) {
        let pending: Vec<(String, Vec<String>)> = self.buffered.lock().unwrap().drain().collect();
        if pending.is_empty() {
            return;
        }
        let mut pending = pending;
        pending.sort();
        let _guard = self.out.lock().unwrap();
        let mut err = std::io::stderr().lock();
        for (name, lines) in pending {
            let title = format!("{name} — did not finish");
            let _ = writeln!(err, "::group::{}", escape_data(&title));
            for l in lines {
                let _ = writeln!(err, "{}", safe_lines(&l));
            }
            let _ = writeln!(err, "::endgroup::");
        }
    }

    pub(crate) fn stage(self: &Arc<Self>, name: &str, detail: &str) -> StageProgress {
        let bar = self.multi.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new(0));
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner:.cyan} {prefix:<22.bold} {msg:<38} {pos:>3}/{len:<3} {elapsed:>4}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(name.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let progress = StageProgress {
            reporter: self.clone(),
            name: name.to_string(),
            bar,
            started: Instant::now(),
        };
        progress.status_line(&format!("started ({detail})"));
        progress
    }
}

pub(crate) struct StageProgress {
    reporter: Arc<Reporter>,
    name: String,
    bar: Option<ProgressBar>,
    started: Instant,
}

impl StageProgress {
    /// A line that always shows, outside any group.
    fn status_line(&self, msg: &str) {
        if self.bar.is_none() {
            self.reporter.emit(&format!("{}: {msg}", self.name));
        }
    }

    /// Detail: shown live in plain mode, folded into the stage's group under GitHub.
    pub(crate) fn line(&self, msg: &str) {
        match self.reporter.mode {
            Mode::GitHub => {
                let stamp = format!(
                    "[{:>7.2}s] {msg}",
                    self.reporter.started.elapsed().as_secs_f64()
                );
                self.reporter
                    .buffered
                    .lock()
                    .unwrap()
                    .entry(self.name.clone())
                    .or_default()
                    .push(stamp);
            }
            Mode::Plain => self.reporter.emit(&format!("{}: {msg}", self.name)),
            Mode::Terminal => {
                if self.reporter.verbose {
                    self.reporter.emit(&format!("  {}: {msg}", self.name));
                }
            }
        }
    }

    pub(crate) fn phase(&self, phase: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(phase.to_string()),
            None => self.line(phase),
        }
    }

    pub(crate) fn set_total(&self, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    pub(crate) fn resource_event(
        &self,
        logical: &str,
        resource_type: &str,
        status: &str,
        reason: &str,
        is_stack: bool,
    ) {
        if !is_stack
            && (status.ends_with("_COMPLETE") || status.ends_with("_FAILED"))
            && let Some(bar) = &self.bar
        {
            bar.inc(1);
        }
        let reason = if reason.is_empty() {
            String::new()
        } else {
            format!(" — {}", one_line(reason))
        };
        if status.ends_with("_FAILED") && self.bar.is_some() {
            self.reporter
                .emit(&format!("  {}: {logical} {status}{reason}", self.name));
        }
        self.line(&format!("{status:<28} {logical} {resource_type}{reason}"));
    }

    /// Ends the stage's line (and its GitHub group) with a summary.
    pub(crate) fn finish(&self, summary: &str, ok: bool) {
        let elapsed = self.started.elapsed().as_secs_f64();
        if let Some(bar) = &self.bar {
            let mark = if ok { "✔" } else { "✘" };
            bar.set_style(
                ProgressStyle::with_template("{prefix:<24.bold} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.finish_with_message(format!("{mark} {summary} ({elapsed:.1}s)"));
            return;
        }
        if self.reporter.mode == Mode::GitHub {
            let lines = self
                .reporter
                .buffered
                .lock()
                .unwrap()
                .remove(&self.name)
                .unwrap_or_default();
            let _guard = self.reporter.out.lock().unwrap();
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "::group::{}",
                escape_data(&format!("{} — {summary} ({elapsed:.1}s)", self.name))
            );
            for l in lines {
                let _ = writeln!(err, "{}", safe_lines(&l));
            }
            let _ = writeln!(err, "::endgroup::");
            return;
        }
        self.status_line(&format!("{summary} ({elapsed:.1}s)"));
    }
}

/// Asks on the terminal; without one, refuses (CI must say `--require-approval never`).
pub(crate) async fn confirm(question: &str) -> bool {
    static PROMPT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one_at_a_time = PROMPT.lock().await;
    if !std::io::stdin().is_terminal() {
        let question = safe_lines(question);
        eprintln!(
            "{question} no terminal to ask on: refusing (use --require-approval never in CI)"
        );
        return false;
    }
    let q = safe_lines(question).into_owned();
    tokio::task::spawn_blocking(move || {
        eprint!("{q} [y/N] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).is_ok()
            && matches!(answer.trim(), "y" | "Y" | "yes")
    })
    .await
    .unwrap_or(false)
}

/// GitHub workflow-command data escaping (%, CR, LF); the other line breaks and control
/// characters (which the runner's unescaping does not know) shown as [`one_line`] shows them.
pub(crate) fn escape_data(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c => match visible(c) {
                Some(v) => out.push_str(&v),
                None => out.push(c),
            },
        }
    }
    out
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// GitHub resolves an annotation's `file` against the repository root: a stage file named
/// relative to a `working-directory`, or absolutely, is rewritten relative to `GITHUB_WORKSPACE`.
fn annotation_path(file: &str) -> String {
    let Some(workspace) = std::env::var_os("GITHUB_WORKSPACE").filter(|w| !w.is_empty()) else {
        return file.to_string();
    };
    let (Ok(abs), Ok(root)) = (
        std::fs::canonicalize(file),
        std::fs::canonicalize(std::path::Path::new(&workspace)),
    ) else {
        return file.to_string();
    };
    match abs.strip_prefix(&root) {
        Ok(rel) => rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
        Err(_) => file.to_string(),
    }
}

/// How a character that ends a line, or moves the cursor, is shown inside one line of our
/// output. The GitHub runner reads a step's stdout and stderr with .NET's
/// `StreamReader.ReadLine` (actions/runner, `src/Runner.Sdk/ProcessInvoker.cs`,
/// `StartReadStream`), which ends a line at `\n`, `\r` and `\r\n`; terminals, editors and log
/// viewers also break at vertical tab, form feed, NEL (U+0085) and the Unicode line and paragraph
/// separators (U+2028, U+2029). Every other control character (ESC of terminal escapes among
/// them) is shown as its code point too.
fn visible(c: char) -> Option<String> {
    match c {
        '\n' => Some("\\n".into()),
        '\r' => Some("\\r".into()),
        '\t' => None,
        c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
            Some(format!("\\u{{{:04x}}}", c as u32))
        }
        _ => None,
    }
}

/// Untrusted text (a name, value or reason from a file, a template, AWS or an output) made one
/// line: every line break and control character shown as a visible escape.
pub(crate) fn one_line(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| visible(c).is_some()) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match visible(c) {
            Some(v) => out.push_str(&v),
            None => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The runner reads a line as a workflow command when, trimmed, it starts with `::`
/// (`::add-mask::`, `::stop-commands::`…).
fn looks_like_command(line: &str) -> bool {
    line.trim_start().starts_with("::")
}

/// The last step of everything printed to stdout or stderr, in every mode: `\n` stays the only
/// line break (every other break and control character is made visible, see [`visible`]), and
/// a line that would start with `::` gets a visible `| ` in front. Our own workflow commands
/// are written by `Reporter::raw`, with their data escaped by [`escape_data`].
pub(crate) fn safe_lines(text: &str) -> Cow<'_, str> {
    let needs = text.chars().any(|c| c != '\n' && visible(c).is_some())
        || text.split('\n').any(looks_like_command);
    if !needs {
        return Cow::Borrowed(text);
    }
    let lines: Vec<String> = text
        .split('\n')
        .map(|l| {
            let l = one_line(l);
            if looks_like_command(&l) {
                format!("| {l}")
            } else {
                l.into_owned()
            }
        })
        .collect();
    Cow::Owned(lines.join("\n"))
}

/// Text for stdout (`list`, `plan`, `diff`), through [`safe_lines`].
pub(crate) fn print_out(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{}", safe_lines(text));
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_command_values_are_escaped() {
        assert_eq!(escape_data("a%b\nc"), "a%25b%0Ac");
        assert_eq!(escape_data("a\r\u{2028}::x"), "a%0D\\u{2028}::x");
        assert_eq!(escape_property("x:y,z"), "x%3Ay%2Cz");
    }

    #[test]
    fn bars_and_colour_only_on_a_terminal_without_no_color() {
        assert_eq!(
            Mode::choose(None, true, false, Some("xterm")),
            Mode::Terminal
        );
        assert_eq!(Mode::choose(None, true, true, Some("xterm")), Mode::Plain);
        assert_eq!(Mode::choose(None, true, false, Some("dumb")), Mode::Plain);
        assert_eq!(Mode::choose(None, false, false, Some("xterm")), Mode::Plain);
        // GitHub's log is not a terminal even when a runner allocates one.
        assert_eq!(Mode::choose(Some("true"), true, false, None), Mode::GitHub);
        assert_eq!(Mode::choose(Some("false"), false, false, None), Mode::Plain);
    }

    #[test]
    fn lines_that_look_like_workflow_commands_are_neutralised() {
        assert_eq!(safe_lines("::add-mask::x"), "| ::add-mask::x");
        assert_eq!(
            safe_lines("reason:\n  ::error::x"),
            "reason:\n|   ::error::x"
        );
        assert_eq!(safe_lines("CREATE_COMPLETE a::b"), "CREATE_COMPLETE a::b");
        assert!(matches!(safe_lines("plain\ntext"), Cow::Borrowed(_)));
    }

    /// Split the way the runner splits (`\n`, `\r`, `\r\n`), and the way viewers also split.
    fn runner_lines(text: &str) -> Vec<&str> {
        text.split([
            '\n', '\r', '\u{2028}', '\u{2029}', '\u{85}', '\u{b}', '\u{c}',
        ])
        .collect()
    }

    #[test]
    fn no_line_break_a_runner_honours_survives_in_untrusted_text() {
        for attack in [
            "x\r::stop-commands::tok",
            "x\u{2028}::add-mask::",
            "x\n::error::boom",
            "x\r\n  ::warning::w",
            "x\u{85}::add-mask::",
            "x\u{2029}\u{b}\u{c}::group::g",
        ] {
            let safe = safe_lines(attack);
            for l in runner_lines(&safe) {
                assert!(!looks_like_command(l), "{attack:?} gave line {l:?}");
            }
            let one = one_line(attack);
            assert_eq!(runner_lines(&one).len(), 1, "{attack:?} -> {one:?}");
        }
        assert_eq!(one_line("a\rb\u{2028}c\nd"), "a\\rb\\u{2028}c\\nd");
        assert_eq!(one_line("esc\u{1b}[31m"), "esc\\u{001b}[31m");
        assert_eq!(one_line("tab\tok"), "tab\tok");
    }
}
