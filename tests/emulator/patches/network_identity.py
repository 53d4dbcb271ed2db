"""EC2 / IAM / STS / SSM fidelity for pipeline-run's local AWS, and the seeded identities.

The fixes live in helper modules (each fix carries a comment naming the AWS behaviour it restores):
  net_resources  CloudFormation: SubnetRouteTableAssociation, Instance.SecurityGroupIds,
                 IAM::Role.ManagedPolicyArns, cross-account VPCPeeringConnection; peering options
  net_trust      trust policies evaluated on sts:AssumeRole(WithWebIdentity)
  net_ping       SSM SendCommand `ping` decided by the emulated network
  ssm_documents  SSM documents: SendCommand validates the document and its parameters, runs the
                 document's shell steps; AWS::SSM::Document content stored as text
This module seeds the identities pipeline-run's tests sign with (see README, "Network and identity").
"""
import copy
import functools
import json
import os
from types import SimpleNamespace

from moto.iam.models import AccessKey, IAMBackend, iam_backends
from moto.moto_api._internal.models import MotoAPIBackend

from . import net_ping, net_resources, net_trust, ssm_documents

ACCOUNT_A, ACCOUNT_B = "111111111111", "222222222222"
ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"

CLOUDFORMATION_READ_ONLY = "arn:aws:iam::aws:policy/AWSCloudFormationReadOnlyAccess"


def _policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


# The CI principal of account A (see README, "Seeded identities"): what pipeline-run needs to deploy
# through the bootstrap roles of every account, to bootstrap its own account (CDKToolkit and the
# cdk-* resources it creates) and to bootstrap member accounts through OrganizationAccountAccessRole,
# plus read access to stacks. Not an administrator.
CI_POLICY = _policy(
    {"Sid": "DeployThroughBootstrapRoles", "Effect": "Allow", "Action": ["sts:AssumeRole", "sts:TagSession"],
     "Resource": ["arn:aws:iam::*:role/cdk-*-deploy-role-*", "arn:aws:iam::*:role/cdk-*-file-publishing-role-*",
                  "arn:aws:iam::*:role/cdk-*-lookup-role-*"]},
    {"Sid": "BootstrapMemberAccounts", "Effect": "Allow", "Action": "sts:AssumeRole",
     "Resource": "arn:aws:iam::*:role/OrganizationAccountAccessRole"},
    {"Sid": "BootstrapStack", "Effect": "Allow", "Action": "cloudformation:*",
     "Resource": f"arn:aws:cloudformation:*:{ACCOUNT_A}:stack/CDKToolkit/*"},
    {"Sid": "BootstrapRoles", "Effect": "Allow",
     "Action": ["iam:GetRole", "iam:CreateRole", "iam:DeleteRole", "iam:UpdateRole", "iam:UpdateAssumeRolePolicy",
                "iam:TagRole", "iam:UntagRole", "iam:GetRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy",
                "iam:AttachRolePolicy", "iam:DetachRolePolicy"],
     "Resource": f"arn:aws:iam::{ACCOUNT_A}:role/cdk-*"},
    {"Sid": "BootstrapStagingBucket", "Effect": "Allow", "Action": "s3:*",
     "Resource": [f"arn:aws:s3:::cdk-*-assets-{ACCOUNT_A}-*", f"arn:aws:s3:::cdk-*-assets-{ACCOUNT_A}-*/*"]},
    {"Sid": "BootstrapContainerRepository", "Effect": "Allow", "Action": "ecr:*",
     "Resource": f"arn:aws:ecr:*:{ACCOUNT_A}:repository/cdk-*"},
    {"Sid": "BootstrapVersionParameter", "Effect": "Allow",
     "Action": ["ssm:GetParameter", "ssm:GetParameters", "ssm:PutParameter", "ssm:DeleteParameter",
                "ssm:AddTagsToResource", "ssm:RemoveTagsFromResource"],
     "Resource": f"arn:aws:ssm:*:{ACCOUNT_A}:parameter/cdk-bootstrap/*"},
    {"Sid": "BootstrapPingDocument", "Effect": "Allow",
     "Action": ["ssm:CreateDocument", "ssm:UpdateDocument", "ssm:UpdateDocumentDefaultVersion", "ssm:GetDocument",
                "ssm:DeleteDocument", "ssm:AddTagsToResource", "ssm:RemoveTagsFromResource"],
     "Resource": f"arn:aws:ssm:*:{ACCOUNT_A}:document/cdk-*-pipeline-run-ping"},
)
# Only for tests/it/ci_credentials.rs and ci_roles.rs, which create the GitHub OIDC roles of docs/ci.md as `ci`: an
# administrator's one-off set-up, not something a CI principal needs.
CI_TEST_SETUP_POLICY = _policy(
    {"Sid": "GitHubOidcRoleStack", "Effect": "Allow", "Action": "cloudformation:*",
     "Resource": f"arn:aws:cloudformation:*:{ACCOUNT_A}:stack/github-oidc/*"},
    {"Sid": "GitHubOidcProvider", "Effect": "Allow", "Action": "iam:*OpenIDConnectProvider*",
     "Resource": f"arn:aws:iam::{ACCOUNT_A}:oidc-provider/token.actions.githubusercontent.com"},
    {"Sid": "GitHubOidcRole", "Effect": "Allow",
     "Action": ["iam:GetRole", "iam:CreateRole", "iam:DeleteRole", "iam:UpdateAssumeRolePolicy", "iam:GetRolePolicy",
                "iam:PutRolePolicy", "iam:DeleteRolePolicy"],
     "Resource": f"arn:aws:iam::{ACCOUNT_A}:role/github-actions-*"},
)

# Fixed so tests/emulator/aws/credentials and the Rust tests can sign as them. Not secrets: they
# only ever open this loopback emulator. (account, user, key id, secret, managed policies, inline policies)
USERS = [
    (ACCOUNT_A, "pipeline-ci", "AKIAPIPELINECI111111", "pipelineRunCiSecretAccessKey000000000001",
     [CLOUDFORMATION_READ_ONLY], {"pipeline-run-ci": CI_POLICY, "test-setup-github-oidc": CI_TEST_SETUP_POLICY}),
    (ACCOUNT_B, "admin", "AKIAPIPELINEADMIN222", "pipelineRunAdminSecretAccessKey000000002",
     [ADMINISTRATOR_ACCESS], {}),
]

# What AWS Organizations creates in a member account it vends: full admin, trusted by the
# management account (here account A, where the CI identity lives).
ORGANIZATION_ROLE_TRUST = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",'
    f' "Principal": {{"AWS": "arn:aws:iam::{ACCOUNT_A}:root"}}}}]}}'
)


def seed():
    for account, user_name, key_id, secret, managed, inline in USERS:
        iam = iam_backends[account]["aws"]
        user = iam.create_user(region_name="ap-northeast-1", user_name=user_name)
        key = AccessKey(user_name, prefix="AKIA", account_id=account)
        key.access_key_id, key.secret_access_key = key_id, secret
        user.access_keys.append(key)
        # moto maps a request to an account by finding its access key id in this table
        iam.access_keys[key.physical_resource_id] = key
        for arn in managed:
            iam.attach_user_policy(arn, user_name)
        for name, document in inline.items():
            iam.put_user_policy(user_name, name, document)
    iam_b = iam_backends[ACCOUNT_B]["aws"]
    iam_b.create_role(
        role_name="OrganizationAccountAccessRole", assume_role_policy_document=ORGANIZATION_ROLE_TRUST,
        path="/", permissions_boundary=None, description="", tags=[], max_session_duration="3600",
    )
    iam_b.attach_role_policy(ADMINISTRATOR_ACCESS, "OrganizationAccountAccessRole")


@functools.cache
def _aws_managed_policy_prototypes(region_name):
    return _orig_init_aws_policies(SimpleNamespace(account_id="aws", region_name=region_name))


def _init_aws_policies(self):
    # The same 1582 AWS-managed policies moto builds for each account, built once and copied:
    # building them per account made every POST /moto-api/reset take about a second.
    policies = [copy.copy(p) for p in _aws_managed_policy_prototypes(self.region_name)]
    for policy in policies:
        policy.account_id, policy.tags, policy.versions = self.account_id, {}, list(policy.versions)
    return policies


_orig_init_aws_policies = IAMBackend._init_aws_policies
_orig_reset = MotoAPIBackend.reset


def _reset(self):
    _orig_reset(self)
    seed()


def apply():
    # AWS-managed policies (AdministratorAccess, AmazonSSMManagedInstanceCore, …) exist in every
    # account on AWS; moto only knows them with this switch, read when an account's IAM is created.
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    IAMBackend._init_aws_policies = _init_aws_policies
    net_resources.apply()
    net_trust.apply()
    net_ping.apply()
    ssm_documents.apply()
    # POST /moto-api/reset wipes every account; the seeded identities must survive it.
    MotoAPIBackend.reset = _reset
    seed()
