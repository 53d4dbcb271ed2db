//! Deleting a stack and waiting until it is gone.

use anyhow::Result;
use aws_sdk_cloudformation::Client;

use super::events::{event_ids, new_events, show_events};
use super::{deploy_error, describe, status_of};
use crate::aws::errors::describe_sdk_error;
use crate::poll::Backoff;
use crate::progress::StageProgress;

/// Deletes a stack and waits until it is gone, streaming its events.
pub(crate) async fn delete(cfn: &Client, name: &str, progress: &StageProgress) -> Result<()> {
    let mut seen = event_ids(cfn, name).await;
    cfn.delete_stack()
        .stack_name(name)
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
                    return Err(deploy_error(format!(
                        "stack {name} could not be deleted (DELETE_FAILED): {}\n  see: aws cloudformation describe-stack-events --stack-name {name}",
                        stack.stack_status_reason().unwrap_or("no reason given")
                    )));
                }
            }
        }
        backoff.wait().await;
    }
}
