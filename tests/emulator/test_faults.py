"""Fault injection (patches/faults.py): throttling bursts in each protocol's AWS shape, and assumed-role
sessions refused once expired. Each test fails on raw moto, which has neither."""
import json
import time
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ACCOUNT_A, ACCOUNT_B, REGION

TESTING = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

CI_KEYS = {"aws_access_key_id": "AKIAPIPELINECI111111",
           "aws_secret_access_key": "pipelineRunCiSecretAccessKey000000000001"}
ORG_ROLE = f"arn:aws:iam::{ACCOUNT_B}:role/OrganizationAccountAccessRole"


def client(server, service, credentials=None):
    """One attempt per call (conftest's client retries once, which would hide a throttle); no client-side
    validation, so a session can be shorter than the 900 s AWS allows (what the expiry test needs)."""
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION,
                        config=Config(retries={"total_max_attempts": 1}, parameter_validation=False), **(credentials or TESTING))


def faults(server, method="GET", body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(server.endpoint + "/_emulator/faults", method=method, data=data)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def error_of(call):
    with pytest.raises(ClientError) as e:
        call()
    return (e.value.response["ResponseMetadata"]["HTTPStatusCode"], e.value.response["Error"]["Code"],
            e.value.response["Error"]["Message"])


@pytest.mark.raw_moto(at='faults(both_servers, "POST", {"throttle": {"service": "cloudformation"', raises='HTTPError',
                      match='HTTP Error 500: INTERNAL SERVER ERROR')
def test_the_next_n_requests_of_a_service_are_throttled_then_served(both_servers):
    cfn = client(both_servers, "cloudformation")
    faults(both_servers, "POST", {"throttle": {"service": "cloudformation", "count": 3}})
    for _ in range(3):
        assert error_of(cfn.list_stacks) == (400, "Throttling", "Rate exceeded")
    cfn.list_stacks()
    state = faults(both_servers)
    assert state["throttle"] == [{"service": "cloudformation", "action": None, "remaining": 0}]
    assert state["injected"] == {"cloudformation:ListStacks": 3}
    assert state["requests"]["cloudformation:ListStacks"] == 4


@pytest.mark.raw_moto(at='faults(both_servers, "POST", {"throttle": [{"service": "ssm", "count":', raises='HTTPError',
                      match='HTTP Error 500: INTERNAL SERVER ERROR')
def test_json_ec2_and_s3_protocols_get_their_own_throttling_errors(both_servers):
    faults(both_servers, "POST", {"throttle": [{"service": "ssm", "count": 1}, {"service": "ec2", "count": 1},
                                               {"service": "s3", "count": 1}]})
    assert error_of(lambda: client(both_servers, "ssm").get_parameter(Name="/x")) == \
        (400, "ThrottlingException", "Rate exceeded")
    assert error_of(client(both_servers, "ec2").describe_vpcs) == \
        (503, "RequestLimitExceeded", "Request limit exceeded.")
    assert error_of(client(both_servers, "s3").list_buckets) == \
        (503, "SlowDown", "Please reduce your request rate.")


@pytest.mark.raw_moto(at='faults(both_servers, "POST", {"throttle": {"service": "sts", "action":', raises='HTTPError',
                      match='HTTP Error 500: INTERNAL SERVER ERROR')
def test_a_rule_can_target_one_action_and_other_services_are_untouched(both_servers):
    faults(both_servers, "POST", {"throttle": {"service": "sts", "action": "AssumeRole", "count": 1}})
    sts = client(both_servers, "sts", credentials=CI_KEYS)
    sts.get_caller_identity()
    client(both_servers, "cloudformation").list_stacks()
    assert error_of(lambda: sts.assume_role(RoleArn=ORG_ROLE, RoleSessionName="tt"))[1] == "Throttling"
    sts.assume_role(RoleArn=ORG_ROLE, RoleSessionName="tt")
    assert faults(both_servers)["injected"] == {"sts:AssumeRole": 1}


@pytest.mark.raw_moto(at='faults(both_servers, "POST", {"throttle": {"service": "cloudformation"', raises='HTTPError',
                      match='HTTP Error 500: INTERNAL SERVER ERROR')
def test_sdk_retries_absorb_a_burst(both_servers):
    # What pipeline-run relies on: throttling is retryable, with backoff, in the SDK's standard mode.
    cfn = boto3.client("cloudformation", endpoint_url=both_servers.endpoint, region_name="ap-northeast-1",
                       config=Config(retries={"mode": "standard", "max_attempts": 5}), **CI_KEYS)
    faults(both_servers, "POST", {"throttle": {"service": "cloudformation", "count": 3}})
    cfn.list_stacks()
    assert faults(both_servers)["injected"] == {"cloudformation:ListStacks": 3}


@pytest.mark.raw_moto(at='faults(both_servers, "POST", {"throttle": {"service": "cloudformation"', raises='HTTPError',
                      match='HTTP Error 500: INTERNAL SERVER ERROR')
def test_delete_and_moto_reset_clear_rules_and_counters(both_servers):
    faults(both_servers, "POST", {"throttle": {"service": "cloudformation", "count": 5}})
    cleared = faults(both_servers, "DELETE")
    assert cleared == {"throttle": [], "injected": {}, "expired": {}, "requests": {}, "resources": [], "held": []}
    client(both_servers, "cloudformation").list_stacks()
    faults(both_servers, "POST", {"throttle": {"service": "cloudformation", "count": 5}})
    both_servers.reset()
    assert faults(both_servers)["throttle"] == []
    client(both_servers, "cloudformation").list_stacks()


def test_a_malformed_rule_is_refused(harness):
    for bad in ({"throttle": {"service": "sts"}}, {"throttle": {"service": "sts", "count": 0}},
                {"throttle": {"count": 2}}, {"throttle": {"service": "sts", "count": True}}):
        with pytest.raises(urllib.error.HTTPError) as e:
            faults(harness, "POST", bad)
        assert e.value.code == 400
    assert faults(harness)["throttle"] == []


@pytest.mark.raw_moto(at='assert error_of(as_role.get_caller_identity) == \\', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_an_expired_assumed_role_session_is_refused_like_aws(both_servers):
    sts = client(both_servers, "sts", credentials=CI_KEYS)
    creds = sts.assume_role(RoleArn=ORG_ROLE, RoleSessionName="short", DurationSeconds=2)["Credentials"]
    keys = {"aws_access_key_id": creds["AccessKeyId"], "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"]}
    as_role = client(both_servers, "sts", credentials=keys)
    assert as_role.get_caller_identity()["Account"] == ACCOUNT_B
    time.sleep(2.5)
    assert error_of(as_role.get_caller_identity) == \
        (400, "ExpiredToken", "The security token included in the request is expired")
    assert error_of(lambda: client(both_servers, "ssm", credentials=keys).get_parameter(Name="/x"))[:2] == \
        (400, "ExpiredTokenException")
    assert error_of(client(both_servers, "ec2", credentials=keys).describe_vpcs)[:2] == (400, "RequestExpired")
    assert faults(both_servers)["expired"] == {"sts:GetCallerIdentity": 1, "ssm:GetParameter": 1,
                                              "ec2:DescribeVpcs": 1}
    # The long-lived user keys are not sessions and never expire.
    sts.get_caller_identity()
