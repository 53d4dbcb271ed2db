//! Secret outputs and parameters, masked as soon as they are known; outputs published as SSM
//! parameters in the stage's account (`SecureString` for secret ones).

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Result;

use aws_sdk_ssm::types::ParameterType;

use crate::aws::errors::describe_sdk_error;
use crate::error::{ExitKind, fail};
use crate::model::plan::Stage;
use crate::progress::Reporter;
use crate::run::context::Context;

/// Output keys that suggest a secret: masked in the log and never shown in the summary, in
/// addition to the outputs a stage declares under `secret_outputs`.
pub(crate) fn looks_sensitive(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace(['-', '_', '.'], "");
    [
        "secret",
        "password",
        "passwd",
        "token",
        "credential",
        "privatekey",
        "apikey",
        "accesskey",
        "connectionstring",
    ]
    .iter()
    .any(|w| k.contains(w))
}

/// Whether `stage`'s output `name` holds a secret: declared, or named like one.
pub(crate) fn is_secret_output(stage: &Stage, name: &str) -> bool {
    stage.secret_outputs.contains(name) || looks_sensitive(name)
}

/// Masks `stage`'s secret outputs: called as soon as they are read, before anything may print
/// them.
pub(crate) fn mask_secret_outputs(
    reporter: &Reporter,
    stage: &Stage,
    outputs: &BTreeMap<String, String>,
) {
    for (k, v) in outputs {
        if is_secret_output(stage, k) {
            reporter.mask(v);
        }
    }
}

/// Masks the values passed to `stage`'s `NoEcho` parameters, as soon as they are resolved.
pub(crate) fn mask_no_echo_parameters(
    reporter: &Reporter,
    stage: &Stage,
    parameters: &BTreeMap<String, String>,
) {
    for (k, v) in parameters {
        if stage.template.no_echo_parameters.contains(k) {
            reporter.mask(v);
        }
    }
}

pub(crate) async fn publish_outputs(
    ctx: &Arc<Context>,
    stage: &Stage,
    cfg: &aws_config::SdkConfig,
    outputs: &BTreeMap<String, String>,
    progress: &crate::progress::StageProgress,
) -> Result<()> {
    let ssm = ctx.aws.ssm(cfg);
    for (output, name) in &stage.publish_outputs {
        let value = outputs.get(output).ok_or_else(|| {
            fail(
                ExitKind::Deploy,
                format!(
                    "stage {} has no output {output} to publish as {name}",
                    stage.name
                ),
            )
        })?;
        let secret = is_secret_output(stage, output);
        let kind = if secret {
            ParameterType::SecureString
        } else {
            ParameterType::String
        };
        let current = ssm
            .get_parameter()
            .name(name)
            .with_decryption(secret)
            .send()
            .await
            .ok()
            .and_then(|o| o.parameter().cloned());
        if current.as_ref().is_some_and(|p| {
            p.value() == Some(value.as_str()) && p.r#type() == Some(&kind)
        }) {
            continue;
        }
        // SecureString without a key id: the account's AWS managed key `aws/ssm`, whose key
        // policy lets the account's principals use it through Parameter Store.
        ssm.put_parameter()
            .name(name)
            .value(value)
            .r#type(kind)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| {
                fail(
                    ExitKind::Deploy,
                    format!(
                        "cannot publish output {output} as SSM parameter {name}: {}",
                        describe_sdk_error(&e)
                    ),
                )
            })?;
        let how = if secret { " (SecureString)" } else { "" };
        progress.line(&format!("published {output} as SSM parameter {name}{how}"));
    }
    Ok(())
}
