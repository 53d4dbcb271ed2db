"""IAM enforcement (patches/iam_policies.py, iam_eval.py, iam_requests.py, iam_cfn.py): identity, session,
boundary and bucket policies evaluated on every request and on every CloudFormation resource handler
step. Each `both_servers` test fails on raw moto, which allows everything."""
import json
import os
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT_A, ACCOUNT_B, HERE, REGION, client

CI_KEYS = {"aws_access_key_id": "AKIAPIPELINECI111111",
           "aws_secret_access_key": "pipelineRunCiSecretAccessKey000000000001"}
ADMIN_B_KEYS = {"aws_access_key_id": "AKIAPIPELINEADMIN222",
                "aws_secret_access_key": "pipelineRunAdminSecretAccessKey000000002"}
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
CFN_READ_ONLY = "arn:aws:iam::aws:policy/AWSCloudFormationReadOnlyAccess"
CFN_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "cloudformation.amazonaws.com"}}]}


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra):
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def user(server, name, *inline, managed=(), account=ACCOUNT_A, group_policies=None):
    """A new IAM user with these inline policy statements (one policy each) and managed policies;
    returns its credentials."""
    iam = client(server, "iam", account=account)
    iam.create_user(UserName=name)
    for i, statement in enumerate(inline):
        iam.put_user_policy(UserName=name, PolicyName=f"p{i}", PolicyDocument=policy(statement))
    for arn in managed:
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    if group_policies:
        iam.create_group(GroupName=f"{name}-group")
        iam.add_user_to_group(GroupName=f"{name}-group", UserName=name)
        iam.put_group_policy(GroupName=f"{name}-group", PolicyName="g", PolicyDocument=policy(*group_policies))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


def role(server, name, *inline, trust=None, managed=(), account=ACCOUNT_A, boundary=None):
    iam = client(server, "iam", account=account)
    extra = {"PermissionsBoundary": boundary} if boundary else {}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust or {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": ACCOUNT_A}}]}),
        **extra)["Role"]["Arn"]
    for i, statement in enumerate(inline):
        iam.put_role_policy(RoleName=name, PolicyName=f"p{i}", PolicyDocument=policy(statement))
    for policy_arn in managed:
        iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
    return arn


def session(server, credentials, role_arn, **kwargs):
    out = client(server, "sts", credentials=credentials).assume_role(RoleArn=role_arn, RoleSessionName="probe",
                                                                     **kwargs)["Credentials"]
    return {"aws_access_key_id": out["AccessKeyId"], "aws_secret_access_key": out["SecretAccessKey"],
            "aws_session_token": out["SessionToken"]}


def refused(call):
    """(HTTP status, error code, message) of a call that must fail."""
    with pytest.raises(ClientError) as e:
        call()
    r = e.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"].get("Message", "")


def is_denied(call):
    try:
        call()
    except ClientError as e:
        code = e.response["Error"]["Code"]
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403"):
            return True
        raise
    return False


def control(server, path, body=None, method=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(server.endpoint + path, method=method or ("POST" if data else "GET"), data=data)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def everything():
    """An inline statement allowing every action: an administrator's permissions where the test is
    not about AWS-managed policies (raw moto has none, so AdministratorAccess would fail the set-up)."""
    return allow("*")


def allow_all_assume():
    """Statement letting a test user assume any role (the tests below are about what sessions may do)."""
    return allow("sts:AssumeRole")


# ------------------------------------------------------------------ the basics

@pytest.mark.raw_moto(at='status, code, message = refused(lambda: client(both_servers, "cloudfor', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_an_identity_without_permission_is_refused_by_every_service_in_its_protocol(both_servers):
    """An IAM user with no policy: STS, CloudFormation, IAM (query), EC2, SSM (JSON) and S3 (REST-XML)
    each answer their own AccessDenied, which boto3 (like the Rust SDK) parses. Only
    sts:GetCallerIdentity needs no permission."""
    creds = user(both_servers, "nobody")
    arn = f"arn:aws:iam::{ACCOUNT_A}:user/nobody"
    assert client(both_servers, "sts", credentials=creds).get_caller_identity()["Arn"] == arn
    status, code, message = refused(lambda: client(both_servers, "cloudformation", credentials=creds).list_stacks())
    assert (status, code) == (403, "AccessDenied")
    assert message == (f"User: {arn} is not authorized to perform: cloudformation:ListStacks on resource: * "
                       "because no identity-based policy allows the cloudformation:ListStacks action")
    assert refused(lambda: client(both_servers, "iam", credentials=creds).list_roles())[:2] == (403, "AccessDenied")
    status, code, message = refused(lambda: client(both_servers, "ec2", credentials=creds).describe_vpcs())
    assert (status, code) == (403, "UnauthorizedOperation")
    assert message.startswith("You are not authorized to perform this operation. User: " + arn)
    status, code, message = refused(lambda: client(both_servers, "ssm", credentials=creds).get_parameter(Name="/p"))
    assert (status, code) == (400, "AccessDeniedException")
    assert message == (f"User: {arn} is not authorized to perform: ssm:GetParameter on resource: "
                       f"arn:aws:ssm:{REGION}:{ACCOUNT_A}:parameter/p because no identity-based policy allows the "
                       "ssm:GetParameter action")
    # (an existing bucket: one that does not exist is answered NoSuchBucket, see test_bootstrap.py)
    client(both_servers, "s3").create_bucket(Bucket="some-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3 = client(both_servers, "s3", credentials=creds)
    status, code, message = refused(lambda: s3.list_objects_v2(Bucket="some-bucket"))
    assert (status, code) == (403, "AccessDenied")
    assert message == (f'User: {arn} is not authorized to perform: s3:ListBucket on resource: "arn:aws:s3:::some-bucket" '
                       "because no identity-based policy allows the s3:ListBucket action")
    # HEAD has no body: the SDK sees only the status
    assert refused(lambda: s3.head_object(Bucket="some-bucket", Key="k"))[:2] == (403, "403")
    status, code, message = refused(lambda: client(both_servers, "sts", credentials=creds).assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT_B}:role/OrganizationAccountAccessRole", RoleSessionName="probe"))
    assert (status, code) == (403, "AccessDenied")


@pytest.mark.raw_moto(at='assert is_denied(lambda: ssm.put_parameter(Name="/other/x", Value="1",', raises='AssertionError',
                      match='assert False\\n.*where False = is_denied\\(')
def test_inline_policy_allows_only_the_actions_and_resources_it_names(both_servers):
    creds = user(both_servers, "app", allow(["ssm:PutParameter", "ssm:GetParameter*"],
                                            f"arn:aws:ssm:{REGION}:{ACCOUNT_A}:parameter/app/*"))
    ssm = client(both_servers, "ssm", credentials=creds)
    ssm.put_parameter(Name="/app/x", Value="1", Type="String")
    assert ssm.get_parameter(Name="/app/x")["Parameter"]["Value"] == "1"
    assert ssm.get_parameters(Names=["/app/x"])["Parameters"][0]["Value"] == "1"
    assert is_denied(lambda: ssm.put_parameter(Name="/other/x", Value="1", Type="String"))
    assert is_denied(lambda: ssm.delete_parameter(Name="/app/x"))  # an action it does not name
    # GetParameters needs every parameter named
    assert is_denied(lambda: ssm.get_parameters(Names=["/app/x", "/other/x"]))


@pytest.mark.raw_moto(at='assert {CFN_READ_ONLY, READ_ONLY} <= aws_managed', raises='AssertionError',
                      match="assert \\{.*\\} <= set\\(\\)")
def test_managed_and_group_policies_allow(both_servers):
    """AWS-managed policies carry their real documents; customer-managed and group policies count too."""
    iam = client(both_servers, "iam")
    aws_managed = {p["Arn"] for p in iam.get_paginator("list_policies").paginate(
        Scope="AWS", PaginationConfig={"PageSize": 1000}).build_full_result()["Policies"]}
    assert {CFN_READ_ONLY, READ_ONLY} <= aws_managed
    custom = iam.create_policy(PolicyName="params", PolicyDocument=policy(
        allow("ssm:PutParameter", f"arn:aws:ssm:*:{ACCOUNT_A}:parameter/team/*")))["Policy"]["Arn"]
    creds = user(both_servers, "reader", managed=[CFN_READ_ONLY, custom],
                 group_policies=[allow("ec2:DescribeVpcs")])
    client(both_servers, "cloudformation", credentials=creds).list_stacks()  # AWSCloudFormationReadOnlyAccess
    client(both_servers, "ec2", credentials=creds).describe_vpcs()  # the group's policy
    ssm = client(both_servers, "ssm", credentials=creds)
    ssm.put_parameter(Name="/team/x", Value="1", Type="String")  # the customer-managed policy
    assert is_denied(lambda: client(both_servers, "ec2", credentials=creds).describe_subnets())
    assert is_denied(lambda: client(both_servers, "cloudformation", credentials=creds).create_stack(
        StackName="x", TemplateBody=json.dumps({"Resources": {}})))
    # ReadOnlyAccess reads everything and writes nothing
    reader = user(both_servers, "ro", managed=[READ_ONLY])
    client(both_servers, "ec2", credentials=reader).describe_subnets()
    assert client(both_servers, "ssm", credentials=reader).get_parameter(Name="/team/x")["Parameter"]["Value"] == "1"
    assert is_denied(lambda: client(both_servers, "ssm", credentials=reader).put_parameter(
        Name="/team/y", Value="1", Type="String"))


@pytest.mark.raw_moto(at='status, code, message = refused(lambda: ssm.put_parameter(Name="/secret/x"', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_explicit_deny_wins_over_any_allow(both_servers):
    creds = user(both_servers, "admin-but", deny("ssm:*", "arn:aws:ssm:*:*:parameter/secret/*"), everything())
    ssm = client(both_servers, "ssm", credentials=creds)
    ssm.put_parameter(Name="/open/x", Value="1", Type="String")
    status, code, message = refused(lambda: ssm.put_parameter(Name="/secret/x", Value="1", Type="String"))
    assert code == "AccessDeniedException"
    assert message.endswith("with an explicit deny in an identity-based policy")


@pytest.mark.raw_moto(at='assert is_denied(lambda: client(both_servers, "iam", credentials=creds', raises='AssertionError',
                      match='assert False\\n.*where False = is_denied\\(')
def test_not_action_and_not_resource(both_servers):
    creds = user(both_servers, "not-iam", {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
                 {"Effect": "Allow", "Action": "ssm:PutParameter",
                  "NotResource": "arn:aws:ssm:*:*:parameter/protected/*"})
    client(both_servers, "ec2", credentials=creds).describe_vpcs()
    assert is_denied(lambda: client(both_servers, "iam", credentials=creds).list_roles())
    # NotAction in a Deny: everything but ssm is refused
    other = user(both_servers, "only-ssm", {"Effect": "Deny", "NotAction": "ssm:*", "Resource": "*"}, everything())
    client(both_servers, "ssm", credentials=other).describe_parameters()
    assert is_denied(lambda: client(both_servers, "ec2", credentials=other).describe_vpcs())
    # NotResource (the Allow above also allows it through NotAction; here with NotAction excluded)
    narrow = user(both_servers, "not-protected", {"Effect": "Allow", "Action": "ssm:PutParameter",
                                                  "NotResource": "arn:aws:ssm:*:*:parameter/protected/*"})
    ssm = client(both_servers, "ssm", credentials=narrow)
    ssm.put_parameter(Name="/public/x", Value="1", Type="String")
    assert is_denied(lambda: ssm.put_parameter(Name="/protected/x", Value="1", Type="String"))


@pytest.mark.raw_moto(at='assert is_denied(lambda: s3.get_object(Bucket="team-bucket", Key="team', raises='AssertionError',
                      match='assert False\\n.*where False = is_denied\\(')
def test_resource_arn_wildcards_match_per_segment(both_servers):
    root_s3 = client(both_servers, "s3")
    for bucket in ("team-bucket", "other-bucket"):
        root_s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    creds = user(both_servers, "objects", allow("s3:GetObject", "arn:aws:s3:::team-bucket/team-?/*"),
                 allow("ssm:GetParameter", f"arn:aws:ssm:*:{ACCOUNT_A}:parameter/app/*"),
                 allow("ssm:GetParameter", "arn:aws:ssm:*:333333333333:parameter/*"))
    for key in ("team-a/k", "team-ab/k", "k"):
        root_s3.put_object(Bucket="team-bucket", Key=key, Body=b"x")
    root_s3.put_object(Bucket="other-bucket", Key="team-a/k", Body=b"x")
    s3 = client(both_servers, "s3", credentials=creds)
    assert s3.get_object(Bucket="team-bucket", Key="team-a/k")["Body"].read() == b"x"
    assert is_denied(lambda: s3.get_object(Bucket="team-bucket", Key="team-ab/k"))  # ? is one character
    assert is_denied(lambda: s3.get_object(Bucket="team-bucket", Key="k"))
    assert is_denied(lambda: s3.get_object(Bucket="other-bucket", Key="team-a/k"))
    ssm_root = client(both_servers, "ssm")
    ssm_root.put_parameter(Name="/app/x", Value="1", Type="String")
    ssm_root.put_parameter(Name="/appx", Value="1", Type="String")
    ssm = client(both_servers, "ssm", credentials=creds)
    ssm.get_parameter(Name="/app/x")  # any region (*), this account
    assert is_denied(lambda: ssm.get_parameter(Name="/appx"))
    # another account's ARN pattern does not match this account's parameter
    ssm_root.put_parameter(Name="/b/x", Value="1", Type="String")
    assert is_denied(lambda: ssm.get_parameter(Name="/b/x"))


# ------------------------------------------------------------------ conditions

def _tagged_instance(server):
    ec2 = client(server, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.7.0.0/24")["Subnet"]["SubnetId"]
    out = {}
    for env in ("test", "prod"):
        out[env] = ec2.run_instances(ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1, SubnetId=subnet,
                                     TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                         {"Key": "env", "Value": env}]}])["Instances"][0]["InstanceId"]
    return out


CONDITION_CASES = [
    # (name, condition, allowed call kwargs, refused call kwargs) — all on ssm:PutParameter /c/<name>
    ("string-equals", {"StringEquals": {"aws:RequestedRegion": REGION}}, {}, {"region": "us-east-1"}),
    ("string-not-equals", {"StringNotEquals": {"aws:RequestedRegion": "us-east-1"}}, {}, {"region": "us-east-1"}),
    ("string-equals-ignore-case", {"StringEqualsIgnoreCase": {"aws:RequestTag/team": "NETWORK"}},
     {"tags": {"team": "network"}}, {"tags": {"team": "app"}}),
    ("string-like", {"StringLike": {"aws:RequestTag/team": "net*"}}, {"tags": {"team": "network"}},
     {"tags": {"team": "app"}}),
    ("string-not-like", {"StringNotLike": {"aws:RequestTag/team": "net*"}}, {"tags": {"team": "app"}},
     {"tags": {"team": "network"}}),
    ("arn-like", {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT_A}:user/cond-*"}}, {}, {"other_user": True}),
    ("arn-equals", {"ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT_A}:user/cond-arn-equals"}}, {},
     {"other_user": True}),
    ("bool", {"Bool": {"aws:SecureTransport": "true"}}, {}, {"insecure": True}),
    ("null", {"Null": {"aws:RequestTag/team": "false"}}, {"tags": {"team": "x"}}, {}),
    ("if-exists", {"StringEqualsIfExists": {"aws:RequestTag/team": "network"}}, {}, {"tags": {"team": "app"}}),
    ("for-any-value", {"ForAnyValue:StringEquals": {"aws:TagKeys": ["team", "owner"]}},
     {"tags": {"team": "x", "cost": "1"}}, {"tags": {"cost": "1"}}),
    ("for-all-values", {"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "owner"]}},
     {"tags": {"team": "x", "owner": "y"}}, {"tags": {"team": "x", "cost": "1"}}),
    ("principal-account", {"StringEquals": {"aws:PrincipalAccount": ACCOUNT_A, "aws:ResourceAccount": ACCOUNT_A}},
     {}, {"other_account": True}),
    ("ip-address", {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}, {}, {"ip_policy": "10.0.0.0/8"}),
    ("date", {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, {},
     {"date_policy": "2999-01-01T00:00:00Z"}),
    ("numeric", {"NumericGreaterThan": {"aws:EpochTime": "1577836800"}}, {}, {"epoch_policy": "32503680000"}),
]


def set_secure_transport(server, value):
    """aws:SecureTransport as the harness reports it (raw moto has no such setting)."""
    try:
        control(server, "/_emulator/config", {"iam_secure_transport": value})
    except urllib.error.HTTPError:
        pass


@pytest.mark.parametrize("name, condition, good, bad", CONDITION_CASES, ids=[c[0] for c in CONDITION_CASES])
@pytest.mark.raw_moto(at='assert is_denied(lambda: put(bad_creds, **{k: v for k, v in bad.items(', raises=['AssertionError', 'ParameterAlreadyExists'],
                      match='(?:An error occurred \\(ParameterAlreadyExists\\) when calling the PutParameter operation: The parameter already exists\\. To overwrite this value, set the overwrite opt)|(?:assert False\\n.*where False = is_denied\\()')
def test_condition_operators(both_servers, name, condition, good, bad):
    """Each operator (and IfExists, ForAnyValue:, ForAllValues:) on a key the request carries: the
    allowing request passes, the other is refused."""
    def statement(cond):
        return allow(["ssm:PutParameter", "ssm:AddTagsToResource"], "*", Condition=cond)

    def put(creds, region=REGION, tags=None):
        ssm = client(both_servers, "ssm", credentials=creds, region=region)
        kwargs = {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}
        ssm.put_parameter(Name=f"/c/{name}/{len(tags or {})}{region}", Value="1", Type="String", **kwargs)

    creds = user(both_servers, f"cond-{name}", statement(condition))
    put(creds, **good)
    bad_creds = creds
    if bad.get("other_user"):
        bad_creds = user(both_servers, f"other-{name}", statement(condition))
    elif bad.get("other_account"):
        bad_creds = user(both_servers, f"cond-{name}", statement(condition), account=ACCOUNT_B)
    elif any(k in bad for k in ("ip_policy", "date_policy", "epoch_policy")):
        # the same key, compared with a value the request does not satisfy
        (operator, keys), = condition.items()
        (key, _), = keys.items()
        value = bad.get("ip_policy") or bad.get("date_policy") or bad.get("epoch_policy")
        bad_creds = user(both_servers, f"other-{name}", statement({operator: {key: value}}))
    if bad.get("insecure"):
        set_secure_transport(both_servers, False)
    try:
        assert is_denied(lambda: put(bad_creds, **{k: v for k, v in bad.items() if k in ("region", "tags")}))
    finally:
        if bad.get("insecure"):
            set_secure_transport(both_servers, True)


@pytest.mark.raw_moto(at='assert is_denied(lambda: ssm.send_command(InstanceIds=[instances["prod', raises='AssertionError',
                      match='assert False\\n.*where False = is_denied\\(')
def test_resource_tag_conditions_on_send_command(both_servers):
    """ssm:SendCommand is authorized on the document and on each instance, with the instance's tags
    as ssm:resourceTag/… — the usual way to scope who may run commands where."""
    instances = _tagged_instance(both_servers)
    creds = user(both_servers, "operator",
                 allow("ssm:SendCommand", f"arn:aws:ssm:{REGION}::document/AWS-RunShellScript"),
                 allow("ssm:SendCommand", f"arn:aws:ec2:{REGION}:{ACCOUNT_A}:instance/*",
                       Condition={"StringEquals": {"ssm:resourceTag/env": "test"}}))
    ssm = client(both_servers, "ssm", credentials=creds)
    command = {"DocumentName": "AWS-RunShellScript", "Parameters": {"commands": ["true"]}}
    ssm.send_command(InstanceIds=[instances["test"]], **command)
    assert is_denied(lambda: ssm.send_command(InstanceIds=[instances["prod"]], **command))
    assert is_denied(lambda: ssm.send_command(InstanceIds=[instances["test"]], DocumentName="AWS-RunPowerShellScript",
                                              Parameters={"commands": ["true"]}))


# ------------------------------------------------------------------ sessions, boundaries, session policies

@pytest.mark.raw_moto(at='status, code, message = refused(lambda: ssm.put_parameter(Name="/elsew', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_an_assumed_role_session_has_its_roles_policies(both_servers):
    caller = user(both_servers, "hopper", allow_all_assume())
    arn = role(both_servers, "params-writer", allow("ssm:PutParameter", f"arn:aws:ssm:*:{ACCOUNT_A}:parameter/w/*"))
    creds = session(both_servers, caller, arn)
    ssm = client(both_servers, "ssm", credentials=creds)
    ssm.put_parameter(Name="/w/x", Value="1", Type="String")
    status, code, message = refused(lambda: ssm.put_parameter(Name="/elsewhere", Value="1", Type="String"))
    assert message.startswith(f"User: arn:aws:sts::{ACCOUNT_A}:assumed-role/params-writer/probe is not authorized")
    # the caller's own permissions do not carry over into the session
    assert is_denied(lambda: client(both_servers, "sts", credentials=creds).assume_role(
        RoleArn=arn, RoleSessionName="again"))
    # the role's policies are read when the session uses them: a new Deny applies at once
    client(both_servers, "iam").put_role_policy(RoleName="params-writer", PolicyName="stop",
                                                PolicyDocument=policy(deny("ssm:*")))
    assert is_denied(lambda: ssm.put_parameter(Name="/w/y", Value="1", Type="String"))


@pytest.mark.raw_moto(at='status, code, message = refused(lambda: client(both_servers, "ec2", credentials=creds).describe_vpcs())', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_session_policies_and_permissions_boundaries_narrow_a_session(both_servers):
    caller = user(both_servers, "narrower", allow_all_assume())
    iam = client(both_servers, "iam")
    boundary = iam.create_policy(PolicyName="only-ssm", PolicyDocument=policy(allow("ssm:*")))["Policy"]["Arn"]
    bounded = role(both_servers, "bounded", everything(), boundary=boundary)
    creds = session(both_servers, caller, bounded)
    client(both_servers, "ssm", credentials=creds).describe_parameters()
    status, code, message = refused(lambda: client(both_servers, "ec2", credentials=creds).describe_vpcs())
    assert "because no permissions boundary allows the ec2:DescribeVpcs action" in message
    admin = role(both_servers, "admin-role", everything())
    narrowed = session(both_servers, caller, admin, Policy=policy(allow("ec2:Describe*")))
    client(both_servers, "ec2", credentials=narrowed).describe_vpcs()
    status, code, message = refused(lambda: client(both_servers, "ssm", credentials=narrowed).describe_parameters())
    assert "because no session policy allows the ssm:DescribeParameters action" in message
    by_arn = session(both_servers, caller, admin, PolicyArns=[{"arn": CFN_READ_ONLY}])
    client(both_servers, "cloudformation", credentials=by_arn).list_stacks()
    assert is_denied(lambda: client(both_servers, "ec2", credentials=by_arn).describe_vpcs())


@pytest.mark.raw_moto(at='status, code, message = refused(lambda: sts.assume_role(RoleArn=by_acc', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_assume_role_needs_identity_permission_unless_the_trust_names_the_caller(both_servers):
    """Across accounts both the caller's policy and the trust policy must allow sts:AssumeRole; within
    one account a trust policy naming the user itself is enough, one naming the account is not."""
    caller = user(both_servers, "no-assume")
    sts = client(both_servers, "sts", credentials=caller)
    by_account = role(both_servers, "by-account")
    by_name = role(both_servers, "by-name", trust={"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole",
         "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_A}:user/no-assume"}}]})
    sts.assume_role(RoleArn=by_name, RoleSessionName="probe")
    status, code, message = refused(lambda: sts.assume_role(RoleArn=by_account, RoleSessionName="probe"))
    assert message == (f"User: arn:aws:iam::{ACCOUNT_A}:user/no-assume is not authorized to perform: sts:AssumeRole "
                       f"on resource: {by_account}")
    other_account = role(both_servers, "named-in-b", account=ACCOUNT_B, trust={"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole",
         "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_A}:user/no-assume"}}]})
    assert is_denied(lambda: sts.assume_role(RoleArn=other_account, RoleSessionName="probe"))


@pytest.mark.raw_moto(at='assert refused(sts.get_caller_identity)[:2] == (403, "InvalidClientTok', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_temporary_credentials_the_emulator_did_not_issue_are_refused(both_servers):
    sts = client(both_servers, "sts", credentials={"aws_access_key_id": "ASIAFAKEFAKEFAKEFAKE",
                                                   "aws_secret_access_key": "x", "aws_session_token": "forged"})
    assert refused(sts.get_caller_identity)[:2] == (403, "InvalidClientTokenId")


# ------------------------------------------------------------------ fail closed

@pytest.mark.raw_moto(at='assert is_denied(lambda: client(both_servers, "ec2", credentials=scope', raises='AssertionError',
                      match='assert False\\n.*where False = is_denied\\(')
def test_what_the_evaluator_cannot_decide_refuses(both_servers):
    # an operation whose resource the emulator does not name: only a Resource "*" grant can allow it
    scoped = user(both_servers, "vpc-maker", allow("ec2:CreateVpc", "arn:aws:ec2:*:*:vpc/*"))
    assert is_denied(lambda: client(both_servers, "ec2", credentials=scoped).create_vpc(CidrBlock="10.8.0.0/16"))
    broad = user(both_servers, "vpc-admin", allow("ec2:CreateVpc"))
    client(both_servers, "ec2", credentials=broad).create_vpc(CidrBlock="10.8.0.0/16")
    # a Deny that might match an unknown resource refuses
    hedged = user(both_servers, "hedged", deny("ec2:CreateVpc", "arn:aws:ec2:*:*:vpc/*"), allow("ec2:*"))
    assert is_denied(lambda: client(both_servers, "ec2", credentials=hedged).create_vpc(CidrBlock="10.8.0.0/16"))
    # … and so does a Deny on tags the emulator does not read from that operation
    tag_rule = user(both_servers, "tag-rule", allow("ec2:*"),
                    deny("ec2:CreateVpc", Condition={"StringEquals": {"aws:RequestTag/env": "prod"}}))
    assert is_denied(lambda: client(both_servers, "ec2", credentials=tag_rule).create_vpc(
        CidrBlock="10.8.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "env", "Value": "dev"}]}]))
    # a condition key the emulator does not supply, an operator it does not know
    for name, statements in [
        ("unknown-key", [allow("ssm:DescribeParameters", Condition={"StringEquals": {"aws:SourceOrgID": "o-1"}})]),
        ("unknown-key-deny", [allow("ssm:*"), deny("ssm:*", Condition={"StringEquals": {"aws:SourceOrgID": "o-1"}})]),
        # BinaryEquals is valid IAM grammar (IAM refuses unknown operators at PutUserPolicy) that the
        # evaluator does not implement
        ("unknown-operator", [allow("ssm:DescribeParameters", Condition={"BinaryEquals": {"aws:username": "eA=="}})]),
        ("unknown-operator-deny", [allow("ssm:*"), deny("ssm:*", Condition={"BinaryEquals": {"aws:username": "eA=="}})]),
        ("unknown-variable", [allow("ssm:DescribeParameters", "arn:aws:ssm:*:*:${aws:SourceOrgID}")]),
    ]:
        creds = user(both_servers, name, *statements)
        assert is_denied(lambda: client(both_servers, "ssm", credentials=creds).describe_parameters()), name


def test_refusals_are_recorded_with_the_reason(harness):
    creds = user(harness, "vpc-maker", allow("ec2:CreateVpc", "arn:aws:ec2:*:*:vpc/*"))
    with pytest.raises(ClientError) as e:
        client(harness, "ec2", credentials=creds).create_vpc(CidrBlock="10.8.0.0/16")
    assert "does not know the resource" in e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-emulator-iam"]
    state = control(harness, "/_emulator/iam")
    assert state["mode"] == "enforce"
    assert state["unmapped"] == {"ec2:CreateVpc": 1}
    entry = state["denied"][-1]
    assert (entry["action"], entry["resource"], entry["reason"]) == ("ec2:CreateVpc", "<unknown>", "no-identity")
    assert control(harness, "/_emulator/iam", method="DELETE")["denied"] == []


# ------------------------------------------------------------------ resource-based policies (S3)

@pytest.mark.raw_moto(at='assert is_denied(lambda: s3_b.get_object(Bucket="shared", Key="k"))', raises='AssertionError',
                      match='assert False\\n.*where False = is_denied\\(')
def test_bucket_policies_deny_and_grant(both_servers):
    s3_root = client(both_servers, "s3")
    s3_root.create_bucket(Bucket="shared", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3_root.put_object(Bucket="shared", Key="k", Body=b"x")
    # an administrator of the bucket's account is still refused by the bucket policy's Deny
    admin = user(both_servers, "bucket-admin", everything())
    # a user with no identity policy is let in by a bucket policy naming it
    named = user(both_servers, "named")
    # account B's administrator needs the bucket policy to grant account B
    s3_b = client(both_servers, "s3", credentials=ADMIN_B_KEYS)
    assert is_denied(lambda: s3_b.get_object(Bucket="shared", Key="k"))
    s3_root.put_bucket_policy(Bucket="shared", Policy=policy(
        {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::shared/*"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_A}:user/named"}, "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::shared/*"},
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT_B}, "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::shared/*"}))
    status, code, message = refused(lambda: client(both_servers, "s3", credentials=admin).delete_object(
        Bucket="shared", Key="k"))
    assert code == "AccessDenied" and message.endswith("with an explicit deny in a resource-based policy")
    assert client(both_servers, "s3", credentials=named).get_object(Bucket="shared", Key="k")["Body"].read() == b"x"
    assert is_denied(lambda: client(both_servers, "s3", credentials=named).put_object(Bucket="shared", Key="k2", Body=b"x"))
    assert s3_b.get_object(Bucket="shared", Key="k")["Body"].read() == b"x"
    # across accounts the caller's own policy must allow too
    no_policy_b = user(both_servers, "no-policy", account=ACCOUNT_B)
    assert is_denied(lambda: client(both_servers, "s3", credentials=no_policy_b).get_object(Bucket="shared", Key="k"))


def test_the_staging_bucket_refuses_requests_without_tls(harness):
    """The bootstrap's bucket policy (Deny s3:* when aws:SecureTransport is false) exists and applies.
    The emulator stands for AWS's TLS endpoints, so aws:SecureTransport is true unless
    /_emulator/config says otherwise."""
    bootstrap_b(harness)
    bucket = f"cdk-hnb659fds-assets-{ACCOUNT_B}-{REGION}"
    s3 = client(harness, "s3", credentials=ADMIN_B_KEYS)
    assert "AllowSSLRequestsOnly" in s3.get_bucket_policy(Bucket=bucket)["Policy"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    control(harness, "/_emulator/config", {"iam_secure_transport": False})
    try:
        status, code, message = refused(lambda: s3.get_object(Bucket=bucket, Key="k"))
        assert message.endswith("with an explicit deny in a resource-based policy")
    finally:
        control(harness, "/_emulator/config", {"iam_secure_transport": True})
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


@pytest.mark.raw_moto(at='assert "s3:PutObject" in s3.get_bucket_policy(Bucket="cfn-policy-bucke', raises='ClientError',
                      match='An error occurred \\(NoSuchBucketPolicy\\) when calling the GetBucketPolicy operation: The bucket policy does not exist')
def test_bucket_policy_resource_exists_through_cloudformation(both_servers):
    cfn = client(both_servers, "cloudformation")
    cfn.create_stack(StackName="b", TemplateBody=json.dumps({"Resources": {
        "B": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "cfn-policy-bucket"}},
        "P": {"Type": "AWS::S3::BucketPolicy", "Properties": {"Bucket": {"Ref": "B"}, "PolicyDocument": {
            "Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                                                    "Resource": "arn:aws:s3:::cfn-policy-bucket/*"}]}}}}}))
    s3 = client(both_servers, "s3")
    assert "s3:PutObject" in s3.get_bucket_policy(Bucket="cfn-policy-bucket")["Policy"]
    admin = user(both_servers, "putter", everything())
    assert is_denied(lambda: client(both_servers, "s3", credentials=admin).put_object(
        Bucket="cfn-policy-bucket", Key="k", Body=b"x"))


# ------------------------------------------------------------------ CloudFormation

def ssm_template(name="/cfn/x", extra=None):
    resources = {"P": {"Type": "AWS::SSM::Parameter", "Properties": {"Name": name, "Type": "String", "Value": "v"}}}
    resources.update(extra or {})
    return json.dumps({"Resources": resources})


def wait_final(cfn, stack):
    for _ in range(100):
        status = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        if not status.endswith("_IN_PROGRESS") or status == "REVIEW_IN_PROGRESS":
            return status
        time.sleep(0.05)
    return status


@pytest.mark.raw_moto(at='status, code, message = refused(lambda: cfn.create_change_set(', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_change_set_role_needs_pass_role_and_a_role_cloudformation_can_assume(both_servers):
    exec_role = role(both_servers, "exec", everything(), trust=CFN_TRUST)
    not_for_cfn = role(both_servers, "not-for-cfn", everything())
    deployer = user(both_servers, "deployer", allow("cloudformation:*"),
                    allow("iam:PassRole", exec_role, Condition={
                        "StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}))
    cfn = client(both_servers, "cloudformation", credentials=deployer)
    cfn.create_change_set(StackName="s", ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=ssm_template(),
                          RoleARN=exec_role)
    status, code, message = refused(lambda: cfn.create_change_set(
        StackName="t", ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=ssm_template(), RoleARN=not_for_cfn))
    assert code == "AccessDenied" and "iam:PassRole on resource: " + not_for_cfn in message
    admin_cfn = client(both_servers, "cloudformation")
    status, code, message = refused(lambda: admin_cfn.create_change_set(
        StackName="t", ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=ssm_template(), RoleARN=not_for_cfn))
    assert (code, message) == ("ValidationError", f"Role {not_for_cfn} is invalid or cannot be assumed")


@pytest.mark.raw_moto(at='StackName="s", ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=template, RoleARN=exec_role))', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_pass_role_is_checked_with_the_service_the_role_goes_to(both_servers):
    """A change set's RoleARN is passed to cloudformation.amazonaws.com (iam:PassedToService): a
    PassRole granted only for EC2 does not cover it, and a Deny naming CloudFormation wins over a
    PassRole on every role."""
    exec_role = role(both_servers, "exec", everything(), trust=CFN_TRUST)
    template = ssm_template()
    for name, statements, ending in [
        ("ec2-passer", [allow("iam:PassRole", exec_role, Condition={
            "StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}})],
         "because no identity-based policy allows the iam:PassRole action"),
        ("denied-passer", [allow("iam:PassRole"), deny("iam:PassRole", Condition={
            "StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}})],
         "with an explicit deny in an identity-based policy"),
    ]:
        creds = user(both_servers, name, allow("cloudformation:*"), *statements)
        cfn = client(both_servers, "cloudformation", credentials=creds)
        status, code, message = refused(lambda: cfn.create_change_set(
            StackName="s", ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=template, RoleARN=exec_role))
        assert code == "AccessDenied" and f"iam:PassRole on resource: {exec_role} " in message, message
        assert message.endswith(ending), message


@pytest.mark.raw_moto(at='StackName=stack, ChangeSetName="c", ChangeSetType="CREATE", **{"TemplateBody": template, **kwargs}))', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_ssm_typed_stack_parameters_are_resolved_with_the_callers_permissions(both_servers):
    """An AWS::SSM::Parameter::Value<String> parameter is read with the caller's ssm:GetParameters,
    even with a RoleARN that could read anything; a refusal is CloudFormation's ValidationError."""
    root = client(both_servers, "ssm")
    for name in ("/team/ami", "/other/ami"):
        root.put_parameter(Name=name, Value="ami-0123456789abcdef0", Type="String")
    exec_role = role(both_servers, "exec", everything(), trust=CFN_TRUST)
    deployer = user(both_servers, "deployer", allow("cloudformation:*"), allow("iam:PassRole", exec_role),
                    allow("ssm:GetParameters", f"arn:aws:ssm:{REGION}:{ACCOUNT_A}:parameter/team/*"))
    cfn = client(both_servers, "cloudformation", credentials=deployer)
    template = json.dumps({"Parameters": {"Ami": {"Type": "AWS::SSM::Parameter::Value<String>",
                                                  "Default": "/team/ami"}},
                           "Resources": json.loads(ssm_template())["Resources"]})
    cfn.create_change_set(StackName="ok", ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=template,
                          RoleARN=exec_role)
    for stack, params in (("passed", [{"ParameterKey": "Ami", "ParameterValue": "/other/ami"}]), ("no-role", None)):
        kwargs = {"Parameters": params, "RoleARN": exec_role} if params else {
            "TemplateBody": template.replace("/team/ami", "/other/ami")}
        status, code, message = refused(lambda: cfn.create_change_set(
            StackName=stack, ChangeSetName="c", ChangeSetType="CREATE", **{"TemplateBody": template, **kwargs}))
        assert (status, code, message) == (
            400, "ValidationError", "AccessDenied. User doesn't have permission to call ssm:GetParameters")


@pytest.mark.raw_moto(at='assert wait_final(cfn, "vpc") == "ROLLBACK_COMPLETE"', raises='AssertionError',
                      match="assert 'CREATE_COMPLETE' == 'ROLLBACK_COMPLETE'")
def test_resource_handlers_run_with_the_stack_role(both_servers):
    """The stack's role (not the caller) creates the resources: an exec role allowed only SSM
    parameters under /cfn/ can create one, not a VPC; the failure is AWS's handler message and the
    stack rolls back."""
    exec_role = role(both_servers, "narrow-exec", allow(["ssm:PutParameter", "ssm:GetParameters",
                                                         "ssm:DeleteParameter"], "arn:aws:ssm:*:*:parameter/cfn/*"),
                     trust=CFN_TRUST)
    deployer = user(both_servers, "deployer", allow("cloudformation:*"), allow("iam:PassRole", exec_role))
    cfn = client(both_servers, "cloudformation", credentials=deployer)
    cfn.create_change_set(StackName="ok", ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=ssm_template(),
                          RoleARN=exec_role)
    cfn.execute_change_set(StackName="ok", ChangeSetName="c")
    assert wait_final(cfn, "ok") == "CREATE_COMPLETE"
    cfn.create_change_set(StackName="vpc", ChangeSetName="c", ChangeSetType="CREATE", RoleARN=exec_role,
                          TemplateBody=ssm_template("/cfn/y", {"V": {"Type": "AWS::EC2::VPC", "DependsOn": "P",
                                                                     "Properties": {"CidrBlock": "10.4.0.0/16"}}}))
    cfn.execute_change_set(StackName="vpc", ChangeSetName="c")
    assert wait_final(cfn, "vpc") == "ROLLBACK_COMPLETE"
    failed = next(e for e in cfn.describe_stack_events(StackName="vpc")["StackEvents"]
                  if e["ResourceStatus"] == "CREATE_FAILED")
    assert failed["LogicalResourceId"] == "V"
    assert failed["ResourceStatusReason"] == (
        'Resource handler returned message: "User: arn:aws:sts::111111111111:assumed-role/narrow-exec/AWSCloudFormation'
        f' is not authorized to perform: ec2:CreateVpc on resource: arn:aws:ec2:{REGION}:{ACCOUNT_A}:vpc/* because '
        'no identity-based policy allows the ec2:CreateVpc action" (Error Code: AccessDenied)')
    assert client(both_servers, "ssm").get_parameters(Names=["/cfn/y"])["Parameters"] == []  # rolled back
    # deleting the stack runs with its role too
    cfn.delete_stack(StackName="ok")
    assert client(both_servers, "ssm").get_parameters(Names=["/cfn/x"])["Parameters"] == []


@pytest.mark.raw_moto(at='assert wait_final(cfn, "theirs") == "ROLLBACK_COMPLETE"', raises='AssertionError',
                      match="assert 'CREATE_COMPLETE' == 'ROLLBACK_COMPLETE'")
def test_without_a_role_resource_handlers_use_the_callers_permissions(both_servers):
    deployer = user(both_servers, "own-creds", allow("cloudformation:*"),
                    allow(["ssm:PutParameter", "ssm:GetParameters"], "arn:aws:ssm:*:*:parameter/mine/*"))
    cfn = client(both_servers, "cloudformation", credentials=deployer)
    cfn.create_change_set(StackName="mine", ChangeSetName="c", ChangeSetType="CREATE",
                          TemplateBody=ssm_template("/mine/x"))
    cfn.execute_change_set(StackName="mine", ChangeSetName="c")
    assert wait_final(cfn, "mine") == "CREATE_COMPLETE"
    cfn.create_change_set(StackName="theirs", ChangeSetName="c", ChangeSetType="CREATE",
                          TemplateBody=ssm_template("/theirs/x"))
    cfn.execute_change_set(StackName="theirs", ChangeSetName="c")
    assert wait_final(cfn, "theirs") == "ROLLBACK_COMPLETE"
    reason = next(e["ResourceStatusReason"] for e in cfn.describe_stack_events(StackName="theirs")["StackEvents"]
                  if e["ResourceStatus"] == "CREATE_FAILED")
    assert f"User: arn:aws:iam::{ACCOUNT_A}:user/own-creds is not authorized to perform: ssm:PutParameter" in reason


@pytest.mark.raw_moto(at='status, code, message = refused(lambda: client(both_servers, "cloudfor', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_template_url_is_read_with_the_callers_permissions(both_servers):
    s3 = client(both_servers, "s3")
    s3.create_bucket(Bucket="templates", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="templates", Key="t.json", Body=ssm_template("/url/x").encode())
    url = f"http://localhost:{both_servers.port}/templates/t.json"  # moto reads path-style URLs of localhost
    reader = user(both_servers, "url-reader", allow("cloudformation:*"), allow("s3:GetObject", "arn:aws:s3:::templates/*"))
    blind = user(both_servers, "url-blind", allow("cloudformation:*"))
    client(both_servers, "cloudformation", credentials=reader).create_change_set(
        StackName="u", ChangeSetName="c", ChangeSetType="CREATE", TemplateURL=url)
    status, code, message = refused(lambda: client(both_servers, "cloudformation", credentials=blind).create_change_set(
        StackName="v", ChangeSetName="c", ChangeSetType="CREATE", TemplateURL=url))
    assert "s3:GetObject on resource: arn:aws:s3:::templates/t.json" in message


# ------------------------------------------------------------------ pipeline-run's identities and bootstrap roles

def bootstrap_b(server, trusted=ACCOUNT_A, policies=ADMIN):
    with open(os.path.join(HERE, "..", "..", "bootstrap", "bootstrap-template.yaml")) as f:
        template = f.read()
    cfn = client(server, "cloudformation", account=ACCOUNT_B)
    cfn.create_stack(StackName="CDKToolkit", TemplateBody=template, Capabilities=["CAPABILITY_NAMED_IAM"], Parameters=[
        {"ParameterKey": "TrustedAccounts", "ParameterValue": trusted},
        {"ParameterKey": "CloudFormationExecutionPolicies", "ParameterValue": policies}])


def bootstrap_role(kind, account=ACCOUNT_B):
    return f"arn:aws:iam::{account}:role/cdk-hnb659fds-{kind}-role-{account}-{REGION}"


@pytest.mark.raw_moto(at='assert is_denied(lambda: client(both_servers, "cloudformation", creden', raises='AssertionError',
                      match='assert False\\n.*where False = is_denied\\(')
def test_bootstrap_roles_can_do_their_job_and_nothing_else(both_servers):
    bootstrap_b(both_servers)
    bucket = f"cdk-hnb659fds-assets-{ACCOUNT_B}-{REGION}"
    deploy = session(both_servers, CI_KEYS, bootstrap_role("deploy"))
    publish = session(both_servers, CI_KEYS, bootstrap_role("file-publishing"))
    lookup = session(both_servers, CI_KEYS, bootstrap_role("lookup"))
    # file-publishing: the staging bucket, nothing else
    client(both_servers, "s3", credentials=publish).put_object(Bucket=bucket, Key="asset.zip", Body=b"zip")
    assert is_denied(lambda: client(both_servers, "cloudformation", credentials=publish).describe_stacks())
    # deploy: change sets with the execution role, reading (not writing) the bucket, the version
    cfn = client(both_servers, "cloudformation", credentials=deploy)
    cfn.create_change_set(StackName="app", ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=ssm_template(),
                          RoleARN=bootstrap_role("cfn-exec"))
    cfn.execute_change_set(StackName="app", ChangeSetName="c")
    assert wait_final(cfn, "app") == "CREATE_COMPLETE"
    cfn.update_termination_protection(StackName="app", EnableTerminationProtection=True)  # a stage option
    s3_deploy = client(both_servers, "s3", credentials=deploy)
    assert s3_deploy.get_object(Bucket=bucket, Key="asset.zip")["Body"].read() == b"zip"
    assert is_denied(lambda: s3_deploy.put_object(Bucket=bucket, Key="x", Body=b"x"))
    ssm = client(both_servers, "ssm", credentials=deploy)
    assert ssm.get_parameter(Name="/cdk-bootstrap/hnb659fds/version")["Parameter"]["Value"] == "33"
    # … and it cannot pass another role, nor create resources itself
    assert is_denied(lambda: cfn.create_change_set(
        StackName="esc", ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=ssm_template("/esc"),
        RoleARN=f"arn:aws:iam::{ACCOUNT_B}:role/OrganizationAccountAccessRole"))
    assert is_denied(lambda: client(both_servers, "ec2", credentials=deploy).create_vpc(CidrBlock="10.3.0.0/16"))
    # lookup: reads, never writes, never decrypts
    client(both_servers, "cloudformation", credentials=lookup).describe_stacks(StackName="app")
    client(both_servers, "ec2", credentials=lookup).describe_route_tables()
    assert is_denied(lambda: client(both_servers, "ssm", credentials=lookup).put_parameter(
        Name="/x", Value="1", Type="String"))
    assert is_denied(lambda: client(both_servers, "cloudformation", credentials=lookup).delete_stack(StackName="app"))


@pytest.mark.raw_moto(at='status, code, message = refused(lambda: ssm.put_parameter(', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_the_deploy_role_reads_and_writes_parameters_only_in_its_namespace(both_servers):
    """The deploy role: Parameter Store under <ParameterStorePrefix>/<qualifier>/ (default
    /pipeline-run/hnb659fds/) and a read of the bootstrap version, nothing else; the version is
    protected by an explicit Deny whatever the prefix."""
    bootstrap_b(both_servers)
    root = client(both_servers, "ssm", account=ACCOUNT_B)
    root.put_parameter(Name="/app/secret", Value="s3cr3t", Type="SecureString")
    ssm = client(both_servers, "ssm", credentials=session(both_servers, CI_KEYS, bootstrap_role("deploy")))
    name = "/pipeline-run/hnb659fds/stage/output"
    ssm.put_parameter(Name=name, Value="1", Type="String")
    ssm.put_parameter(Name=name, Value="2", Type="String", Overwrite=True)
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "2"
    assert [p["Name"] for p in ssm.get_parameters(Names=[name])["Parameters"]] == [name]
    ssm.delete_parameter(Name=name)
    ssm.get_parameter(Name="/cdk-bootstrap/hnb659fds/version")
    status, code, message = refused(lambda: ssm.put_parameter(
        Name="/cdk-bootstrap/hnb659fds/version", Value="999", Type="String", Overwrite=True))
    assert code == "AccessDeniedException" and message.endswith("with an explicit deny in an identity-based policy")
    for outside in ("/pipeline-run/other/x", "/pipeline-run/hnb659fdsx", "/vpc/id"):
        assert is_denied(lambda: ssm.put_parameter(Name=outside, Value="1", Type="String")), outside
    assert is_denied(lambda: ssm.get_parameter(Name="/app/secret", WithDecryption=True))


@pytest.mark.raw_moto(at='status, code, message = refused(lambda: ssm.put_parameter(Name=name, V', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_a_custom_parameter_store_prefix_moves_the_namespace_and_keeps_the_versions_denied(both_servers):
    """ParameterStorePrefix=/cdk-bootstrap would put the version inside the namespace. The
    template's AllowedPattern refuses that prefix on AWS (moto does not check AllowedPattern, which
    lets this show that the explicit Deny alone holds: nothing under /cdk-bootstrap/ is writable).
    Another prefix replaces /pipeline-run/."""
    with open(os.path.join(HERE, "..", "..", "bootstrap", "bootstrap-template.yaml")) as f:
        template = f.read()
    cfn = client(both_servers, "cloudformation", account=ACCOUNT_B)
    for stack, prefix in (("CDKToolkit", "/cdk-bootstrap"), ("Team", "/team/outputs")):
        qualifier = "hnb659fds" if stack == "CDKToolkit" else "team1"
        cfn.create_stack(StackName=stack, TemplateBody=template, Capabilities=["CAPABILITY_NAMED_IAM"], Parameters=[
            {"ParameterKey": "TrustedAccounts", "ParameterValue": ACCOUNT_A},
            {"ParameterKey": "CloudFormationExecutionPolicies", "ParameterValue": ADMIN},
            {"ParameterKey": "Qualifier", "ParameterValue": qualifier},
            {"ParameterKey": "ParameterStorePrefix", "ParameterValue": prefix}])
    ssm = client(both_servers, "ssm", credentials=session(both_servers, CI_KEYS, bootstrap_role("deploy")))
    for name in ("/cdk-bootstrap/hnb659fds/version", "/cdk-bootstrap/hnb659fds/out"):
        status, code, message = refused(lambda: ssm.put_parameter(Name=name, Value="9", Type="String", Overwrite=True))
        assert message.endswith("with an explicit deny in an identity-based policy"), message
    ssm.get_parameter(Name="/cdk-bootstrap/hnb659fds/version")
    team_role = f"arn:aws:iam::{ACCOUNT_B}:role/cdk-team1-deploy-role-{ACCOUNT_B}-{REGION}"
    team = client(both_servers, "ssm", credentials=session(both_servers, CI_KEYS, team_role))
    team.put_parameter(Name="/team/outputs/team1/out", Value="1", Type="String")
    assert is_denied(lambda: team.put_parameter(Name="/pipeline-run/team1/out", Value="1", Type="String"))


@pytest.mark.raw_moto(at='assert is_denied(lambda: client(both_servers, "ec2", credentials=CI_KE', raises='AssertionError',
                      match='assert False\\n.*where False = is_denied\\(')
def test_the_ci_identity_is_no_administrator(both_servers):
    """`ci` (account A) may deploy through the bootstrap roles, bootstrap its own account (CDKToolkit
    and its cdk-* resources) and member accounts (OrganizationAccountAccessRole), and read stacks."""
    sts = client(both_servers, "sts", credentials=CI_KEYS)
    sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT_B}:role/OrganizationAccountAccessRole", RoleSessionName="probe")
    client(both_servers, "cloudformation", credentials=CI_KEYS).list_stacks()
    assert is_denied(lambda: client(both_servers, "ec2", credentials=CI_KEYS).describe_vpcs())
    assert is_denied(lambda: client(both_servers, "s3", credentials=CI_KEYS).list_buckets())
    assert is_denied(lambda: client(both_servers, "cloudformation", credentials=CI_KEYS).create_stack(
        StackName="not-the-toolkit", TemplateBody=ssm_template()))
    other = role(both_servers, "not-bootstrap", account=ACCOUNT_B)
    assert is_denied(lambda: sts.assume_role(RoleArn=other, RoleSessionName="probe"))


# ------------------------------------------------------------------ the switch (harness only)

def test_enforcement_can_be_switched_off_and_to_audit_for_debugging(harness):
    creds = user(harness, "nobody")
    ec2 = client(harness, "ec2", credentials=creds)
    assert is_denied(ec2.describe_vpcs)
    assert control(harness, "/_emulator/config", {"iam": "off"})["iam"] == "off"
    ec2.describe_vpcs()
    control(harness, "/_emulator/config", {"iam": "audit"})
    control(harness, "/_emulator/iam", method="DELETE")
    ec2.describe_vpcs()
    assert [d["action"] for d in control(harness, "/_emulator/iam")["denied"]] == ["ec2:DescribeVpcs"]
    harness.reset()  # back to the default, as at start
    assert control(harness, "/_emulator/config")["iam"] == "enforce"
    with pytest.raises(urllib.error.HTTPError):
        control(harness, "/_emulator/config", {"iam": "maybe"})


def test_the_default_mode_comes_from_the_environment():
    from conftest import Server
    server = Server(env={"EMULATOR_IAM": "off"})
    try:
        assert control(server, "/_emulator/config")["iam"] == "off"
        client(server, "ec2", credentials=CI_KEYS).describe_vpcs()
    finally:
        server.stop()
