"""SSM documents as SendCommand uses them (patches/ssm_documents.py): a document that does not exist,
parameters the document does not accept, an account's own Command document run with its parameters
through the emulated network — and the bootstrap's ping document, the only command its deploy role
may send, and only to instances tagged for verification."""
import json
import os

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT_A, ACCOUNT_B, REGION, client
from test_iam import CI_KEYS, allow, bootstrap_role, is_denied, session, user, wait_final
from test_network import peer, vpc_with_instance

HERE = os.path.dirname(os.path.abspath(__file__))
PING = "cdk-hnb659fds-pipeline-run-ping"
TAG = "pipeline-run:verify"


def bootstrap(server, account):
    """The bootstrap template as CDKToolkit in `account`, trusting account A (as `pipeline-run
    bootstrap` deploys it)."""
    with open(os.path.join(HERE, "..", "..", "bootstrap", "bootstrap-template.yaml")) as f:
        template = f.read()
    client(server, "cloudformation", account=account).create_stack(
        StackName="CDKToolkit", TemplateBody=template, Capabilities=["CAPABILITY_NAMED_IAM"], Parameters=[
            {"ParameterKey": "TrustedAccounts", "ParameterValue": ACCOUNT_A},
            {"ParameterKey": "CloudFormationExecutionPolicies",
             "ParameterValue": "arn:aws:iam::aws:policy/AdministratorAccess"}])


def code_of(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"]


def finished(ssm, command_id, instance):
    """Polls like a client must (the invocation appears late and is InProgress first)."""
    for _ in range(10):
        try:
            invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance)
        except ClientError as error:
            if error.response["Error"]["Code"] != "InvocationDoesNotExist":
                raise
            continue
        if invocation["Status"] not in ("Pending", "InProgress", "Delayed"):
            return invocation
    raise AssertionError("command did not finish")


@pytest.mark.raw_moto(at='assert code_of(lambda: ssm.send_command(InstanceIds=[src.instance], Do', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_send_command_refuses_a_document_that_does_not_exist(both_servers):
    src = vpc_with_instance(both_servers, ACCOUNT_B, "10.1.0.0/16", "10.1.0.10")
    ssm = client(both_servers, "ssm", account=ACCOUNT_B)
    for name in (PING, "AWS-NoSuchDocument"):
        assert code_of(lambda: ssm.send_command(InstanceIds=[src.instance], DocumentName=name,
                                                Parameters={"TargetIp": ["10.1.0.10"]})) == "InvalidDocument"


BAD_PARAMETERS = [
    # (document, parameters) SendCommand must refuse with InvalidParameters
    (PING, {"TargetIp": ["10.1.0.10"], "commands": ["reboot"]}),  # not declared by the document
    (PING, {"Count": ["3"]}),  # TargetIp is required
    (PING, {"TargetIp": ["10.1.0.10; reboot"]}),
    (PING, {"TargetIp": ["$(reboot)"]}),
    (PING, {"TargetIp": ["10.1.0.10 "]}),
    (PING, {"TargetIp": ["256.1.0.10"]}),
    (PING, {"TargetIp": ["x10.1.0.10"]}),
    (PING, {"TargetIp": ["10.1.0.10", "10.1.0.11"]}),  # a String takes one value
    (PING, {"TargetIp": ["10.1.0.10"], "Count": ["0"]}),
    (PING, {"TargetIp": ["10.1.0.10"], "Count": ["101"]}),
    (PING, {"TargetIp": ["10.1.0.10"], "Count": ["3 -f"]}),
    (PING, {"TargetIp": ["10.1.0.10"], "TimeoutSeconds": ["61"]}),
    ("AWS-RunShellScript", {"command": ["true"]}),
    ("AWS-RunShellScript", {}),
    ("AWS-RunShellScript", {"commands": ["true"], "executionTimeout": ["forever"]}),
]


@pytest.mark.parametrize("document, parameters", BAD_PARAMETERS, ids=[str(p) for _, p in BAD_PARAMETERS])
@pytest.mark.raw_moto(at='assert code_of(lambda: ssm.send_command(InstanceIds=[src.instance], Do', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_send_command_validates_parameters_against_the_document(both_servers, document, parameters):
    bootstrap(both_servers, ACCOUNT_B)
    src = vpc_with_instance(both_servers, ACCOUNT_B, "10.1.0.0/16", "10.1.0.10")
    ssm = client(both_servers, "ssm", account=ACCOUNT_B)
    assert code_of(lambda: ssm.send_command(InstanceIds=[src.instance], DocumentName=document,
                                            Parameters=parameters)) == "InvalidParameters"


@pytest.mark.raw_moto(at='described = ssm.describe_document(Name=PING)["Document"]', raises='ClientError',
                      match='An error occurred \\(500\\) when calling the DescribeDocument operation \\(reached max retries: 1\\): <!doctype html>')
def test_the_ping_document_runs_ping_with_its_parameters_through_the_network(both_servers):
    bootstrap(both_servers, ACCOUNT_B)
    a = vpc_with_instance(both_servers, ACCOUNT_A, "10.0.0.0/16", "10.0.0.10", icmp_from="10.1.0.0/16")
    b = vpc_with_instance(both_servers, ACCOUNT_B, "10.1.0.0/16", "10.1.0.10", icmp_from="10.0.0.0/16")
    peer(a, b)
    ssm = client(both_servers, "ssm", account=ACCOUNT_B)
    described = ssm.describe_document(Name=PING)["Document"]
    assert (described["DocumentType"], described["SchemaVersion"]) == ("Command", "2.2")

    def ping(**parameters):
        command = ssm.send_command(InstanceIds=[b.instance], DocumentName=PING, Parameters=parameters)["Command"]
        return finished(ssm, command["CommandId"], b.instance)

    ok = ping(TargetIp=[a.ip], Count=["2"], TimeoutSeconds=["1"])
    assert (ok["Status"], ok["ResponseCode"]) == ("Success", 0)
    assert "2 packets transmitted, 2 received, 0% packet loss" in ok["StandardOutputContent"]
    defaults = ping(TargetIp=[a.ip])  # Count defaults to 3
    assert "3 packets transmitted, 3 received" in defaults["StandardOutputContent"]
    b.ec2.delete_route(RouteTableId=b.rt, DestinationCidrBlock=a.cidr)
    lost = ping(TargetIp=[a.ip])
    assert (lost["Status"], lost["ResponseCode"]) == ("Failed", 1)
    assert "3 packets transmitted, 0 received, 100% packet loss" in lost["StandardOutputContent"]


@pytest.mark.raw_moto(at='assert is_denied(lambda: ssm.send_command(InstanceIds=[src.instance], ', raises='AssertionError',
                      match='assert False\\n.*where False = is_denied\\(')
def test_account_documents_are_authorized_by_their_account_arn(both_servers):
    """An account's own document is `arn:aws:ssm:R:ACCOUNT:document/NAME` (whether it exists yet or
    not), an AWS-owned one `arn:aws:ssm:R::document/NAME`: a grant on the account's documents does
    not reach AWS-RunShellScript, and a missing document of the account is InvalidDocument."""
    src = vpc_with_instance(both_servers, ACCOUNT_A, "10.0.0.0/16", "10.0.0.10")
    creds = user(both_servers, "documents",
                 allow("ssm:SendCommand", [f"arn:aws:ssm:{REGION}:{ACCOUNT_A}:document/*",
                                           f"arn:aws:ec2:{REGION}:{ACCOUNT_A}:instance/*"]))
    ssm = client(both_servers, "ssm", credentials=creds)
    assert is_denied(lambda: ssm.send_command(InstanceIds=[src.instance], DocumentName="AWS-RunShellScript",
                                              Parameters={"commands": ["true"]}))
    assert code_of(lambda: ssm.send_command(InstanceIds=[src.instance], DocumentName="cdk-none-pipeline-run-ping",
                                            Parameters={"TargetIp": ["10.0.0.10"]})) == "InvalidDocument"


@pytest.mark.raw_moto(at='assert is_denied(lambda: ssm.send_command(InstanceIds=[tagged], Docume', raises='AssertionError',
                      match='assert False\\n.*where False = is_denied\\(')
def test_the_bootstrap_deploy_role_sends_only_the_ping_document_only_to_tagged_instances(both_servers):
    bootstrap(both_servers, ACCOUNT_B)
    src = vpc_with_instance(both_servers, ACCOUNT_B, "10.1.0.0/16", "10.1.0.10", icmp_from="10.1.0.0/16")
    tagged = src.ec2.run_instances(ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1, SubnetId=src.subnet,
                                   PrivateIpAddress="10.1.0.20", SecurityGroupIds=[src.sg], TagSpecifications=[
                                       {"ResourceType": "instance", "Tags": [{"Key": TAG, "Value": "true"}]}])[
        "Instances"][0]["InstanceId"]
    ssm = client(both_servers, "ssm", credentials=session(both_servers, CI_KEYS, bootstrap_role("deploy")))
    ping = {"DocumentName": PING, "Parameters": {"TargetIp": [src.ip]}}
    assert is_denied(lambda: ssm.send_command(InstanceIds=[tagged], DocumentName="AWS-RunShellScript",
                                              Parameters={"commands": ["id"]}))
    assert is_denied(lambda: ssm.send_command(InstanceIds=[src.instance], **ping))
    command_id = ssm.send_command(InstanceIds=[tagged], **ping)["Command"]["CommandId"]
    assert finished(ssm, command_id, tagged)["Status"] == "Success"


@pytest.mark.raw_moto(at='assert wait_final(cfn, "theirs") == "ROLLBACK_COMPLETE"', raises='AssertionError',
                      match="assert 'CREATE_COMPLETE' == 'ROLLBACK_COMPLETE'")
def test_cloudformation_creates_a_document_with_the_callers_document_permissions(both_servers):
    """AWS::SSM::Document's create handler needs ssm:CreateDocument and ssm:GetDocument on the
    document's ARN (and nothing on `*`); without them the resource fails and the stack rolls back."""
    def template(name):
        return json.dumps({"Resources": {"D": {"Type": "AWS::SSM::Document", "Properties": {
            "Name": name, "DocumentType": "Command", "DocumentFormat": "JSON", "Content": {
                "schemaVersion": "2.2", "mainSteps": [
                    {"action": "aws:runShellScript", "name": "s", "inputs": {"runCommand": ["true"]}}]}}}}})

    deployer = user(both_servers, "documents-deployer", allow("cloudformation:*"),
                    allow(["ssm:CreateDocument", "ssm:GetDocument", "ssm:DeleteDocument"],
                          f"arn:aws:ssm:{REGION}:{ACCOUNT_A}:document/mine-*"))
    cfn = client(both_servers, "cloudformation", credentials=deployer)
    for stack, name in (("mine", "mine-doc"), ("theirs", "theirs-doc")):
        cfn.create_change_set(StackName=stack, ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=template(name))
        cfn.execute_change_set(StackName=stack, ChangeSetName="c")
    assert wait_final(cfn, "mine") == "CREATE_COMPLETE"
    assert wait_final(cfn, "theirs") == "ROLLBACK_COMPLETE"
    reason = next(e["ResourceStatusReason"] for e in cfn.describe_stack_events(StackName="theirs")["StackEvents"]
                  if e["ResourceStatus"] == "CREATE_FAILED")
    assert "is not authorized to perform: ssm:CreateDocument" in reason, reason
