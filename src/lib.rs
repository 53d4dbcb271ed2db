//! pipeline-run: deploy an ordered, multi-account CloudFormation stage file from CI.
//!
//! Data flow: stage file (`stagefile`) → validated plan (`plan`, `template`) → credentials per
//! account and role (`aws`) → assets (`assets`) → change sets (`stack`, scheduled by `deploy`) →
//! outputs → verification (`verify`) → report (`report`, `progress`).

pub mod app;
pub mod assembly;
pub mod assets;
pub mod aws;
pub mod bootstrap;
pub mod ci;
pub mod cidr;
pub mod cli;
pub mod commands;
pub mod deploy;
pub mod error;
pub mod peering;
pub mod plan;
pub mod poll;
pub mod progress;
pub mod report;
pub mod stack;
pub mod stagefile;
pub mod template;
pub mod verify;
