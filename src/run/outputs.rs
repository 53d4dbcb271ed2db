//! Outputs published as SSM parameters in the stage's account (`SecureString` for secret ones).

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Result;

use aws_sdk_ssm::types::ParameterType;

use crate::aws::errors::describe_sdk_error;
use crate::error::{ExitKind, fail};
use crate::model::plan::Stage;
use crate::run::context::Context;
use crate::run::secrets::is_secret_output;

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
        if current
            .as_ref()
            .is_some_and(|p| p.value() == Some(value.as_str()) && p.r#type() == Some(&kind))
        {
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
