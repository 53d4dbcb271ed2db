//! Where a stack lives: an AWS account and a region, each validated once when it is built, and
//! the partition the region belongs to.

use std::fmt;
use std::ops::Deref;

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct AccountId(String);

/// An AWS region name (`ap-northeast-1`, `us-gov-west-1`, `cn-north-1`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Region(String);

/// Why a text is not an account id or a region (the caller adds where it came from).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EnvError {
    /// Not `aws://…`.
    NotAnEnvironment,
    /// `aws://ACCOUNT` without `/REGION`.
    NoRegion,
    /// `unknown-account` or `unknown-region` (an environment-agnostic CDK stack).
    Agnostic,
    Account(String),
    Region(String),
}

impl AccountId {
    pub(crate) fn new(id: &str) -> Result<AccountId, EnvError> {
        if is_account_id(id) {
            Ok(AccountId(id.to_string()))
        } else {
            Err(EnvError::Account(id.to_string()))
        }
    }
}

impl Region {
    pub(crate) fn new(name: &str) -> Result<Region, EnvError> {
        if is_region(name) {
            Ok(Region(name.to_string()))
        } else {
            Err(EnvError::Region(name.to_string()))
        }
    }

    /// The partition of the region: `aws-cn` for China, `aws-us-gov` for GovCloud.
    pub(crate) fn partition(&self) -> &'static str {
        partition(&self.0)
    }
}

macro_rules! text_newtype {
    ($t:ty) => {
        impl Deref for $t {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}
text_newtype!(AccountId);
text_newtype!(Region);

/// An account and a region: what `aws://ACCOUNT/REGION` names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Environment {
    pub(crate) account: AccountId,
    pub(crate) region: Region,
}

impl Environment {
    pub(crate) fn new(account: &str, region: &str) -> Result<Environment, EnvError> {
        Ok(Environment {
            account: AccountId::new(account)?,
            region: Region::new(region)?,
        })
    }

    /// The same account in another region (`region` validated by the caller).
    pub(crate) fn in_region(&self, region: Region) -> Environment {
        Environment {
            account: self.account.clone(),
            region,
        }
    }

    /// Parses `aws://ACCOUNT/REGION` (the form `cdk bootstrap` and cloud assemblies use).
    pub(crate) fn parse_url(s: &str) -> Result<Environment, EnvError> {
        let rest = s.strip_prefix("aws://").ok_or(EnvError::NotAnEnvironment)?;
        let (account, region) = rest.split_once('/').ok_or(EnvError::NoRegion)?;
        if account == "unknown-account" || region == "unknown-region" {
            return Err(EnvError::Agnostic);
        }
        Environment::new(account, region)
    }

    pub(crate) fn partition(&self) -> &'static str {
        self.region.partition()
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "aws://{}/{}", self.account, self.region)
    }
}

/// Where a cloud assembly stack deploys: `aws://ACCOUNT/REGION` with either part fixed by the
/// stack, or left to the run (`unknown-account`: the account of the credentials in use,
/// `unknown-region`: the region of the configuration), as `cdk deploy` resolves them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct StackEnv {
    /// None: the account of the credentials in use.
    pub(crate) account: Option<AccountId>,
    /// None: the region of the configuration (`--region`, `AWS_REGION`, the profile).
    pub(crate) region: Option<Region>,
}

/// What the run gives an environment-agnostic stack: the account of the credentials (from their
/// identity check) and the configured region, as far as they are known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RunDefaults {
    pub(crate) account: Option<AccountId>,
    pub(crate) region: Option<Region>,
}

impl StackEnv {
    /// Parses `aws://ACCOUNT/REGION` where either part may be `unknown-account` /
    /// `unknown-region` (what the CDK writes for a stack without `env`).
    pub(crate) fn parse_url(s: &str) -> Result<StackEnv, EnvError> {
        let rest = s.strip_prefix("aws://").ok_or(EnvError::NotAnEnvironment)?;
        let (account, region) = rest.split_once('/').ok_or(EnvError::NoRegion)?;
        Ok(StackEnv {
            account: match account {
                "unknown-account" => None,
                id => Some(AccountId::new(id)?),
            },
            region: match region {
                "unknown-region" => None,
                name => Some(Region::new(name)?),
            },
        })
    }

    /// The environment, when the stack fixes both parts.
    pub(crate) fn pinned(&self) -> Option<Environment> {
        Some(Environment {
            account: self.account.clone()?,
            region: self.region.clone()?,
        })
    }

    /// Whether a part is left to the run.
    pub(crate) fn is_agnostic(&self) -> bool {
        self.account.is_none() || self.region.is_none()
    }

    /// The environment with the run's account and region filling the parts left open; None when
    /// a part is left open that the run does not know.
    pub(crate) fn resolve(&self, defaults: &RunDefaults) -> Option<Environment> {
        Some(Environment {
            account: self.account.clone().or_else(|| defaults.account.clone())?,
            region: self.region.clone().or_else(|| defaults.region.clone())?,
        })
    }

    /// The `${AWS::AccountId}`, `${AWS::Region}` and `${AWS::Partition}` placeholders of `value`
    /// filled with the parts this environment fixes; the others stay for the run to fill.
    pub(crate) fn fill(&self, value: &str) -> String {
        fill_placeholders(value, self.account.as_deref(), self.region.as_deref())
    }
}

impl From<Environment> for StackEnv {
    fn from(env: Environment) -> StackEnv {
        StackEnv {
            account: Some(env.account),
            region: Some(env.region),
        }
    }
}

impl fmt::Display for StackEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let account = self.account.as_deref().unwrap_or("unknown-account");
        let region = self.region.as_deref().unwrap_or("unknown-region");
        write!(f, "aws://{account}/{region}")
    }
}

/// The substitution the CDK CLI and cdk-assets perform on manifest values, with the partition
/// derived from the region instead of from the caller's credentials. A part given as None keeps
/// its placeholder (the partition stays with the region). `region` may be any text an asset
/// destination names.
pub(crate) fn fill_placeholders(
    value: &str,
    account: Option<&str>,
    region: Option<&str>,
) -> String {
    let mut out = value.to_string();
    if let Some(account) = account {
        out = out.replace("${AWS::AccountId}", account);
    }
    if let Some(region) = region {
        out = out
            .replace("${AWS::Region}", region)
            .replace("${AWS::Partition}", partition(region));
    }
    out
}

/// The partition a region name belongs to.
pub(crate) fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

pub(crate) fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

/// partition-area-direction-number, e.g. ap-northeast-1, us-gov-west-1, cn-north-1.
pub(crate) fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
}

/// The AWS regions pipeline-run knows by name (commercial, China, GovCloud, ISO and the
/// European Sovereign Cloud), from the AWS regions list
/// (https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html).
/// A region not listed is only warned about: AWS opens new ones, and emulators accept any name.
pub(crate) const KNOWN_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eusc-de-east-1",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-iso-east-1",
    "us-iso-west-1",
    "us-isob-east-1",
    "us-west-1",
    "us-west-2",
];

/// Whether `region` is one of `KNOWN_REGIONS`.
pub(crate) fn is_known_region(region: &str) -> bool {
    KNOWN_REGIONS.contains(&region)
}

/// The (at most three) known regions nearest to `region` by edit distance, nearest first.
pub(crate) fn closest_regions(region: &str) -> Vec<&'static str> {
    let mut by_distance: Vec<(usize, &'static str)> = KNOWN_REGIONS
        .iter()
        .map(|&known| (edit_distance(region, known), known))
        .collect();
    by_distance.sort();
    by_distance.into_iter().take(3).map(|(_, r)| r).collect()
}

/// Levenshtein distance (insertions, deletions, substitutions), by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_regions_get_the_nearest_known_names() {
        assert!(is_known_region("ap-northeast-1"));
        assert!(!is_known_region("ap-nowhere-9"));
        assert_eq!(closest_regions("ap-northeast-9")[0], "ap-northeast-1");
        assert_eq!(closest_regions("us-esat-1")[0], "us-east-1");
        assert_eq!(closest_regions("eu-west-4").len(), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", "abc"), 0);
        // The list is sorted and without duplicates (it is searched by eye).
        assert!(KNOWN_REGIONS.windows(2).all(|w| w[0] < w[1]));
        assert!(KNOWN_REGIONS.iter().all(|r| is_region(r)));
    }

    #[test]
    fn accounts_and_regions_are_validated_once() {
        assert!(AccountId::new("111111111111").is_ok());
        assert!(AccountId::new("11111111111").is_err());
        assert!(AccountId::new("11111111111a").is_err());
        assert!(Region::new("ap-northeast-1").is_ok());
        assert!(Region::new("us-gov-west-1").is_ok());
        assert!(Region::new("Ap-northeast-1").is_err());
        assert!(Region::new("apnortheast").is_err());
    }

    #[test]
    fn environments_are_parsed_from_aws_urls() {
        let env = Environment::parse_url("aws://222222222222/ap-northeast-1").unwrap();
        assert_eq!(env.account, "222222222222");
        assert_eq!(env.region, "ap-northeast-1");
        assert_eq!(env.to_string(), "aws://222222222222/ap-northeast-1");
        assert_eq!(
            Environment::parse_url("222222222222/ap-northeast-1"),
            Err(EnvError::NotAnEnvironment)
        );
        assert_eq!(
            Environment::parse_url("aws://222222222222"),
            Err(EnvError::NoRegion)
        );
        assert_eq!(
            Environment::parse_url("aws://unknown-account/unknown-region"),
            Err(EnvError::Agnostic)
        );
    }

    #[test]
    fn stack_environments_leave_unknown_parts_to_the_run() {
        let agnostic = StackEnv::parse_url("aws://unknown-account/unknown-region").unwrap();
        assert!(agnostic.is_agnostic() && agnostic.pinned().is_none());
        assert_eq!(agnostic.to_string(), "aws://unknown-account/unknown-region");
        let defaults = RunDefaults {
            account: Some(AccountId::new("111111111111").unwrap()),
            region: Some(Region::new("ap-northeast-1").unwrap()),
        };
        assert_eq!(
            agnostic.resolve(&defaults).unwrap().to_string(),
            "aws://111111111111/ap-northeast-1"
        );
        let no_region = RunDefaults {
            region: None,
            ..defaults.clone()
        };
        assert_eq!(agnostic.resolve(&no_region), None);
        let no_account = RunDefaults {
            account: None,
            ..defaults.clone()
        };
        assert_eq!(agnostic.resolve(&no_account), None);
        // The region fixed, the account of the credentials.
        let us = StackEnv::parse_url("aws://unknown-account/us-east-1").unwrap();
        assert_eq!(
            us.resolve(&no_region).unwrap().to_string(),
            "aws://111111111111/us-east-1"
        );
        // The account fixed, the configured region.
        let fixed = StackEnv::parse_url("aws://333333333333/unknown-region").unwrap();
        assert_eq!(
            fixed.resolve(&defaults).unwrap().to_string(),
            "aws://333333333333/ap-northeast-1"
        );
        let pinned = StackEnv::parse_url("aws://333333333333/eu-west-1").unwrap();
        assert!(!pinned.is_agnostic());
        assert_eq!(
            pinned.pinned().unwrap().to_string(),
            "aws://333333333333/eu-west-1"
        );
        assert_eq!(
            StackEnv::parse_url("aws://1234/unknown-region"),
            Err(EnvError::Account("1234".into()))
        );
        assert_eq!(
            StackEnv::parse_url("aws://unknown-account"),
            Err(EnvError::NoRegion)
        );
    }

    #[test]
    fn placeholders_are_filled_for_the_known_parts_only() {
        let v =
            "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/x-${AWS::AccountId}-${AWS::Region}";
        assert_eq!(
            fill_placeholders(v, None, Some("cn-north-1")),
            "arn:aws-cn:iam::${AWS::AccountId}:role/x-${AWS::AccountId}-cn-north-1"
        );
        assert_eq!(
            fill_placeholders(v, Some("1"), None),
            "arn:${AWS::Partition}:iam::1:role/x-1-${AWS::Region}"
        );
        let us = StackEnv::parse_url("aws://unknown-account/us-east-1").unwrap();
        assert_eq!(
            us.fill(v),
            "arn:aws:iam::${AWS::AccountId}:role/x-${AWS::AccountId}-us-east-1"
        );
    }

    #[test]
    fn partition_follows_the_region_prefix() {
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition("eu-west-1"), "aws");
    }
}
