//! Problems found in a stage file: each names the file, line, stage, field and fix, and all of
//! them are reported at once.

use std::fmt;
use std::path::PathBuf;

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
pub(crate) struct Problems(pub Vec<Problem>);

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
