//! A stack's `environment` (`aws://ACCOUNT/REGION`), classified by the model, and the
//! `${AWS::AccountId}`, `${AWS::Region}` and `${AWS::Partition}` placeholders it gives values
//! to.

use std::path::Path;

use anyhow::bail;

use crate::model::env::{EnvError, Environment, partition};

/// The environment of stack `stack_id`, or why pipeline-run cannot deploy it there.
pub(super) fn parse(
    manifest_path: &Path,
    stack_id: &str,
    environment: Option<&str>,
) -> anyhow::Result<Environment> {
    let file = manifest_path.display();
    let Some(environment) = environment else {
        bail!(
            "{file}: stack '{stack_id}' has no \"environment\"; synthesize again with `cdk synth`"
        );
    };
    match Environment::parse_url(environment) {
        Ok(env) => Ok(env),
        Err(EnvError::NotAnEnvironment | EnvError::NoRegion) => bail!(
            "{file}: stack '{stack_id}' has environment \"{environment}\", expected aws://ACCOUNT/REGION; synthesize again with `cdk synth`"
        ),
        Err(EnvError::Agnostic) => bail!(
            "{file}: stack '{stack_id}' is environment-agnostic ({environment}), but pipeline-run deploys each stack into a fixed account and region: set env on the stack, e.g. `new Stack(app, '{stack_id}', {{ env: {{ account: '111111111111', region: 'ap-northeast-1' }} }})`, and synthesize again"
        ),
        Err(EnvError::Account(account)) => bail!(
            "{file}: stack '{stack_id}' has account \"{account}\" in environment \"{environment}\", which is not a 12-digit AWS account id; set env.account on the stack to the account id"
        ),
        Err(EnvError::Region(region)) => bail!(
            "{file}: stack '{stack_id}' has region \"{region}\" in environment \"{environment}\", which is not an AWS region name; set env.region on the stack"
        ),
    }
}

/// The substitution the CDK CLI and cdk-assets perform, with the partition derived from the
/// region instead of from the caller's credentials. `region` may be any text an asset
/// destination names.
pub(super) fn substitute(value: &str, account: &str, region: &str) -> String {
    value
        .replace("${AWS::AccountId}", account)
        .replace("${AWS::Region}", region)
        .replace("${AWS::Partition}", partition(region))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(environment: Option<&str>) -> String {
        parse(Path::new("cdk.out/manifest.json"), "App", environment)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn environments_are_classified_by_the_model_with_the_manifest_wording() {
        let env = parse(
            Path::new("m.json"),
            "App",
            Some("aws://111111111111/eu-west-1"),
        )
        .unwrap();
        assert_eq!(env.to_string(), "aws://111111111111/eu-west-1");
        assert!(refusal(None).contains("stack 'App' has no \"environment\""));
        for not_a_url in ["aws://111111111111", "111111111111/eu-west-1"] {
            assert!(refusal(Some(not_a_url)).contains("expected aws://ACCOUNT/REGION"));
        }
        assert!(
            refusal(Some("aws://unknown-account/unknown-region")).contains("environment-agnostic")
        );
        assert!(
            refusal(Some("aws://1234/eu-west-1"))
                .contains("has account \"1234\" in environment \"aws://1234/eu-west-1\"")
        );
        assert!(
            refusal(Some("aws://111111111111/EU_1")).contains("has region \"EU_1\" in environment")
        );
        // Region-like text that is no region name is refused the same way, naming the file.
        assert!(
            refusal(Some("aws://111111111111/eu-1"))
                .starts_with("cdk.out/manifest.json: stack 'App' has region \"eu-1\"")
        );
    }

    #[test]
    fn placeholders_take_the_partition_of_the_region() {
        assert_eq!(
            substitute(
                "arn:${AWS::Partition}:s3:::b-${AWS::AccountId}-${AWS::Region}",
                "1",
                "cn-north-1"
            ),
            "arn:aws-cn:s3:::b-1-cn-north-1"
        );
    }
}
