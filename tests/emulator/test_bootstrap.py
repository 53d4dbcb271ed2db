"""The CDK-compatible bootstrap template (bootstrap/bootstrap-template.yaml) on the emulator, and
the emulator behaviour the real CDK CLI relies on (patches/cfn_template_url.py).

`both_servers` tests must fail on raw moto: raw moto reads no loopback TemplateURL, evaluates no
trust policy condition and no permissions boundary.
"""
import pytest
import json
import os
import time

from botocore.exceptions import ClientError

from conftest import ACCOUNT_A, ACCOUNT_B, HERE, REGION, client
from test_iam import ADMIN, CI_KEYS, is_denied, policy, allow, session, ssm_template, wait_final

with open(os.path.join(HERE, "..", "..", "bootstrap", "bootstrap-template.yaml")) as f:
    TEMPLATE = f.read()


def deploy_role(account=ACCOUNT_B):
    return f"arn:aws:iam::{account}:role/cdk-hnb659fds-deploy-role-{account}-{REGION}"


def bootstrap_b(server, **parameters):
    params = {"TrustedAccounts": ACCOUNT_A, "CloudFormationExecutionPolicies": ADMIN,
              "FileAssetsBucketKmsKeyId": "AWS_MANAGED_KEY", **parameters}
    cfn = client(server, "cloudformation", account=ACCOUNT_B)
    cfn.create_stack(StackName="CDKToolkit", TemplateBody=TEMPLATE, Capabilities=["CAPABILITY_NAMED_IAM"],
                     Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()])
    assert wait_final(cfn, "CDKToolkit") == "CREATE_COMPLETE"
    return cfn


def wait_change_set(cfn, name):
    for _ in range(200):
        cs = cfn.describe_change_set(StackName="CDKToolkit", ChangeSetName=name)
        if cs["Status"] in ("CREATE_COMPLETE", "FAILED"):
            assert cs["Status"] == "CREATE_COMPLETE", cs.get("StatusReason")
            return cs
        time.sleep(0.05)
    raise AssertionError(f"change set {name} still {cs['Status']}")


@pytest.mark.raw_moto(at='cfn.create_change_set(StackName="by-url", ChangeSetName="c", ChangeSet', raises='ClientError',
                      match='An error occurred \\(NoSuchBucket\\) when calling the CreateChangeSet operation: The specified bucket does not exist')
def test_template_url_of_the_emulators_own_address_is_read(both_servers):
    # what the AWS CDK CLI sends with AWS_ENDPOINT_URL=http://127.0.0.1:<port>
    s3 = client(both_servers, "s3")
    s3.create_bucket(Bucket="templates", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="templates", Key="t.json", Body=ssm_template("/url/own").encode())
    cfn = client(both_servers, "cloudformation")
    cfn.create_change_set(StackName="by-url", ChangeSetName="c", ChangeSetType="CREATE",
                          TemplateURL=f"http://127.0.0.1:{both_servers.port}/templates/t.json")
    cfn.execute_change_set(StackName="by-url", ChangeSetName="c")
    assert wait_final(cfn, "by-url") == "CREATE_COMPLETE"
    assert client(both_servers, "ssm").get_parameter(Name="/url/own")["Parameter"]["Value"] == "v"


@pytest.mark.raw_moto(at='assert is_denied(lambda: sts.assume_role(RoleArn=deploy_role(), RoleSe', raises='AssertionError',
                      match='assert False\\n.*where False = is_denied\\(')
def test_bootstrap_roles_refuse_an_external_id_unless_deny_external_id_is_false(both_servers):
    cfn = bootstrap_b(both_servers)
    sts = client(both_servers, "sts", credentials=CI_KEYS)
    assert is_denied(lambda: sts.assume_role(RoleArn=deploy_role(), RoleSessionName="deputy", ExternalId="deputy-id"))
    session(both_servers, CI_KEYS, deploy_role())  # without an ExternalId: trusted
    # as `pipeline-run bootstrap` and `cdk bootstrap` update it: a change set keeping the other values
    cfn.create_change_set(StackName="CDKToolkit", ChangeSetName="deputy", UsePreviousTemplate=True,
                          Capabilities=["CAPABILITY_NAMED_IAM"],
                          Parameters=[{"ParameterKey": "DenyExternalId", "ParameterValue": "false"}] +
                          [{"ParameterKey": k, "UsePreviousValue": True} for k in
                           ("TrustedAccounts", "CloudFormationExecutionPolicies", "FileAssetsBucketKmsKeyId")])
    wait_change_set(cfn, "deputy")
    cfn.execute_change_set(StackName="CDKToolkit", ChangeSetName="deputy")
    assert wait_final(cfn, "CDKToolkit") == "UPDATE_COMPLETE"
    session(both_servers, CI_KEYS, deploy_role(), ExternalId="deputy-id")


@pytest.mark.raw_moto(at='assert is_denied(lambda: client(both_servers, "cloudformation", creden', raises='AssertionError',
                      match='assert False\\n.*where False = is_denied\\(')
def test_a_permissions_boundary_bounds_every_bootstrap_role_when_applied_to_all(both_servers):
    iam = client(both_servers, "iam", account=ACCOUNT_B)
    iam.create_policy(PolicyName="only-ssm", PolicyDocument=policy(allow("ssm:*")))
    bootstrap_b(both_servers, InputPermissionsBoundary="only-ssm", ApplyPermissionsBoundaryToAllRoles="true")
    role = iam.get_role(RoleName=f"cdk-hnb659fds-deploy-role-{ACCOUNT_B}-{REGION}")["Role"]
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == f"arn:aws:iam::{ACCOUNT_B}:policy/only-ssm"
    creds = session(both_servers, CI_KEYS, deploy_role())
    # allowed by the role and by the boundary
    assert client(both_servers, "ssm", credentials=creds).get_parameter(
        Name="/cdk-bootstrap/hnb659fds/version")["Parameter"]["Value"] == "33"
    # allowed by the role, outside the boundary: effective permissions are the intersection
    assert is_denied(lambda: client(both_servers, "cloudformation", credentials=creds).describe_stacks())


@pytest.mark.raw_moto(at='assert is_denied(lambda: s3.put_object(Bucket="elsewhere", Key="a.zip"', raises='AssertionError',
                      match='assert False\\n.*where False = is_denied\\(')
def test_the_file_publishing_role_is_kept_to_this_accounts_bucket_and_key(both_servers):
    bootstrap_b(both_servers, FileAssetsBucketKmsKeyId="")  # the CDK template's default: a new key
    cfn = client(both_servers, "cloudformation", account=ACCOUNT_B)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName="CDKToolkit")["Stacks"][0]["Outputs"]}
    assert outputs["FileAssetKeyArn"].startswith(f"arn:aws:kms:{REGION}:{ACCOUNT_B}:key/")
    assert outputs["BootstrapVersion"] == "33"
    aliases = client(both_servers, "kms", account=ACCOUNT_B).list_aliases()["Aliases"]
    assert any(a["AliasName"] == "alias/cdk-hnb659fds-assets-key" for a in aliases)
    creds = session(both_servers, CI_KEYS, f"arn:aws:iam::{ACCOUNT_B}:role/cdk-hnb659fds-file-publishing-role-{ACCOUNT_B}-{REGION}")
    s3 = client(both_servers, "s3", credentials=creds)
    s3.put_object(Bucket=f"cdk-hnb659fds-assets-{ACCOUNT_B}-{REGION}", Key="a.zip", Body=b"zip")
    # a bucket of another account is not this account's staging bucket
    owner = client(both_servers, "s3", account=ACCOUNT_A)
    owner.create_bucket(Bucket="elsewhere", CreateBucketConfiguration={"LocationConstraint": REGION})
    assert is_denied(lambda: s3.put_object(Bucket="elsewhere", Key="a.zip", Body=b"zip"))
    doc = json.dumps(cfn.get_template(StackName="CDKToolkit")["TemplateBody"])
    assert "aws:ResourceAccount" in doc


def test_a_request_on_a_bucket_that_does_not_exist_is_answered_no_such_bucket(harness):
    # The file-publishing role may touch only its own account's bucket (aws:ResourceAccount); a
    # deleted staging bucket has no account, and S3 answers NoSuchBucket, not AccessDenied.
    bootstrap_b(harness)
    bucket = f"cdk-hnb659fds-assets-{ACCOUNT_B}-{REGION}"
    admin = client(harness, "s3", account=ACCOUNT_B)
    admin.delete_bucket(Bucket=bucket)
    creds = session(harness, CI_KEYS, f"arn:aws:iam::{ACCOUNT_B}:role/cdk-hnb659fds-file-publishing-role-{ACCOUNT_B}-{REGION}")
    s3 = client(harness, "s3", credentials=creds)
    try:
        s3.list_objects_v2(Bucket=bucket, Prefix="x")
        raise AssertionError("listed a deleted bucket")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "NoSuchBucket", e.response
    # creating a bucket is still authorized: the role may not
    assert is_denied(lambda: s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}))
