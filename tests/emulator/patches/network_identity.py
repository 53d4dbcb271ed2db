"""EC2 / IAM / STS / SSM fidelity for pipeline-run's local AWS, and the seeded identities.

The fixes live in helper modules (each fix carries a comment naming the AWS behaviour it restores):
  net_resources  CloudFormation: SubnetRouteTableAssociation, Instance.SecurityGroupIds,
                 IAM::Role.ManagedPolicyArns, cross-account VPCPeeringConnection; peering options
  net_trust      trust policies evaluated on sts:AssumeRole(WithWebIdentity)
  net_ping       SSM SendCommand `ping` decided by the emulated network
This module seeds the identities pipeline-run's tests sign with (see README, "Network and identity").
"""
import copy
import functools
import os
from types import SimpleNamespace

from moto.iam.models import AccessKey, IAMBackend, iam_backends
from moto.moto_api._internal.models import MotoAPIBackend

from . import net_ping, net_resources, net_trust

ACCOUNT_A, ACCOUNT_B = "111111111111", "222222222222"
ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"

# Fixed so tests/emulator/aws/credentials and the Rust tests can sign as them. Not secrets: they
# only ever open this loopback emulator.
USERS = [
    (ACCOUNT_A, "pipeline-ci", "AKIAPIPELINECI111111", "pipelineRunCiSecretAccessKey000000000001"),
    (ACCOUNT_B, "admin", "AKIAPIPELINEADMIN222", "pipelineRunAdminSecretAccessKey000000002"),
]

# What AWS Organizations creates in a member account it vends: full admin, trusted by the
# management account (here account A, where the CI identity lives).
ORGANIZATION_ROLE_TRUST = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",'
    f' "Principal": {{"AWS": "arn:aws:iam::{ACCOUNT_A}:root"}}}}]}}'
)


def seed():
    for account, user_name, key_id, secret in USERS:
        iam = iam_backends[account]["aws"]
        user = iam.create_user(region_name="ap-northeast-1", user_name=user_name)
        key = AccessKey(user_name, prefix="AKIA", account_id=account)
        key.access_key_id, key.secret_access_key = key_id, secret
        user.access_keys.append(key)
        # moto maps a request to an account by finding its access key id in this table
        iam.access_keys[key.physical_resource_id] = key
        iam.attach_user_policy(ADMINISTRATOR_ACCESS, user_name)
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
    # POST /moto-api/reset wipes every account; the seeded identities must survive it.
    MotoAPIBackend.reset = _reset
    seed()
