"""Seeded identities, their profiles, and IAM trust policies evaluated on sts:AssumeRole."""
import base64
import json
import os

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ACCOUNT_A, ACCOUNT_B, HERE, client

CI_KEYS = {"aws_access_key_id": "AKIAPIPELINECI111111",
           "aws_secret_access_key": "pipelineRunCiSecretAccessKey000000000001"}
ORG_ROLE = f"arn:aws:iam::{ACCOUNT_B}:role/OrganizationAccountAccessRole"


def trust(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(principal, **extra):
    return {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole", **extra}


PROBE_ARN = f"arn:aws:iam::{ACCOUNT_A}:user/pipeline-trust-probe"


def probe_sts(server):
    """STS as a user of account A whose identity policy allows sts:AssumeRole on any role, so that
    what these tests see is the trust policy's decision alone (the seeded `ci` user may only assume
    the bootstrap roles and OrganizationAccountAccessRole: see test_iam.py)."""
    iam = client(server, "iam", account=ACCOUNT_A)
    iam.create_user(UserName="pipeline-trust-probe")
    iam.put_user_policy(UserName="pipeline-trust-probe", PolicyName="assume-any", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:TagSession"], "Resource": "*"}]}))
    key = iam.create_access_key(UserName="pipeline-trust-probe")["AccessKey"]
    return client(server, "sts", credentials={"aws_access_key_id": key["AccessKeyId"],
                                              "aws_secret_access_key": key["SecretAccessKey"]})


def make_role(server, name, document, account=ACCOUNT_B):
    iam = client(server, "iam", account=account)
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=document)["Role"]["Arn"]


def session_keys(response):
    creds = response["Credentials"]
    return {"aws_access_key_id": creds["AccessKeyId"], "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"]}


def assert_denied(sts, caller_arn, role_arn, **kwargs):
    with pytest.raises(ClientError) as error:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="tt", **kwargs)
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error.value.response["Error"]["Code"] == "AccessDenied"
    assert error.value.response["Error"]["Message"] == (
        f"User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}")


@pytest.mark.raw_moto(at='assert (identity["Account"], identity["Arn"]) == (account, arn)', raises='AssertionError',
                      match="assert \\('12345678901\\.\\.\\.12:user/moto'\\) == \\('11111111111\\.\\.\\./pipeline\\-ci'\\)")
def test_profiles_sign_as_the_seeded_users(both_servers, monkeypatch):
    monkeypatch.setenv("AWS_CONFIG_FILE", os.path.join(HERE, "aws", "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.path.join(HERE, "aws", "credentials"))
    for profile, account, arn in [("ci", ACCOUNT_A, f"arn:aws:iam::{ACCOUNT_A}:user/pipeline-ci"),
                                  ("admin-b", ACCOUNT_B, f"arn:aws:iam::{ACCOUNT_B}:user/admin")]:
        session = boto3.Session(profile_name=profile)
        assert session.region_name == "ap-northeast-1"
        sts = session.client("sts", endpoint_url=both_servers.endpoint, config=Config(retries={"max_attempts": 1}))
        identity = sts.get_caller_identity()
        assert (identity["Account"], identity["Arn"]) == (account, arn)
        # the account follows the key into other services too (a parameter each identity may write:
        # ci is no administrator, see test_iam.py)
        ssm = session.client("ssm", endpoint_url=both_servers.endpoint)
        ssm.put_parameter(Name="/cdk-bootstrap/probe/version", Value="1", Type="String")
        assert ssm.get_parameter(Name="/cdk-bootstrap/probe/version")["Parameter"]["ARN"] == \
            f"arn:aws:ssm:ap-northeast-1:{account}:parameter/cdk-bootstrap/probe/version"


@pytest.mark.raw_moto(at='attached = client(both_servers, "iam", account=ACCOUNT_B).list_attache', raises='NoSuchEntityException',
                      match='An error occurred \\(NoSuchEntity\\) when calling the ListAttachedRolePolicies operation: Role OrganizationAccountAccessRole not found')
def test_ci_assumes_organization_account_access_role(both_servers):
    sts = client(both_servers, "sts", credentials=CI_KEYS)
    session = sts.assume_role(RoleArn=ORG_ROLE, RoleSessionName="bootstrap")
    identity = client(both_servers, "sts", credentials=session_keys(session)).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{ACCOUNT_B}:assumed-role/OrganizationAccountAccessRole/bootstrap"
    attached = client(both_servers, "iam", account=ACCOUNT_B).list_attached_role_policies(
        RoleName="OrganizationAccountAccessRole")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == ["arn:aws:iam::aws:policy/AdministratorAccess"]


@pytest.mark.raw_moto(at='assert [r["RoleName"] for r in iam_b.list_roles()["Roles"]] == ["Organ', raises='AssertionError',
                      match="assert \\[\\] == \\['Organizatio\\.\\.\\.ntAccessRole'\\]")
def test_seeded_identities_come_back_after_reset(both_servers):
    iam_b = client(both_servers, "iam", account=ACCOUNT_B)
    make_role(both_servers, "scratch", trust(allow({"AWS": ACCOUNT_A})))
    both_servers.reset()
    assert [r["RoleName"] for r in iam_b.list_roles()["Roles"]] == ["OrganizationAccountAccessRole"]
    identity = client(both_servers, "sts", credentials=CI_KEYS).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:iam::{ACCOUNT_A}:user/pipeline-ci"


@pytest.mark.raw_moto(at='assert_denied(sts, ci_arn, f"arn:aws:iam::{ACCOUNT_B}:role/cdk-hnb659f', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_assume_role_refused_without_trust(both_servers):
    sts = probe_sts(both_servers)
    ci_arn = PROBE_ARN
    # no such role in the target account
    assert_denied(sts, ci_arn, f"arn:aws:iam::{ACCOUNT_B}:role/cdk-hnb659fds-deploy-role-{ACCOUNT_B}-ap-northeast-1")
    # the role exists but trusts someone else, or only a service
    other = make_role(both_servers, "other", trust(allow({"AWS": "arn:aws:iam::333333333333:root"})))
    assert_denied(sts, ci_arn, other)
    service = make_role(both_servers, "service", trust(allow({"Service": "cloudformation.amazonaws.com"})))
    assert_denied(sts, ci_arn, service)
    # an explicit Deny wins over an Allow
    denied = make_role(both_servers, "denied", trust(
        allow({"AWS": ACCOUNT_A}), {**allow({"AWS": PROBE_ARN}), "Effect": "Deny"}))
    assert_denied(sts, ci_arn, denied)
    # a role in the caller's own account is not implicitly trusted either
    own = make_role(both_servers, "own", trust(allow({"AWS": "arn:aws:iam::333333333333:root"})), account=ACCOUNT_A)
    assert_denied(sts, ci_arn, own)


@pytest.mark.raw_moto(at='assert_denied(sts, PROBE_ARN, by_role)', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_trust_principal_forms(both_servers):
    sts = probe_sts(both_servers)
    for name, principal in [("by-id", {"AWS": ACCOUNT_A}), ("by-root", {"AWS": f"arn:aws:iam::{ACCOUNT_A}:root"}),
                            ("by-user", {"AWS": [PROBE_ARN]}),
                            ("anyone", {"AWS": "*"}), ("star", "*")]:
        arn = make_role(both_servers, name, trust(allow(principal)))
        assert sts.assume_role(RoleArn=arn, RoleSessionName="tt")["AssumedRoleUser"]["Arn"].endswith(f"/{name}/tt")
    # a role session is matched by its role's ARN, and named by its session ARN when refused
    hop = sts.assume_role(RoleArn=ORG_ROLE, RoleSessionName="hop")
    from_session = client(both_servers, "sts", credentials=session_keys(hop))
    by_role = make_role(both_servers, "by-role", trust(allow({"AWS": ORG_ROLE})))
    from_session.assume_role(RoleArn=by_role, RoleSessionName="tt")
    assert_denied(sts, PROBE_ARN, by_role)
    only_a = make_role(both_servers, "only-a", trust(allow({"AWS": ACCOUNT_A})))
    assert_denied(from_session, f"arn:aws:sts::{ACCOUNT_B}:assumed-role/OrganizationAccountAccessRole/hop", only_a)


@pytest.mark.raw_moto(at='assert_denied(sts, PROBE_ARN, arn, ExternalId="anything")', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_cdk_bootstrap_external_id_condition(both_servers):
    # the trust statement `cdk bootstrap --trust` writes (DenyExternalId, the default)
    arn = make_role(both_servers, "cdk-hnb659fds-deploy-role", trust(
        allow({"AWS": ACCOUNT_A}, Condition={"Null": {"sts:ExternalId": "true"}}),
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT_A}, "Action": "sts:TagSession"}))
    sts = probe_sts(both_servers)
    sts.assume_role(RoleArn=arn, RoleSessionName="tt")
    assert_denied(sts, PROBE_ARN, arn, ExternalId="anything")


@pytest.mark.raw_moto(at='assert_denied(sts, ci_arn, external, ExternalId="wrong")', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_conditions_and_unknown_operators(both_servers):
    sts = probe_sts(both_servers)
    ci_arn = PROBE_ARN
    external = make_role(both_servers, "external", trust(
        allow({"AWS": ACCOUNT_A}, Condition={"StringEquals": {"sts:ExternalId": "s3cr3t"}})))
    sts.assume_role(RoleArn=external, RoleSessionName="tt", ExternalId="s3cr3t")
    assert_denied(sts, ci_arn, external, ExternalId="wrong")
    assert_denied(sts, ci_arn, external)
    by_arn = make_role(both_servers, "by-arn", trust(
        allow({"AWS": "*"}, Condition={"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT_A}:user/pipeline-*"}})))
    sts.assume_role(RoleArn=by_arn, RoleSessionName="tt")
    # an operator the emulator does not evaluate refuses (fails closed) instead of guessing
    unknown = make_role(both_servers, "unknown-op", trust(
        allow({"AWS": ACCOUNT_A}, Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})))
    assert_denied(sts, ci_arn, unknown)


def web_token(claims):
    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


def make_github_provider(server, client_ids=("sts.amazonaws.com",)):
    client(server, "iam").create_open_id_connect_provider(Url=GITHUB_ISSUER, ClientIDList=list(client_ids))


@pytest.mark.raw_moto(at='with pytest.raises(ClientError) as error:', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_web_identity_trust(both_servers):
    provider = f"arn:aws:iam::{ACCOUNT_A}:oidc-provider/token.actions.githubusercontent.com"
    make_github_provider(both_servers)
    arn = make_role(both_servers, "github", trust({
        "Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                      "StringLike": {"token.actions.githubusercontent.com:sub": "repo:org/pipeline-run:*"}}}),
        account=ACCOUNT_A)
    sts = client(both_servers, "sts")
    claims = {"iss": "https://token.actions.githubusercontent.com", "aud": "sts.amazonaws.com"}
    good = web_token({**claims, "sub": "repo:org/pipeline-run:ref:refs/heads/main"})
    sts.assume_role_with_web_identity(RoleArn=arn, RoleSessionName="gh", WebIdentityToken=good)
    with pytest.raises(ClientError) as error:
        sts.assume_role_with_web_identity(RoleArn=arn, RoleSessionName="gh",
                                          WebIdentityToken=web_token({**claims, "sub": "repo:org/other:ref:x"}))
    assert error.value.response["Error"]["Code"] == "AccessDenied"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def github_role(server, sub):
    provider = f"arn:aws:iam::{ACCOUNT_A}:oidc-provider/token.actions.githubusercontent.com"
    return make_role(server, "github-exact", trust({
        "Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                                       "token.actions.githubusercontent.com:sub": sub}}}), account=ACCOUNT_A)


def assume_with_token(server, arn, **claims):
    token = web_token({"iss": GITHUB_ISSUER, "aud": "sts.amazonaws.com", **claims})
    return client(server, "sts").assume_role_with_web_identity(RoleArn=arn, RoleSessionName="gh",
                                                               WebIdentityToken=token)


@pytest.mark.raw_moto(at='with pytest.raises(ClientError) as error:', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_web_identity_needs_the_issuers_oidc_provider_in_the_roles_account(both_servers):
    # AWS: InvalidIdentityToken "No OpenIDConnect provider found in your account for https://…"
    # before any trust policy is read; raw moto hands out credentials.
    arn = github_role(both_servers, "repo:org/infra:pull_request")
    with pytest.raises(ClientError) as error:
        assume_with_token(both_servers, arn, sub="repo:org/infra:pull_request")
    assert error.value.response["Error"]["Code"] == "InvalidIdentityToken"
    assert "No OpenIDConnect provider found" in error.value.response["Error"]["Message"]
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    make_github_provider(both_servers)
    assume_with_token(both_servers, arn, sub="repo:org/infra:pull_request")


@pytest.mark.raw_moto(at='with pytest.raises(ClientError) as error:', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_web_identity_audience_must_be_registered_with_the_provider(both_servers):
    make_github_provider(both_servers, client_ids=["https://github.com/org"])
    arn = github_role(both_servers, "repo:org/infra:pull_request")
    with pytest.raises(ClientError) as error:
        assume_with_token(both_servers, arn, sub="repo:org/infra:pull_request")
    assert error.value.response["Error"]["Code"] == "InvalidIdentityToken"
    assert error.value.response["Error"]["Message"] == "Incorrect token audience"


@pytest.mark.raw_moto(at='with pytest.raises(ClientError) as error:', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_web_identity_sub_string_equals_takes_only_that_kind_of_job(both_servers):
    # The pull-request role of docs/ci.md: StringEquals on the exact sub of pull_request runs.
    make_github_provider(both_servers)
    arn = github_role(both_servers, "repo:org/infra:pull_request")
    assume_with_token(both_servers, arn, sub="repo:org/infra:pull_request")
    for other in ["repo:org/infra:environment:production", "repo:org/infra:ref:refs/heads/main",
                  "repo:org/infra:pull_request:extra", "repo:org/INFRA:pull_request"]:
        with pytest.raises(ClientError) as error:
            assume_with_token(both_servers, arn, sub=other)
        assert error.value.response["Error"]["Code"] == "AccessDenied", other


@pytest.mark.raw_moto(at='cfn.create_stack(StackName="oidc", TemplateBody=json.dumps(template))', raises='ResponseParserError',
                      match=r'Unable to parse response \(syntax error: line 1, column 0\), invalid XML received')
def test_cloudformation_creates_and_deletes_an_oidc_provider(both_servers):
    # moto 5.2.5 has no AWS::IAM::OIDCProvider: the stack completes and no provider exists.
    cfn = client(both_servers, "cloudformation")
    template = {"Resources": {
        "GitHub": {"Type": "AWS::IAM::OIDCProvider",
                   "Properties": {"Url": GITHUB_ISSUER, "ClientIdList": ["sts.amazonaws.com"]}}},
        "Outputs": {"Arn": {"Value": {"Fn::GetAtt": ["GitHub", "Arn"]}}, "Ref": {"Value": {"Ref": "GitHub"}}}}
    cfn.create_stack(StackName="oidc", TemplateBody=json.dumps(template))
    stack = cfn.describe_stacks(StackName="oidc")["Stacks"][0]
    arn = f"arn:aws:iam::{ACCOUNT_A}:oidc-provider/token.actions.githubusercontent.com"
    assert {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])} == {"Arn": arn, "Ref": arn}
    iam = client(both_servers, "iam")
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ClientIDList"] == ["sts.amazonaws.com"]
    cfn.delete_stack(StackName="oidc")
    assert [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]] == []


@pytest.mark.raw_moto(at='assert_denied(probe, PROBE_ARN, role("cfn-exec"))', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_project_bootstrap_template_trust(both_servers):
    """pipeline-run's own bootstrap template, deployed in B trusting A: the CI identity may assume
    the deploy and lookup roles, not the CloudFormation execution role (trusted by the service only),
    and not the roles of a bootstrap that trusts no other account."""
    with open(os.path.join(HERE, "..", "..", "bootstrap", "bootstrap-template.yaml")) as f:
        template = f.read()
    cfn = client(both_servers, "cloudformation", account=ACCOUNT_B)
    for stack, qualifier, trusted in [("CDKToolkit", "hnb659fds", ACCOUNT_A), ("Untrusting", "untrusted", "")]:
        cfn.create_stack(StackName=stack, TemplateBody=template, Capabilities=["CAPABILITY_NAMED_IAM"], Parameters=[
            {"ParameterKey": "Qualifier", "ParameterValue": qualifier},
            {"ParameterKey": "TrustedAccounts", "ParameterValue": trusted},
            {"ParameterKey": "CloudFormationExecutionPolicies",
             "ParameterValue": "arn:aws:iam::aws:policy/AdministratorAccess"}])
    sts = client(both_servers, "sts", credentials=CI_KEYS)

    def role(kind, qualifier="hnb659fds"):
        return f"arn:aws:iam::{ACCOUNT_B}:role/cdk-{qualifier}-{kind}-role-{ACCOUNT_B}-ap-northeast-1"

    for kind in ("deploy", "lookup", "file-publishing"):
        sts.assume_role(RoleArn=role(kind), RoleSessionName="pipeline-run")
    # refused by the trust policies (the probe's identity policy allows any sts:AssumeRole)
    probe = probe_sts(both_servers)
    assert_denied(probe, PROBE_ARN, role("cfn-exec"))
    assert_denied(probe, PROBE_ARN, role("deploy", "untrusted"))
    attached = client(both_servers, "iam", account=ACCOUNT_B).list_attached_role_policies(
        RoleName=role("cfn-exec").split("/")[-1])["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["AdministratorAccess"]
