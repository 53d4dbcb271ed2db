"""CloudFormation engine fidelity for change-set deployments (moto 5.2.5).

moto executes a change set as one synchronous `ResourceMap.update()` call: no outputs, exports or
description for the stack, no resource events, no rollback, and change sets looked up by name across
all stacks. pipeline-run drives stacks only through change sets, so this module replaces the
change-set and DeleteStack request handlers with an executor that processes one resource at a time
(creating, updating and deleting through moto's own per-resource functions), emits the events AWS
emits, rolls back on failure (or stops *_FAILED with DisableRollback), injects the resource faults
of faults.py, and can run in the background (async mode, see README "CloudFormation"). Recovery
operations, rollback triggers and nested stacks plug in through HOOKS and NESTED (cfn_recovery.py,
cfn_nested.py); the template helpers live in cfn_template.py.

Every replaced handler keeps moto's request parsing and serialization; only the engine behind it
changes. The patched internals (ResourceMap._parsed_resources, _resource_json_map, _template,
load_*(), parse_and_update_resource, _delete_resource) are moto 5.2.5's: moto is pinned for this.
"""
import os
import sys
import threading
import time
import traceback
import uuid

from moto.cloudformation import models as cfn_models
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation.exceptions import (
    AlreadyExistsException,
    CloudFormationError,
    UnformattedGetAttTemplateException,
    ValidationError,
)
from moto.cloudformation.models import ChangeSet, Change, Event, Stack
from moto.cloudformation.parsing import ResourceMap, parse_and_update_resource
from moto.cloudformation.utils import generate_changeset_id, generate_stack_id
from moto.core.responses import ActionResult, EmptyResult
from moto.ec2 import models as ec2_models
from moto.ec2.models.core import TaggedEC2Resource

from . import config, faults
from .cfn_template import (  # noqa: F401 (re-exported: iam_cfn and cfn_recovery use them from here)
    _refs, _if_conditions, _condition_parameters, _dependency_order, _load,
    _norm, _same_template, _wanted, _effective_params,
    _resolve_ssm, _resolve_outputs, _outputs_property, _register_exports, _import_names,
)

# One lock for the CloudFormation engine: moto's server is threaded and the async executor mutates
# stacks from a background thread; every CloudFormation request and every executor step hold it.
LOCK = threading.RLock()
_DEFAULT_DELAY_MS = int(os.environ.get("EMULATOR_CFN_RESOURCE_DELAY_MS", "0") or 0)
CONFIG = config.VALUES


def _delay_setting(value):
    delay = int(value)
    if delay < 0 or isinstance(value, bool):
        raise ValueError(value)
    return delay


config.register("cfn_resource_delay_ms", _DEFAULT_DELAY_MS, _delay_setting,
                "<int >= 0>: milliseconds per CloudFormation resource step (0: synchronous)")
# Bumped by POST /moto-api/reset: a background executor of an older generation stops instead of
# creating resources in the freshly reset backends.
_generation = [0]

NO_CHANGES = ("The submitted information didn't contain changes. "
              "Submit different information to create a change set.")


class ChangeSetNotFound(CloudFormationError):
    code = "ChangeSetNotFoundException"  # serialized as AWS does: ChangeSetNotFound, HTTP 404


class InvalidChangeSetStatus(CloudFormationError):
    code = "InvalidChangeSetStatusException"


# ---------------------------------------------------------------- stack state (template helpers: cfn_template.py)

def _deployed(stack):
    """Logical ids the stack currently has deployed, in dependency order."""
    rmap = stack.resource_map
    live = getattr(stack, "_emu_live", None)
    if live is None:  # a stack made by CreateStack: whatever moto created from its template
        live = rmap._parsed_resources
    return [n for n in _dependency_order(rmap._resource_json_map) if n in live]


def _stack_params(stack):
    return getattr(stack, "_emu_params", None) or _effective_params(
        stack.template_dict, [{"ParameterKey": k, "ParameterValue": v} for k, v in stack.parameters.items()],
        strict=False)


def _live_stack(backend, name_or_id):
    for stack in backend.stacks.values():
        if name_or_id in (stack.name, stack.stack_id):
            return stack
    return None


def _not_updatable(stack):
    # AWS refuses to change a stack that is busy, that never came into being, or whose rollback
    # failed. CREATE_FAILED / UPDATE_FAILED (left by DisableRollback) take a change set, executed
    # with DisableRollback (see execute_change_set).
    return (stack.status.endswith("_IN_PROGRESS") and stack.status != "REVIEW_IN_PROGRESS") or \
        stack.status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED", "UPDATE_ROLLBACK_FAILED")


def _refuse_update(stack):
    raise ValidationError(message=f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated.")


# ---------------------------------------------------------------- events and the job runner

def _event(stack, logical_id, resource_type, status, physical_id=None, reason=None):
    event = Event(stack.stack_id, stack.name, logical_id, physical_id, resource_type, status, reason, None)
    event.sendToSns(stack.account_id, stack.region_name, stack.notification_arns)
    stack.events.append(event)


def _stack_status(stack, status, reason=None):
    stack.status = status
    stack.status_reason = reason
    stack._add_stack_event(status, resource_status_reason=reason)


class Wait:
    """Yielded by a job that cannot go on before `done()` (called under LOCK) is true: a fault rule's
    delay or hold, a rollback trigger's monitoring window. The job then continues in the background."""
    def __init__(self, done):
        self.done = done


def _run(job):
    """Run a generator job: its first segment now (so callers see *_IN_PROGRESS at once), the rest
    synchronously, or, in async mode, in a background thread sleeping the configured delay per step.
    A job that yields a Wait continues in the background once the wait is over, in either mode."""
    step = next(job, StopIteration)
    if step is StopIteration:
        return
    delay = CONFIG["cfn_resource_delay_ms"] / 1000.0
    while delay <= 0 and not (isinstance(step, Wait) and not step.done()):
        step = next(job, StopIteration)
        if step is StopIteration:
            return
    generation = _generation[0]

    def worker(step):
        while True:
            if isinstance(step, Wait):
                while True:
                    time.sleep(0.02)
                    with LOCK:
                        if generation != _generation[0]:
                            return
                        if step.done():
                            break
            elif delay > 0:
                time.sleep(delay)
            with LOCK:
                if generation != _generation[0]:
                    return
                try:
                    step = next(job, StopIteration)
                except Exception:  # an emulator bug: keep the server alive and say so
                    traceback.print_exc(file=sys.stderr)
                    return
                if step is StopIteration:
                    return

    threading.Thread(target=worker, args=(step,), name="cfn-executor", daemon=True).start()


def _failure_reason(exc):
    message = getattr(exc, "message", None) or str(exc)
    code = getattr(exc, "error_type", None) or getattr(exc, "code", None) or type(exc).__name__
    return f'Resource handler returned message: "{message}" (Error Code: {code})'


# ---------------------------------------------------------------- per-resource operations

class _ResourceFailed(Exception):
    def __init__(self, logical_id, reason):
        super().__init__(reason)
        self.logical_id, self.reason = logical_id, reason


def _physical_id(rmap, name):
    return getattr(rmap._parsed_resources.get(name), "physical_resource_id", None)


def _stack_names(stack):
    return {stack.name, stack.stack_id} | set(getattr(stack, "_emu_aliases", ()))


def _pause(stack, name, on):
    """The waits fault rules put on this resource step (delay, hold): see faults.py."""
    delay = faults.take_resource_rule("delay", _stack_names(stack), name, on)
    if delay is not None:
        until = time.monotonic() + delay["seconds"]
        yield Wait(lambda: time.monotonic() >= until)
    hold = faults.take_resource_rule("hold", _stack_names(stack), name, on)
    if hold is not None:
        yield Wait(lambda: faults.released(hold))


def _injected(stack, name, on):
    """The failure a `fail` fault rule injects into this resource step, as a handler reports it."""
    rule = faults.take_resource_rule("fail", _stack_names(stack), name, on)
    if rule is None:
        return None
    message = rule.get("reason") or f"Injected fault: {on} of {name} failed"
    return (f'Resource handler returned message: "{message}" (RequestToken: {uuid.uuid4()}, '
            f'HandlerErrorCode: GeneralServiceException)')


# Set by cfn_recovery: creates, updates and deletes AWS::CloudFormation::Stack resources (nested stacks).
NESTED = {}


def _create(stack, rmap, name, on="create"):
    rtype = rmap._resource_json_map[name]["Type"]
    _event(stack, name, rtype, "CREATE_IN_PROGRESS")
    yield from _pause(stack, name, on)
    injected = _injected(stack, name, on)
    if injected:
        raise _ResourceFailed(name, injected)
    if rtype in NESTED:
        yield from NESTED[rtype].create(stack, rmap, name)
        _event(stack, name, rtype, "CREATE_COMPLETE", _physical_id(rmap, name))
        return
    try:
        resource = rmap[name]  # moto's lazy map creates the resource on first access
        if isinstance(resource, TaggedEC2Resource):
            # AWS propagates stack tags and the aws:cloudformation:* tags to the resources it creates.
            tags = dict(rmap.tags, **{"aws:cloudformation:logical-id": name})
            ec2_models.ec2_backends[rmap._account_id][rmap._region_name].create_tags(
                [resource.physical_resource_id], tags)
    except Exception as exc:
        raise _ResourceFailed(name, _failure_reason(exc))
    reason = None if resource is not None else "emulator: moto cannot create this resource type; nothing was created"
    _event(stack, name, rtype, "CREATE_COMPLETE", _physical_id(rmap, name), reason)


def _update(stack, rmap, name, on="update"):
    res_json = rmap._resource_json_map[name]
    _event(stack, name, res_json["Type"], "UPDATE_IN_PROGRESS", _physical_id(rmap, name))
    yield from _pause(stack, name, on)
    injected = _injected(stack, name, on)
    if injected:
        raise _ResourceFailed(name, injected)
    if res_json["Type"] in NESTED:
        yield from NESTED[res_json["Type"]].update(stack, rmap, name, on)
        _event(stack, name, res_json["Type"], "UPDATE_COMPLETE", _physical_id(rmap, name))
        return
    try:
        updated = parse_and_update_resource(name, res_json, rmap, rmap._account_id, rmap._region_name)
    except Exception as exc:
        raise _ResourceFailed(name, _failure_reason(exc))
    if updated is not None:  # None: moto cannot update this type in place; the resource is kept
        rmap._parsed_resources[name] = updated
    _event(stack, name, res_json["Type"], "UPDATE_COMPLETE", _physical_id(rmap, name))


# moto 5.2.5 has no CloudFormation delete for these EC2 types: DeleteStack and rollbacks left them
# behind (and a VPC that still has a route table cannot be deleted). Used only while moto lacks one.
_EC2_DELETERS = {
    "AWS::EC2::Route": lambda ec2, r: ec2.delete_route(
        r.route_table.id, r.destination_cidr_block, r.destination_ipv6_cidr_block,
        getattr(r.destination_prefix_list, "id", None)),
    "AWS::EC2::RouteTable": lambda ec2, r: ec2.delete_route_table(r.id),
    "AWS::EC2::InternetGateway": lambda ec2, r: ec2.delete_internet_gateway(r.id),
    "AWS::EC2::VPCGatewayAttachment": lambda ec2, r: (
        ec2.detach_internet_gateway if r.gateway_id.startswith("igw-") else ec2.detach_vpn_gateway
    )(r.gateway_id, r.vpc_id),
    "AWS::EC2::NatGateway": lambda ec2, r: ec2.delete_nat_gateway(r.id),
    "AWS::EC2::EIP": lambda ec2, r: ec2.release_address(allocation_id=r.allocation_id),
    "AWS::EC2::VPCPeeringConnection": lambda ec2, r: ec2.delete_vpc_peering_connection(r.id),
}


def _delete_resource(rmap, resource, res_json):
    cls = type(resource)
    moto_cannot = hasattr(cls.delete_from_cloudformation_json, "__isabstractmethod__") and \
        not callable(getattr(cls, "delete", None))
    if moto_cannot and res_json["Type"] in _EC2_DELETERS:
        _EC2_DELETERS[res_json["Type"]](ec2_models.ec2_backends[rmap._account_id][rmap._region_name], resource)
    else:
        rmap._delete_resource(resource, res_json)


def _delete_all(stack, rmap, names, jsons, on="delete", retain=()):
    """Delete in reverse dependency order, one step per resource, retrying once the deletions that
    failed (AWS waits for dependents to go). Yields; returns the ids that could not be deleted.
    `retain`: ids kept (DeleteStack RetainResources), like a DeletionPolicy Retain."""
    pending, failed = [], []
    for name in reversed(names):
        res_json, physical = jsons[name], _physical_id(rmap, name)
        if res_json.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate") or name in retain:
            rmap._parsed_resources.pop(name, None)
            _event(stack, name, res_json["Type"], "DELETE_SKIPPED", physical)
            continue
        _event(stack, name, res_json["Type"], "DELETE_IN_PROGRESS", physical)
        yield from _pause(stack, name, on)
        injected = _injected(stack, name, on)
        if injected:  # an injected failure is final: no retry
            _event(stack, name, res_json["Type"], "DELETE_FAILED", physical, injected)
            failed.append(name)
        elif res_json["Type"] in NESTED:
            reason = yield from NESTED[res_json["Type"]].delete(stack, rmap, name)
            _event(stack, name, res_json["Type"], "DELETE_FAILED" if reason else "DELETE_COMPLETE", physical, reason)
            if reason:
                failed.append(name)
            else:
                rmap._parsed_resources.pop(name, None)
        elif _try_delete(rmap, name, res_json) is None:
            _event(stack, name, res_json["Type"], "DELETE_COMPLETE", physical)
        else:
            pending.append(name)
        yield
    for name in pending:
        res_json, physical = jsons[name], _physical_id(rmap, name)
        reason = _try_delete(rmap, name, res_json)
        _event(stack, name, res_json["Type"], "DELETE_FAILED" if reason else "DELETE_COMPLETE", physical, reason)
        if reason:
            failed.append(name)
    return failed


def _try_delete(rmap, name, res_json):
    """Delete one resource; returns the failure reason or None."""
    resource = rmap._parsed_resources.get(name)
    if resource is not None and not isinstance(resource, str):
        try:
            _delete_resource(rmap, resource, res_json)
        except Exception as exc:
            return _failure_reason(exc)
        rmap._parsed_resources.pop(name, None)
    return None


# ---------------------------------------------------------------- exports

def _check_exports(backend, stack, outputs):
    for _, _, _, name in outputs:
        if name is None:
            continue
        holder = backend.exports.get(name)
        if holder is not None and holder.exporting_stack_id != stack.stack_id:
            owner = backend.stacks.get(holder.exporting_stack_id)
            raise _ResourceFailed(None, f"Export with name {name} is already exported by stack "
                                        f"{owner.name if owner else holder.exporting_stack_id}")


# ---------------------------------------------------------------- change set planning

def _plan(backend, stack, template, params, tags, resolved=None):
    """Changes a change set makes, computed as AWS does: resources whose Condition is false are left
    out, and a resource whose template is unchanged is still modified when a parameter it uses changed
    (for an SSM-typed parameter: its `resolved` Parameter Store value)."""
    rmap = ResourceMap(stack.stack_id, stack.name, params, tags, region_name=backend.region_name,
                       account_id=backend.account_id, template=template,
                       cross_stack_resources=backend.exports)
    _load(rmap, template, params)
    wanted = _wanted(rmap)
    current = {n: stack.resource_map._resource_json_map.get(n) for n in _deployed(stack)}
    old_params = _stack_params(stack) if current else {}
    changed_params = {k for k, v in params.items() if old_params.get(k) != v}
    old_resolved = getattr(stack, "_emu_resolved", {}) if current else {}
    changed_params |= {k for k, v in (resolved or {}).items() if old_resolved.get(k) != v}
    # AWS also modifies a resource that uses a changed parameter only through a condition (Fn::If)
    changed_conditions = {c for c, ps in _condition_parameters(template).items() if ps & changed_params}
    changes = []
    for name in _dependency_order(wanted):
        if name not in current:
            changes.append(Change("Add", name, wanted[name]["Type"]))
        elif _norm({0: wanted[name]}) != _norm({0: current[name]}) or _refs(wanted[name]) & changed_params or \
                _if_conditions(wanted[name]) & changed_conditions:
            changes.append(Change("Modify", name, wanted[name]["Type"]))
    for name in current:
        if name not in wanted:
            changes.append(Change("Remove", name, current[name]["Type"]))
    for change in changes:
        if change.action != "Add":
            change.physical_resource_id = _physical_id(stack.resource_map, change.logical_resource_id)
    # AWS resolves Fn::ImportValue when it creates the change set; a missing export fails it there.
    missing = [name for name in _import_names(template, rmap) if name not in backend.exports]
    return changes, (f"No export named {missing[0]} found." if missing else None)


# ---------------------------------------------------------------- execution

# Set by cfn_recovery: rollback triggers (RollbackConfiguration) and replacement detection. The
# defaults are no triggers and no replacements.
def _no_monitor(stack):
    return
    yield


HOOKS = {"configure": lambda stack, change_set: None, "alarm": lambda stack: None,
         "monitor": _no_monitor, "replaces": lambda res_type, old, new: False}
REPLACEMENT_REFUSED = "Replacement type updates not supported on stack with disable-rollback."


def _snapshot(stack):
    """The stack as it is: what a rollback returns it to."""
    rmap = stack.resource_map
    return {"template": rmap._template, "params": dict(rmap.input_parameters), "deployed": _deployed(stack),
            "jsons": dict(rmap._resource_json_map), "body": stack.template, "description": stack.description,
            "stack_params": getattr(stack, "_emu_params", None), "parameters": dict(stack.parameters or {})}


def _restore(stack, old):
    stack.template, stack.template_dict, stack.description = old["body"], old["template"], old["description"]
    stack._emu_params, stack.parameters = old["stack_params"], dict(old["parameters"])
    stack._emu_live = set(old["deployed"])


def _execute_job(backend, change_set):
    """ExecuteChangeSet as AWS runs it: additions and modifications in dependency order, outputs and
    exports, the rollback triggers' monitoring window, then removals in the cleanup phase; on a
    failure, the rollback AWS performs (or, with DisableRollback, none)."""
    stack, rmap = change_set.stack, change_set.stack.resource_map
    verb = "CREATE" if change_set.change_set_type == "CREATE" else "UPDATE"
    # A stack left CREATE_FAILED / UPDATE_FAILED by DisableRollback: its last stable state stays the target.
    prior = getattr(stack, "_emu_failed", None) if stack.status in ("CREATE_FAILED", "UPDATE_FAILED") else None
    before = _snapshot(stack)
    old = prior["old"] if prior else before
    disable = bool(getattr(change_set, "_emu_disable_rollback", False))
    stack.disable_rollback = disable
    HOOKS["configure"](stack, change_set)
    change_set.execution_status = "EXECUTE_IN_PROGRESS"
    _stack_status(stack, f"{verb}_IN_PROGRESS", "User Initiated")
    yield

    rmap.cross_stack_resources = backend.exports  # Fn::ImportValue sees the region's exports
    rmap.tags = dict(change_set.effective_tags, **{"aws:cloudformation:stack-name": stack.name,
                                                   "aws:cloudformation:stack-id": stack.stack_id})
    template = change_set.template_dict
    actions = {c.logical_resource_id: c.action for c in change_set.changes}
    done = []
    try:
        _load(rmap, template, change_set.parameters)
        HOOKS["alarm"](stack)
        for name in _dependency_order(_wanted(rmap)):
            if actions.get(name) == "Add":
                yield from _create(stack, rmap, name)
            elif actions.get(name) == "Modify":
                if disable and HOOKS["replaces"](rmap._resource_json_map[name]["Type"], before["jsons"].get(name),
                                                 rmap._resource_json_map[name]):
                    raise _ResourceFailed(name, REPLACEMENT_REFUSED)
                yield from _update(stack, rmap, name)
            else:
                continue
            done.append(name)
            HOOKS["alarm"](stack)
            yield
        outputs = _resolve_outputs(rmap, template)
        _check_exports(backend, stack, outputs)
        yield from HOOKS["monitor"](stack)
    except Exception as exc:
        failure = exc if isinstance(exc, _ResourceFailed) else \
            _ResourceFailed(None, getattr(exc, "message", None) or repr(exc))
        if disable and failure.logical_id:
            _stop_failed(change_set, verb, prior, before, old, done, actions, failure)
        else:
            yield from _rollback(backend, change_set, verb, old, done, actions, failure)
        return

    # Committed: from here on the stack shows the new template, parameters, tags and outputs.
    stack._emu_failed = None
    stack._emu_live = {n for n in before["deployed"] if actions.get(n) != "Remove"} | set(done)
    stack.template, stack.template_dict = change_set.template, template
    stack.description = template.get("Description")
    stack._emu_params = dict(change_set.parameters)
    stack._emu_resolved = dict(getattr(change_set, "_emu_resolved", {}))
    stack.parameters = dict(change_set.parameters)
    stack.tags = dict(change_set.effective_tags)
    stack.role_arn = change_set.role_arn or stack.role_arn
    stack.capabilities = change_set.capabilities
    stack.output_map = stack._create_output_map()
    stack._emu_outputs = outputs
    _register_exports(backend, stack, outputs)
    change_set.execution_status = "EXECUTE_COMPLETE"
    # After an execution AWS deletes the stack's other change sets: they no longer apply.
    for arn, other in list(backend.change_sets.items()):
        if other.stack_id == stack.stack_id and other is not change_set:
            del backend.change_sets[arn]

    removed = [n for n in _dependency_order(before["jsons"]) if n in before["deployed"] and actions.get(n) == "Remove"]
    if verb == "UPDATE":
        _stack_status(stack, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
        yield
        # Cleanup failures leave the resource behind, as on AWS; the update still completes.
        yield from _delete_all(stack, rmap, removed, before["jsons"])
    _stack_status(stack, f"{verb}_COMPLETE")


def _failure_event(stack, rmap, actions, failure):
    """The failed resource's event; returns the stack status reason AWS gives the failure."""
    if not failure.logical_id:
        return failure.reason + ". "
    res_type = rmap._resource_json_map[failure.logical_id]["Type"]
    what = "create" if actions.get(failure.logical_id, "Add") == "Add" else "update"
    _event(stack, failure.logical_id, res_type, f"{what.upper()}_FAILED",
           _physical_id(rmap, failure.logical_id), failure.reason)
    return f"The following resource(s) failed to {what}: [{failure.logical_id}]. "


def _half_made(rmap, actions, failure):
    """The failed resource, when its failed create left something to delete (a nested stack)."""
    name = failure.logical_id
    return [name] if name and actions.get(name) == "Add" and name in rmap._parsed_resources else []


def _stop_failed(change_set, verb, prior, before, old, done, actions, failure):
    """DisableRollback: the stack stops in CREATE_FAILED / UPDATE_FAILED with what was done kept. The
    stack shows the new template; RollbackStack returns it to `old`, its last stable state."""
    stack, rmap = change_set.stack, change_set.stack.resource_map
    reason = _failure_event(stack, rmap, actions, failure)
    change_set.execution_status = "EXECUTE_FAILED"
    new_jsons = dict(rmap._resource_json_map)
    # What exists now: each resource as last applied (done: the new template; others: as before).
    rmap._resource_json_map = dict({n: before["jsons"][n] for n in before["deployed"]},
                                   **{n: new_jsons[n] for n in done})
    stack._emu_live = set(before["deployed"]) | set(done) | set(_half_made(rmap, actions, failure))
    for name in _half_made(rmap, actions, failure):
        rmap._resource_json_map[name] = new_jsons[name]
    touched = set(prior["touched"]) if prior else set()
    touched |= {n for n in done if actions.get(n) == "Modify"}
    if failure.logical_id and actions.get(failure.logical_id) == "Modify":
        touched.add(failure.logical_id)
    stack._emu_failed = {"verb": prior["verb"] if prior else verb, "old": old, "touched": touched}
    stack.template, stack.template_dict = change_set.template, change_set.template_dict
    stack.description = change_set.template_dict.get("Description")
    stack._emu_params, stack.parameters = dict(change_set.parameters), dict(change_set.parameters)
    _stack_status(stack, f"{verb}_FAILED", reason)


def _rollback(backend, change_set, verb, old, done, actions, failure):
    stack, rmap = change_set.stack, change_set.stack.resource_map
    reason = _failure_event(stack, rmap, actions, failure)
    change_set.execution_status = "EXECUTE_FAILED"
    new_jsons = dict(rmap._resource_json_map)
    added = [n for n in done if actions[n] == "Add"] + _half_made(rmap, actions, failure)
    if verb == "CREATE":
        yield from _roll_back_create(stack, rmap, added, new_jsons, reason + "Rollback requested by user.",
                                     change_set.template, change_set.template_dict.get("Description"))
        return
    # Put back the previous properties of what was modified (the failed resource included).
    modified = [n for n in done if actions[n] == "Modify"]
    if failure.logical_id and actions.get(failure.logical_id) == "Modify":
        modified.append(failure.logical_id)
    yield from _roll_back_update(stack, rmap, old, modified, added, new_jsons, reason)


def _roll_back_create(stack, rmap, created, jsons, reason, body, description):
    _stack_status(stack, "ROLLBACK_IN_PROGRESS", reason)
    yield
    failed = yield from _delete_all(stack, rmap, created, jsons, on="rollback")
    _load(rmap, {}, {})
    rmap._resource_json_map = {n: jsons[n] for n in failed}
    stack._emu_live = set(failed)
    stack.template, stack.template_dict, stack.description = body, {}, description
    stack._emu_failed = None
    _stack_status(stack, "ROLLBACK_FAILED" if failed else "ROLLBACK_COMPLETE")


def _roll_back_update(stack, rmap, old, modified, added, new_jsons, reason, skipped=(), announce=True):
    """UPDATE_ROLLBACK_IN_PROGRESS: restore `modified` to `old`, then delete `added` in the cleanup.
    A resource that cannot be restored leaves the stack UPDATE_ROLLBACK_FAILED, from which
    ContinueUpdateRollback (cfn_recovery) resumes with the same arguments."""
    if announce:
        _stack_status(stack, "UPDATE_ROLLBACK_IN_PROGRESS", reason)
        yield
    _load(rmap, old["template"], old["params"])
    for name in skipped:  # ContinueUpdateRollback ResourcesToSkip: marked UPDATE_COMPLETE, left as they are
        _event(stack, name, rmap._resource_json_map[name]["Type"], "UPDATE_COMPLETE", _physical_id(rmap, name))
    failed = []
    for name in reversed(modified):
        try:
            yield from _update(stack, rmap, name, on="rollback")
        except _ResourceFailed as exc:
            _event(stack, name, rmap._resource_json_map[name]["Type"], "UPDATE_FAILED",
                   _physical_id(rmap, name), exc.reason)
            failed.append(name)
        yield
    _restore(stack, old)
    stack._emu_failed = None
    if failed:
        stack._emu_rollback = {"old": old, "failed": failed[::-1], "added": added, "new_jsons": new_jsons}
        rmap._resource_json_map = dict(rmap._resource_json_map, **{n: new_jsons[n] for n in added})
        stack._emu_live |= set(added)
        _stack_status(stack, "UPDATE_ROLLBACK_FAILED",
                      f"The following resource(s) failed to update: [{', '.join(failed[::-1])}]. ")
        return
    stack._emu_rollback = None
    _stack_status(stack, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
    yield
    yield from _delete_all(stack, rmap, added, new_jsons, on="rollback")
    _stack_status(stack, "UPDATE_ROLLBACK_COMPLETE")


def _delete_stack_job(backend, stack, retain=()):
    rmap = stack.resource_map
    _stack_status(stack, "DELETE_IN_PROGRESS", "User Initiated")
    yield
    failed = yield from _delete_all(stack, rmap, _deployed(stack), rmap._resource_json_map, retain=set(retain))
    if failed:
        _stack_status(stack, "DELETE_FAILED",
                      f"The following resource(s) failed to delete: [{', '.join(failed)}]. ")
        stack._emu_live = set(failed)
        return
    _stack_status(stack, "DELETE_COMPLETE")
    backend.stacks.pop(stack.stack_id, None)
    backend.deleted_stacks[stack.stack_id] = stack
    _register_exports(backend, stack, [])
    for arn, cs in list(backend.change_sets.items()):
        if cs.stack_id == stack.stack_id:
            del backend.change_sets[arn]


# ---------------------------------------------------------------- request handlers

def _find_change_set(backend, name, stack_name):
    """A change set is named within its stack: (ChangeSetName, StackName), or its ARN alone."""
    if name in backend.change_sets:
        return backend.change_sets[name]
    if not stack_name:
        raise ValidationError(message="StackName must be specified if ChangeSetName is not specified as an ARN.")
    for cs in backend.change_sets.values():
        if cs.change_set_name == name and stack_name in (cs.stack.name, cs.stack_id) \
                and cs.stack_id in backend.stacks:
            return cs
    raise ChangeSetNotFound(f"ChangeSet [{name}] does not exist")


def create_change_set(self):
    backend = self.cloudformation_backend
    stack_name = self._get_param("StackName")
    name = self._get_param("ChangeSetName")
    cs_type = self._get_param("ChangeSetType", "UPDATE")  # AWS's default; moto defaulted to CREATE
    cfn_models.validate_create_change_set(name)
    stack = _live_stack(backend, stack_name)
    if cs_type == "UPDATE":
        if stack is None or stack.status == "REVIEW_IN_PROGRESS":
            raise ValidationError(message=f"Stack [{stack_name}] does not exist")
        if _not_updatable(stack):
            _refuse_update(stack)
    elif stack is not None and stack.status != "REVIEW_IN_PROGRESS":
        # AWS: a CREATE change set cannot make a second stack of the same name.
        raise ValidationError(message=f"Stack [{stack_name}] already exists and cannot be created again "
                                      f"with the changeSet [{name}].")
    if stack is not None and any(cs.change_set_name == name and cs.stack_id == stack.stack_id
                                 for cs in backend.change_sets.values()):
        raise AlreadyExistsException(f"ChangeSet [{name}] already exists")

    self.validate_template_and_stack_body()
    body = self._get_param("TemplateBody")
    if self._get_param("TemplateURL"):
        body = self._get_stack_from_s3_url(self._get_param("TemplateURL"))
    elif self._get_bool_param("UsePreviousTemplate", False):
        if stack is None:
            raise ValidationError(message=f"Stack [{stack_name}] does not exist")
        body = stack.template
    template = Stack.parse_template(body)
    if not isinstance(template, dict) or "Resources" not in template:
        raise ValidationError(message="Template format error: At least one Resources member must be defined.")
    previous = _stack_params(stack) if stack is not None and cs_type == "UPDATE" else None
    params = _effective_params(template, self._get_param("Parameters", []), previous)
    resolved = _resolve_ssm(backend, template, params)
    tag_list = self._get_param("Tags")
    tags = {t["Key"]: t["Value"] for t in tag_list} if tag_list is not None else None
    role_arn = self._get_param("RoleARN")
    notification_arns = self._get_param("NotificationARNs", [])

    new_stack = stack is None
    if new_stack:
        stack = Stack(stack_id=generate_stack_id(stack_name, backend.region_name, backend.account_id),
                      name=stack_name, template={}, parameters=params, account_id=backend.account_id,
                      region_name=backend.region_name, notification_arns=notification_arns, tags=tags,
                      role_arn=role_arn, cross_stack_resources=backend.exports)
        stack._emu_live = set()
        backend.stacks[stack.stack_id] = stack
        _stack_status(stack, "REVIEW_IN_PROGRESS", "User Initiated")
    # Without Tags AWS keeps the stack's tags; with Tags they replace them.
    effective_tags = tags if tags is not None else dict(stack.tags or {})

    change_set = ChangeSet(cs_type, generate_changeset_id(name, backend.region_name, backend.account_id),
                           name, stack, body, params, self._get_param("Description"),
                           notification_arns, tags, role_arn)
    change_set.tags = [{"Key": k, "Value": v} for k, v in (tags or {}).items()]
    change_set.effective_tags = effective_tags
    change_set.capabilities = self._get_param("Capabilities", [])
    change_set._emu_resolved = resolved
    try:
        change_set.changes, import_error = _plan(backend, stack, change_set.template_dict, params, effective_tags,
                                                 resolved)
    except Exception:
        if new_stack:  # a request AWS rejects leaves no stack behind
            del backend.stacks[stack.stack_id]
        raise
    unchanged = (cs_type == "UPDATE" and _same_template(change_set.template_dict, stack.template_dict)
                 and params == _stack_params(stack) and resolved == getattr(stack, "_emu_resolved", {})
                 and effective_tags == dict(stack.tags or {}))
    if import_error or unchanged:
        final = ("FAILED", "UNAVAILABLE", import_error or NO_CHANGES)
    else:
        final = ("CREATE_COMPLETE", "AVAILABLE", None)
    backend.change_sets[change_set.change_set_id] = change_set

    def job():
        # AWS computes a change set asynchronously: CREATE_PENDING, CREATE_IN_PROGRESS, then the result.
        change_set.status, change_set.execution_status = "CREATE_PENDING", "UNAVAILABLE"
        yield
        change_set.status = "CREATE_IN_PROGRESS"
        yield
        change_set.status, change_set.execution_status, change_set.status_reason = final

    _run(job())
    return ActionResult({"Id": change_set.change_set_id, "StackId": stack.stack_id})


def describe_change_set(self):
    backend = self.cloudformation_backend
    return ActionResult(_find_change_set(backend, self._get_param("ChangeSetName"), self._get_param("StackName")))


def delete_change_set(self):
    backend = self.cloudformation_backend
    try:
        change_set = _find_change_set(backend, self._get_param("ChangeSetName"), self._get_param("StackName"))
    except ChangeSetNotFound:
        return EmptyResult()
    if change_set.execution_status == "EXECUTE_IN_PROGRESS":
        raise InvalidChangeSetStatus(f"ChangeSet [{change_set.change_set_id}] cannot be deleted in its "
                                     f"current execution status of [{change_set.execution_status}]")
    backend.change_sets.pop(change_set.change_set_id, None)
    return EmptyResult()


def list_change_sets(self):
    backend = self.cloudformation_backend
    stack = _live_stack(backend, self._get_param("StackName"))
    if stack is None:
        raise ValidationError(message=f"Stack [{self._get_param('StackName')}] does not exist")
    return ActionResult({"Summaries": [cs for cs in backend.change_sets.values() if cs.stack_id == stack.stack_id]})


def execute_change_set(self):
    backend = self.cloudformation_backend
    change_set = _find_change_set(backend, self._get_param("ChangeSetName"), self._get_param("StackName"))
    if change_set.status != "CREATE_COMPLETE":
        raise InvalidChangeSetStatus(f"ChangeSet [{change_set.change_set_id}] cannot be executed in its "
                                     f"current status of [{change_set.status}]")
    if change_set.execution_status != "AVAILABLE":
        raise InvalidChangeSetStatus(f"ChangeSet [{change_set.change_set_id}] cannot be executed in its "
                                     f"current execution status of [{change_set.execution_status}]")
    if _not_updatable(change_set.stack):
        _refuse_update(change_set.stack)
    disable = self._get_bool_param("DisableRollback", False)
    if change_set.stack.status in ("CREATE_FAILED", "UPDATE_FAILED") and not disable:
        # AWS: a stack left *_FAILED by DisableRollback is updated only without rollback (the text
        # AWS returns, as quoted in aws/aws-cdk#30546).
        raise ValidationError(message=f"This stack is currently in a non-terminal [{change_set.stack.status}] "
                                      "state. To update the stack from this state, please use the "
                                      "disable-rollback parameter with update-stack API. To rollback to the "
                                      "last known good state, use the rollback-stack API.")
    change_set._emu_disable_rollback = disable
    _run(_execute_job(backend, change_set))
    return EmptyResult()


def delete_stack(self):
    backend = self.cloudformation_backend
    stack = _live_stack(backend, self._get_param("StackName"))
    if stack is None or stack.status == "DELETE_IN_PROGRESS":
        return EmptyResult()  # AWS: deleting a missing or already-deleting stack succeeds
    if stack.enable_termination_protection:
        # AWS refuses, whatever the stack's status, and leaves the stack as it is:
        # https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-protect-stacks.html
        raise ValidationError(message=f"Stack [{self._get_param('StackName')}] cannot be deleted "
                                      "while TerminationProtection is enabled")
    if stack.status.endswith("_IN_PROGRESS") and stack.status != "REVIEW_IN_PROGRESS":
        raise ValidationError(message=f"Stack [{stack.stack_id}] cannot be deleted while in status {stack.status}")
    retain = self._get_param("RetainResources", []) or []
    if retain and stack.status != "DELETE_FAILED":
        # AWS keeps resources only of a stack whose deletion failed (API_DeleteStack RetainResources).
        raise ValidationError(message=f"Invalid operation on stack {stack.stack_id}. When you delete a stack, "
                                      "specify which resources to retain only when the stack is in the "
                                      "DELETE_FAILED state.")
    if any(name not in _deployed(stack) for name in retain):
        raise ValidationError(message="The specified resources to retain must be in a valid state. Do not "
                                      "specify resources that are in the DELETE_COMPLETE state.")
    _run(_delete_stack_job(backend, stack, retain))
    return EmptyResult()


def update_termination_protection(self):
    # AWS: UpdateTerminationProtection sets the flag DescribeStacks shows (moto 5.2.5 has no handler:
    # HTTP 500, so a stage with termination_protection could not be deployed)
    backend = self.cloudformation_backend
    stack = _live_stack(backend, self._get_param("StackName"))
    if stack is None:
        raise ValidationError(message=f"Stack [{self._get_param('StackName')}] does not exist")
    stack.enable_termination_protection = self._get_bool_param("EnableTerminationProtection", False)
    return ActionResult({"StackId": stack.stack_id})


# ---------------------------------------------------------------- other moto fixes

def _ssm_parameter_get_cfn_attribute(self, attribute_name):
    # AWS::SSM::Parameter supports Fn::GetAtt Type and Value (the CDK bootstrap template's
    # BootstrapVersion output uses Value); moto has no get_cfn_attribute and raised AttributeError.
    if attribute_name == "Value":
        return self.decrypt(self.value)
    if attribute_name == "Type":
        return self.parameter_type
    raise UnformattedGetAttTemplateException()


def _stack_resources(self):
    # Only resources that exist: moto's lazy map would *create* a template resource not yet created
    # (mid-execution in async mode, or after a rollback) just by listing it, and listed unsupported
    # types as empty entries.
    rmap = self.resource_map
    return [rmap._parsed_resources[n] for n in rmap._resource_json_map
            if n in rmap._parsed_resources and not isinstance(rmap._parsed_resources[n], (str, dict, list))]


def _parameter_list(self):
    # DescribeStacks shows parameter values as given (a CommaDelimitedList as "a,b", an SSM-typed
    # parameter as its path, with the value it resolved to as ResolvedValue), not moto's parsed
    # Python values.
    shown = dict(self.resource_map.resolved_parameters)
    shown.update({k: v for k, v in (self.parameters or {}).items() if k in shown})
    hidden = self.resource_map.no_echo_parameter_keys
    resolved = getattr(self, "_emu_resolved", {})
    return [dict({"ParameterKey": k, "ParameterValue": "****" if k in hidden else
                  (",".join(map(str, v)) if isinstance(v, list) else v)},
                 **({"ResolvedValue": resolved[k]} if k in resolved else {})) for k, v in shown.items()]


def apply():
    from moto.moto_api._internal.models import MotoAPIBackend
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from moto.ssm.models import Parameter

    resp = cfn_responses.CloudFormationResponse
    for handler in (create_change_set, describe_change_set, delete_change_set, list_change_sets,
                    execute_change_set, delete_stack, update_termination_protection):
        setattr(resp, handler.__name__, handler)

    original_call_action = resp.call_action

    def call_action(self):
        with LOCK:
            return original_call_action(self)
    resp.call_action = call_action

    original_reset = MotoAPIBackend.reset

    def reset(self):
        with LOCK:
            _generation[0] += 1
            config.reset()
            original_reset(self)
    MotoAPIBackend.reset = reset

    original_call = DomainDispatcherApplication.__call__

    def dispatch(self, environ, start_response):
        if environ.get("PATH_INFO", "").rstrip("/") == "/_emulator/config":
            return config.app(environ, start_response)
        return original_call(self, environ, start_response)
    DomainDispatcherApplication.__call__ = dispatch

    Stack.outputs = _outputs_property(Stack.outputs)
    Stack.stack_resources = property(_stack_resources)
    Stack.parameter_list = property(_parameter_list)
    Stack.status_reason = None
    Stack.capabilities = None
    Parameter.get_cfn_attribute = _ssm_parameter_get_cfn_attribute
    Parameter.has_cfn_attr = classmethod(lambda cls, attr: attr in ("Type", "Value"))


# The engine's jobs as defined here, before iam_cfn wraps them to act as the request's caller: a
# nested stack (cfn_nested) acts as its parent does.
ENGINE_JOBS = {"execute": _execute_job, "delete": _delete_stack_job}
