//! The integration tests: one binary, so the AWS SDK is linked once and one local AWS (the
//! emulator, tests/emulator) serves every test. The fixture (`common`) resets it before each test
//! that uses it, and those tests take turns; tests that need no AWS run alongside.
//!
//! `cargo test --test it -- <module>::` runs one module.

mod common;

/// Environment-agnostic cloud assemblies deployed to the caller's account and region; stack
/// selection as `cdk deploy` selects (ids, patterns, dependencies, `--exclusively`).
mod agnostic;
/// Cloud assemblies and stage-file assets: publishing, multipart uploads, oversized templates.
mod assets;
/// Bad input refused before any AWS call: the corpus (tests/corpus) and other broken input.
mod bad_input;
/// Bootstrap next to the real AWS CDK CLI (tests/cdk): upgrades without loss, refusals, both
/// CLIs deploying on each other's bootstrap.
mod bootstrap;
/// Nested assemblies (CDK Pipelines stages), stacks without resources, legacy-synthesizer stacks
/// and their assets, and assemblies refused with every problem before any AWS call.
mod cdk_assembly;
/// The CDK conformance corpus (tests/fixtures/cdk-corpus): assemblies of a current aws-cdk-lib
/// deployed as `cdk deploy` deploys them, or refused offline for a documented reason.
mod cdk_corpus;
/// Credentials as CI hands them over: CodeBuild container credentials, GitHub OIDC.
mod ci_credentials;
/// action.yml run as a GitHub runner runs it.
mod ci_github;
/// action.yml's install steps run as a runner runs them, with `cargo` and `gh` replaced by
/// recorders: reinstall on a version mismatch, no credentials in the install, checksums.
mod ci_install;
/// The GitHub roles of docs/ci.md (read from it): a pull-request role that can only diff, at the
/// template level through the lookup roles, and a deploy role only production can assume.
mod ci_roles;
/// Throttling, expiring sessions, Ctrl-C, concurrent runs, outages, a missing staging bucket.
mod faults;
/// Untrusted text (stage files, templates, outputs, failure reasons) never becomes a workflow
/// command, in any mode.
mod injection;
/// Least privilege of the bootstrap roles, on the emulator's IAM: the deploy role of account B,
/// assumed from account A, does its job and is refused what is dangerous next to it (Parameter
/// Store, PassRole, the ping document and its instance tag).
mod least_privilege;
/// The reference pipeline end to end: deploy, re-run, trust failures, rollback, diff, destroy.
mod pipeline;
/// Termination protection settled on every deploy and honoured by destroy; SSM-typed parameters
/// never skipped as unchanged.
mod protection;
/// Stuck stacks brought back: UPDATE_ROLLBACK_FAILED (`rollback --skip`), `deploy --no-rollback`
/// and RollbackStack, DELETE_FAILED (`destroy --retain`), stacks another operation is changing.
mod recovery;
/// Role ARNs named by a cloud assembly are used for every call made for its stack.
mod roles;
/// No credential in anything pipeline-run prints or writes.
mod secrets;
/// `Fn::GetStackOutput` between stages of two accounts: implied order, redeploy on a new output
/// value, a refused stack-ref role.
mod stack_refs;
/// Before the first stage: SIGTERM during the identity check, the profile's endpoint URL, a role
/// profile's AssumeRole failures named.
mod startup;
/// Network verification: static analysis and pings through SSM.
mod verify_network;
