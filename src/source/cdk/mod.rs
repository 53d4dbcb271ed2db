//! A CDK cloud assembly (`cdk.out`) as a source: `manifest` reads and checks the assembly,
//! `stages` turns its stacks into plan stages.

pub(crate) mod manifest;
pub(crate) mod stages;
