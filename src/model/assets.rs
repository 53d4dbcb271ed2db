//! What a stage publishes before its stack deploys: the asset specs both sources produce, and
//! where a published asset can be found.

use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packaging {
    /// Upload the file as it is.
    File,
    /// Zip the directory deterministically and upload the archive.
    Zip,
}

/// One file or directory to publish before a stage deploys.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AssetSpec {
    /// The stage file's name for it, or the CDK asset's display name (else its id).
    pub(crate) name: String,
    pub(crate) source: PathBuf,
    /// The directory the asset must stay inside, symlinks resolved (the stage file's directory
    /// or its `asset_root`; a cloud assembly's directory): packaging refuses anything that
    /// resolves outside it.
    pub(crate) root: PathBuf,
    pub(crate) packaging: Packaging,
    pub(crate) target: AssetTarget,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AssetTarget {
    /// The staging bucket of the stage's environment under the content hash, through the
    /// environment's file-publishing role (stage-file assets).
    Staging,
    /// Buckets and keys fixed by a cloud assembly's asset manifest.
    Destinations(Vec<Destination>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Destination {
    pub(crate) bucket: String,
    pub(crate) key: String,
    pub(crate) region: String,
    /// Assumed for the upload; None uploads with the base credentials.
    pub(crate) role_arn: Option<String>,
}

/// A legacy-synthesizer asset (`aws:cdk:asset` metadata of a cloud assembly stack): the CDK CLI
/// uploads it to the bucket its environment's toolkit stack outputs (`BucketName`) under
/// `<prefix><file_name>`, and passes bucket, `<prefix>||<file_name>` and the source hash in the
/// template parameters the metadata names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LegacyAsset {
    /// The asset's construct path (its id when the metadata has none).
    pub(crate) name: String,
    pub(crate) source: PathBuf,
    /// The assembly directory, symlinks resolved.
    pub(crate) root: PathBuf,
    pub(crate) packaging: Packaging,
    /// `assets/`, or `assets/<id>/` when the asset id is not its source hash.
    pub(crate) prefix: String,
    /// `<sourceHash>.zip` for a directory, `<sourceHash><extension of the file>` for a file.
    pub(crate) file_name: String,
    pub(crate) source_hash: String,
    pub(crate) bucket_parameter: String,
    pub(crate) key_parameter: String,
    pub(crate) hash_parameter: String,
}

impl LegacyAsset {
    /// The object key the CDK CLI uploads the asset to.
    pub(crate) fn object_key(&self) -> String {
        format!("{}{}", self.prefix, self.file_name)
    }

    /// The template parameters and their values, for the asset published to `bucket`
    /// (`S3VersionKey` is `<prefix>||<file name>`: the templates split it at `||`).
    pub(crate) fn parameters(&self, bucket: &str) -> [(String, String); 3] {
        [
            (self.bucket_parameter.clone(), bucket.to_string()),
            (
                self.key_parameter.clone(),
                format!("{}||{}", self.prefix, self.file_name),
            ),
            (self.hash_parameter.clone(), self.source_hash.clone()),
        ]
    }
}

/// Where a stage-file asset is published, for `${assets.NAME.*}` parameters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AssetLocation {
    pub(crate) bucket: String,
    pub(crate) key: String,
    pub(crate) region: String,
    /// `url`: https, path-style under a custom endpoint.
    pub(crate) url: String,
}

impl AssetLocation {
    pub(crate) fn attribute(&self, attr: &str) -> Option<String> {
        match attr {
            "bucket" => Some(self.bucket.clone()),
            "key" => Some(self.key.clone()),
            "s3_url" => Some(format!("s3://{}/{}", self.bucket, self.key)),
            "url" => Some(self.url.clone()),
            _ => None,
        }
    }
}

/// The attributes `${assets.NAME.ATTR}` may name.
pub(crate) const ASSET_ATTRIBUTES: &[&str] = &["bucket", "key", "s3_url", "url"];
