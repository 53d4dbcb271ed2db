"""CloudFormation engine patches (patches/cfn_changesets.py).

Tests using `both_servers` run on the harness and on raw moto; the raw run must fail (each of them
names an AWS behaviour raw moto 5.2.5 lacks). The async-mode tests use `harness` only: raw moto has
no asynchronous mode to exercise.
"""
import itertools
import json
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import Server, client

NO_CHANGES = ("The submitted information didn't contain changes. "
              "Submit different information to create a change set.")
TERMINAL_CS = {"CREATE_COMPLETE", "FAILED"}
_names = itertools.count(1)


def ssm_param(name, value, **extra):
    return {"Type": "AWS::SSM::Parameter", "Properties": {"Name": name, "Type": "String", "Value": value}, **extra}


def template(resources, **sections):
    return json.dumps({"Resources": resources, **sections})


def wait(fn, done, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"still {value}"
        time.sleep(0.05)


def stack_status(cfn, stack):
    return cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]


def create_cs(cfn, stack, body, kind="UPDATE", name=None, **kwargs):
    name = name or f"cs{next(_names)}"  # AWS refuses a second change set of the same name on a stack
    cfn.create_change_set(StackName=stack, ChangeSetName=name, TemplateBody=body, ChangeSetType=kind, **kwargs)
    return wait(lambda: cfn.describe_change_set(StackName=stack, ChangeSetName=name),
                lambda d: d["Status"] in TERMINAL_CS)


def deploy(cfn, stack, body, kind="UPDATE", **kwargs):
    """Create a change set, execute it and wait for a settled stack; returns the stack description."""
    cs = create_cs(cfn, stack, body, kind, **kwargs)
    assert cs["Status"] == "CREATE_COMPLETE", cs.get("StatusReason")
    cfn.execute_change_set(StackName=stack, ChangeSetName=cs["ChangeSetName"])
    wait(lambda: stack_status(cfn, stack), lambda s: not s.endswith("_IN_PROGRESS"))
    return cfn.describe_stacks(StackName=stack)["Stacks"][0]


def events(cfn, stack):
    """Events oldest first, as (LogicalResourceId, ResourceStatus) pairs, plus the raw list."""
    raw = cfn.describe_stack_events(StackName=stack)["StackEvents"][::-1]
    return [(e["LogicalResourceId"], e["ResourceStatus"]) for e in raw], raw


def ssm_value(server, name):
    found = client(server, "ssm").get_parameters(Names=[name])["Parameters"]
    return found[0]["Value"] if found else None


# ------------------------------------------------------------------ outputs, exports, imports

@pytest.mark.raw_moto(at='assert stack["Description"] == "network of stage one"', raises='KeyError',
                      match="'Description'")
def test_change_set_stack_has_outputs_exports_and_description(both_servers):
    cfn = client(both_servers, "cloudformation")
    body = template(
        {"Version": ssm_param("/app/version", "27")},
        Description="network of stage one",
        Outputs={
            "VersionName": {"Value": {"Ref": "Version"}, "Export": {"Name": {"Fn::Sub": "${AWS::StackName}-Name"}}},
            # The CDK bootstrap template's BootstrapVersion output is exactly this GetAtt.
            "BootstrapVersion": {"Value": {"Fn::GetAtt": ["Version", "Value"]}, "Description": "version"},
        })
    stack = deploy(cfn, "net", body, kind="CREATE")

    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert stack["Description"] == "network of stage one"
    outputs = {o["OutputKey"]: o for o in stack["Outputs"]}
    assert outputs["VersionName"]["OutputValue"] == "/app/version"
    assert outputs["VersionName"]["ExportName"] == "net-Name"
    assert outputs["BootstrapVersion"] == {"OutputKey": "BootstrapVersion", "OutputValue": "27",
                                           "Description": "version"}
    assert [(e["Name"], e["Value"]) for e in cfn.list_exports()["Exports"]] == [("net-Name", "/app/version")]


@pytest.mark.raw_moto(at='deploy(cfn, "consumer", consumer, kind="CREATE")', raises='ClientError',
                      match='An error occurred \\(ValidationError\\) when calling the ExecuteChangeSet operation: No export named shared found\\.')
def test_import_value_resolves_exports_and_exports_follow_updates_and_deletes(both_servers):
    cfn = client(both_servers, "cloudformation")
    exporter = lambda name: template({"P": ssm_param(name, "v")},  # noqa: E731
                                     Outputs={"Out": {"Value": {"Ref": "P"}, "Export": {"Name": "shared"}}})
    deploy(cfn, "producer", exporter("/one"), kind="CREATE")
    consumer = template({"C": ssm_param("/consumer", {"Fn::ImportValue": "shared"})})
    deploy(cfn, "consumer", consumer, kind="CREATE")
    assert ssm_value(both_servers, "/consumer") == "/one"

    # AWS resolves imports when it creates the change set: a missing export fails it right there.
    missing = create_cs(cfn, "other", template({"C": ssm_param("/x", {"Fn::ImportValue": "nope"})}), kind="CREATE")
    assert (missing["Status"], missing["StatusReason"]) == ("FAILED", "No export named nope found.")

    deploy(cfn, "consumer", template({"C2": ssm_param("/consumer2", "plain")}))  # stop importing
    deploy(cfn, "producer", exporter("/two"))
    assert [(e["Name"], e["Value"]) for e in cfn.list_exports()["Exports"]] == [("shared", "/two")]
    cfn.delete_stack(StackName="producer")
    wait(lambda: cfn.list_exports()["Exports"], lambda e: e == [])


# ------------------------------------------------------------------ change set identity and "no changes"

@pytest.mark.raw_moto(at='assert cfn.describe_change_set(StackName="alpha", ChangeSetName="deplo', raises='AssertionError',
                      match="assert 'beta' == 'alpha'")
def test_change_sets_are_scoped_to_their_stack(both_servers):
    cfn = client(both_servers, "cloudformation")
    first = create_cs(cfn, "alpha", template({"A": ssm_param("/alpha", "a")}), kind="CREATE", name="deploy")
    second = create_cs(cfn, "beta", template({"B": ssm_param("/beta", "b")}), kind="CREATE", name="deploy")
    assert first["ChangeSetId"] != second["ChangeSetId"]
    assert cfn.describe_change_set(StackName="alpha", ChangeSetName="deploy")["StackName"] == "alpha"
    assert cfn.describe_change_set(ChangeSetName=second["ChangeSetId"])["StackName"] == "beta"
    assert [s["StackName"] for s in cfn.list_change_sets(StackName="beta")["Summaries"]] == ["beta"]

    cfn.execute_change_set(StackName="alpha", ChangeSetName="deploy")
    wait(lambda: stack_status(cfn, "alpha"), lambda s: s == "CREATE_COMPLETE")
    assert stack_status(cfn, "beta") == "REVIEW_IN_PROGRESS"
    assert (ssm_value(both_servers, "/alpha"), ssm_value(both_servers, "/beta")) == ("a", None)

    with pytest.raises(ClientError) as err:
        cfn.describe_change_set(StackName="alpha", ChangeSetName="absent")
    assert err.value.response["Error"]["Code"] == "ChangeSetNotFound"
    cfn.delete_change_set(StackName="alpha", ChangeSetName="absent")  # AWS: deleting nothing succeeds
    cfn.delete_change_set(StackName="beta", ChangeSetName="deploy")
    assert cfn.describe_change_set(StackName="alpha", ChangeSetName="deploy")["StackName"] == "alpha"


@pytest.mark.raw_moto(at='with pytest.raises(ClientError) as err:', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_create_change_set_for_an_existing_stack_is_refused(both_servers):
    cfn = client(both_servers, "cloudformation")
    body = template({"A": ssm_param("/a", "a")})
    deploy(cfn, "app", body, kind="CREATE")
    with pytest.raises(ClientError) as err:
        cfn.create_change_set(StackName="app", ChangeSetName="again", TemplateBody=body, ChangeSetType="CREATE")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert err.value.response["Error"]["Message"] == \
        "Stack [app] already exists and cannot be created again with the changeSet [again]."
    assert len(cfn.describe_stacks()["Stacks"]) == 1
    create_cs(cfn, "app", template({"A": ssm_param("/a", "b")}), name="next")
    with pytest.raises(ClientError) as err:
        cfn.create_change_set(StackName="app", ChangeSetName="next", TemplateBody=body)
    assert err.value.response["Error"]["Code"] == "AlreadyExistsException"


@pytest.mark.raw_moto(at='cs = create_cs(cfn, "app", body, name=name, Parameters=params)', raises='ClientError',
                      match='An error occurred \\(ValidationError\\) when calling the CreateChangeSet operation: No updates are to be performed\\.')
def test_no_change_change_set_fails_the_same_way_with_or_without_parameters(both_servers):
    cfn = client(both_servers, "cloudformation")
    body = template({"A": ssm_param("/a", {"Ref": "V"})}, Parameters={"V": {"Type": "String", "Default": "x"}})
    deploy(cfn, "app", body, kind="CREATE", Parameters=[{"ParameterKey": "V", "ParameterValue": "y"}],
           Tags=[{"Key": "team", "Value": "net"}])

    for name, params in [("with-params", [{"ParameterKey": "V", "ParameterValue": "y"}]),
                         ("previous-value", [{"ParameterKey": "V", "UsePreviousValue": True}])]:
        cs = create_cs(cfn, "app", body, name=name, Parameters=params)
        assert (cs["Status"], cs["ExecutionStatus"], cs["StatusReason"]) == ("FAILED", "UNAVAILABLE", NO_CHANGES)
    # Unpassed parameters take their Default, as on AWS: x differs from the deployed y.
    assert create_cs(cfn, "app", body, name="defaults")["Status"] == "CREATE_COMPLETE"
    assert create_cs(cfn, "app", body, name="retag", Parameters=[{"ParameterKey": "V", "ParameterValue": "y"}],
                     Tags=[{"Key": "team", "Value": "ops"}])["Status"] == "CREATE_COMPLETE"

    with pytest.raises(ClientError) as err:
        cfn.execute_change_set(StackName="app", ChangeSetName="with-params")
    assert err.value.response["Error"]["Code"] == "InvalidChangeSetStatus"


@pytest.mark.raw_moto(at='assert [(c["ResourceChange"]["Action"], c["ResourceChange"]["LogicalRe', raises='AssertionError',
                      match="assert \\[\\] == \\[\\('Modify', 'A'\\)\\]")
def test_parameter_change_is_a_modify_and_is_applied(both_servers):
    cfn = client(both_servers, "cloudformation")
    body = template({"A": ssm_param("/a", {"Fn::Sub": "v-${V}"}), "B": ssm_param("/b", "fixed")},
                    Parameters={"V": {"Type": "String"}})
    deploy(cfn, "app", body, kind="CREATE", Parameters=[{"ParameterKey": "V", "ParameterValue": "1"}])
    cs = create_cs(cfn, "app", body, Parameters=[{"ParameterKey": "V", "ParameterValue": "2"}])
    assert [(c["ResourceChange"]["Action"], c["ResourceChange"]["LogicalResourceId"]) for c in cs["Changes"]] \
        == [("Modify", "A")]
    cfn.execute_change_set(StackName="app", ChangeSetName=cs["ChangeSetName"])
    wait(lambda: stack_status(cfn, "app"), lambda s: s == "UPDATE_COMPLETE")
    assert ssm_value(both_servers, "/a") == "v-2"


@pytest.mark.raw_moto(at='assert cfn.update_termination_protection(StackName="guarded", EnableTe', raises='ResponseParserError',
                      match=r'Unable to parse response \(syntax error: line 1, column 0\), invalid XML received')
def test_update_termination_protection(both_servers):
    # pipeline-run sets a stage's termination_protection after its change set
    cfn = client(both_servers, "cloudformation")
    deploy(cfn, "guarded", template({"A": ssm_param("/g", "1")}), kind="CREATE")
    stack_id = cfn.describe_stacks(StackName="guarded")["Stacks"][0]["StackId"]
    assert cfn.update_termination_protection(StackName="guarded", EnableTerminationProtection=True)["StackId"] == stack_id
    assert cfn.describe_stacks(StackName="guarded")["Stacks"][0]["EnableTerminationProtection"] is True
    cfn.update_termination_protection(StackName="guarded", EnableTerminationProtection=False)
    assert cfn.describe_stacks(StackName="guarded")["Stacks"][0]["EnableTerminationProtection"] is False


@pytest.mark.raw_moto(at='with pytest.raises(ClientError) as err:', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_delete_stack_refuses_a_protected_stack_and_leaves_it_as_it_is(both_servers):
    # AWS: "If a user attempts to delete a stack with termination protection enabled, the deletion
    # fails and the stack, including its status, remains unchanged."
    cfn = client(both_servers, "cloudformation")
    cfn.create_stack(StackName="guarded", TemplateBody=template({"A": ssm_param("/g", "1")}),
                     EnableTerminationProtection=True)
    with pytest.raises(ClientError) as err:
        cfn.delete_stack(StackName="guarded")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert err.value.response["Error"]["Message"] == \
        "Stack [guarded] cannot be deleted while TerminationProtection is enabled"
    stack = cfn.describe_stacks(StackName="guarded")["Stacks"][0]
    assert (stack["StackStatus"], stack["EnableTerminationProtection"]) == ("CREATE_COMPLETE", True)
    assert ssm_value(both_servers, "/g") == "1"
    # Once protection is off, the same request deletes it.
    cfn.update_termination_protection(StackName="guarded", EnableTerminationProtection=False)
    cfn.delete_stack(StackName="guarded")
    assert ssm_value(both_servers, "/g") is None


SSM_TYPED = {"Src": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/src"}}


@pytest.mark.raw_moto(at='assert cs["Status"] == "CREATE_COMPLETE", cs.get("StatusReason")', raises='AssertionError',
                      match="The submitted information didn't contain changes\\. Submit different information to create a change set\\.")
def test_ssm_typed_parameter_is_resolved_when_the_change_set_is_created(both_servers):
    # AWS: an SSM-typed parameter's value is the Parameter Store name; CreateChangeSet reads the value
    # stored under it, so a new value is a change (the CDK always deploys such stacks for that reason).
    cfn, ssm = client(both_servers, "cloudformation"), client(both_servers, "ssm")
    ssm.put_parameter(Name="/src", Value="1", Type="String")
    body = template({"Copy": ssm_param("/copy", {"Ref": "Src"}), "Other": ssm_param("/other", "fixed")},
                    Parameters=SSM_TYPED)
    deploy(cfn, "app", body, kind="CREATE")
    assert ssm_value(both_servers, "/copy") == "1"
    # Same name, same value: nothing to change.
    assert create_cs(cfn, "app", body)["StatusReason"] == NO_CHANGES

    ssm.put_parameter(Name="/src", Value="2", Type="String", Overwrite=True)
    cs = create_cs(cfn, "app", body)
    assert cs["Status"] == "CREATE_COMPLETE", cs.get("StatusReason")
    assert [(c["ResourceChange"]["Action"], c["ResourceChange"]["LogicalResourceId"]) for c in cs["Changes"]] \
        == [("Modify", "Copy")]
    cfn.execute_change_set(StackName="app", ChangeSetName=cs["ChangeSetName"])
    wait(lambda: stack_status(cfn, "app"), lambda s: s == "UPDATE_COMPLETE")
    assert ssm_value(both_servers, "/copy") == "2"
    shown = cfn.describe_stacks(StackName="app")["Stacks"][0]["Parameters"]
    assert shown == [{"ParameterKey": "Src", "ParameterValue": "/src", "ResolvedValue": "2"}]


@pytest.mark.raw_moto(at='with pytest.raises(ClientError) as err:', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_ssm_typed_parameter_naming_a_missing_parameter_fails_the_change_set_request(both_servers):
    cfn = client(both_servers, "cloudformation")
    body = template({"Copy": ssm_param("/copy", {"Ref": "Src"})}, Parameters=SSM_TYPED)
    with pytest.raises(ClientError) as err:
        cfn.create_change_set(StackName="app", ChangeSetName="cs", TemplateBody=body, ChangeSetType="CREATE")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert err.value.response["Error"]["Message"] == \
        "Unable to fetch parameters [/src] from parameter store for this account."
    with pytest.raises(ClientError):  # and leaves no stack behind
        cfn.describe_stacks(StackName="app")


@pytest.mark.raw_moto(at='assert stack["Parameters"] == [{"ParameterKey": "Accounts", "Parameter', raises='AssertionError',
                      match='assert \\[\\{\'ParameterK\\.\\.\\.222222222\'\\]"\\}\\] == \\[\\{\'ParameterK\\.\\.\\.22222222222\'\\}\\]')
def test_describe_stacks_shows_list_parameters_as_given(both_servers):
    cfn = client(both_servers, "cloudformation")
    body = template({"A": ssm_param("/a", {"Fn::Join": ["+", {"Ref": "Accounts"}]})},
                    Parameters={"Accounts": {"Type": "CommaDelimitedList"}})
    stack = deploy(cfn, "app", body, kind="CREATE",
                   Parameters=[{"ParameterKey": "Accounts", "ParameterValue": "111111111111,222222222222"}])
    assert stack["Parameters"] == [{"ParameterKey": "Accounts", "ParameterValue": "111111111111,222222222222"}]
    assert ssm_value(both_servers, "/a") == "111111111111+222222222222"


@pytest.mark.raw_moto(at='stack = deploy(cfn, "net", body, Tags=[{"Key": "stage", "Value": "two"}])', raises='AssertionError',
                      match="The submitted information didn't contain changes")
def test_update_change_set_tags_replace_stack_tags_and_reach_resources(both_servers):
    cfn = client(both_servers, "cloudformation")
    # the stack's role must exist and trust CloudFormation (patches/iam_cfn.py)
    client(both_servers, "iam").create_role(RoleName="cfn-exec", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                               "Principal": {"Service": "cloudformation.amazonaws.com"}}]}))
    client(both_servers, "iam").put_role_policy(RoleName="cfn-exec", PolicyName="everything", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    body = template({"Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.9.0.0/16"}}})
    deploy(cfn, "net", body, kind="CREATE", Tags=[{"Key": "stage", "Value": "one"}],
           Capabilities=["CAPABILITY_NAMED_IAM"], RoleARN="arn:aws:iam::111111111111:role/cfn-exec")
    stack = deploy(cfn, "net", body, Tags=[{"Key": "stage", "Value": "two"}])
    assert stack["Tags"] == [{"Key": "stage", "Value": "two"}]
    assert stack["RoleARN"] == "arn:aws:iam::111111111111:role/cfn-exec"
    vpc = client(both_servers, "ec2").describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.9.0.0/16"]}])["Vpcs"][0]
    tags = {t["Key"]: t["Value"] for t in vpc["Tags"]}
    assert tags["aws:cloudformation:stack-name"] == "net"
    assert tags["aws:cloudformation:logical-id"] == "Vpc"


# ------------------------------------------------------------------ failures and rollback

@pytest.mark.raw_moto(at='cfn.execute_change_set(StackName="app", ChangeSetName=cs["ChangeSetNam', raises='ClientError',
                      match='An error occurred \\(ParameterAlreadyExists\\) when calling the ExecuteChangeSet operation: The parameter already exists\\. To overwrite this value, set the overwrite')
def test_failed_create_rolls_back_and_the_stack_can_be_deleted_and_recreated(both_servers):
    cfn = client(both_servers, "cloudformation")
    client(both_servers, "ssm").put_parameter(Name="/taken", Value="x", Type="String")
    body = template({"Ok": ssm_param("/ok", "a"), "Clash": ssm_param("/taken", "b", DependsOn="Ok")})
    cs = create_cs(cfn, "app", body, kind="CREATE")
    cfn.execute_change_set(StackName="app", ChangeSetName=cs["ChangeSetName"])  # 200: the stack fails later

    assert wait(lambda: stack_status(cfn, "app"), lambda s: not s.endswith("_IN_PROGRESS")) == "ROLLBACK_COMPLETE"
    seq, raw = events(cfn, "app")
    assert seq[seq.index(("Clash", "CREATE_FAILED")):] == [
        ("Clash", "CREATE_FAILED"), ("app", "ROLLBACK_IN_PROGRESS"),
        ("Ok", "DELETE_IN_PROGRESS"), ("Ok", "DELETE_COMPLETE"), ("app", "ROLLBACK_COMPLETE")]
    failed = next(e for e in raw if e["ResourceStatus"] == "CREATE_FAILED")
    assert "The parameter already exists" in failed["ResourceStatusReason"]
    assert ssm_value(both_servers, "/ok") is None
    assert ssm_value(both_servers, "/taken") == "x"

    with pytest.raises(ClientError) as err:
        create_cs(cfn, "app", body)
    assert "is in ROLLBACK_COMPLETE state and can not be updated." in err.value.response["Error"]["Message"]
    stack_id = cfn.describe_stacks(StackName="app")["Stacks"][0]["StackId"]
    cfn.delete_stack(StackName="app")
    wait(lambda: stack_status(cfn, stack_id), lambda s: s == "DELETE_COMPLETE")
    good = template({"Ok": ssm_param("/ok", "a")})
    assert deploy(cfn, "app", good, kind="CREATE")["StackStatus"] == "CREATE_COMPLETE"


@pytest.mark.raw_moto(at='cfn.execute_change_set(StackName="app", ChangeSetName=cs["ChangeSetNam', raises='ClientError',
                      match='An error occurred \\(InvalidVpcPeeringConnectionId\\.NotFound\\) when calling the ExecuteChangeSet operation: VpcPeeringConnectionID pcx\\-00000000000000000 does not ex')
def test_failed_update_rolls_back_to_the_previous_stack(both_servers):
    cfn = client(both_servers, "cloudformation")
    old = template({"Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.8.0.0/16"}},
                    "Setting": ssm_param("/setting", "old")},
                   Outputs={"Setting": {"Value": {"Fn::GetAtt": ["Setting", "Value"]}, "Export": {"Name": "setting"}}})
    deploy(cfn, "app", old, kind="CREATE")
    new = json.loads(old)
    new["Resources"]["Setting"]["Properties"]["Value"] = "new"
    new["Resources"]["Extra"] = ssm_param("/extra", "e")
    new["Resources"]["Rt"] = {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": {"Ref": "Vpc"}}}
    new["Resources"]["Peer"] = {  # a route to a peering connection that does not exist fails on AWS too
        "Type": "AWS::EC2::Route", "DependsOn": ["Setting", "Extra"],
        "Properties": {"RouteTableId": {"Ref": "Rt"}, "DestinationCidrBlock": "10.1.0.0/16",
                       "VpcPeeringConnectionId": "pcx-00000000000000000"}}
    cs = create_cs(cfn, "app", json.dumps(new))
    cfn.execute_change_set(StackName="app", ChangeSetName=cs["ChangeSetName"])

    stack = wait(lambda: cfn.describe_stacks(StackName="app")["Stacks"][0],
                 lambda s: not s["StackStatus"].endswith("_IN_PROGRESS"))
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert stack["Outputs"][0]["OutputValue"] == "old"
    assert ssm_value(both_servers, "/setting") == "old"
    assert ssm_value(both_servers, "/extra") is None
    vpc = cfn.describe_stack_resource(StackName="app", LogicalResourceId="Vpc")["StackResourceDetail"]
    vpc_id = vpc["PhysicalResourceId"]
    tables = client(both_servers, "ec2").describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
    assert len(tables) == 1  # only the VPC's main table: the route table of the failed update is gone
    kept = cfn.get_template(StackName="app")["TemplateBody"]
    assert (json.loads(kept) if isinstance(kept, str) else kept) == json.loads(old)
    seq, raw = events(cfn, "app")
    tail = seq[seq.index(("Peer", "CREATE_FAILED")):]
    assert tail[:2] == [("Peer", "CREATE_FAILED"), ("app", "UPDATE_ROLLBACK_IN_PROGRESS")]
    assert ("Setting", "UPDATE_COMPLETE") in tail and ("Extra", "DELETE_COMPLETE") in tail
    assert ("Rt", "DELETE_COMPLETE") in tail and tail[-1] == ("app", "UPDATE_ROLLBACK_COMPLETE")
    failed = next(e for e in raw if e["ResourceStatus"] == "CREATE_FAILED")
    assert "InvalidVpcPeeringConnectionId.NotFound" in failed["ResourceStatusReason"]

    cfn.delete_stack(StackName="app")  # the rolled-back stack deletes cleanly, VPC included
    wait(lambda: cfn.describe_stacks()["Stacks"], lambda stacks: stacks == [])
    assert client(both_servers, "ec2").describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"] == []


# ------------------------------------------------------------------ events

@pytest.mark.raw_moto(at='assert seq == [', raises='AssertionError',
                      match="assert \\[\\('app', 'REV\\.\\.\\.OGRESS'\\), \\.\\.\\.\\] == \\[\\('app', 'REV\\.\\.\\.MPLETE'\\), \\.\\.\\.\\]")
def test_resource_events_for_create_update_and_delete(both_servers):
    cfn = client(both_servers, "cloudformation")
    deploy(cfn, "app", template({"A": ssm_param("/a", "1"), "B": ssm_param("/b", "1")}), kind="CREATE")
    deploy(cfn, "app", template({"A": ssm_param("/a", "2")}))
    stack_id = cfn.describe_stacks(StackName="app")["Stacks"][0]["StackId"]
    cfn.delete_stack(StackName="app")
    wait(lambda: stack_status(cfn, stack_id), lambda s: s == "DELETE_COMPLETE")
    assert (ssm_value(both_servers, "/a"), ssm_value(both_servers, "/b")) == (None, None)

    raw = cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
    stamps = [e["Timestamp"] for e in raw]
    assert stamps == sorted(stamps, reverse=True)  # newest first
    seq = [(e["LogicalResourceId"], e["ResourceStatus"]) for e in raw[::-1]]
    assert seq == [
        ("app", "REVIEW_IN_PROGRESS"), ("app", "CREATE_IN_PROGRESS"),
        ("A", "CREATE_IN_PROGRESS"), ("A", "CREATE_COMPLETE"),
        ("B", "CREATE_IN_PROGRESS"), ("B", "CREATE_COMPLETE"), ("app", "CREATE_COMPLETE"),
        ("app", "UPDATE_IN_PROGRESS"), ("A", "UPDATE_IN_PROGRESS"), ("A", "UPDATE_COMPLETE"),
        ("app", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"), ("B", "DELETE_IN_PROGRESS"), ("B", "DELETE_COMPLETE"),
        ("app", "UPDATE_COMPLETE"),
        ("app", "DELETE_IN_PROGRESS"), ("A", "DELETE_IN_PROGRESS"), ("A", "DELETE_COMPLETE"),
        ("app", "DELETE_COMPLETE")]
    a_complete = next(e for e in raw if e["LogicalResourceId"] == "A" and e["ResourceStatus"] == "CREATE_COMPLETE")
    assert (a_complete["PhysicalResourceId"], a_complete["ResourceType"]) == ("/a", "AWS::SSM::Parameter")


# ------------------------------------------------------------------ async mode (harness only)

def set_delay(server, ms):
    req = urllib.request.Request(server.endpoint + "/_emulator/config", method="POST",
                                 data=json.dumps({"cfn_resource_delay_ms": ms}).encode())
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)


def get_config(server):
    with urllib.request.urlopen(server.endpoint + "/_emulator/config", timeout=5) as r:
        return json.load(r)


def test_async_mode_shows_progress_and_refuses_concurrent_operations(harness):
    cfn = client(harness, "cloudformation")
    assert set_delay(harness, 300)["cfn_resource_delay_ms"] == 300
    assert get_config(harness)["cfn_resource_delay_ms"] == 300
    body = template({"A": ssm_param("/a", "1"), "B": ssm_param("/b", "1", DependsOn="A")})

    cfn.create_change_set(StackName="app", ChangeSetName="deploy", TemplateBody=body, ChangeSetType="CREATE")
    assert cfn.describe_change_set(StackName="app", ChangeSetName="deploy")["Status"] in (
        "CREATE_PENDING", "CREATE_IN_PROGRESS")
    with pytest.raises(ClientError) as err:
        cfn.execute_change_set(StackName="app", ChangeSetName="deploy")
    assert err.value.response["Error"]["Code"] == "InvalidChangeSetStatus"
    wait(lambda: cfn.describe_change_set(StackName="app", ChangeSetName="deploy")["Status"],
         lambda s: s == "CREATE_COMPLETE")

    started = time.monotonic()
    cfn.execute_change_set(StackName="app", ChangeSetName="deploy")
    assert time.monotonic() - started < 0.2
    assert stack_status(cfn, "app") == "CREATE_IN_PROGRESS"
    with pytest.raises(ClientError) as err:
        cfn.delete_stack(StackName="app")
    assert "cannot be deleted while in status CREATE_IN_PROGRESS" in err.value.response["Error"]["Message"]
    seen = set()
    wait(lambda: seen.add(tuple(events(cfn, "app")[0])) or stack_status(cfn, "app"),
         lambda s: s == "CREATE_COMPLETE")
    # Polling saw the resources complete one after the other, not all at once.
    assert any(("A", "CREATE_COMPLETE") in s and ("B", "CREATE_COMPLETE") not in s for s in seen)

    set_delay(harness, 100)  # applies to the operations started from now on
    cfn.create_change_set(StackName="app", ChangeSetName="update", ChangeSetType="UPDATE",
                          TemplateBody=template({"A": ssm_param("/a", "2"), "B": ssm_param("/b", "2")}))
    wait(lambda: cfn.describe_change_set(StackName="app", ChangeSetName="update")["Status"],
         lambda s: s == "CREATE_COMPLETE")
    cfn.execute_change_set(StackName="app", ChangeSetName="update")
    assert stack_status(cfn, "app") == "UPDATE_IN_PROGRESS"
    with pytest.raises(ClientError) as err:
        cfn.create_change_set(StackName="app", ChangeSetName="third", TemplateBody=body, ChangeSetType="UPDATE")
    message = err.value.response["Error"]["Message"]
    assert message.startswith("Stack:arn:aws:cloudformation:ap-northeast-1:111111111111:stack/app/")
    assert message.endswith(" is in UPDATE_IN_PROGRESS state and can not be updated.")
    wait(lambda: stack_status(cfn, "app"), lambda s: s == "UPDATE_COMPLETE")

    cfn.delete_stack(StackName="app")
    assert stack_status(cfn, "app") == "DELETE_IN_PROGRESS"
    wait(lambda: [s["StackName"] for s in cfn.describe_stacks()["Stacks"]], lambda names: names == [])
    assert ssm_value(harness, "/a") is None

    harness.reset()  # a reset also restores the configured default (0 here)
    assert get_config(harness)["cfn_resource_delay_ms"] == 0


def test_async_mode_default_comes_from_the_environment():
    server = Server(env={"EMULATOR_CFN_RESOURCE_DELAY_MS": "250"})
    try:
        assert get_config(server)["cfn_resource_delay_ms"] == 250
    finally:
        server.stop()
