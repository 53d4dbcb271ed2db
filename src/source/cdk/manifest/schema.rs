//! The cloud assembly schema versions pipeline-run reads.

use std::path::Path;

use anyhow::{anyhow, bail};
use serde::Deserialize;

use super::parse_json;

/// Oldest cloud assembly schema major read by pipeline-run. Nothing older has
/// been tried, so older assemblies are refused rather than guessed at.
const OLDEST_SCHEMA_MAJOR: u64 = 17;

/// Newest cloud assembly schema major pipeline-run has been checked against.
/// The schema major is bumped on every schema change, even additive ones, so
/// a newer one may carry fields that change how a stack must be deployed.
const NEWEST_SCHEMA_MAJOR: u64 = 54;

/// Only the version: read before the rest, which may not match an unsupported schema.
#[derive(Deserialize)]
struct VersionOnly {
    version: Option<String>,
}

/// The schema version of a manifest or asset manifest file must be one pipeline-run knows.
pub(super) fn check_version(file: &Path, text: &str) -> anyhow::Result<()> {
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
    let supported = format!("{OLDEST_SCHEMA_MAJOR}.x to {NEWEST_SCHEMA_MAJOR}.x");
    if major > NEWEST_SCHEMA_MAJOR {
        bail!(
            "{}: cloud assembly schema version {version} is newer than this pipeline-run supports ({supported}); upgrade pipeline-run or synthesize with an older CDK",
            file.display()
        );
    }
    if major < OLDEST_SCHEMA_MAJOR {
        bail!(
            "{}: cloud assembly schema version {version} is older than this pipeline-run supports ({supported}); synthesize with a newer aws-cdk-lib",
            file.display()
        );
    }
    Ok(())
}
