"""Nested stacks (`AWS::CloudFormation::Stack`) run by the change-set engine (cfn_changesets.py).

moto 5.2.5 creates a nested stack with its synchronous CreateStack: the child is named after the
logical id, has no resource events, the parent's resource has the child's *name* as physical id,
and a failing child resource makes the parent's ExecuteChangeSet call fail. Here, as on AWS:

- the child is a stack of its own, named `<parent>-<LogicalId>-<12 characters>`, with `ParentId` and
  `RootId`, created (and updated, deleted) by the engine with its own events; the parent's resource
  has the child's stack ARN as physical id and `Fn::GetAtt [Child, Outputs.X]` reads its outputs;
- a failing child resource leaves the child CREATE_FAILED and fails the parent's resource with
  `Embedded stack <arn> was not successfully created: The following resource(s) failed to create: [X].`;
  the parent rolls back, deleting the child;
- an update whose child fails rolls the child back and fails the parent's resource with
  `Embedded stack <arn> was not successfully updated. Currently in UPDATE_ROLLBACK_IN_PROGRESS with
  reason: ...`; a child whose rollback failed is continued by the parent's ContinueUpdateRollback
  (ResourcesToSkip `<LogicalIdOfTheNestedStack>.<LogicalIdInTheChild>`, see cfn_recovery.py).

Fault rules name a child stack by its name or as `<parent name>.<LogicalId>` (its name is random).
"""
import random
import string
from urllib.parse import urlparse, urlunparse

from moto.cloudformation import models as cfn_models
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.cloudformation.models import ChangeSet, Stack
from moto.cloudformation.parsing import clean_json
from moto.cloudformation.utils import generate_changeset_id, generate_stack_id, get_stack_from_s3_url
from moto.utilities.utils import get_partition

from . import cfn_changesets as engine
from . import cfn_template_url

TYPE = "AWS::CloudFormation::Stack"


class NestedStack:
    """The parent's resource for a child stack: physical id the child's ARN, GetAtt Outputs.<Key>."""

    def __init__(self, child, logical_id):
        self.child = child
        self.physical_resource_id = child.stack_id
        self.logical_resource_id = logical_id
        self.cf_resource_type = TYPE

    def get_cfn_attribute(self, attribute_name):
        if attribute_name.startswith("Outputs."):
            for key, value, _, _ in getattr(self.child, "_emu_outputs", None) or []:
                if key == attribute_name[len("Outputs."):]:
                    return value
        raise UnformattedGetAttTemplateException()


def _backend(rmap):
    return cfn_models.cloudformation_backends[rmap._account_id][rmap._region_name]


def _template(rmap, name):
    """(body, template, parameters) of the nested stack's TemplateURL and Parameters."""
    props = clean_json(rmap._resource_json_map[name].get("Properties") or {}, rmap)
    url = props["TemplateURL"]
    u = urlparse(url)
    if cfn_template_url._loopback(u.hostname or "") and u.hostname != "localhost":
        url = urlunparse(u._replace(netloc=f"localhost:{u.port}" if u.port else "localhost"))
    body = get_stack_from_s3_url(url, account_id=rmap._account_id, partition=get_partition(rmap._region_name))
    template = Stack.parse_template(body)
    given = [{"ParameterKey": k, "ParameterValue": v if isinstance(v, str) else str(v)}
             for k, v in (props.get("Parameters") or {}).items()]
    return body, template, engine._effective_params(template, given)


def _change_set(backend, parent, child, kind, body, template, params):
    cs = ChangeSet(kind, generate_changeset_id(f"nested-{kind.lower()}", backend.region_name, backend.account_id),
                   f"nested-{kind.lower()}", child, body, params, None, parent.notification_arns, None, parent.role_arn)
    cs.effective_tags = dict(parent.tags or {})
    cs.capabilities = getattr(parent, "capabilities", None) or []
    cs._emu_resolved = engine._resolve_ssm(backend, template, params)
    changes, error = engine._plan(backend, child, template, params, cs.effective_tags, cs._emu_resolved)
    if error:
        raise engine._ResourceFailed(None, error)
    cs.changes = changes
    return cs


def _failed(name, exc):
    return exc if isinstance(exc, engine._ResourceFailed) and exc.logical_id == name else \
        engine._ResourceFailed(name, getattr(exc, "reason", None) or engine._failure_reason(exc))


def create(parent, rmap, name):
    backend = _backend(rmap)
    try:
        body, template, params = _template(rmap, name)
        suffix = "".join(random.choices(string.ascii_uppercase + string.digits, k=12))
        child_name = f"{parent.name}-{name}"[:115] + f"-{suffix}"
        child = Stack(stack_id=generate_stack_id(child_name, backend.region_name, backend.account_id),
                      name=child_name, template={}, parameters=params, account_id=backend.account_id,
                      region_name=backend.region_name, notification_arns=parent.notification_arns,
                      tags=dict(parent.tags or {}), role_arn=parent.role_arn, cross_stack_resources=backend.exports)
        change_set = _change_set(backend, parent, child, "CREATE", body, template, params)
    except Exception as exc:
        raise _failed(name, exc)
    child._emu_live = set()
    child._emu_aliases = {f"{alias}.{name}" for alias in engine._stack_names(parent)}
    child.parent_id = parent.stack_id
    child.root_id = getattr(parent, "root_id", None) or parent.stack_id
    child.resource_map._emu_iam_principal = getattr(rmap, "_emu_iam_principal", None)
    backend.stacks[child.stack_id] = child
    rmap._parsed_resources[name] = NestedStack(child, name)
    # The root stack coordinates the rollback: a failed child stops CREATE_FAILED, the parent deletes it.
    change_set._emu_disable_rollback = True
    yield from ENGINE["execute"](backend, change_set)
    if child.status != "CREATE_COMPLETE":
        raise engine._ResourceFailed(name, f"Embedded stack {child.stack_id} was not successfully created: "
                                           f"{(child.status_reason or '').strip()}")


def update(parent, rmap, name, on):
    backend = _backend(rmap)
    child = rmap._parsed_resources[name].child
    if child.status == "UPDATE_ROLLBACK_FAILED":
        raise engine._ResourceFailed(name, f"Embedded stack {child.stack_id} was not successfully updated. "
                                           f"Currently in UPDATE_ROLLBACK_FAILED with reason: "
                                           f"{(child.status_reason or '').strip()}")
    try:
        body, template, params = _template(rmap, name)
        change_set = _change_set(backend, parent, child, "UPDATE", body, template, params)
    except Exception as exc:
        raise _failed(name, exc)
    if not change_set.changes and params == engine._stack_params(child) \
            and engine._same_template(template, child.template_dict):
        return  # nothing changes in the child
    child.resource_map._emu_iam_principal = getattr(rmap, "_emu_iam_principal", None)
    seen = len(child.events)
    yield from ENGINE["execute"](backend, change_set)
    if child.status != "UPDATE_COMPLETE":
        rolling = [e for e in child.events[seen:] if e.resource_status == "UPDATE_ROLLBACK_IN_PROGRESS"
                   and e.logical_resource_id == child.name]
        reason = (rolling[0].resource_status_reason if rolling else child.status_reason) or ""
        raise engine._ResourceFailed(name, f"Embedded stack {child.stack_id} was not successfully updated. "
                                           f"Currently in UPDATE_ROLLBACK_IN_PROGRESS with reason: {reason.strip()}")


def delete(parent, rmap, name):
    """Deletes the child stack; returns the failure reason or None."""
    backend = _backend(rmap)
    resource = rmap._parsed_resources.get(name)
    child = getattr(resource, "child", None)
    if child is None or child.stack_id not in backend.stacks:
        return None
    child.resource_map._emu_iam_principal = getattr(rmap, "_emu_iam_principal", None)
    yield from ENGINE["delete"](backend, child)
    if child.status == "DELETE_FAILED":
        return f"Embedded stack {child.stack_id} was not successfully deleted: {(child.status_reason or '').strip()}"
    return None


def continue_children(stack, skip):
    """ContinueUpdateRollback on a parent first continues each child whose rollback failed, skipping
    the `Child.LogicalId` entries of `skip`. Yields."""
    rmap = stack.resource_map
    for name in list(stack._emu_rollback["failed"]):
        child = getattr(rmap._parsed_resources.get(name), "child", None)
        if child is None or child.status != "UPDATE_ROLLBACK_FAILED":
            continue
        state = child._emu_rollback
        mine = [s.split(".", 1)[1] for s in skip if s.startswith(f"{name}.")]
        child.resource_map._emu_iam_principal = getattr(rmap, "_emu_iam_principal", None)
        yield from engine._roll_back_update(child, child.resource_map, state["old"],
                                            [n for n in state["failed"] if n not in mine], state["added"],
                                            state["new_jsons"], "User Initiated",
                                            [n for n in state["failed"] if n in mine])


def skippable(stack, entry):
    """A ResourcesToSkip entry `Child.LogicalId`: a resource of a child stack whose rollback failed."""
    name, _, inner = entry.partition(".")
    child = getattr(stack.resource_map._parsed_resources.get(name), "child", None)
    return bool(inner) and child is not None and child.status == "UPDATE_ROLLBACK_FAILED" \
        and inner in child._emu_rollback["failed"]


ENGINE = engine.ENGINE_JOBS  # unwrapped: a child acts with its parent's principal, set above


class _Handler:
    create = staticmethod(create)
    update = staticmethod(update)
    delete = staticmethod(delete)


def apply():
    engine.NESTED[TYPE] = _Handler
    Stack.parent_id = None
    Stack.root_id = None
