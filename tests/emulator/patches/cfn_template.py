"""CloudFormation template helpers for the change-set engine (cfn_changesets.py): references and
dependency order, parameters (passed, UsePreviousValue, Default, SSM-typed), conditions, outputs and
exports. No engine state: functions of templates, parameter sets and moto's ResourceMap."""
import json
import re

from moto.cloudformation import models as cfn_models
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.parsing import clean_json
from moto.ssm.models import ssm_backends


def _refs(node):
    """Logical ids a template fragment points at (Ref, Fn::GetAtt, ${X} / ${X.Attr} in Fn::Sub)."""
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else str(value).split(".")[0])
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                if isinstance(text, str):
                    found.update(v.split(".")[0] for v in re.findall(r"\$\{([^!}][^}]*)\}", text))
                found |= _refs(value)
            else:
                found |= _refs(value)
    elif isinstance(node, list):
        for item in node:
            found |= _refs(item)
    return found


def _if_conditions(node):
    """Condition names a template fragment chooses by (the first argument of each Fn::If)."""
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Fn::If" and isinstance(value, list) and value and isinstance(value[0], str):
                found.add(value[0])
            found |= _if_conditions(value)
    elif isinstance(node, list):
        for item in node:
            found |= _if_conditions(item)
    return found


def _condition_parameters(template):
    """Condition name -> the parameters it depends on, through the conditions it names too."""
    conditions = (template or {}).get("Conditions") or {}

    def named(node):
        if isinstance(node, dict):
            return {node["Condition"]} if isinstance(node.get("Condition"), str) and len(node) == 1 else \
                set().union(*(named(v) for v in node.values())) if node else set()
        if isinstance(node, list):
            return set().union(*(named(v) for v in node)) if node else set()
        return set()

    resolved = {}

    def params_of(name, seen=()):
        if name not in resolved:
            body = conditions.get(name)
            found = set(_refs(body))
            for other in named(body) - set(seen) - {name}:
                found |= params_of(other, seen + (name,))
            resolved[name] = found
        return resolved[name]

    return {name: params_of(name) for name in conditions}


def _dependency_order(resources):
    """Logical ids of `resources` (name -> json) with every dependency before its dependents."""
    names = list(resources)
    deps = {}
    for name in names:
        depends_on = resources[name].get("DependsOn", [])
        depends_on = [depends_on] if isinstance(depends_on, str) else depends_on
        deps[name] = [n for n in names if n != name and (n in depends_on or n in _refs(resources[name]))]
    order, seen = [], set()

    def visit(name, path):
        if name in seen or name in path:  # a cycle is an AWS template error; keep template order
            return
        for dep in deps[name]:
            visit(dep, path | {name})
        seen.add(name)
        order.append(name)

    for name in names:
        visit(name, frozenset())
    return order


def _load(rmap, template, params):
    """Point a ResourceMap at a template and parameter set, as moto's ResourceMap.load() does."""
    rmap._template = template
    rmap._resource_json_map = template.get("Resources", {})
    rmap.input_parameters = dict(params)
    rmap.resolved_parameters = {}
    rmap.load_mapping()
    rmap.transform_mapping()
    rmap.load_parameters()
    rmap.load_conditions()


def _norm(resources):
    # moto adds an empty "Properties" to template resources it parses; AWS sees no difference.
    return {n: dict({"Properties": {}}, **r) if isinstance(r, dict) else r for n, r in (resources or {}).items()}


def _same_template(a, b):
    return dict(a, Resources=_norm(a.get("Resources"))) == dict(b, Resources=_norm(b.get("Resources")))


def _wanted(rmap):
    """Resources of the map's template whose Condition holds (AWS neither lists nor creates the others)."""
    return {name: res for name, res in rmap._resource_json_map.items()
            if not res.get("Condition") or rmap.lazy_condition_map[res["Condition"]]}


def _effective_params(template, passed, previous=None, strict=True):
    """Every declared parameter's value: passed, UsePreviousValue, or Default (as AWS resolves them)."""
    declared = (template or {}).get("Parameters") or {}
    values = {}
    given = {p["ParameterKey"]: p for p in passed}
    unknown = [k for k in given if k not in declared]
    if unknown and strict:
        raise ValidationError(message=f"Parameters: [{', '.join(unknown)}] do not exist in the template")
    missing = []
    for key, spec in declared.items():
        p = given.get(key)
        if p is not None and p.get("UsePreviousValue"):
            if previous is None or key not in previous:
                raise ValidationError(message=f"Invalid input for parameter key {key}. "
                                              "Cannot specify usePreviousValue as true for a parameter "
                                              "key not in the previous template")
            values[key] = previous[key]
        elif p is not None and "ParameterValue" in p:
            values[key] = p["ParameterValue"]
        elif "Default" in spec:
            default = spec["Default"]  # YAML may give a number or a boolean; AWS sees its text
            values[key] = default if isinstance(default, str) else json.dumps(default)
        else:
            missing.append(key)
    if missing and strict:
        raise ValidationError(message=f"Parameters: [{', '.join(missing)}] must have values")
    return values


def _ssm_typed(template):
    """Parameters of an SSM parameter type (`AWS::SSM::Parameter::Value<...>`): their value is a
    Parameter Store name, and CloudFormation uses the value stored under it."""
    declared = (template or {}).get("Parameters") or {}
    return [k for k, spec in declared.items()
            if str((spec or {}).get("Type", "")).startswith("AWS::SSM::Parameter::Value<")]


def _resolve_ssm(backend, template, params):
    """AWS: CreateChangeSet reads the current Parameter Store value of each SSM-typed parameter (the
    `ResolvedValue` DescribeStacks shows); a parameter that does not exist fails the request.
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-supplied-parameter-types.html"""
    store = ssm_backends[backend.account_id][backend.region_name]
    resolved, missing = {}, []
    for key in _ssm_typed(template):
        found = store.get_parameter(params[key]) if key in params else None
        if found is None:
            missing.append(params.get(key, key))
        else:
            resolved[key] = found.value
    if missing:
        raise ValidationError(message=f"Unable to fetch parameters [{','.join(missing)}] "
                                      "from parameter store for this account.")
    return resolved


def _resolve_outputs(rmap, template):
    """Outputs as AWS records them when the stack completes: [(key, value, description, export)]."""
    outputs = []
    for key, out in (template.get("Outputs") or {}).items():
        if out.get("Condition") and not rmap.lazy_condition_map[out["Condition"]]:
            continue
        export = out.get("Export", {}).get("Name")
        outputs.append((key, clean_json(out["Value"], rmap), out.get("Description"),
                        clean_json(export, rmap) if export is not None else None))
    return outputs


def _outputs_property(original):
    def outputs(self):
        recorded = getattr(self, "_emu_outputs", None)
        if recorded is None:
            return original.fget(self)
        # AWS shows ExportName only on the output that declares the export (moto matched by value).
        return [{"OutputKey": k, "OutputValue": v, "Description": d, "ExportName": e}
                for k, v, d, e in recorded] or None
    return property(outputs)


def _register_exports(backend, stack, outputs):
    for name in [n for n, e in backend.exports.items() if e.exporting_stack_id == stack.stack_id]:
        del backend.exports[name]
    for _, value, _, name in outputs:
        if name is not None:
            backend.exports[name] = cfn_models.Export(stack.stack_id, name, value)


def _import_names(node, rmap):
    if isinstance(node, dict):
        if "Fn::ImportValue" in node:
            return [clean_json(node["Fn::ImportValue"], rmap)]
        return [n for v in node.values() for n in _import_names(v, rmap)]
    if isinstance(node, list):
        return [n for v in node for n in _import_names(v, rmap)]
    return []
