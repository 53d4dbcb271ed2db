//! Every problem of a cloud assembly, collected while it is read so that all of them are reported
//! at once (as the problems of a stage file are), and the warnings about what was accepted.

use std::fmt;
use std::path::{Path, PathBuf};

/// What reading an assembly found: problems (each one line, naming the file, the artifact and
/// the fix) and warnings.
#[derive(Debug, Default)]
pub(crate) struct Found {
    pub(crate) problems: Vec<String>,
    pub(crate) warnings: Vec<String>,
}

impl Found {
    pub(crate) fn problem(&mut self, problem: impl fmt::Display) {
        let text = problem.to_string();
        if !self.problems.contains(&text) {
            self.problems.push(text);
        }
    }

    /// An anyhow error with its causes, as one problem.
    pub(crate) fn error(&mut self, error: &anyhow::Error) {
        self.problem(format!("{error:#}"));
    }

    pub(crate) fn warn(&mut self, warning: String) {
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    /// `value` when no problem was found, else every problem.
    pub(crate) fn finish<T>(
        self,
        directory: &Path,
        value: T,
    ) -> Result<(T, Vec<String>), AssemblyProblems> {
        if self.problems.is_empty() {
            Ok((value, self.warnings))
        } else {
            Err(self.into_problems(directory))
        }
    }

    /// The problems found, as the error of an assembly that could not be read.
    pub(crate) fn into_problems(self, directory: &Path) -> AssemblyProblems {
        AssemblyProblems {
            directory: directory.to_path_buf(),
            problems: self.problems,
            warnings: self.warnings,
        }
    }

    /// Keeps the value of `result`, or records its error.
    pub(crate) fn keep<T>(&mut self, result: anyhow::Result<T>) -> Option<T> {
        result.map_err(|e| self.error(&e)).ok()
    }
}

/// All problems of a cloud assembly; nothing was deployed.
#[derive(Debug)]
pub(crate) struct AssemblyProblems {
    pub(crate) directory: PathBuf,
    pub(crate) problems: Vec<String>,
    /// Shown after the problems: they may explain them (a newer schema).
    pub(crate) warnings: Vec<String>,
}

impl fmt::Display for AssemblyProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "the cloud assembly {} has {n} problem{}; nothing was deployed:",
            self.directory.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n- {p}")?;
        }
        for w in &self.warnings {
            write!(f, "\nwarning: {w}")?;
        }
        Ok(())
    }
}

impl std::error::Error for AssemblyProblems {}
