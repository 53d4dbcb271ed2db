//! The toolkit stack already in an environment, and what a bootstrap over it may do: refuse a
//! downgrade or another variant (as `cdk bootstrap` does, `--force` overrides), keep every
//! parameter it is not told to change (`UsePreviousValue`), union the trusted accounts, keep
//! termination protection.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use aws_sdk_cloudformation::types::Stack;

use super::BootstrapOptions;
use crate::error::{ExitKind, fail_fix};
use crate::model::env::Environment;
use crate::run::stack::status_of;

/// The bootstrap version of pipeline-run's template (the CDK's numbering: version 33 of
/// aws-cdk's template has the same features).
pub(crate) const VERSION: u32 = 33;
/// pipeline-run's revision of its template at [`VERSION`]; a stack made by the CDK has none (0).
pub(crate) const REVISION: u32 = 2;
/// The variant the CDK CLI writes, and the one pipeline-run's template keeps so that either tool
/// may update the other's bootstrap.
pub(crate) const CDK_DEFAULT_VARIANT: &str = "AWS CDK: Default Resources";

const VERSION_OUTPUT: &str = "BootstrapVersion";
const REVISION_OUTPUT: &str = "PipelineRunBootstrapRevision";
const VARIANT_PARAMETER: &str = "BootstrapVariant";

/// What the existing toolkit stack holds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Existing {
    /// The BootstrapVersion output; None when the stack has none (then the SSM parameter tells).
    pub(crate) version: Option<u32>,
    pub(crate) revision: u32,
    pub(crate) variant: String,
    pub(crate) parameters: BTreeMap<String, String>,
    pub(crate) termination_protection: bool,
    /// The stack never came into being (a failed first creation, or only reviewed): it is created
    /// again, so no parameter has a previous value CloudFormation could reuse.
    pub(crate) recreated: bool,
}

impl Existing {
    pub(crate) fn of(stack: &Stack) -> Existing {
        let output = |key: &str| {
            stack
                .outputs()
                .iter()
                .find(|o| o.output_key() == Some(key))
                .and_then(|o| o.output_value())
                .and_then(|v| v.trim().parse::<u32>().ok())
        };
        let parameters: BTreeMap<String, String> = stack
            .parameters()
            .iter()
            .filter_map(|p| {
                Some((
                    p.parameter_key()?.to_string(),
                    p.parameter_value().unwrap_or_default().to_string(),
                ))
            })
            .collect();
        Existing {
            version: output(VERSION_OUTPUT),
            revision: output(REVISION_OUTPUT).unwrap_or(0),
            variant: parameters
                .get(VARIANT_PARAMETER)
                .cloned()
                .unwrap_or_else(|| CDK_DEFAULT_VARIANT.to_string()),
            termination_protection: stack.enable_termination_protection().unwrap_or(false),
            recreated: matches!(
                status_of(stack).as_str(),
                "REVIEW_IN_PROGRESS" | "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" | "CREATE_FAILED"
            ),
            parameters,
        }
    }
}

/// Refuses (exit code 5, nothing changed) to replace a bootstrap of a higher version, of the same
/// version by a newer pipeline-run, or of another variant — unless `force`. `version` is the
/// existing stack's (its output, else its SSM parameter; 0 when neither tells).
pub(crate) fn check_upgrade(
    existing: &Existing,
    version: u32,
    env: &Environment,
    stack_name: &str,
    force: bool,
) -> Result<()> {
    if force {
        return Ok(());
    }
    let refuse = |what: String, fix: String| {
        Err(fail_fix(
            ExitKind::Credentials,
            format!("bootstrap of {env} refused: {what}; nothing was changed"),
            fix,
        ))
    };
    if existing.variant != CDK_DEFAULT_VARIANT {
        return refuse(
            format!(
                "stack {stack_name} holds the bootstrap variant '{}' (version {version}), not '{CDK_DEFAULT_VARIANT}': a customized template pipeline-run would overwrite",
                existing.variant
            ),
            "bootstrap it with the tool that made it, or pass --force to replace it with pipeline-run's template".into(),
        );
    }
    if version > VERSION {
        return refuse(
            format!(
                "stack {stack_name} is at bootstrap version {version}, newer than pipeline-run's {VERSION} (variant '{}')",
                existing.variant
            ),
            format!(
                "use a pipeline-run whose template is at version {version} or later (or keep the stack as it is: deploys accept it), or pass --force to downgrade it to version {VERSION}"
            ),
        );
    }
    if version == VERSION && existing.revision > REVISION {
        return refuse(
            format!(
                "stack {stack_name} holds pipeline-run's bootstrap template revision {} at version {version}, newer than this pipeline-run's revision {REVISION}",
                existing.revision
            ),
            "use the newer pipeline-run that made it, or pass --force to replace it with this revision".into(),
        );
    }
    Ok(())
}

/// The parameters of a toolkit deployment: the values to pass, and the keys to keep with
/// `UsePreviousValue`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ToolkitParameters {
    pub(crate) values: BTreeMap<String, String>,
    pub(crate) keep: BTreeSet<String>,
}

/// Like `cdk bootstrap`: passes only what the command line changes — trusted accounts (added to
/// those trusted before, never dropped), execution policies, qualifier — and keeps every other
/// parameter the existing stack has (custom names, KMS key, permissions boundary, DenyExternalId,
/// …); parameters the existing stack lacks get the template's defaults, except the KMS key, which
/// is the S3-managed key unless the stack already names one (the CDK CLI's default). `declared`:
/// the parameters of the template deployed.
pub(crate) fn toolkit_parameters(
    opts: &BootstrapOptions,
    env: &Environment,
    existing: Option<&Existing>,
    declared: &BTreeSet<String>,
) -> Result<ToolkitParameters> {
    let none = BTreeMap::new();
    let previous = existing.map(|e| &e.parameters).unwrap_or(&none);
    let previous_list = |key: &str| previous.get(key).map(|v| split_list(v)).unwrap_or_default();
    let mut values = BTreeMap::new();

    let trust = union(previous_list("TrustedAccounts"), &opts.trust);
    if !opts.trust.is_empty() {
        values.insert("TrustedAccounts".to_string(), trust.join(","));
    }
    if !opts.trust_for_lookup.is_empty() {
        let lookup = union(
            previous_list("TrustedAccountsForLookup"),
            &opts.trust_for_lookup,
        );
        values.insert("TrustedAccountsForLookup".to_string(), lookup.join(","));
    }
    if !opts.trust_for_stack_refs.is_empty() {
        let refs = union(
            previous_list("TrustedAccountsForStackRefs"),
            &opts.trust_for_stack_refs,
        );
        values.insert("TrustedAccountsForStackRefs".to_string(), refs.join(","));
    }
    let policies = if opts.execution_policies.is_empty() {
        previous_list("CloudFormationExecutionPolicies")
    } else {
        values.insert(
            "CloudFormationExecutionPolicies".to_string(),
            opts.execution_policies.join(","),
        );
        opts.execution_policies.clone()
    };
    if !trust.is_empty() && policies.is_empty() {
        return Err(fail_fix(
            ExitKind::Validation,
            format!(
                "--cloudformation-execution-policies is required with --trust: say what CloudFormation may do in {env} on behalf of the trusted accounts"
            ),
            format!(
                "add --cloudformation-execution-policies arn:{}:iam::aws:policy/AdministratorAccess (or a narrower policy)",
                env.partition()
            ),
        ));
    }
    if previous.get("Qualifier") != Some(&opts.qualifier) {
        values.insert("Qualifier".to_string(), opts.qualifier.clone());
    }
    if !previous.contains_key("FileAssetsBucketKmsKeyId") {
        values.insert(
            "FileAssetsBucketKmsKeyId".to_string(),
            "AWS_MANAGED_KEY".to_string(),
        );
    }
    let mut keep: BTreeSet<String> = previous
        .keys()
        .filter(|k| declared.contains(*k) && !values.contains_key(*k))
        .cloned()
        .collect();
    if existing.is_some_and(|e| e.recreated) {
        // Created again: the previous values are passed as values.
        for k in std::mem::take(&mut keep) {
            values.insert(k.clone(), previous[&k].clone());
        }
    }
    Ok(ToolkitParameters { values, keep })
}

/// The parameter names `template` declares.
pub(crate) fn declared_parameters(template: &str) -> BTreeSet<String> {
    serde_yaml::from_str::<serde_yaml::Value>(template)
        .ok()
        .and_then(|doc| {
            doc.get("Parameters").and_then(|p| p.as_mapping()).map(|m| {
                m.keys()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect()
            })
        })
        .unwrap_or_default()
}

pub(crate) fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

pub(crate) fn union(mut a: Vec<String>, b: &[String]) -> Vec<String> {
    for x in b {
        if !a.contains(x) {
            a.push(x.clone());
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::super::TEMPLATE;
    use super::super::tests::opts;
    use super::*;
    use crate::error::kind_of;

    fn env() -> Environment {
        Environment::parse_url("aws://222222222222/ap-northeast-1").unwrap()
    }

    /// A CDK bootstrap with a custom bucket, a customer KMS key, a permissions boundary and
    /// DenyExternalId off.
    fn cdk_stack() -> Existing {
        let params = [
            ("TrustedAccounts", "333333333333"),
            ("TrustedAccountsForLookup", ""),
            (
                "CloudFormationExecutionPolicies",
                "arn:aws:iam::aws:policy/PowerUserAccess",
            ),
            ("FileAssetsBucketName", "my-assets"),
            ("FileAssetsBucketKmsKeyId", "alias/my-key"),
            ("ContainerAssetsRepositoryName", ""),
            ("Qualifier", "hnb659fds"),
            ("PublicAccessBlockConfiguration", "true"),
            ("InputPermissionsBoundary", "my-boundary"),
            ("UseExamplePermissionsBoundary", "false"),
            ("ApplyPermissionsBoundaryToAllRoles", "true"),
            ("BootstrapVariant", CDK_DEFAULT_VARIANT),
            ("DenyExternalId", "false"),
            ("SomeFutureParameter", "x"),
        ];
        Existing {
            version: Some(33),
            revision: 0,
            variant: CDK_DEFAULT_VARIANT.into(),
            parameters: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            termination_protection: true,
            recreated: false,
        }
    }

    fn declared() -> BTreeSet<String> {
        declared_parameters(TEMPLATE)
    }

    #[test]
    fn the_template_declares_every_cdk_parameter() {
        let d = declared();
        for k in cdk_stack().parameters.keys() {
            assert_eq!(d.contains(k), k != "SomeFutureParameter", "{k}");
        }
    }

    #[test]
    fn a_rerun_passes_only_what_it_changes_and_keeps_the_rest() {
        let p = toolkit_parameters(&opts(), &env(), Some(&cdk_stack()), &declared()).unwrap();
        assert_eq!(
            p.values,
            BTreeMap::from([
                (
                    "TrustedAccounts".to_string(),
                    "333333333333,111111111111".to_string()
                ),
                (
                    "CloudFormationExecutionPolicies".to_string(),
                    "arn:aws:iam::aws:policy/AdministratorAccess".to_string()
                ),
            ])
        );
        let keep: Vec<&str> = p.keep.iter().map(String::as_str).collect();
        assert_eq!(
            keep,
            [
                "ApplyPermissionsBoundaryToAllRoles",
                "BootstrapVariant",
                "ContainerAssetsRepositoryName",
                "DenyExternalId",
                "FileAssetsBucketKmsKeyId",
                "FileAssetsBucketName",
                "InputPermissionsBoundary",
                "PublicAccessBlockConfiguration",
                "Qualifier",
                "TrustedAccountsForLookup",
                "UseExamplePermissionsBoundary",
            ],
            "a parameter the template does not declare is not kept"
        );
    }

    #[test]
    fn without_trust_or_policies_the_previous_ones_are_kept() {
        let mut o = opts();
        o.trust.clear();
        o.execution_policies.clear();
        let p = toolkit_parameters(&o, &env(), Some(&cdk_stack()), &declared()).unwrap();
        assert!(p.values.is_empty(), "{:?}", p.values);
        assert!(p.keep.contains("TrustedAccounts"));
        assert!(p.keep.contains("CloudFormationExecutionPolicies"));
        // trust kept from before still needs policies, and has them from before
        let mut bare = cdk_stack();
        bare.parameters
            .insert("CloudFormationExecutionPolicies".into(), String::new());
        let err = toolkit_parameters(&o, &env(), Some(&bare), &declared()).unwrap_err();
        assert_eq!(kind_of(&err), Some(ExitKind::Validation));
    }

    #[test]
    fn a_first_bootstrap_uses_the_s3_managed_key_and_template_defaults() {
        let p = toolkit_parameters(&opts(), &env(), None, &declared()).unwrap();
        assert_eq!(p.values["FileAssetsBucketKmsKeyId"], "AWS_MANAGED_KEY");
        assert_eq!(p.values["Qualifier"], "hnb659fds");
        assert_eq!(p.values["TrustedAccounts"], "111111111111");
        assert!(p.keep.is_empty());
        assert!(!p.values.contains_key("DenyExternalId"));
    }

    #[test]
    fn a_new_qualifier_is_passed_and_a_stack_created_again_gets_values() {
        let mut o = opts();
        o.qualifier = "other".into();
        let mut failed = cdk_stack();
        failed.recreated = true;
        let p = toolkit_parameters(&o, &env(), Some(&failed), &declared()).unwrap();
        assert_eq!(p.values["Qualifier"], "other");
        assert_eq!(p.values["FileAssetsBucketName"], "my-assets");
        assert!(p.keep.is_empty());
    }

    #[test]
    fn downgrades_other_variants_and_newer_revisions_are_refused_unless_forced() {
        let e = env();
        let cdk = cdk_stack();
        assert!(check_upgrade(&cdk, 33, &e, "CDKToolkit", false).is_ok());
        assert!(check_upgrade(&cdk, 21, &e, "CDKToolkit", false).is_ok());
        let err = check_upgrade(&cdk, 99, &e, "CDKToolkit", false).unwrap_err();
        assert_eq!(kind_of(&err), Some(ExitKind::Credentials));
        let msg = format!("{err:#}");
        assert!(msg.contains("aws://222222222222/ap-northeast-1"), "{msg}");
        assert!(msg.contains("version 99"), "{msg}");
        assert!(msg.contains("--force"), "{msg}");
        assert!(check_upgrade(&cdk, 99, &e, "CDKToolkit", true).is_ok());

        let mut newer = cdk_stack();
        newer.revision = REVISION + 1;
        assert!(check_upgrade(&newer, VERSION, &e, "CDKToolkit", false).is_err());
        assert!(check_upgrade(&newer, VERSION - 1, &e, "CDKToolkit", false).is_ok());

        let mut custom = cdk_stack();
        custom.variant = "Acme: hardened".into();
        let msg = format!(
            "{:#}",
            check_upgrade(&custom, 33, &e, "CDKToolkit", false).unwrap_err()
        );
        assert!(msg.contains("'Acme: hardened'"), "{msg}");
        assert!(check_upgrade(&custom, 33, &e, "CDKToolkit", true).is_ok());
    }

    #[test]
    fn the_template_states_the_version_revision_and_variant_of_this_code() {
        let doc: serde_yaml::Value = serde_yaml::from_str(TEMPLATE).unwrap();
        let out = |k: &str| doc["Outputs"][k]["Value"].as_str().unwrap().to_string();
        assert_eq!(out(VERSION_OUTPUT), VERSION.to_string());
        assert_eq!(out(REVISION_OUTPUT), REVISION.to_string());
        assert_eq!(
            doc["Parameters"][VARIANT_PARAMETER]["Default"].as_str(),
            Some(CDK_DEFAULT_VARIANT)
        );
        assert!(TEMPLATE.contains(&format!("      Value: '{VERSION}'\n")));
    }
}
