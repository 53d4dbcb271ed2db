//! A stack's `environment` (`aws://ACCOUNT/REGION`, either part possibly `unknown-…`: left to
//! the run, as `cdk deploy` takes them from the credentials and the configuration), classified
//! by the model, and the `${AWS::AccountId}`, `${AWS::Region}` and `${AWS::Partition}`
//! placeholders it gives values to.

use std::path::Path;

use anyhow::bail;

use crate::model::env::{EnvError, StackEnv, fill_placeholders};

/// The environment of stack `stack_id`, or why pipeline-run cannot deploy it there.
pub(super) fn parse(
    manifest_path: &Path,
    stack_id: &str,
    environment: Option<&str>,
) -> anyhow::Result<StackEnv> {
    let file = manifest_path.display();
    let Some(environment) = environment else {
        bail!(
            "{file}: stack '{stack_id}' has no \"environment\"; synthesize again with `cdk synth`"
        );
    };
    match StackEnv::parse_url(environment) {
        Ok(StackEnv {
            account: Some(account),
            ..
        }) if is_documentation_example(&account) => bail!(
            "{file}: stack '{stack_id}' has account {account}, an example account id of the AWS documentation that is nobody's account; set env.account on the stack to the account to deploy to (or leave env out to deploy to the account of the credentials), and synthesize again"
        ),
        Ok(env) => Ok(env),
        // (`StackEnv` reads `unknown-account` / `unknown-region` as left to the run: never Agnostic.)
        Err(EnvError::NotAnEnvironment | EnvError::NoRegion | EnvError::Agnostic) => bail!(
            "{file}: stack '{stack_id}' has environment \"{environment}\", expected aws://ACCOUNT/REGION; synthesize again with `cdk synth`"
        ),
        Err(EnvError::Account(account)) => bail!(
            "{file}: stack '{stack_id}' has account \"{account}\" in environment \"{environment}\", which is not a 12-digit AWS account id; set env.account on the stack to the account id"
        ),
        Err(EnvError::Region(region)) => bail!(
            "{file}: stack '{stack_id}' has region \"{region}\" in environment \"{environment}\", which is not an AWS region name; set env.region on the stack"
        ),
    }
}

/// The account ids the AWS documentation uses in its examples (no one deploys there: an app
/// that names one was copied from an example and never given its own account).
const DOCUMENTATION_ACCOUNTS: [&str; 4] = [
    "123456789012",
    "111122223333",
    "444455556666",
    "777788889999",
];

fn is_documentation_example(account: &str) -> bool {
    DOCUMENTATION_ACCOUNTS.contains(&account)
}

/// The substitution the CDK CLI and cdk-assets perform (`model::env::fill_placeholders`); a part
/// given as None (left to the run) keeps its placeholder until the run resolves it.
pub(super) fn substitute(value: &str, account: Option<&str>, region: Option<&str>) -> String {
    fill_placeholders(value, account, region)
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
        let agnostic = parse(
            Path::new("m.json"),
            "App",
            Some("aws://unknown-account/unknown-region"),
        )
        .unwrap();
        assert!(agnostic.account.is_none() && agnostic.region.is_none());
        assert!(refusal(Some("aws://1234/unknown-region")).contains("has account \"1234\""));
        for example in ["123456789012", "111122223333"] {
            let error = refusal(Some(&format!("aws://{example}/eu-west-1")));
            assert!(
                error.contains("an example account id of the AWS documentation"),
                "{error}"
            );
            assert!(error.contains("stack 'App'"), "{error}");
        }
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
                Some("1"),
                Some("cn-north-1")
            ),
            "arn:aws-cn:s3:::b-1-cn-north-1"
        );
    }
}
