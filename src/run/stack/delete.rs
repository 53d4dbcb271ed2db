//! Deleting a stack and waiting until it is gone; a deletion that fails names the resources it
//! could not delete (`recovery::stuck`).

use anyhow::Result;
use aws_sdk_cloudformation::Client;

use super::events::{event_ids, new_events, show_events};
use super::{deploy_error, describe, recovery, status_of};
use crate::aws::errors::describe_sdk_error;
use crate::poll::Backoff;
use crate::progress::StageProgress;

/// Deletes a stack and waits until it is gone, streaming its events.
pub(crate) async fn delete(cfn: &Client, name: &str, progress: &StageProgress) -> Result<()> {
    delete_retaining(cfn, name, &[], None, progress).await
}

/// Deletes a stack keeping the resources named in `retain` (RetainResources: only for a stack in
/// DELETE_FAILED), and waits until it is gone. A DELETE_FAILED end lists the resources not
/// deleted, with the fix for the `stage` named.
pub(crate) async fn delete_retaining(
    cfn: &Client,
    name: &str,
    retain: &[String],
    stage: Option<&str>,
    progress: &StageProgress,
) -> Result<()> {
    let mut seen = event_ids(cfn, name).await;
    cfn.delete_stack()
        .stack_name(name)
        .set_retain_resources((!retain.is_empty()).then(|| retain.to_vec()))
        .send()
        .await
        .map_err(|e| {
            deploy_error(format!(
                "cannot delete stack {name}: {}",
                describe_sdk_error(&e)
            ))
        })?;
    let mut backoff = Backoff::cloudformation();
    loop {
        if let Ok(events) = new_events(cfn, name, &mut seen).await {
            show_events(&events, progress, &mut Vec::new());
        }
        match describe(cfn, name).await? {
            None => return Ok(()),
            Some(stack) => {
                let status = status_of(&stack);
                if status == "DELETE_FAILED" {
                    return Err(recovery::stuck(cfn, name, stage, &status).await);
                }
            }
        }
        backoff.wait().await;
    }
}
