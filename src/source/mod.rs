//! Sources of a plan: a stage file (`stagefile` read raw, then `validate`d) or a CDK cloud
//! assembly (`cdk`). Both produce the same validated `model::plan::Plan`, before any AWS call.

pub(crate) mod cdk;
pub(crate) mod limits;
pub(crate) mod stagefile;
pub(crate) mod template;
pub(crate) mod validate;
