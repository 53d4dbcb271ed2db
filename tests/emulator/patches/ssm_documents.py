"""SSM Run Command documents as SendCommand uses them.

moto 5.2.5 accepts any SendCommand: a document that does not exist, parameters the document does
not declare, a missing required parameter, a value its `allowedPattern` refuses — and it runs
nothing. AWS validates all of this when SendCommand is called, before anything is delivered, and
then runs the document's steps with its parameters substituted
(https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_SendCommand.html, errors
`InvalidDocument` and `InvalidParameters`; parameters, `allowedPattern`, `default` and
`{{ name }}` substitution: https://docs.aws.amazon.com/systems-manager/latest/userguide/documents-syntax-data-elements-parameters.html).
Here:
  - the document must be one of the account's own Command documents (created by CreateDocument or
    by CloudFormation's AWS::SSM::Document) or `AWS-RunShellScript`, whose parameter declaration
    is AWS's (`commands`, `workingDirectory`, `executionTimeout`). Any other AWS-owned document is
    refused as InvalidDocument, with a note that the emulator does not have it (fails closed).
  - every parameter given must be declared; every declared parameter without a `default` must be
    given; a `String` takes one value; each value must match `allowedPattern` (searched, so an
    unanchored pattern accepts more, as it would on AWS) and be one of `allowedValues` — else
    InvalidParameters.
  - each `aws:runShellScript` step's `runCommand` is run with `{{ name }}` replaced by the value (a
    StringList that is a whole line expands to its lines) through net_ping.run_script, so `ping`
    lines are decided by the emulated network, for `AWS-RunShellScript` and the account's
    documents alike. Preconditions are not evaluated (every emulated instance is Linux). A step of
    any other action fails the invocation ("not emulated"), never succeeds silently.
  - AWS::SSM::Document's `Content` is a JSON object in the template; AWS stores it as document text
    in the DocumentFormat (JSON by default). moto keeps the object, and DescribeDocument (the
    content hash) then fails with HTTP 500; it is stored as text here
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ssm-document.html).
"""
import json
import re

import yaml
from moto.ssm.exceptions import SSMException
from moto.ssm.models import SimpleSystemManagerBackend

# AWS-RunShellScript as AWS declares it (aws ssm describe-document --name AWS-RunShellScript).
AWS_RUN_SHELL_SCRIPT = {
    "schemaVersion": "1.2",
    "parameters": {
        "commands": {"type": "StringList"},
        "workingDirectory": {"type": "String", "default": ""},
        "executionTimeout": {
            "type": "String", "default": "3600",
            "allowedPattern": "([1-9][0-9]{0,4})|(1[0-6][0-9]{4})|(17[0-1][0-9]{3})|(172[0-7][0-9]{2})|(172800)"},
    },
    "mainSteps": [{"action": "aws:runShellScript", "name": "runShellScript",
                   "inputs": {"runCommand": "{{ commands }}"}}],
}
AWS_OWNED = {"AWS-RunShellScript": AWS_RUN_SHELL_SCRIPT}
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.:-]+)\s*\}\}")


def _invalid_document(name, note=""):
    return SSMException("InvalidDocument", f"Document with name {name} does not exist.{note}")


def _invalid_parameters(message):
    return SSMException("InvalidParameters", message)


def document_content(backend, name):
    """The content (parsed) of the Command document `name` SendCommand would run, or raise
    InvalidDocument."""
    if name in AWS_OWNED:
        return AWS_OWNED[name]
    documents = backend._documents.get(name)
    if documents is None:
        note = (" (emulator: of the AWS-owned documents only AWS-RunShellScript is emulated)"
                if name.lower().startswith(("aws", "amazon", "amzn")) else "")
        raise _invalid_document(name, note)
    document = documents.get_default_version()
    if document.document_type != "Command":
        raise _invalid_document(name)
    return document.content_json


def resolve_parameters(content, given):
    """The value list of every declared parameter: given, else its default; InvalidParameters for
    anything AWS refuses at SendCommand."""
    declared = content.get("parameters") or {}
    given = given or {}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise _invalid_parameters(f"Parameters {unknown} are not defined in the document.")
    values = {}
    for name, spec in declared.items():
        if name in given:
            value = given[name]
            value = value if isinstance(value, list) else [value]
        elif "default" in spec:
            default = spec["default"]
            value = default if isinstance(default, list) else [str(default)]
        else:
            raise _invalid_parameters(f"Parameter {name} is required and has no default value.")
        if spec.get("type", "String") == "String" and len(value) != 1:
            raise _invalid_parameters(f"Parameter {name} is a String and takes exactly one value.")
        for v in value:
            pattern = spec.get("allowedPattern")
            if pattern is not None and name in given and re.search(pattern, str(v)) is None:
                raise _invalid_parameters(
                    f"Parameter \"{name}\" \"{v}\" failed to satisfy constraint: allowedPattern {pattern}")
            allowed = spec.get("allowedValues")
            if allowed is not None and str(v) not in [str(a) for a in allowed]:
                raise _invalid_parameters(
                    f"Parameter \"{name}\" \"{v}\" failed to satisfy constraint: allowedValues {allowed}")
        values[name] = [str(v) for v in value]
    return values


def _substitute(line, values):
    whole = _PLACEHOLDER.fullmatch(line.strip())
    if whole and whole.group(1) in values:
        return values[whole.group(1)]
    return [_PLACEHOLDER.sub(lambda m: ",".join(values[m.group(1)]) if m.group(1) in values else m.group(0),
                             line)]


def steps(content, values):
    """[(action, script lines)] of the document's steps with `values` substituted; a step of
    another action has no lines."""
    out = []
    for step in content.get("mainSteps") or []:
        action = step.get("action", "")
        lines = []
        if action == "aws:runShellScript":
            run = (step.get("inputs") or {}).get("runCommand") or []
            for line in run if isinstance(run, list) else [run]:
                lines += _substitute(str(line), values)
        out.append((action, lines))
    return out


def _create_document(self, content, *args, document_format=None, **kwargs):
    if isinstance(content, dict):
        document_format = document_format or "JSON"
        content = json.dumps(content) if document_format == "JSON" else yaml.safe_dump(content)
    return _orig_create_document(self, content, *args, document_format=document_format, **kwargs)


_orig_create_document = SimpleSystemManagerBackend.create_document


def apply():
    SimpleSystemManagerBackend.create_document = _create_document
