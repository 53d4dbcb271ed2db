//! Redeploying a stage whose `Fn::GetStackOutput` values changed. CloudFormation resolves the
//! function only when it creates or updates the stack (a weak reference), so a template that did
//! not change would be skipped as "no changes" while the output it reads has a new value. The
//! values the stage's references read now (from the outputs of earlier stages of the run, or
//! DescribeStacks through the producer's lookup role) are fingerprinted into the stack tag
//! `pipeline-run:stack-refs`: a new value changes the tag, so the skip rule (same template,
//! parameters and tags) no longer holds, and the update CloudFormation then runs re-resolves the
//! references. A tag rather than template Metadata: AWS documents that a resource's Metadata
//! cannot be updated by itself, and a template-level Metadata change touches no resource, while
//! new stack tags are an update CloudFormation performs on their own. The tag shows a hash only.

use std::collections::BTreeSet;

use anyhow::Result;
use sha2::{Digest, Sha256};

use crate::error::{ExitKind, fail_fix};
use crate::model::plan::Stage;
use crate::run::context::Context;

/// The stack tag that holds the fingerprint.
pub(crate) const TAG: &str = "pipeline-run:stack-refs";

/// The fingerprint of the values the stage's references to stages of the plan read now; None
/// when it reads none (its tags stay as the stage sets them).
pub(crate) async fn fingerprint(ctx: &Context, stage: &Stage) -> Result<Option<String>> {
    let mut read = BTreeSet::new();
    for r in &stage.stack_refs {
        let (Some(j), Some(output)) = (r.stage, &r.output) else {
            continue;
        };
        let producer = &ctx.plan.stages[j];
        let outputs = ctx.outputs_of(producer).await?;
        let Some(value) = outputs.get(output) else {
            return Err(fail_fix(
                ExitKind::Deploy,
                format!(
                    "stage {} reads output {output} of stage {} (Fn::GetStackOutput in {}), but stack {} in {} has no such output",
                    stage.name, producer.name, r.location, producer.stack_name, producer.env
                ),
                format!("deploy stage {} with that output first", producer.name),
            ));
        };
        read.insert((producer.name.as_str(), output.as_str(), value.clone()));
    }
    Ok((!read.is_empty()).then(|| digest(&read)))
}

/// `sha256:` and the first 32 hex digits of the SHA-256 of the (stage, output, value) triples:
/// it shows that something changed, never the values.
fn digest(read: &BTreeSet<(&str, &str, String)>) -> String {
    let mut hasher = Sha256::new();
    for (stage, output, value) in read {
        for part in [*stage, *output, value.as_str()] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
    }
    let hex: String = hasher.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_changes_with_any_value_and_hides_them() {
        let one = |v: &str| {
            let mut s = BTreeSet::new();
            s.insert(("A", "Url", v.to_string()));
            s.insert(("B", "Id", "x".to_string()));
            digest(&s)
        };
        assert_eq!(one("v1"), one("v1"));
        assert_ne!(one("v1"), one("v2"));
        assert!(one("secret-value").starts_with("sha256:"));
        assert!(!one("secret-value").contains("secret"));
        assert_eq!(one("v1").len(), "sha256:".len() + 32);
    }
}
