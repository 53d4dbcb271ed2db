"""CloudFormation's Fn::GetStackOutput (moto 5.2.5 does not know the function: it leaves the mapping
in place as the property's value, and its YAML loader turns a short-form tag on a mapping,
`!GetStackOutput {StackName: …}`, into a list of parser nodes).

AWS (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference-getstackoutput.html):
`{"Fn::GetStackOutput": {"StackName", "OutputName", "Region"?, "RoleArn"?}}` returns the value of an
output of another stack, in another region (Region, default the stack's own) or account (RoleArn:
a role with cloudformation:DescribeStacks on the referenced stack, assumable by the stack's
execution role; default: the execution role itself). The value is resolved at stack create or
update time: a weak reference, never followed afterwards.

The emulator resolves every use when the change set is created (as it resolves Fn::ImportValue and
SSM-typed parameters there), as the operation's principal (the change set's or stack's RoleARN
session, else the caller): with a RoleArn it assumes that role as IAM decides it (the role's trust
policy and the principal's sts:AssumeRole permission), then DescribeStacks on the referenced stack
must be allowed to that session. A refusal, a missing stack or a missing output fails the change set
(FAILED, with the reason). A resource whose resolved value differs from what the stack was last
deployed with is modified; a submission identical to the deployed stack (template, parameters, tags)
is still "no changes" (AWS documents no re-resolution on an unchanged stack). Executing the change
set uses the values resolved for it. moto's synchronous CreateStack/UpdateStack and nested stacks'
child templates do not resolve it.
"""
import json

import yaml
from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import Change, cloudformation_backends
from moto.cloudformation.parsing import ResourceMap

from . import cfn_changesets, cfn_nested, cfn_template, iam_cfn, iam_policies, net_trust
from .iam_requests import Check

FUNCTION = "Fn::GetStackOutput"
KEYS = ("StackName", "OutputName", "Region", "RoleArn")
# id(template dict of a change set) -> (that template, {key: value}) resolved when it was created
_RESOLVED = {}


class Unresolvable(Exception):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def uses(node):
    """The argument mappings of every Fn::GetStackOutput in a template fragment."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == FUNCTION:
                found.append(value)
            found.extend(uses(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(uses(value))
    return found


def arguments(args, rmap):
    """(StackName, OutputName, Region, RoleArn) with their intrinsic functions resolved."""
    if not isinstance(args, dict) or "StackName" not in args or "OutputName" not in args or \
            set(args) - set(KEYS):
        raise Unresolvable("Template error: Fn::GetStackOutput takes a mapping of StackName, OutputName "
                           "and optionally Region and RoleArn")
    values = [_original_clean_json(args.get(k), rmap) if args.get(k) is not None else None for k in KEYS]
    if values[2] is None:
        values[2] = rmap._region_name
    if not all(isinstance(v, str) for v in values[:3]) or not (values[3] is None or isinstance(values[3], str)):
        raise Unresolvable("Template error: every argument of Fn::GetStackOutput must resolve to a string")
    return tuple(values)


def key_of(args):
    return json.dumps(list(args))


def _refuse(principal, check, decision):
    message = iam_policies.denial_message(principal, check, decision)
    iam_policies.record(principal, check, decision, message)
    if iam_policies.mode() == "enforce":
        raise Unresolvable(f"Fn::GetStackOutput: {message}")


def _assume(principal, role_arn):
    """The session CloudFormation reads with after assuming `role_arn` as `principal`."""
    role = net_trust.find_role(role_arn)
    check = Check("sts:AssumeRole", role_arn)
    if iam_policies.mode() != "off":
        if principal is None:
            raise Unresolvable(f"Fn::GetStackOutput: role {role_arn} cannot be assumed: the operation has no "
                               "credentials")
        caller = net_trust.Caller(account=principal.account, arn=principal.arn, principal_arn=principal.principal_arn,
                                  principal_arns={principal.arn, principal.principal_arn})
        context = {"aws:principalaccount": principal.account, "aws:principalarn": principal.principal_arn}
        trusted = role is not None and net_trust.trust_allows(role.assume_role_policy_document, "sts:AssumeRole",
                                                              caller, context)
        decision = iam_policies.decide(principal, check, trust=iam_policies._trust_names_caller(role_arn))
        if not trusted or not decision.allowed:
            _refuse(principal, check, decision if not decision.allowed else iam_policies.Decision(False, "no-resource"))
    if role is None:
        raise Unresolvable(f"Fn::GetStackOutput: role {role_arn} does not exist")
    return iam_policies.Principal("session", role.account_id,
                                  f"arn:aws:sts::{role.account_id}:assumed-role/{role.name}/AWSCloudFormation",
                                  principal_arn=role.arn, role=role)


def read(principal, account, args):
    """The output's value, read as CloudFormation reads it for a stack of `account`."""
    stack_name, output, region, role_arn = args
    reader = principal
    if role_arn:
        reader = _assume(principal, role_arn)
        account = reader.account
    backend = cloudformation_backends[account][region]
    target = next((s for s in backend.stacks.values()
                   if stack_name in (s.name, s.stack_id) and s.status != "DELETE_COMPLETE"), None)
    arn = target.stack_id if target is not None else f"arn:aws:cloudformation:{region}:{account}:stack/{stack_name}/*"
    if iam_policies.mode() != "off" and reader is not None:
        check = Check("cloudformation:DescribeStacks", arn)
        decision = iam_policies.decide(reader, check)
        if not decision.allowed:
            _refuse(reader, check, decision)
    if target is None:
        raise Unresolvable(f"Fn::GetStackOutput: Stack with id {stack_name} does not exist in {account}/{region}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in (target.outputs or [])}
    if output not in outputs:
        raise Unresolvable(f"Fn::GetStackOutput: Output {output} does not exist in stack {stack_name}")
    return outputs[output]


def _principal(stack):
    request = iam_policies.current_request()
    role_arn = (request.param("RoleARN") if request is not None else None) or stack.role_arn
    return iam_cfn.operation_principal(role_arn)


def _plan(original):
    def plan(backend, stack, template, params, tags, resolved=None):
        changes, error = original(backend, stack, template, params, tags, resolved)
        found = uses(template)
        if error or not found:
            return changes, error
        rmap = ResourceMap(stack.stack_id, stack.name, params, tags, region_name=backend.region_name,
                           account_id=backend.account_id, template=template,
                           cross_stack_resources=backend.exports)
        cfn_changesets._load(rmap, template, params)
        principal = _principal(stack)
        values = {}
        try:
            for args in found:
                parsed = arguments(args, rmap)
                if key_of(parsed) not in values:
                    values[key_of(parsed)] = read(principal, backend.account_id, parsed)
            # a resource that reads a value other than the one it was deployed with is modified
            old = getattr(stack, "_emu_stack_outputs", {})
            listed = {c.logical_resource_id for c in changes}
            deployed = set(cfn_changesets._deployed(stack))
            for name, res in cfn_changesets._wanted(rmap).items():
                keys = {key_of(arguments(a, rmap)) for a in uses(res)}
                if name in deployed and name not in listed and any(old.get(k) != values[k] for k in keys):
                    change = Change("Modify", name, res["Type"])
                    change.physical_resource_id = cfn_changesets._physical_id(stack.resource_map, name)
                    changes.append(change)
        except Unresolvable as exc:
            return changes, exc.reason
        _RESOLVED[id(template)] = (template, values)
        return changes, None
    return plan


def _execute_job(original):
    def execute_job(backend, change_set):
        template, values = _RESOLVED.pop(id(change_set.template_dict), (None, {}))
        if template is not change_set.template_dict:
            values = {}
        stack = change_set.stack
        stack.resource_map._emu_stack_outputs = dict(getattr(stack, "_emu_stack_outputs", {}), **values)
        yield from original(backend, change_set)
        if change_set.execution_status == "EXECUTE_COMPLETE":
            stack._emu_stack_outputs = values
    return execute_job


def clean_json(resource_json, resources_map):
    if isinstance(resource_json, dict) and FUNCTION in resource_json:
        try:
            key = key_of(arguments(resource_json[FUNCTION], resources_map))
        except Unresolvable as exc:
            raise ValidationError(message=exc.reason)
        values = getattr(resources_map, "_emu_stack_outputs", None) or {}
        if key not in values:
            raise ValidationError(message="Fn::GetStackOutput is resolved by change sets only in the emulator")
        return values[key]
    return _original_clean_json(resource_json, resources_map)


def yaml_tag_constructor(loader, tag, node):
    # a short-form function on a mapping (`!GetStackOutput {StackName: …}`) takes that mapping
    if isinstance(node, yaml.MappingNode):
        return {"Ref" if tag == "!Ref" else f"Fn::{tag[1:]}": loader.construct_mapping(node, deep=True)}
    return _original_yaml_tag_constructor(loader, tag, node)


_original_clean_json = parsing.clean_json
_original_yaml_tag_constructor = cfn_models.yaml_tag_constructor


def apply():
    from moto.moto_api._internal.models import MotoAPIBackend

    parsing.clean_json = clean_json
    # the modules that imported moto's function by name
    for module in (cfn_changesets, cfn_template, cfn_nested):
        if hasattr(module, "clean_json"):
            module.clean_json = clean_json
    cfn_models.yaml_tag_constructor = yaml_tag_constructor
    cfn_responses.yaml_tag_constructor = yaml_tag_constructor
    cfn_changesets._plan = _plan(cfn_changesets._plan)
    cfn_changesets._execute_job = _execute_job(cfn_changesets._execute_job)

    original_reset = MotoAPIBackend.reset

    def reset(self):
        _RESOLVED.clear()
        original_reset(self)
    MotoAPIBackend.reset = reset
