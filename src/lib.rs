//! pipeline-run: deploy an ordered, multi-account CloudFormation stage file (or a CDK cloud
//! assembly) from CI.
//!
//! Data flow, each module importing only those before it (see ARCHITECTURE.md):
//! `model` (leaf: accounts, regions, roles, naming, the plan) → `source` (stage file or cloud
//! assembly → validated plan) → `aws` (credentials per account and role, typed SDK errors) →
//! `run` (assets, change sets, outputs across accounts, scheduling) → `verify` (network proof) →
//! `report` (typed run report, CI outputs) → `commands` (one file per subcommand).
//! `error`, `progress` and `poll` are shared by all.

pub mod cli;
pub mod commands;
/// `-vv`: the SDK's tracing through a redacting writer, installed by `main`.
pub mod trace;

mod aws;
mod error;
mod model;
mod poll;
mod progress;
mod report;
mod run;
mod source;
mod table;
#[cfg(test)]
mod testutil;
mod verify;

/// Asset packaging (deterministic zips, content hashes), public for the integration tests and
/// the hashing benchmark.
pub mod package {
    pub use crate::model::assets::Packaging;
    pub use crate::run::assets::package::{
        PackagedAsset, ZipCache, package_asset, sha256_file, zip_directory,
    };
}

#[cfg(test)]
mod architecture_tests;
