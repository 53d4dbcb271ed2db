//! Assets: `package` hashes and zips them (no AWS), `publish` uploads them like cdk-assets.

pub(crate) mod legacy;
pub(crate) mod package;
pub(crate) mod publish;

pub(crate) use publish::{AssetCounts, publish_assets, publish_template, template_url_from};
