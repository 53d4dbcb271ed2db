"""Failure states and their recovery (patches/cfn_changesets.py, cfn_recovery.py, faults.py): resource
fault rules, DisableRollback and RollbackStack, ContinueUpdateRollback, DeleteStack RetainResources,
in-progress stacks and rollback triggers. Each both_servers test fails on raw moto at the behaviour
it names; harness-only tests exercise what raw moto has no way to set up (held steps, the
monitoring window's setting)."""
import json
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT_A, REGION, client
from test_cfn import create_cs, deploy, events, ssm_param, ssm_value, stack_status, template, wait


def faults(server, method="GET", body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(server.endpoint + "/_emulator/faults", method=method, data=data)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def settled(cfn, stack):
    return wait(lambda: cfn.describe_stacks(StackName=stack)["Stacks"][0],
                lambda s: not s["StackStatus"].endswith("_IN_PROGRESS"))


def error(call):
    with pytest.raises(ClientError) as err:
        call()
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def reason_of(raw, logical_id, status):
    return next(e.get("ResourceStatusReason") for e in raw
                if e["LogicalResourceId"] == logical_id and e["ResourceStatus"] == status)


def execute(cfn, stack, body, kind="UPDATE", **kwargs):
    cs = create_cs(cfn, stack, body, kind)
    assert cs["Status"] == "CREATE_COMPLETE", cs.get("StatusReason")
    cfn.execute_change_set(StackName=stack, ChangeSetName=cs["ChangeSetName"], **kwargs)
    return settled(cfn, stack)


TWO = template({"A": ssm_param("/a", "1"), "B": ssm_param("/b", "1", DependsOn="A")})
TWO_NEW = template({"A": ssm_param("/a", "2"), "B": ssm_param("/b", "2", DependsOn="A")})


# ------------------------------------------------------------------ fault rules

@pytest.mark.raw_moto(at='faults(both_servers, "POST", {"fail": [', raises='HTTPError',
                      match='HTTP Error 500: INTERNAL SERVER ERROR')
def test_fail_rules_fail_create_update_and_delete_as_aws_reports_them(both_servers):
    cfn = client(both_servers, "cloudformation")
    state = faults(both_servers, "POST", {"fail": [
        {"stack": "app", "logical_id": "B", "on": "create", "count": 1, "reason": "Quota exceeded"},
        {"stack": "app", "logical_id": "B", "on": "update", "count": 1},
        {"stack": "app", "logical_id": "A", "on": "delete", "count": 1}]})
    assert [(r["kind"], r["logical_id"], r["on"], r["remaining"]) for r in state["resources"]] == [
        ("fail", "B", "create", 1), ("fail", "B", "update", 1), ("fail", "A", "delete", 1)]

    # create: B fails, A is deleted again, ROLLBACK_COMPLETE
    assert execute(cfn, "app", TWO, kind="CREATE")["StackStatus"] == "ROLLBACK_COMPLETE"
    seq, raw = events(cfn, "app")
    assert seq[seq.index(("B", "CREATE_FAILED")):] == [
        ("B", "CREATE_FAILED"), ("app", "ROLLBACK_IN_PROGRESS"), ("A", "DELETE_IN_PROGRESS"),
        ("A", "DELETE_COMPLETE"), ("app", "ROLLBACK_COMPLETE")]
    assert reason_of(raw, "B", "CREATE_FAILED").startswith('Resource handler returned message: "Quota exceeded"')
    assert reason_of(raw, "app", "ROLLBACK_IN_PROGRESS") == \
        "The following resource(s) failed to create: [B]. Rollback requested by user."
    assert ssm_value(both_servers, "/a") is None
    cfn.delete_stack(StackName="app")
    wait(lambda: cfn.list_stacks(StackStatusFilter=["ROLLBACK_COMPLETE"])["StackSummaries"], lambda s: s == [])

    # the create rule is used up: now the update fails and rolls back
    assert execute(cfn, "app", TWO, kind="CREATE")["StackStatus"] == "CREATE_COMPLETE"
    assert execute(cfn, "app", TWO_NEW)["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    seq, raw = events(cfn, "app")
    tail = seq[seq.index(("B", "UPDATE_FAILED")):]
    assert tail == [("B", "UPDATE_FAILED"), ("app", "UPDATE_ROLLBACK_IN_PROGRESS"),
                    ("B", "UPDATE_IN_PROGRESS"), ("B", "UPDATE_COMPLETE"), ("A", "UPDATE_IN_PROGRESS"),
                    ("A", "UPDATE_COMPLETE"), ("app", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"),
                    ("app", "UPDATE_ROLLBACK_COMPLETE")]
    assert "Injected fault: update of B failed" in reason_of(raw, "B", "UPDATE_FAILED")
    assert ssm_value(both_servers, "/a") == "1"

    # delete: A cannot be deleted, the stack is DELETE_FAILED with A DELETE_FAILED
    cfn.delete_stack(StackName="app")
    stack = settled(cfn, "app")
    assert (stack["StackStatus"], stack["StackStatusReason"]) == \
        ("DELETE_FAILED", "The following resource(s) failed to delete: [A]. ")
    seq, raw = events(cfn, "app")
    assert ("A", "DELETE_FAILED") in seq and ("B", "DELETE_COMPLETE") in seq
    assert [r["remaining"] for r in faults(both_servers)["resources"]] == [0, 0, 0]
    cfn.delete_stack(StackName="app")  # the rule is used up: the retry deletes A
    wait(lambda: cfn.describe_stacks()["Stacks"], lambda s: s == [])
    assert faults(both_servers, "DELETE")["resources"] == []


def test_fault_rules_are_validated(harness):
    for bad in ({"fail": {"stack": "s", "logical_id": "L", "on": "explode"}},
                {"fail": {"stack": "s", "on": "create"}},
                {"delay": {"stack": "s", "logical_id": "L", "on": "create"}},
                {"hold": {"stack": "s", "logical_id": "L", "on": "update", "count": 0}},
                {"flood": {}}):
        with pytest.raises(urllib.error.HTTPError) as err:
            faults(harness, "POST", bad)
        assert err.value.code == 400


# ------------------------------------------------------------------ UPDATE_ROLLBACK_FAILED and ContinueUpdateRollback

@pytest.mark.raw_moto(at='assert error(lambda: cfn.continue_update_rollback(StackName="app")) == (', raises='ResponseParserError',
                      match="500 Internal Server Error")
def test_continue_update_rollback_recovers_a_failed_rollback(both_servers):
    cfn = client(both_servers, "cloudformation")
    execute(cfn, "app", TWO, kind="CREATE")
    stack_id = cfn.describe_stacks(StackName="app")["Stacks"][0]["StackId"]
    assert error(lambda: cfn.continue_update_rollback(StackName="app")) == (
        "ValidationError", f"Stack {stack_id} is in CREATE_COMPLETE state and can not continue to update rollback.")

    # B's update fails, and so does the rollback of A: UPDATE_ROLLBACK_FAILED
    faults(both_servers, "POST", {"fail": [{"stack": "app", "logical_id": "B", "on": "update", "count": 1},
                                           {"stack": "app", "logical_id": "A", "on": "rollback", "count": 2}]})
    stack = execute(cfn, "app", TWO_NEW)
    assert (stack["StackStatus"], stack["StackStatusReason"]) == \
        ("UPDATE_ROLLBACK_FAILED", "The following resource(s) failed to update: [A]. ")
    seq, raw = events(cfn, "app")
    tail = seq[seq.index(("B", "UPDATE_FAILED")):]
    assert tail[:2] == [("B", "UPDATE_FAILED"), ("app", "UPDATE_ROLLBACK_IN_PROGRESS")]
    assert ("A", "UPDATE_FAILED") in tail[2:] and tail[-1] == ("app", "UPDATE_ROLLBACK_FAILED")
    assert error(lambda: create_cs(cfn, "app", TWO)) == (
        "ValidationError", f"Stack:{stack_id} is in UPDATE_ROLLBACK_FAILED state and can not be updated.")
    assert error(lambda: cfn.continue_update_rollback(StackName="app", ResourcesToSkip=["B"]))[0] == "ValidationError"

    # a retry that fails again, then one that skips A: UPDATE_ROLLBACK_COMPLETE, A left as it is
    cfn.continue_update_rollback(StackName="app")
    assert settled(cfn, "app")["StackStatus"] == "UPDATE_ROLLBACK_FAILED"
    cfn.continue_update_rollback(StackName="app", ResourcesToSkip=["A"])
    assert settled(cfn, "app")["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    seq, _ = events(cfn, "app")
    last = len(seq) - seq[::-1].index(("app", "UPDATE_ROLLBACK_IN_PROGRESS")) - 1
    assert seq[last:] == [("app", "UPDATE_ROLLBACK_IN_PROGRESS"), ("A", "UPDATE_COMPLETE"),
                          ("app", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"), ("app", "UPDATE_ROLLBACK_COMPLETE")]
    assert (ssm_value(both_servers, "/a"), ssm_value(both_servers, "/b")) == ("2", "1")  # A skipped, B restored
    assert execute(cfn, "app", template({"A": ssm_param("/a", "3"), "B": ssm_param("/b", "3")}))["StackStatus"] == \
        "UPDATE_COMPLETE"  # the next update converges
    assert (ssm_value(both_servers, "/a"), ssm_value(both_servers, "/b")) == ("3", "3")


def test_continue_update_rollback_acts_with_its_role_arn_through_iam(harness):
    from test_iam import ADMIN, CFN_TRUST, allow, role
    cfn = client(harness, "cloudformation")
    execute(cfn, "app", TWO, kind="CREATE")
    faults(harness, "POST", {"fail": [{"stack": "app", "logical_id": "B", "on": "update"},
                                      {"stack": "app", "logical_id": "A", "on": "rollback"}]})
    assert execute(cfn, "app", TWO_NEW)["StackStatus"] == "UPDATE_ROLLBACK_FAILED"
    missing = f"arn:aws:iam::{ACCOUNT_A}:role/absent"
    assert error(lambda: cfn.continue_update_rollback(StackName="app", RoleARN=missing)) == (
        "ValidationError", f"Role {missing} is invalid or cannot be assumed")

    # a role that may not write parameters cannot restore A: the rollback fails again, with the denial
    reader = role(harness, "reader", allow("ssm:GetParameters"), trust=CFN_TRUST)
    cfn.continue_update_rollback(StackName="app", RoleARN=reader)
    stack = settled(cfn, "app")
    assert (stack["StackStatus"], stack["RoleARN"]) == ("UPDATE_ROLLBACK_FAILED", reader)
    _, raw = events(cfn, "app")
    last = [e for e in raw if e["LogicalResourceId"] == "A" and e["ResourceStatus"] == "UPDATE_FAILED"][-1]
    assert "ssm:PutParameter" in last["ResourceStatusReason"]

    cfn.continue_update_rollback(StackName="app", RoleARN=role(harness, "admin", trust=CFN_TRUST, managed=[ADMIN]))
    assert settled(cfn, "app")["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert ssm_value(harness, "/a") == "1"


# ------------------------------------------------------------------ DisableRollback and RollbackStack

@pytest.mark.raw_moto(at='stack = execute(cfn, "app", body, kind="CREATE", DisableRollback=True)', raises='ClientError',
                      match='ParameterAlreadyExists')
def test_disable_rollback_keeps_a_failed_create_and_rollback_stack_removes_it(both_servers):
    cfn = client(both_servers, "cloudformation")
    client(both_servers, "ssm").put_parameter(Name="/taken", Value="x", Type="String")
    body = template({"Ok": ssm_param("/ok", "a"), "Clash": ssm_param("/taken", "b", DependsOn="Ok")})
    stack = execute(cfn, "app", body, kind="CREATE", DisableRollback=True)
    assert (stack["StackStatus"], stack["StackStatusReason"]) == \
        ("CREATE_FAILED", "The following resource(s) failed to create: [Clash]. ")
    assert stack["DisableRollback"] is True
    assert ssm_value(both_servers, "/ok") == "a"  # kept for debugging
    assert events(cfn, "app")[0][-2:] == [("Clash", "CREATE_FAILED"), ("app", "CREATE_FAILED")]

    # an update from CREATE_FAILED needs DisableRollback again
    fixed = template({"Ok": ssm_param("/ok", "a"), "Fine": ssm_param("/fine", "b", DependsOn="Ok")})
    cs = create_cs(cfn, "app", fixed)
    code, message = error(lambda: cfn.execute_change_set(StackName="app", ChangeSetName=cs["ChangeSetName"]))
    assert (code, message.split(" To update")[0]) == (
        "ValidationError", "This stack is currently in a non-terminal [CREATE_FAILED] state.")

    assert cfn.rollback_stack(StackName="app")["StackId"] == stack["StackId"]
    assert settled(cfn, "app")["StackStatus"] == "ROLLBACK_COMPLETE"
    assert ssm_value(both_servers, "/ok") is None
    assert error(lambda: cfn.rollback_stack(StackName="app"))[0] == "ValidationError"


@pytest.mark.raw_moto(at='stack = execute(cfn, "app", broken, DisableRollback=True)', raises='ClientError',
                      match='ParameterAlreadyExists')
def test_disable_rollback_keeps_a_failed_update_and_rollback_stack_restores_the_last_good_state(both_servers):
    cfn = client(both_servers, "cloudformation")
    client(both_servers, "ssm").put_parameter(Name="/taken", Value="x", Type="String")
    execute(cfn, "app", TWO, kind="CREATE")
    broken = template({"A": ssm_param("/a", "2"), "B": ssm_param("/b", "2", DependsOn="A"),
                       "Clash": ssm_param("/taken", "c", DependsOn="B")})
    stack = execute(cfn, "app", broken, DisableRollback=True)
    assert (stack["StackStatus"], stack["StackStatusReason"]) == \
        ("UPDATE_FAILED", "The following resource(s) failed to create: [Clash]. ")
    assert (ssm_value(both_servers, "/a"), ssm_value(both_servers, "/b")) == ("2", "2")  # kept

    # fix and go on without rollback: the update converges from UPDATE_FAILED
    fixed = template({"A": ssm_param("/a", "2"), "B": ssm_param("/b", "2", DependsOn="A"),
                      "C": ssm_param("/c", "c", DependsOn="B")})
    assert execute(cfn, "app", fixed, DisableRollback=True)["StackStatus"] == "UPDATE_COMPLETE"
    assert ssm_value(both_servers, "/c") == "c"

    # fail again, then RollbackStack: back to the last stable state (the fixed template)
    again = template({"A": ssm_param("/a", "3"), "B": ssm_param("/b", "2", DependsOn="A"),
                      "C": ssm_param("/c", "c", DependsOn="B"), "Clash": ssm_param("/taken", "c", DependsOn="A")})
    assert execute(cfn, "app", again, DisableRollback=True)["StackStatus"] == "UPDATE_FAILED"
    assert ssm_value(both_servers, "/a") == "3"
    cfn.rollback_stack(StackName="app")
    stack = settled(cfn, "app")
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert ssm_value(both_servers, "/a") == "2"
    kept = cfn.get_template(StackName="app")["TemplateBody"]
    assert (json.loads(kept) if isinstance(kept, str) else kept) == json.loads(fixed)


@pytest.mark.raw_moto(at='assert cs["Changes"][0]["ResourceChange"]["Replacement"] == "True"', raises='KeyError',
                      match="'Replacement'")
def test_a_replacing_change_set_fails_without_rollback_as_aws_refuses_it(both_servers):
    cfn = client(both_servers, "cloudformation")
    execute(cfn, "app", template({"P": ssm_param("/one", "v")}), kind="CREATE")
    cs = create_cs(cfn, "app", template({"P": ssm_param("/two", "v")}))  # a new Name replaces the parameter
    assert cs["Changes"][0]["ResourceChange"]["Replacement"] == "True"
    cfn.execute_change_set(StackName="app", ChangeSetName=cs["ChangeSetName"], DisableRollback=True)
    stack = settled(cfn, "app")
    assert stack["StackStatus"] == "UPDATE_FAILED"
    _, raw = events(cfn, "app")
    assert reason_of(raw, "P", "UPDATE_FAILED") == "Replacement type updates not supported on stack with disable-rollback."
    assert (ssm_value(both_servers, "/one"), ssm_value(both_servers, "/two")) == ("v", None)
    cfn.rollback_stack(StackName="app")
    assert settled(cfn, "app")["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert ssm_value(both_servers, "/one") == "v"


# ------------------------------------------------------------------ DELETE_FAILED and RetainResources

@pytest.mark.raw_moto(at='assert error(lambda: cfn.delete_stack(StackName="app", RetainResources=["A"])) == (',
                      raises='Failed', match='DID NOT RAISE')
def test_retain_resources_completes_a_failed_delete(both_servers):
    cfn = client(both_servers, "cloudformation")
    execute(cfn, "app", TWO, kind="CREATE")
    stack_id = cfn.describe_stacks(StackName="app")["Stacks"][0]["StackId"]
    assert error(lambda: cfn.delete_stack(StackName="app", RetainResources=["A"])) == (
        "ValidationError", f"Invalid operation on stack {stack_id}. When you delete a stack, specify which "
                           "resources to retain only when the stack is in the DELETE_FAILED state.")
    faults(both_servers, "POST", {"fail": {"stack": "app", "logical_id": "A", "on": "delete", "count": 5}})
    cfn.delete_stack(StackName="app")
    assert settled(cfn, "app")["StackStatus"] == "DELETE_FAILED"
    assert error(lambda: cfn.delete_stack(StackName="app", RetainResources=["B"]))[1].startswith(
        "The specified resources to retain must be in a valid state.")
    cfn.delete_stack(StackName="app", RetainResources=["A"])
    assert wait(lambda: stack_status(cfn, stack_id), lambda s: s == "DELETE_COMPLETE")
    seq, _ = events(cfn, stack_id)
    assert seq[-3:] == [("app", "DELETE_IN_PROGRESS"), ("A", "DELETE_SKIPPED"), ("app", "DELETE_COMPLETE")]
    assert (ssm_value(both_servers, "/a"), ssm_value(both_servers, "/b")) == ("1", None)  # A kept


# ------------------------------------------------------------------ in-progress stacks (harness only)

def test_a_held_resource_keeps_the_stack_in_progress_and_refuses_other_operations(harness):
    cfn = client(harness, "cloudformation")
    execute(cfn, "app", TWO, kind="CREATE")
    stack_id = cfn.describe_stacks(StackName="app")["Stacks"][0]["StackId"]
    faults(harness, "POST", {"hold": {"stack": "app", "logical_id": "B", "on": "update"},
                             "delay": {"stack": "app", "logical_id": "A", "on": "update", "seconds": 0.2}})
    cs = create_cs(cfn, "app", TWO_NEW)
    cfn.execute_change_set(StackName="app", ChangeSetName=cs["ChangeSetName"])
    assert stack_status(cfn, "app") == "UPDATE_IN_PROGRESS"
    wait(lambda: events(cfn, "app")[0][-1], lambda e: e == ("B", "UPDATE_IN_PROGRESS"))
    assert faults(harness)["held"] == [{"stack": "app", "logical_id": "B", "on": "update", "released": False}]
    assert stack_status(cfn, "app") == "UPDATE_IN_PROGRESS"
    assert error(lambda: create_cs(cfn, "app", TWO)) == (
        "ValidationError", f"Stack:{stack_id} is in UPDATE_IN_PROGRESS state and can not be updated.")
    assert error(lambda: cfn.delete_stack(StackName="app")) == (
        "ValidationError", f"Stack [{stack_id}] cannot be deleted while in status UPDATE_IN_PROGRESS")
    faults(harness, "POST", {"release": {"stack": "app", "logical_id": "B"}})
    assert settled(cfn, "app")["StackStatus"] == "UPDATE_COMPLETE"
    assert ssm_value(harness, "/b") == "2"


# ------------------------------------------------------------------ rollback triggers

def alarm(server, name, state):
    cw = client(server, "cloudwatch")
    cw.put_metric_alarm(AlarmName=name, MetricName="Errors", Namespace="App", Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")
    return f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_A}:alarm:{name}"


@pytest.mark.raw_moto(at='assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"', raises='AssertionError',
                      match="UPDATE_COMPLETE")
def test_an_alarm_in_alarm_rolls_the_update_back(both_servers):
    cfn = client(both_servers, "cloudformation")
    execute(cfn, "app", TWO, kind="CREATE")
    arn = alarm(both_servers, "errors", "ALARM")
    cs = create_cs(cfn, "app", TWO_NEW, RollbackConfiguration={
        "RollbackTriggers": [{"Arn": arn, "Type": "AWS::CloudWatch::Alarm"}], "MonitoringTimeInMinutes": 0})
    cfn.execute_change_set(StackName="app", ChangeSetName=cs["ChangeSetName"])
    stack = settled(cfn, "app")
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert reason_of(events(cfn, "app")[1], "app", "UPDATE_ROLLBACK_IN_PROGRESS") == \
        f"Rollback trigger {arn} is in ALARM state. "
    assert stack["RollbackConfiguration"]["RollbackTriggers"][0]["Arn"] == arn
    assert ssm_value(both_servers, "/a") == "1"


def config(server, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(server.endpoint + "/_emulator/config", method="POST" if data else "GET", data=data)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_an_alarm_during_the_monitoring_window_rolls_back_and_a_quiet_window_completes(harness):
    cfn = client(harness, "cloudformation")
    arn = alarm(harness, "errors", "OK")
    rollback = {"RollbackTriggers": [{"Arn": arn, "Type": "AWS::CloudWatch::Alarm"}], "MonitoringTimeInMinutes": 30}
    cs = create_cs(cfn, "app", TWO, kind="CREATE", RollbackConfiguration=rollback)
    assert cs["RollbackConfiguration"] == rollback
    cfn.execute_change_set(StackName="app", ChangeSetName=cs["ChangeSetName"])
    # the resources are done; the stack stays CREATE_IN_PROGRESS for the window (30 s at 1 s a minute)
    wait(lambda: events(cfn, "app")[0][-1], lambda e: e == ("B", "CREATE_COMPLETE"))
    assert stack_status(cfn, "app") == "CREATE_IN_PROGRESS"
    client(harness, "cloudwatch").set_alarm_state(AlarmName="errors", StateValue="ALARM", StateReason="test")
    stack = settled(cfn, "app")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    assert reason_of(events(cfn, "app")[1], "app", "ROLLBACK_IN_PROGRESS") == \
        f"Rollback trigger {arn} is in ALARM state. Rollback requested by user."
    assert ssm_value(harness, "/a") is None

    # a quiet window: the configuration is kept for the next operation, and a window ended by the setting completes
    cfn.delete_stack(StackName="app")
    wait(lambda: cfn.describe_stacks()["Stacks"], lambda s: s == [])
    client(harness, "cloudwatch").set_alarm_state(AlarmName="errors", StateValue="OK", StateReason="test")
    cs = create_cs(cfn, "app", TWO, kind="CREATE", RollbackConfiguration=rollback)
    cfn.execute_change_set(StackName="app", ChangeSetName=cs["ChangeSetName"])
    wait(lambda: events(cfn, "app")[0][-1], lambda e: e == ("B", "CREATE_COMPLETE"))
    assert config(harness, {"cfn_monitoring_seconds_per_minute": 0})["cfn_monitoring_seconds_per_minute"] == 0
    assert settled(cfn, "app")["StackStatus"] == "CREATE_COMPLETE"
    client(harness, "cloudwatch").set_alarm_state(AlarmName="errors", StateValue="ALARM", StateReason="test")
    cs = create_cs(cfn, "app", TWO_NEW)  # no RollbackConfiguration: the stack's is used
    cfn.execute_change_set(StackName="app", ChangeSetName=cs["ChangeSetName"])
    assert settled(cfn, "app")["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"


# ------------------------------------------------------------------ nested stacks

def put_template(server, key, resources, **sections):
    s3 = client(server, "s3")
    if not s3.list_buckets()["Buckets"]:
        s3.create_bucket(Bucket="templates", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="templates", Key=key, Body=template(resources, **sections).encode())
    return f"https://s3.amazonaws.com/templates/{key}"


def nested(url, **props):
    return {"Type": "AWS::CloudFormation::Stack", "Properties": dict(TemplateURL=url, **props)}


@pytest.mark.raw_moto(at='execute(cfn, "app", template({"Child": nested(url)}), kind="CREATE")', raises='ClientError',
                      match='ParameterAlreadyExists')
def test_a_failing_child_resource_fails_the_parent_with_the_embedded_stack_reason(both_servers):
    cfn = client(both_servers, "cloudformation")
    client(both_servers, "ssm").put_parameter(Name="/taken", Value="x", Type="String")
    url = put_template(both_servers, "child.json", {"Ok": ssm_param("/child/ok", "a"),
                                                    "Clash": ssm_param("/taken", "b", DependsOn="Ok")})
    stack = execute(cfn, "app", template({"Child": nested(url)}), kind="CREATE")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    seq, raw = events(cfn, "app")
    reason = reason_of(raw, "Child", "CREATE_FAILED")
    child_arn = next(e["PhysicalResourceId"] for e in raw if e["ResourceStatus"] == "CREATE_FAILED")
    assert child_arn.startswith(f"arn:aws:cloudformation:{REGION}:{ACCOUNT_A}:stack/app-Child-")
    assert reason == (f"Embedded stack {child_arn} was not successfully created: "
                      "The following resource(s) failed to create: [Clash].")
    assert seq[seq.index(("Child", "CREATE_FAILED")):] == [
        ("Child", "CREATE_FAILED"), ("app", "ROLLBACK_IN_PROGRESS"), ("Child", "DELETE_IN_PROGRESS"),
        ("Child", "DELETE_COMPLETE"), ("app", "ROLLBACK_COMPLETE")]
    child_seq, child_raw = events(cfn, child_arn)  # the child's own events: its first failure and why
    assert ("Clash", "CREATE_FAILED") in child_seq and child_seq[-1][1] == "DELETE_COMPLETE"
    assert "ParameterAlreadyExists" in reason_of(child_raw, "Clash", "CREATE_FAILED")
    assert ssm_value(both_servers, "/child/ok") is None


@pytest.mark.raw_moto(at='execute(cfn, "app", parent(child_v1), kind="CREATE")', raises='ResponseParserError',
                      match="500 Internal Server Error")
def test_nested_stack_outputs_updates_and_a_child_rollback_continued_from_the_parent(both_servers):
    cfn = client(both_servers, "cloudformation")
    child_v1 = put_template(both_servers, "v1.json", {"P": ssm_param("/p", "1"), "Q": ssm_param("/q", "1")},
                            Outputs={"Value": {"Value": {"Fn::GetAtt": ["P", "Value"]}}})
    parent = lambda url: template({"Child": nested(url), "Copy": ssm_param(  # noqa: E731
        "/copy", {"Fn::GetAtt": ["Child", "Outputs.Value"]})})
    execute(cfn, "app", parent(child_v1), kind="CREATE")
    child_arn = cfn.describe_stack_resource(StackName="app", LogicalResourceId="Child")[
        "StackResourceDetail"]["PhysicalResourceId"]
    assert child_arn.startswith("arn:aws:cloudformation:")
    child = cfn.describe_stacks(StackName=child_arn)["Stacks"][0]
    app_id = cfn.describe_stacks(StackName="app")["Stacks"][0]["StackId"]
    assert (child["StackStatus"], child["ParentId"], child["RootId"]) == ("CREATE_COMPLETE", app_id, app_id)
    assert ssm_value(both_servers, "/copy") == "1"

    # the child's update fails: the child rolls back, the parent's resource fails, the parent rolls back
    child_v2 = put_template(both_servers, "v2.json", {"P": ssm_param("/p", "2"), "Q": ssm_param("/q", "2")},
                            Outputs={"Value": {"Value": {"Fn::GetAtt": ["P", "Value"]}}})
    faults(both_servers, "POST", {"fail": {"stack": "app.Child", "logical_id": "Q", "on": "update"}})
    assert execute(cfn, "app", parent(child_v2))["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    _, raw = events(cfn, "app")
    assert reason_of(raw, "Child", "UPDATE_FAILED") == (
        f"Embedded stack {child_arn} was not successfully updated. Currently in UPDATE_ROLLBACK_IN_PROGRESS "
        "with reason: The following resource(s) failed to update: [Q].")
    assert cfn.describe_stacks(StackName=child_arn)["Stacks"][0]["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert ssm_value(both_servers, "/p") == "1"

    # now the child's rollback fails too: the parent is UPDATE_ROLLBACK_FAILED; skipping Child.P recovers both
    faults(both_servers, "POST", {"fail": [{"stack": "app.Child", "logical_id": "Q", "on": "update"},
                                           {"stack": "app.Child", "logical_id": "P", "on": "rollback", "count": 9}]})
    stack = execute(cfn, "app", parent(child_v2))
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_FAILED"
    assert cfn.describe_stacks(StackName=child_arn)["Stacks"][0]["StackStatus"] == "UPDATE_ROLLBACK_FAILED"
    assert error(lambda: cfn.continue_update_rollback(StackName="app", ResourcesToSkip=["Child.Q"]))[0] == \
        "ValidationError"  # Q did not fail to roll back
    assert error(lambda: cfn.continue_update_rollback(StackName="app", ResourcesToSkip=["Child"]))[0] == \
        "ValidationError"  # a nested stack resource is skipped only once its child is deleted
    assert error(lambda: cfn.continue_update_rollback(StackName=child_arn)) == (
        "ValidationError", "Failed to rollback: RollbackUpdatedStack cannot be invoked on child stacks")
    cfn.continue_update_rollback(StackName="app", ResourcesToSkip=["Child.P"])
    assert settled(cfn, "app")["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert cfn.describe_stacks(StackName=child_arn)["Stacks"][0]["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    faults(both_servers, "DELETE")
    assert execute(cfn, "app", parent(child_v2))["StackStatus"] == "UPDATE_COMPLETE"  # converges
    assert (ssm_value(both_servers, "/p"), ssm_value(both_servers, "/q")) == ("2", "2")
    cfn.delete_stack(StackName="app")
    wait(lambda: cfn.describe_stacks()["Stacks"], lambda s: s == [])  # the child is deleted with its parent
    assert ssm_value(both_servers, "/p") is None
