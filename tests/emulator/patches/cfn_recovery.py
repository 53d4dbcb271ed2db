"""CloudFormation recovery operations and rollback triggers for the engine in cfn_changesets.py.

moto 5.2.5 has no ContinueUpdateRollback or RollbackStack (the request fails), ignores
ExecuteChangeSet's DisableRollback and the change set's RollbackConfiguration. This module adds:

- ContinueUpdateRollback (ResourcesToSkip, RoleARN) from UPDATE_ROLLBACK_FAILED;
- RollbackStack (RoleARN) from CREATE_FAILED / UPDATE_FAILED (left by DisableRollback);
- rollback triggers: the CloudWatch alarms of RollbackConfiguration, checked after each resource
  and during the monitoring window (MonitoringTimeInMinutes, scaled by the emulator setting
  `cfn_monitoring_seconds_per_minute`);
- `Replacement` on a change set's Modify entries for the properties whose change replaces the
  resource (the table below), which DisableRollback refuses as AWS does.

See README "CloudFormation" for the AWS behaviour and sources.
"""
import os
import time

from moto.cloudformation.exceptions import ValidationError
from moto.core.responses import ActionResult

from . import cfn_changesets as engine
from . import config

_DEFAULT_SPM = float(os.environ.get("EMULATOR_CFN_MONITORING_SECONDS_PER_MINUTE", "1") or 1)


def _spm_setting(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(value)
    return float(value)


config.register("cfn_monitoring_seconds_per_minute", _DEFAULT_SPM, _spm_setting,
                "<number >= 0>: seconds the emulator waits per minute of a rollback configuration's "
                "MonitoringTimeInMinutes (0 ends every monitoring window now)")

# Properties whose change replaces the resource ("Update requires: Replacement" in the AWS resource
# type reference), for the types pipeline-run's tests and demo deploy.
REPLACING = {
    "AWS::SSM::Parameter": ("Name",),
    "AWS::S3::Bucket": ("BucketName",),
    "AWS::IAM::Role": ("RoleName", "Path"),
    "AWS::IAM::ManagedPolicy": ("ManagedPolicyName", "Path"),
    "AWS::IAM::InstanceProfile": ("InstanceProfileName", "Path"),
    "AWS::ECR::Repository": ("RepositoryName",),
    "AWS::EC2::VPC": ("CidrBlock", "InstanceTenancy"),
    "AWS::EC2::Subnet": ("VpcId", "CidrBlock", "AvailabilityZone"),
    "AWS::EC2::SecurityGroup": ("GroupName", "GroupDescription", "VpcId"),
    "AWS::EC2::RouteTable": ("VpcId",),
    "AWS::EC2::Route": ("RouteTableId", "DestinationCidrBlock"),
    "AWS::EC2::Instance": ("ImageId", "SubnetId", "AvailabilityZone", "KeyName"),
}


def replaces(res_type, old, new):
    props = lambda r: (r or {}).get("Properties") or {}  # noqa: E731
    return any(props(old).get(p) != props(new).get(p) for p in REPLACING.get(res_type, ()))


# ---------------------------------------------------------------- rollback triggers

def _configure(stack, change_set):
    """AWS keeps a stack's rollback configuration for later operations unless one is given."""
    given = getattr(change_set, "rollback_configuration", None)
    if given is not None:
        stack.rollback_configuration = given


def _triggers(stack):
    cfg = getattr(stack, "rollback_configuration", None) or {}
    return [t.get("Arn") for t in cfg.get("RollbackTriggers") or []], int(cfg.get("MonitoringTimeInMinutes") or 0)


def _alarm_state(stack, arn):
    from moto.cloudwatch.models import cloudwatch_backends
    parts = str(arn).split(":", 6)
    if len(parts) < 7 or parts[2] != "cloudwatch" or parts[5] != "alarm":
        return None
    alarm = cloudwatch_backends[parts[4]][parts[3]].alarms.get(parts[6])
    return alarm.state_value if alarm is not None else None


def _fired(stack):
    """The failure of the first trigger in ALARM (or missing: AWS fails the operation then too)."""
    for arn in _triggers(stack)[0]:
        state = _alarm_state(stack, arn)
        if state is None:
            return f"Rollback trigger {arn} was not found"
        if state == "ALARM":
            return f"Rollback trigger {arn} is in ALARM state"
    return None


def _alarm(stack):
    reason = _fired(stack)
    if reason:
        raise engine._ResourceFailed(None, reason)


def _monitor(stack):
    """The monitoring window after the resources: MonitoringTimeInMinutes, each minute lasting
    `cfn_monitoring_seconds_per_minute` seconds, read anew at each check (0 ends the window)."""
    arns, minutes = _triggers(stack)
    start = time.monotonic()

    def over():
        return time.monotonic() >= start + minutes * config.VALUES["cfn_monitoring_seconds_per_minute"]

    while minutes > 0 and not over():
        yield engine.Wait(lambda: over() or (arns and _fired(stack) is not None))
        _alarm(stack)
    _alarm(stack)


# ---------------------------------------------------------------- handlers

def _principal(stack, role_arn):
    """CloudFormation acts with the operation's RoleARN (kept for later operations) or the stack's."""
    from . import iam_cfn
    if role_arn:
        stack.role_arn = role_arn
    stack.resource_map._emu_iam_principal = iam_cfn.operation_principal(stack.role_arn) or iam_cfn._NO_PRINCIPAL


def _continue_job(stack, skip):
    from . import cfn_nested
    state = stack._emu_rollback
    engine._stack_status(stack, "UPDATE_ROLLBACK_IN_PROGRESS", "User Initiated")
    yield
    yield from cfn_nested.continue_children(stack, skip)
    retry = [n for n in state["failed"] if n not in skip]
    yield from engine._roll_back_update(stack, stack.resource_map, state["old"], retry, state["added"],
                                        state["new_jsons"], None, [n for n in state["failed"] if n in skip],
                                        announce=False)


def continue_update_rollback(self):
    from . import cfn_nested
    backend = self.cloudformation_backend
    name = self._get_param("StackName")
    stack = engine._live_stack(backend, name)
    if stack is None:
        raise ValidationError(message=f"Stack [{name}] does not exist")
    if getattr(stack, "parent_id", None):
        # AWS: use the operation on the parent stack, never on a nested one
        raise ValidationError(message="Failed to rollback: RollbackUpdatedStack cannot be invoked on child stacks")
    if stack.status != "UPDATE_ROLLBACK_FAILED":
        raise ValidationError(message=f"Stack {stack.stack_id} is in {stack.status} state and can not "
                                      "continue to update rollback.")
    skip = list(self._get_param("ResourcesToSkip", []) or [])

    def skippable(entry):
        if entry in stack._emu_rollback["failed"]:
            # a nested stack resource only once its child is being or has been deleted
            child = getattr(stack.resource_map._parsed_resources.get(entry), "child", None)
            return child is None or child.status.startswith("DELETE_")
        return cfn_nested.skippable(stack, entry)
    wrong = [s for s in skip if not skippable(s)]
    if wrong:
        raise ValidationError(message=f"Resources to skip [{', '.join(wrong)}] are not in the UPDATE_FAILED "
                                      "state because of a failed rollback.")
    _principal(stack, self._get_param("RoleARN"))
    engine._run(_continue_job(stack, skip))
    return ActionResult({})


def _rollback_stack_job(stack):
    failed, rmap = stack._emu_failed, stack.resource_map
    current, stable = engine._deployed(stack), failed["old"]["deployed"]
    jsons = dict(rmap._resource_json_map)
    if failed["verb"] == "CREATE":  # no stable state: everything made goes, the stack stays ROLLBACK_COMPLETE
        yield from engine._roll_back_create(stack, rmap, current, jsons, "User Initiated", stack.template,
                                            stack.description)
        return
    added = [n for n in current if n not in stable]
    modified = [n for n in stable if n in failed["touched"] and n in current]
    yield from engine._roll_back_update(stack, rmap, failed["old"], modified, added, jsons, "User Initiated")


def rollback_stack(self):
    backend = self.cloudformation_backend
    name = self._get_param("StackName")
    stack = engine._live_stack(backend, name)
    if stack is None:
        raise ValidationError(message=f"Stack [{name}] does not exist")
    if stack.status not in ("CREATE_FAILED", "UPDATE_FAILED") or getattr(stack, "_emu_failed", None) is None:
        raise ValidationError(message=f"Stack {stack.stack_id} is in {stack.status} state and can not be "
                                      "rolled back.")
    _principal(stack, self._get_param("RoleARN"))
    engine._run(_rollback_stack_job(stack))
    return ActionResult({"StackId": stack.stack_id})


def _with_change_set_extras(handler):
    """CreateChangeSet: keep RollbackConfiguration (shown by DescribeChangeSet, applied on execution)
    and mark each Modify entry's Replacement."""
    def create_change_set(self):
        result = handler(self)
        backend = self.cloudformation_backend
        change_set = backend.change_sets[result.result["Id"]]
        cfg = self._get_param("RollbackConfiguration")
        if cfg is not None:
            change_set.rollback_configuration = cfg
        rmap = change_set.stack.resource_map
        for change in change_set.changes:
            if change.action == "Modify":
                name = change.logical_resource_id
                new = (change_set.template_dict.get("Resources") or {}).get(name)
                change.replacement = "True" if replaces(change.resource_type, rmap._resource_json_map.get(name),
                                                        new) else "False"
        return result
    create_change_set.__name__ = handler.__name__
    return create_change_set


def apply():
    from moto.cloudformation import responses as cfn_responses
    from moto.cloudformation.models import Stack

    from . import iam_cfn

    engine.HOOKS.update(configure=_configure, alarm=_alarm, monitor=_monitor, replaces=replaces)
    resp = cfn_responses.CloudFormationResponse
    resp.create_change_set = _with_change_set_extras(resp.create_change_set)
    for handler in (continue_update_rollback, rollback_stack):
        setattr(resp, handler.__name__, iam_cfn._wrap_role_check(handler))
    Stack.rollback_configuration = None
