//! Outputs published as SSM parameters in the stage's account.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Result;

use crate::aws::errors::describe_sdk_error;
use crate::error::{ExitKind, fail};
use crate::model::plan::Stage;
use crate::run::context::Context;

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
        let current = ssm
            .get_parameter()
            .name(name)
            .send()
            .await
            .ok()
            .and_then(|o| o.parameter().and_then(|p| p.value().map(str::to_string)));
        if current.as_deref() == Some(value.as_str()) {
            continue;
        }
        ssm.put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
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
        progress.line(&format!("published {output} as SSM parameter {name}"));
    }
    Ok(())
}
