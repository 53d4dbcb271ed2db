//! Problems found in a stage file: each names the file, line, stage, field and fix, and all of
//! them are reported at once. `Cx` collects them while the passes run, and knows where things
//! are written (`LineIndex`).

use std::fmt;
use std::path::{Path, PathBuf};

use super::lines::LineIndex;

/// One problem in the stage file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Problem {
    pub(crate) file: PathBuf,
    pub(crate) line: Option<usize>,
    pub(crate) stage: Option<String>,
    pub(crate) field: String,
    pub(crate) message: String,
    pub(crate) fix: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": ")?;
        if let Some(stage) = &self.stage {
            write!(f, "stage '{stage}', ")?;
        }
        write!(
            f,
            "field '{}': {}\n  fix: {}",
            self.field, self.message, self.fix
        )
    }
}

/// All problems of a stage file; displayed one after the other.
#[derive(Debug)]
pub(crate) struct Problems(pub(crate) Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "the stage file has {n} problem{}; nothing was deployed:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.0 {
            writeln!(f, "- {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

impl Problems {
    /// The one problem of a file that cannot be validated at all (unreadable, empty, not YAML).
    pub(super) fn one(file: &Path, line: Option<usize>, describe: impl FnOnce(ProblemAt)) -> Self {
        let mut cx = Cx::new(file, "");
        describe(cx.at(line));
        Problems(cx.problems)
    }
}

/// The context of every pass: the file, where its keys are written, the problems so far.
pub(super) struct Cx<'a> {
    file: &'a Path,
    lines: LineIndex,
    problems: Vec<Problem>,
}

impl<'a> Cx<'a> {
    pub(super) fn new(file: &'a Path, text: &str) -> Self {
        Cx {
            file,
            lines: LineIndex::new(text),
            problems: Vec::new(),
        }
    }

    pub(super) fn file(&self) -> &'a Path {
        self.file
    }

    /// Line of the first `key: value` (or `key:` when `value` is None) at or after line `from`.
    pub(super) fn line_of(&self, key: &str, value: Option<&str>, from: usize) -> Option<usize> {
        self.lines.line_of(key, value, from)
    }

    /// Line of the stage's `- name: STAGE`.
    pub(super) fn stage_line(&self, stage: &str) -> Option<usize> {
        self.line_of("name", Some(stage), 1)
    }

    /// Line of `key` within the stage (at or after its name), else of the stage itself.
    pub(super) fn stage_key_line(&self, stage: &str, key: &str) -> Option<usize> {
        let stage_line = self.stage_line(stage);
        self.line_of(key, None, stage_line.unwrap_or(1))
            .or(stage_line)
    }

    /// Starts a problem on `line`; name its stage and field, then `report` it.
    pub(super) fn at(&mut self, line: Option<usize>) -> ProblemAt<'_, 'a> {
        ProblemAt {
            cx: self,
            line,
            stage: None,
            field: String::new(),
        }
    }

    /// Starts a problem of `stage` on the line of `key` within it.
    pub(super) fn in_stage(&mut self, stage: &str, key: &str) -> ProblemAt<'_, 'a> {
        let line = self.stage_key_line(stage, key);
        self.at(line).stage(stage)
    }

    pub(super) fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// `value` if no problem was found, else every problem.
    pub(super) fn finish<T>(self, value: T) -> Result<T, Problems> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(Problems(self.problems))
        }
    }
}

/// A problem being described: where it is, then what it is (`report`).
pub(super) struct ProblemAt<'c, 'a> {
    cx: &'c mut Cx<'a>,
    line: Option<usize>,
    stage: Option<String>,
    field: String,
}

impl ProblemAt<'_, '_> {
    pub(super) fn stage(mut self, stage: &str) -> Self {
        self.stage = Some(stage.to_string());
        self
    }

    pub(super) fn field(mut self, field: impl Into<String>) -> Self {
        self.field = field.into();
        self
    }

    pub(super) fn report(self, message: impl Into<String>, fix: impl Into<String>) {
        self.cx.problems.push(Problem {
            file: self.cx.file.to_path_buf(),
            line: self.line,
            stage: self.stage,
            field: self.field,
            message: message.into(),
            fix: fix.into(),
        });
    }
}
