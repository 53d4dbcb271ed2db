"""Fidelity patches, applied in this order by launcher.py. Each module exposes apply()."""

PATCH_MODULES = [
    # CloudFormation engine (change sets, outputs, exports, rollback, events, async mode)
    "cfn_changesets",
    # CloudFormation: a TemplateURL addressing S3 path-style at the emulator's loopback address
    "cfn_template_url",
    # EC2 / IAM / STS / SSM (associations, SGs, peering, trust, ping, seeded identities)
    "network_identity",
    # IAM: identity, session, boundary and bucket policies evaluated on every request, and for each
    # CloudFormation resource handler step (before faults, which wraps it: throttling and expired
    # sessions answer first, as on AWS)
    "iam_policies",
    # CloudFormation: ContinueUpdateRollback, RollbackStack, rollback triggers, Replacement (after the
    # IAM patch, whose RoleARN check and CreateChangeSet wrappers it builds on)
    "cfn_recovery",
    # CloudFormation: nested stacks (AWS::CloudFormation::Stack) with their own events and failures
    "cfn_nested",
    # CloudFormation: Fn::GetStackOutput resolved when a change set is created, through its RoleArn
    # as IAM decides (after iam_policies: it wraps the IAM-aware execution)
    "cfn_stack_outputs",
    # fault injection (throttling bursts) and expiry of assumed-role sessions
    "faults",
]
