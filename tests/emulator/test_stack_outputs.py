"""Fn::GetStackOutput (patches/cfn_stack_outputs.py): resolved when a change set is created, across
accounts through its RoleArn as IAM decides, failing the change set when refused or missing."""
import json

import pytest

from conftest import ACCOUNT_A, ACCOUNT_B, REGION, client
from test_cfn import NO_CHANGES, create_cs, deploy, ssm_value, stack_status, wait
from test_iam import allow, policy

CONSUMER_PARAM = "/consumer/url"


def producer(value):
    return json.dumps({"Resources": {"P": {"Type": "AWS::SSM::Parameter",
                                           "Properties": {"Name": "/producer/url", "Type": "String",
                                                          "Value": value}}},
                       "Outputs": {"Url": {"Value": value}}})


def consumer(role_arn=None, output="Url", stack="producer"):
    args = {"StackName": stack, "OutputName": output, "Region": REGION}
    if role_arn:
        args["RoleArn"] = role_arn
    return json.dumps({"Resources": {"C": {"Type": "AWS::SSM::Parameter", "Properties": {
        "Name": CONSUMER_PARAM, "Type": "String", "Value": {"Fn::GetStackOutput": args}}}}})


def reader_role(server, name, trusted=ACCOUNT_B, describe=True):
    """A role of account A that account `trusted` may assume, allowed DescribeStacks on A's stacks."""
    iam = client(server, "iam", account=ACCOUNT_A)
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": trusted}}]}))["Role"]["Arn"]
    action = "cloudformation:DescribeStacks" if describe else "cloudformation:ListStacks"
    iam.put_role_policy(RoleName=name, PolicyName="read", PolicyDocument=policy(
        allow(action, f"arn:aws:cloudformation:*:{ACCOUNT_A}:stack/*")))
    return arn


def value_in_b(server):
    found = client(server, "ssm", ACCOUNT_B).get_parameters(Names=[CONSUMER_PARAM])["Parameters"]
    return found[0]["Value"] if found else None


def wait_settled(cfn, stack):
    wait(lambda: stack_status(cfn, stack), lambda s: not s.endswith("_IN_PROGRESS"))
    return stack_status(cfn, stack)


@pytest.mark.raw_moto(at='assert value_in_b(both_servers) == "v1"', raises="AssertionError", match="StackName")
def test_an_output_of_another_account_is_read_through_the_role_at_create_and_update(both_servers):
    a, b = client(both_servers, "cloudformation", ACCOUNT_A), client(both_servers, "cloudformation", ACCOUNT_B)
    deploy(a, "producer", producer("v1"), kind="CREATE")
    role = reader_role(both_servers, "stack-ref")
    deploy(b, "consumer", consumer(role), kind="CREATE")
    assert value_in_b(both_servers) == "v1"
    deploy(a, "producer", producer("v2"))
    # a weak reference: the same submission is still no change
    same = create_cs(b, "consumer", consumer(role))
    assert (same["Status"], same["StatusReason"]) == ("FAILED", NO_CHANGES)
    # an update (here: new stack tags) resolves it again, and the resource reading it is modified
    tagged = create_cs(b, "consumer", consumer(role), Tags=[{"Key": "refs", "Value": "2"}])
    assert [c["ResourceChange"]["LogicalResourceId"] for c in tagged["Changes"]] == ["C"]
    b.execute_change_set(StackName="consumer", ChangeSetName=tagged["ChangeSetName"])
    assert wait_settled(b, "consumer") == "UPDATE_COMPLETE"
    assert value_in_b(both_servers) == "v2"


@pytest.mark.raw_moto(at='assert refused["Status"] == "FAILED"', raises="AssertionError",
                      match="CREATE_COMPLETE")
def test_a_role_that_does_not_trust_the_stack_or_cannot_describe_and_a_missing_output_fail_the_change_set(
        both_servers):
    a, b = client(both_servers, "cloudformation", ACCOUNT_A), client(both_servers, "cloudformation", ACCOUNT_B)
    deploy(a, "producer", producer("v1"), kind="CREATE")
    untrusting = reader_role(both_servers, "only-c", trusted="333333333333")
    refused = create_cs(b, "s1", consumer(untrusting), kind="CREATE")
    assert refused["Status"] == "FAILED"
    assert refused["StatusReason"] == (
        f"Fn::GetStackOutput: User: arn:aws:iam::{ACCOUNT_B}:root is not authorized to perform: sts:AssumeRole "
        f"on resource: {untrusting}")
    blind = reader_role(both_servers, "no-describe", describe=False)
    refused = create_cs(b, "s2", consumer(blind), kind="CREATE")
    assert refused["Status"] == "FAILED"
    assert f"assumed-role/no-describe/AWSCloudFormation is not authorized to perform: cloudformation:DescribeStacks" \
        in refused["StatusReason"]
    good = reader_role(both_servers, "good")
    missing = create_cs(b, "s3", consumer(good, output="Nope"), kind="CREATE")
    assert (missing["Status"], missing["StatusReason"]) == (
        "FAILED", "Fn::GetStackOutput: Output Nope does not exist in stack producer")
    absent = create_cs(b, "s4", consumer(good, stack="ghost"), kind="CREATE")
    assert absent["StatusReason"] == (
        f"Fn::GetStackOutput: Stack with id ghost does not exist in {ACCOUNT_A}/{REGION}")


SHORT_FORM = """Resources:
  C:
    Type: AWS::SSM::Parameter
    Properties:
      Name: /consumer/short
      Type: String
      Value: !GetStackOutput {StackName: producer, OutputName: Url}
"""


@pytest.mark.raw_moto(at='assert ssm_value(both_servers, "/consumer/short") == "v1"', raises="AssertionError",
                      match="ScalarNode|StackName")
def test_the_yaml_short_form_on_a_mapping_is_read_within_one_account(both_servers):
    a = client(both_servers, "cloudformation", ACCOUNT_A)
    deploy(a, "producer", producer("v1"), kind="CREATE")
    deploy(a, "consumer", SHORT_FORM, kind="CREATE")
    assert ssm_value(both_servers, "/consumer/short") == "v1"
