"""IAM enforcement: every request to the emulated services is authorized as AWS would authorize it.

moto 5.2.5 never evaluates an identity policy (its own auth, off by default, evaluates only `Action`
against `Resource: "*"`, ignores conditions it does not know, and treats a failed condition as an
explicit deny). This module sits in front of moto's dispatcher and, for each signed request:

1. finds the caller: an IAM user (by access key), an assumed-role session (by its temporary key,
   whose role's policies then apply), or the root user of the account (a long-term key the
   emulator did not issue, as the test helpers' `testing` key: set-up only, never the product);
2. names what the request asks for (iam_requests): `service:Action`, resource ARN(s), condition keys;
3. evaluates (iam_eval) the caller's identity policies (inline, attached managed — AWS-managed ones
   with their real documents — and group policies), the role's permissions boundary and the
   session policies, plus the S3 bucket policy where one applies: an explicit Deny wins, anything
   the evaluator cannot decide refuses;
4. refuses with the service's own AccessDenied shape, or hands the request to moto.

CloudFormation is covered in iam_cfn: iam:PassRole and validity of a change set's RoleARN, and each
resource handler authorized against the role CloudFormation acts with.

Switch: EMULATOR_IAM=enforce|audit|off at start, or POST /_emulator/config {"iam": "off"} (reset by
POST /moto-api/reset). `audit` evaluates and records refusals but lets every request through.
GET /_emulator/iam lists the recent refusals (DELETE clears them).
"""
import collections
import datetime
import json
import os
import threading
import uuid
from xml.sax.saxutils import escape

from moto.cloudformation.models import cloudformation_backends
from moto.ec2.models import ec2_backends
from moto.iam.models import iam_backends
from moto.s3.models import s3_backends
from moto.ssm.models import ssm_backends
from moto.sts.models import sts_backends

from . import config, iam_eval, iam_requests, net_trust
from .iam_eval import MATCH, NO, UNKNOWN, UNKNOWN_VALUE, Context

MODES = ("enforce", "audit", "off")


def _mode_setting(value):
    if value not in MODES:
        raise ValueError(value)
    return value


def _bool_setting(value):
    if not isinstance(value, bool):
        raise ValueError(value)
    return value


_DEFAULT_MODE = os.environ.get("EMULATOR_IAM", "enforce").strip().lower() or "enforce"
if _DEFAULT_MODE not in MODES:
    raise SystemExit(f"EMULATOR_IAM must be one of {', '.join(MODES)}, not {_DEFAULT_MODE!r}")
config.register("iam", _DEFAULT_MODE, _mode_setting,
                "\"enforce\" (default) | \"audit\" (evaluate, record, allow) | \"off\": IAM policy evaluation")
config.register("iam_secure_transport", True, _bool_setting,
                "<bool>: the value of aws:SecureTransport (true: the emulator stands for AWS's TLS endpoints)")

_LOCK = threading.Lock()
_DENIED = collections.deque(maxlen=200)  # recent refusals (or would-be refusals in audit mode)
_UNMAPPED = {}  # service:Action evaluated with an unknown resource -> count
_local = threading.local()  # the caller of the request this thread serves (read by iam_cfn)

ANONYMOUS_OPERATIONS = {"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"}


def mode():
    return config.VALUES["iam"]


# ---------------------------------------------------------------- principals

class Principal:
    """Who a request acts as. kind: root | user | session | anonymous."""

    def __init__(self, kind, account, arn, principal_arn=None, user=None, role=None, session=None,
                 called_via=None):
        self.kind, self.account, self.arn = kind, account, arn
        self.principal_arn = principal_arn or arn
        self.user, self.role, self.session = user, role, session
        self.called_via = called_via  # "cloudformation.amazonaws.com" for CloudFormation's forward sessions

    @property
    def backend(self):
        return iam_backends[self.account]["aws"]

    def identity_documents(self):
        docs = []
        if self.kind == "user":
            docs += list(self.user.policies.values())
            docs += [_default_document(p) for p in self.user.managed_policies.values()]
            try:
                groups = self.backend.get_groups_for_user(self.user.name)
            except Exception:
                groups = []
            for group in groups:
                docs += list(group.policies.values())
                docs += [_default_document(p) for p in group.managed_policies.values()]
        elif self.kind == "session" and self.role is not None:
            docs += list(self.role.policies.values())
            docs += [_default_document(p) for p in self.role.managed_policies.values()]
        return docs

    def boundary_documents(self):
        owner = self.role if self.kind == "session" else self.user if self.kind == "user" else None
        arn = getattr(owner, "permissions_boundary_arn", None) or getattr(owner, "permissions_boundary", None)
        if not arn:
            return None
        policy = _managed_policy(self.account, arn)
        return [_default_document(policy) if policy else '{"Statement": []}']

    def session_documents(self):
        if self.kind != "session" or self.session is None:
            return None
        docs = []
        if getattr(self.session, "policy", None):
            docs.append(self.session.policy)
        for arn in getattr(self.session, "_emu_policy_arns", None) or []:
            policy = _managed_policy(self.account, arn)
            docs.append(_default_document(policy) if policy else '{"Statement": []}')
        return docs or None

    def tags(self):
        owner = self.role if self.kind == "session" else self.user
        return iam_requests._tags_of(getattr(owner, "tags", None)) if owner is not None else {}

    def matches(self, principal_element):
        """MATCH/NO of a resource policy's Principal element for this caller, and whether the match is
        specific (this user or this session, or everyone) rather than delegated (the account, the role)."""
        if principal_element == "*":
            return MATCH, True
        if not isinstance(principal_element, dict):
            return NO, False
        for value in iam_eval.as_list(principal_element.get("AWS", [])):
            value = str(value)
            if value == "*":
                return MATCH, True
            if self.kind == "anonymous":
                continue
            root = net_trust.ROOT_ARN.match(value)
            if value == self.account or (root and root.group(1) == self.account):
                return MATCH, False
            if value == self.arn and self.kind in ("user", "session"):
                return MATCH, True
            if self.kind == "session" and value == self.principal_arn:
                return MATCH, False
        return NO, False

    def context(self, request=None):
        now = datetime.datetime.now(datetime.timezone.utc)
        values = {
            "aws:PrincipalAccount": self.account if self.kind != "anonymous" else None,
            "aws:PrincipalArn": self.principal_arn if self.kind != "anonymous" else None,
            "aws:PrincipalType": {"root": "Account", "user": "User", "session": "AssumedRole",
                                  "anonymous": "Anonymous"}[self.kind],
            "aws:username": self.user.name if self.kind == "user" else None,
            "aws:userid": (self.user.id if self.kind == "user" else
                           f"{self.role.id}:{self.arn.rsplit('/', 1)[-1]}" if self.kind == "session" and self.role
                           else self.account if self.kind == "root" else None),
            "aws:PrincipalIsAWSService": "false",
            "aws:PrincipalServiceName": None,
            "aws:ViaAWSService": "true" if self.called_via else "false",
            "aws:CalledVia": [self.called_via] if self.called_via else None,
            "aws:CalledViaFirst": self.called_via,
            "aws:CalledViaLast": self.called_via,
            "aws:SecureTransport": "true" if config.VALUES["iam_secure_transport"] else "false",
            "aws:CurrentTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "aws:EpochTime": str(int(now.timestamp())),
            "aws:MultiFactorAuthPresent": None,
            "aws:SourceIdentity": None,
            "aws:SourceVpc": None, "aws:SourceVpce": None, "aws:VpcSourceIp": None,
            "aws:TokenIssueTime": None,
        }
        if request is not None:
            values["aws:RequestedRegion"] = request.region
            values["aws:SourceIp"] = request.source_ip
        tag_sources = {"aws:PrincipalTag/": self.tags if self.kind in ("user", "session") else {},
                       "aws:RequestTag/": {}}
        return Context(values, tag_sources)


def _default_document(policy):
    for version in getattr(policy, "versions", []) or []:
        if getattr(version, "is_default", False):
            return version.document
    return getattr(policy, "document", '{"Statement": []}')


def _managed_policy(account, arn):
    backend = iam_backends[account]["aws"]
    return backend.managed_policies.get(arn)


def _find_access_key(key_id):
    for account, by_partition in list(iam_backends.items()):
        backend = by_partition["aws"]
        key = backend.access_keys.get(key_id)
        if key is not None:
            return account, backend, key
    return None, None, None


def _session_of(account, key_id):
    for session in list(sts_backends[account]["aws"].assumed_roles):
        if session.access_key_id == key_id:
            return session
    return None


class InvalidToken(Exception):
    pass


def principal_of(req):
    """The principal of a request, or raises InvalidToken."""
    if not req.signed:
        return Principal("anonymous", None, "anonymous")
    account, backend, key = _find_access_key(req.key_id)
    if key is not None and getattr(key, "role_arn", None):
        session = _session_of(account, req.key_id)
        if session is None or (req.session_token and req.session_token != session.session_token):
            raise InvalidToken()
        role = net_trust.find_role(session.role_arn)
        return Principal("session", account, session.arn, principal_arn=session.role_arn, role=role,
                         session=session)
    if key is not None:
        user = next((u for u in list(backend.users.values()) if key in u.access_keys), None)
        if user is None:
            raise InvalidToken()
        # AWS refuses a security token sent with a long-term key; the emulator ignores it, because a
        # container-credentials endpoint always hands out a token (tests/ci_credentials.rs serves the
        # seeded user's keys that way)
        return Principal("user", account, user.arn, user=user)
    if req.session_token or (req.key_id or "").startswith("ASIA"):
        # temporary credentials the emulator did not issue (or that a reset wiped)
        raise InvalidToken()
    # A long-term key the emulator did not issue (the test helpers' "testing"): the root user of the
    # account moto puts it in (x-moto-account-id, else moto's default account).
    from moto.iam.models import get_account_id_from
    header = req.headers.get("x-moto-account-id")
    account = os.environ.get("MOTO_ACCOUNT_ID") or header or get_account_id_from(req.key_id)
    return Principal("root", account, f"arn:aws:iam::{account}:root")


def cloudformation_session(role):
    """The session CloudFormation acts with when a stack operation names `role` (its RoleARN)."""
    account = role.account_id
    return Principal("session", account, f"arn:aws:sts::{account}:assumed-role/{role.name}/AWSCloudFormation",
                     principal_arn=role.arn, role=role)


def current_principal():
    return getattr(_local, "principal", None)


def current_request():
    return getattr(_local, "request", None)


# ---------------------------------------------------------------- backend lookups for iam_requests

class Backends:
    """Reads of moto state the resource ARNs and condition keys need. Every read tolerates a missing
    account, region or resource (the request then goes on to moto, which answers as it does)."""

    @staticmethod
    def stack_arn(account, region, name):
        if name.startswith("arn:"):
            return name
        stack = Backends._stack(account, region, name)
        if stack is not None:
            return stack.stack_id
        return f"arn:aws:cloudformation:{region}:{account}:stack/{name}/*"

    @staticmethod
    def _stack(account, region, name):
        from . import cfn_changesets
        try:
            with cfn_changesets.LOCK:
                backend = cloudformation_backends[account][region]
                for stack in list(backend.stacks.values()):
                    if name in (stack.name, stack.stack_id):
                        return stack
        except Exception:
            return None
        return None

    @staticmethod
    def stack_tags(account, region, name):
        stack = Backends._stack(account, region, name)
        return dict(stack.tags or {}) if stack is not None else {}

    @staticmethod
    def stack_of_change_set(arn):
        from . import cfn_changesets
        parts = arn.split(":")
        if len(parts) < 6:
            return None
        try:
            with cfn_changesets.LOCK:
                change_set = cloudformation_backends[parts[4]][parts[3]].change_sets.get(arn)
        except Exception:
            return None
        return change_set.stack_id if change_set is not None else None

    @staticmethod
    def template_resource_types(req):
        from moto.cloudformation.models import Stack
        body = req.param("TemplateBody")
        if body is None:
            return UNKNOWN_VALUE  # a TemplateURL: not fetched for a condition key
        try:
            template = Stack.parse_template(body)
            return sorted({r.get("Type") for r in (template.get("Resources") or {}).values()
                           if isinstance(r, dict) and r.get("Type")})
        except Exception:
            return UNKNOWN_VALUE

    @staticmethod
    def bucket_account(arn):
        if not arn:
            return None
        bucket = arn.split(":::", 1)[-1].split("/", 1)[0]
        owner = s3_backends.bucket_accounts.get(bucket)
        return owner[1] if owner else None

    @staticmethod
    def bucket_policy(bucket):
        owner = s3_backends.bucket_accounts.get(bucket)
        if not owner:
            return None
        try:
            found = s3_backends[owner[1]][owner[0]].buckets.get(bucket)
        except Exception:
            return None
        return found.policy if found is not None else None

    @staticmethod
    def parameter_tags(account, region, name):
        try:
            backend = ssm_backends[account][region]
            if name.startswith("arn:"):
                name = name.split(":parameter", 1)[1]
            found = backend._resource_tags.get("Parameter", {})
            for key in (name, name if name.startswith("/") else "/" + name, name.lstrip("/")):
                if key in found:
                    return dict(found[key])
            return {}
        except Exception:
            return None

    @staticmethod
    def document_arn(account, region, name):
        if name.startswith("arn:"):
            return name
        try:
            owned = name in ssm_backends[account][region]._documents
        except Exception:
            owned = False
        # AWS-owned documents (AWS-RunShellScript, …) have no account in their ARN. A name no
        # account may create (aws*, amazon*, amzn*) is AWS's; any other name is the caller
        # account's, whether it exists yet or not (SendCommand then answers InvalidDocument).
        owned = owned or not name.lower().startswith(("aws", "amazon", "amzn"))
        return f"arn:aws:ssm:{region}:{account if owned else ''}:document/{name}"

    @staticmethod
    def document_tags(account, region, name):
        try:
            return dict(ssm_backends[account][region]._resource_tags.get("Document", {}).get(name, {}))
        except Exception:
            return None

    @staticmethod
    def ec2_tags(account, region, resource_id):
        try:
            return dict(ec2_backends[account][region].tags.get(resource_id, {}))
        except Exception:
            return None

    @staticmethod
    def peering_vpc_arn(account, region, pcx_id, side):
        try:
            pcx = ec2_backends[account][region].vpc_pcxs.get(pcx_id)
            vpc = pcx.peer_vpc if side == "accepter" else pcx.vpc
            return f"arn:aws:ec2:{vpc.region}:{vpc.owner_id}:vpc/{vpc.id}"
        except Exception:
            return UNKNOWN_VALUE

    @staticmethod
    def role_tags(role_arn):
        role = net_trust.find_role(role_arn) if isinstance(role_arn, str) else None
        return iam_requests._tags_of(role.tags) if role is not None else {}

    @staticmethod
    def iam_arn(account, kind, name, path=None):
        backend = iam_backends[account]["aws"]
        store = {"role": getattr(backend, "roles", {}), "user": getattr(backend, "users", {}),
                 "group": getattr(backend, "groups", {}), "instance-profile": getattr(backend, "instance_profiles", {})}
        for entity in list(store.get(kind, {}).values()):
            if getattr(entity, "name", None) == name:
                return f"arn:aws:iam::{account}:{kind}{getattr(entity, 'path', '/') or '/'}{name}"
        return f"arn:aws:iam::{account}:{kind}{path or '/'}{name}"

    @staticmethod
    def iam_tags(account, kind, name):
        backend = iam_backends[account]["aws"]
        store = {"role": backend.roles, "user": backend.users}.get(kind, {})
        for entity in list(store.values()):
            if getattr(entity, "name", None) == name:
                return iam_requests._tags_of(getattr(entity, "tags", None))
        return {}


BACKENDS = Backends()


# ---------------------------------------------------------------- decisions

class Decision:
    def __init__(self, allowed, reason=None, unknown=None):
        self.allowed, self.reason, self.unknown = allowed, reason, unknown


def _resource_account(check):
    if check.resource_account is not None:
        return check.resource_account
    account = iam_requests.account_of(check.resource) if isinstance(check.resource, str) else None
    return account or None


def resource_policies(check):
    """Resource-based policies that apply to a check: the bucket policy of an S3 resource."""
    if isinstance(check.action, str) and check.action.startswith("s3:") or \
            (isinstance(check.action, tuple) and check.action[0] == "s3"):
        if isinstance(check.resource, str) and check.resource.startswith("arn:aws:s3:::"):
            bucket = check.resource[len("arn:aws:s3:::"):].split("/", 1)[0]
            policy = BACKENDS.bucket_policy(bucket)
            return [policy] if policy else []
    return []


class _ResourceEvaluation:
    def __init__(self):
        self.denied = self.allowed = self.allowed_specific = False
        self.unknown = None


def _evaluate_resource_policies(principal, documents, action, resource, context):
    ev = _ResourceEvaluation()

    def principal_match(element):
        return principal.matches(element)[0]

    for document in documents:
        try:
            doc = iam_eval.parse_document(document)
        except (ValueError, TypeError):
            ev.denied, ev.unknown = True, "a resource policy that is not JSON"
            continue
        for statement in iam_eval.as_list(doc.get("Statement", [])):
            if not isinstance(statement, dict):
                continue
            result, why = iam_eval.statement_result(statement, action, resource, context, principal_match)
            effect = statement.get("Effect")
            if effect == "Deny" and result in (MATCH, UNKNOWN):
                ev.denied, ev.unknown = True, ev.unknown or why
            elif effect == "Allow" and result == MATCH:
                ev.allowed = True
                if "Principal" in statement and principal.matches(statement["Principal"])[1]:
                    ev.allowed_specific = True
            elif effect == "Allow" and result == UNKNOWN:
                ev.unknown = ev.unknown or why
    return ev


def decide(principal, check, request=None, trust=None):
    """Whether `principal` may perform `check`, as IAM decides: an explicit Deny in any policy wins;
    within one account an Allow in the identity policies (within the permissions boundary and the
    session policies) or a resource policy naming this user or session suffices; across accounts both
    the identity policies and the resource policy must allow."""
    action, resource = check.action, check.resource
    owner = _resource_account(check)
    values = {"aws:ResourceAccount": owner or (UNKNOWN_VALUE if resource is UNKNOWN_VALUE else None)}
    tags = {}
    if not check.mapped:
        # an operation the tables do not read: whether it carries tags is unknown too
        values["aws:TagKeys"] = UNKNOWN_VALUE
        tags["aws:RequestTag/"] = None
    context = principal.context(request).extended(dict(values, **check.values), dict(tags, **check.tags))
    res = _evaluate_resource_policies(principal, resource_policies(check), action, resource, context)
    if res.denied:
        return Decision(False, "deny-resource", res.unknown)

    reason, missing = "no-identity", None
    if principal.kind == "root":
        chain_allowed = True
    else:
        identity = iam_eval.evaluate(principal.identity_documents(), action, resource, context)
        if identity.denied:
            return Decision(False, "deny-identity", identity.unknown)
        boundary_docs, session_docs = principal.boundary_documents(), principal.session_documents()
        boundary = iam_eval.evaluate(boundary_docs, action, resource, context) if boundary_docs is not None else None
        if boundary is not None and boundary.denied:
            return Decision(False, "deny-boundary", boundary.unknown)
        session = iam_eval.evaluate(session_docs, action, resource, context) if session_docs is not None else None
        if session is not None and session.denied:
            return Decision(False, "deny-session", session.unknown)
        chain_allowed = identity.allowed and (boundary is None or boundary.allowed) and \
            (session is None or session.allowed)
        if not identity.allowed:
            missing = identity.unknown
        elif boundary is not None and not boundary.allowed:
            reason, missing = "no-boundary", boundary.unknown
        elif session is not None and not session.allowed:
            reason, missing = "no-session", session.unknown

    same_account = owner is None or owner == principal.account or check.identity_only
    if trust is not None:
        # sts:AssumeRole: net_trust evaluates the trust policy; within one account a trust policy
        # that names this very user or session makes an identity policy unnecessary
        if chain_allowed or (same_account and trust(principal)):
            return Decision(True)
        return Decision(False, reason, missing)
    if same_account:
        if chain_allowed or res.allowed_specific:
            return Decision(True)
        return Decision(False, reason, missing)
    if not chain_allowed:
        return Decision(False, reason, missing)
    if res.allowed:
        return Decision(True)
    return Decision(False, "no-resource", res.unknown)


_REASONS = {
    "no-identity": "because no identity-based policy allows the {action} action",
    "no-resource": "because no resource-based policy allows the {action} action",
    "no-boundary": "because no permissions boundary allows the {action} action",
    "no-session": "because no session policy allows the {action} action",
    "deny-identity": "with an explicit deny in an identity-based policy",
    "deny-resource": "with an explicit deny in a resource-based policy",
    "deny-boundary": "with an explicit deny in a permissions boundary",
    "deny-session": "with an explicit deny in a session policy",
}


def action_name(action):
    return action if isinstance(action, str) else f"{action[0]}:<operation unknown to the emulator>"


def denial_message(principal, check, decision, quote_resource=False):
    action = action_name(check.action)
    if action in ("sts:AssumeRole", "sts:TagSession"):
        return f"User: {principal.arn} is not authorized to perform: {action} on resource: {check.resource}"
    reason = _REASONS[decision.reason].format(action=action)
    if check.resource is UNKNOWN_VALUE:
        return f"User: {principal.arn} is not authorized to perform: {action} {reason}"
    resource = f'"{check.resource}"' if quote_resource else check.resource
    return f"User: {principal.arn} is not authorized to perform: {action} on resource: {resource} {reason}"


def detail(check, decision):
    """Why the emulator refused, beyond AWS's message (x-emulator-iam header, /_emulator/iam)."""
    parts = []
    if not check.mapped:
        parts.append("the emulator does not know the resource of this operation (iam_requests.py), so only "
                     "a Resource \"*\" grant allows it")
    if decision.unknown:
        parts.append(f"undecidable for the emulator: {decision.unknown} (fail closed)")
    return "; ".join(parts)


def record(principal, check, decision, message):
    entry = {"principal": principal.arn, "action": action_name(check.action),
             "resource": "<unknown>" if check.resource is UNKNOWN_VALUE else check.resource,
             "reason": decision.reason, "message": message, "mode": mode()}
    extra = detail(check, decision)
    if extra:
        entry["detail"] = extra
    with _LOCK:
        _DENIED.append(entry)


def note_unmapped(check):
    if not check.mapped:
        with _LOCK:
            name = action_name(check.action)
            _UNMAPPED[name] = _UNMAPPED.get(name, 0) + 1


# ---------------------------------------------------------------- errors, per protocol

def error_response(start_response, protocol, code, message, extra=None, method="GET", service=None):
    request_id = str(uuid.uuid4())
    if protocol == "json":
        body = json.dumps({"__type": code, "message": message, "Message": message})
        status, content_type = "400 Bad Request", "application/x-amz-json-1.1"
    elif protocol == "ec2":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
                f"<Message>{escape(message)}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>")
        status, content_type = "403 Forbidden", "text/xml;charset=UTF-8"
    elif protocol == "s3":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{escape(message)}'
                f"</Message><RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>")
        status, content_type = "403 Forbidden", "application/xml"
    else:
        namespace = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/",
                     "cloudformation": "http://cloudformation.amazonaws.com/doc/2010-05-15/",
                     "iam": "https://iam.amazonaws.com/doc/2010-05-08/"}.get(service, "")
        xmlns = f' xmlns="{namespace}"' if namespace else ""
        body = (f"<ErrorResponse{xmlns}><Error><Type>Sender</Type><Code>{code}</Code>"
                f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>")
        status, content_type = "403 Forbidden", "text/xml"
    data = b"" if method == "HEAD" else body.encode()
    headers = [("Content-Type", content_type), ("Content-Length", str(len(data))),
               ("x-amzn-RequestId", request_id), ("x-amz-request-id", request_id)]
    if protocol == "json":
        headers.append(("x-amzn-ErrorType", code))
    if extra:
        headers.append(("x-emulator-iam", extra.encode("ascii", "replace").decode()))
    start_response(status, headers)
    return [data]


ACCESS_DENIED = {"query": "AccessDenied", "json": "AccessDeniedException", "ec2": "UnauthorizedOperation",
                 "s3": "AccessDenied"}
INVALID_TOKEN = {
    "query": ("InvalidClientTokenId", "The security token included in the request is invalid."),
    "json": ("UnrecognizedClientException", "The security token included in the request is invalid."),
    "ec2": ("AuthFailure", "AWS was not able to validate the provided access credentials"),
    "s3": ("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."),
}


def _protocol(req):
    return req.protocol if req.protocol in ACCESS_DENIED else "query"


# ---------------------------------------------------------------- the middleware

def _trust_names_caller(role_arn):
    """Whether the role's trust policy allows sts:AssumeRole to this very user or session."""
    def check(principal):
        role = net_trust.find_role(role_arn) if isinstance(role_arn, str) else None
        if role is None or principal.kind not in ("user", "session"):
            return False
        caller = net_trust.Caller(account="", arn=principal.arn, principal_arn=principal.arn,
                                  principal_arns={principal.arn})
        return net_trust.trust_allows(role.assume_role_policy_document, "sts:AssumeRole", caller,
                                      {"aws:principalarn": principal.principal_arn})
    return check


def _on_missing_bucket(req):
    """An S3 request naming a bucket that does not exist; never a PUT on the bucket itself, which
    may be CreateBucket (always authorized)."""
    if req.service != "s3" or req.protocol != "s3":
        return False
    bucket, _, key = req.path.lstrip("/").partition("/")
    if not bucket or (req.method == "PUT" and not key):
        return False
    return BACKENDS.bucket_account(f"arn:aws:s3:::{bucket}") is None


def authorize(req):
    """(principal, None) to let the request through, or (principal, (check, decision, message))."""
    principal = principal_of(req)
    if req.service == "sts" and req.operation == "GetCallerIdentity":
        return principal, None  # AWS: no permission is needed to ask who you are
    if principal.kind == "anonymous":
        if req.operation in ANONYMOUS_OPERATIONS:
            return principal, None  # the trust policy alone decides (net_trust)
        # anonymous access (a public bucket policy, …) is not modelled: refused
        check = iam_requests.Check((req.service or "unsigned", None), UNKNOWN_VALUE, mapped=False)
        return principal, (check, Decision(False, "no-identity"),
                           "Anonymous access is not allowed by the emulator: sign the request")
    if _on_missing_bucket(req):
        # S3's bucket names are global: a request on a bucket no account has is answered NoSuchBucket
        # (404, https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html) — moto answers
        # it; there is no resource, no owner (aws:ResourceAccount) and nothing to reveal.
        return principal, None
    for check in iam_requests.checks(req, principal.account, BACKENDS):
        note_unmapped(check)
        trust = _trust_names_caller(check.resource) if check.action in ("sts:AssumeRole", "sts:TagSession") else None
        decision = decide(principal, check, req, trust)
        if not decision.allowed:
            message = denial_message(principal, check, decision, quote_resource=req.protocol == "s3")
            if req.protocol == "ec2":
                message = "You are not authorized to perform this operation. " + message
            return principal, (check, decision, message)
    return principal, None


def _iam_app(environ, start_response):
    from werkzeug.wrappers import Request as WRequest, Response
    request = WRequest(environ)
    if request.method == "DELETE":
        with _LOCK:
            _DENIED.clear()
            _UNMAPPED.clear()
    with _LOCK:
        state = {"mode": mode(), "denied": list(_DENIED), "unmapped": dict(_UNMAPPED)}
    return Response(json.dumps(state), 200, mimetype="application/json")(environ, start_response)


def apply():
    from moto.moto_api._internal.models import MotoAPIBackend
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from moto.sts.models import STSBackend
    from moto.sts.responses import TokenResponse

    from . import iam_cfn

    # Session policies given as PolicyArns: moto drops them; keep them on the session.
    original_token_assume = TokenResponse.assume_role
    original_backend_assume = STSBackend.assume_role

    def token_assume_role(self):
        _local.policy_arns = [v for k, v in sorted(self.querystring.items())
                              if k.startswith("PolicyArns.member.") and k.endswith(".arn")
                              for v in (v if isinstance(v, list) else [v])]
        try:
            return original_token_assume(self)
        finally:
            _local.policy_arns = None

    def backend_assume_role(self, *args, **kwargs):
        session = original_backend_assume(self, *args, **kwargs)
        session._emu_policy_arns = getattr(_local, "policy_arns", None) or []
        return session
    TokenResponse.assume_role = token_assume_role
    STSBackend.assume_role = backend_assume_role

    original_reset = MotoAPIBackend.reset

    def reset(self):
        original_reset(self)
        with _LOCK:
            _DENIED.clear()
            _UNMAPPED.clear()
    MotoAPIBackend.reset = reset

    original_call = DomainDispatcherApplication.__call__

    def dispatch(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.rstrip("/") == "/_emulator/iam":
            return _iam_app(environ, start_response)
        if path.startswith(("/moto-api", "/_emulator")) or mode() == "off":
            return original_call(self, environ, start_response)
        req = iam_requests.Request(environ)
        try:
            principal, refused = authorize(req)
        except InvalidToken:
            code, message = INVALID_TOKEN[_protocol(req)]
            return error_response(start_response, _protocol(req), code, message, method=req.method,
                                  service=req.service)
        if refused is not None:
            check, decision, message = refused
            record(principal, check, decision, message)
            if mode() == "enforce":
                return error_response(start_response, _protocol(req), ACCESS_DENIED[_protocol(req)], message,
                                      detail(check, decision), method=req.method, service=req.service)
        _local.principal, _local.request = principal, req
        try:
            return original_call(self, environ, start_response)
        finally:
            _local.principal = _local.request = None
    DomainDispatcherApplication.__call__ = dispatch

    iam_cfn.apply()
