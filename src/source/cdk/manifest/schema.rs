//! The cloud assembly schema versions pipeline-run reads.

use std::path::Path;

use anyhow::anyhow;
use serde::Deserialize;

use super::parse_json;

/// Oldest cloud assembly schema major read by pipeline-run. Nothing older has
/// been tried, so older assemblies are refused rather than guessed at.
const OLDEST_SCHEMA_MAJOR: u64 = 17;

/// Newest cloud assembly schema major pipeline-run has been checked against (aws-cdk-lib 2.276
/// writes 55.0.0). The schema major is bumped on every schema change, additive ones included, so
/// a newer assembly is read with the fields of this one: it is accepted with a warning, and a
/// field pipeline-run does not know is refused by name (`fields`).
pub(super) const NEWEST_SCHEMA_MAJOR: u64 = 55;

/// Only the version: read before the rest, which may not match an unsupported schema.
#[derive(Deserialize)]
struct VersionOnly {
    version: Option<String>,
}

/// The schema version of a manifest or asset manifest file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SchemaVersion {
    pub(super) text: String,
    pub(super) major: u64,
}

impl SchemaVersion {
    /// Newer than pipeline-run knows: unknown fields must be looked for.
    pub(super) fn is_newer(&self) -> bool {
        self.major > NEWEST_SCHEMA_MAJOR
    }

    /// The warning for a newer version, naming it.
    pub(super) fn warning(&self, file: &Path) -> Option<String> {
        self.is_newer().then(|| {
            format!(
                "{}: cloud assembly schema version {} is newer than this pipeline-run knows ({NEWEST_SCHEMA_MAJOR}.x); it is read with the fields of {NEWEST_SCHEMA_MAJOR}.x, and a field it does not know is refused",
                file.display(),
                self.text
            )
        })
    }
}

/// The schema version of a manifest or asset manifest file; one older than pipeline-run reads
/// is refused.
pub(super) fn check_version(file: &Path, text: &str) -> anyhow::Result<SchemaVersion> {
    let version = parse_json::<VersionOnly>(file, text)?
        .version
        .ok_or_else(|| {
            anyhow!(
                "{}: no \"version\" field, so this is not a cloud assembly file written by `cdk synth`",
                file.display()
            )
        })?;
    let major = version
        .split('.')
        .next()
        .and_then(|major| major.parse::<u64>().ok())
        .ok_or_else(|| {
            anyhow!(
                "{}: cloud assembly schema version \"{version}\" is not of the form MAJOR.MINOR.PATCH; synthesize again with `cdk synth`",
                file.display()
            )
        })?;
    if major < OLDEST_SCHEMA_MAJOR {
        return Err(anyhow!(
            "{}: cloud assembly schema version {version} is older than this pipeline-run supports ({OLDEST_SCHEMA_MAJOR}.x to {NEWEST_SCHEMA_MAJOR}.x, and newer with a warning); synthesize with a newer aws-cdk-lib",
            file.display()
        ));
    }
    Ok(SchemaVersion {
        text: version,
        major,
    })
}
