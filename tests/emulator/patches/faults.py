"""Fault injection for pipeline-run's robustness tests, and the expiry of assumed-role sessions.

Control endpoint (same server):
  POST   /_emulator/faults  {"throttle": {"service": "cloudformation", "count": 5}}   (or a list of
                            such rules; "action": "DescribeStacks" narrows a rule to one operation).
                            The next `count` matching requests get the service's throttling error.
  GET    /_emulator/faults  rules with what remains, what was injected, sessions refused as expired,
                            and a count of every request by service:Action since the last reset.
  DELETE /_emulator/faults  clears rules and counters (and releases held resources); POST
                            /moto-api/reset does too.

CloudFormation resource rules (used by the engine in cfn_changesets.py, see README "Faults"):
  {"fail":  {"stack": S, "logical_id": L, "on": "create|update|delete|rollback", "count": N, "reason": opt}}
  {"delay": {"stack": S, "logical_id": L, "on": ..., "seconds": X, "count": opt}}   (the step takes X s)
  {"hold":  {"stack": S, "logical_id": L, "on": ..., "count": opt}}   (the step waits for a release)
  {"release": {"stack": S, "logical_id": L}}   (ends a hold; `{"release": {}}` ends every hold)
Each key takes one rule or a list.

Throttling errors are AWS's, in each protocol's shape: `Throttling` "Rate exceeded" (HTTP 400) for
the query protocols (CloudFormation, STS, IAM), `ThrottlingException` for the JSON protocols (SSM),
`RequestLimitExceeded` (HTTP 503) for EC2 and `SlowDown` (HTTP 503) for S3.
"""
import io
import json
import threading
import uuid
from urllib.parse import parse_qs

from moto.core.utils import utcnow

from . import iam_requests

_LOCK = threading.Lock()
_RULES = []  # [{"service", "action" or None, "remaining"}]
_INJECTED = {}  # "service:Action" -> throttles answered
_EXPIRED = {}  # "service:Action" -> requests refused because their session had expired
_REQUESTS = {}  # "service:Action" -> requests seen
_SESSIONS = {}  # assumed-role access key id -> expiration (naive UTC, as moto keeps it)
_RESOURCE_RULES = []  # [{"kind": fail|delay|hold, "stack", "logical_id", "on", "remaining", ...}]
_HELD = []  # holds in force: [{"stack", "logical_id", "on", "released": bool}]
RESOURCE_OPS = ("create", "update", "delete", "rollback")


def _credential(environ):
    """(access key id, service) of the request's SigV4 credential scope."""
    key_id, _region, service = iam_requests.credential(environ)
    return key_id, service


def _action(environ):
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]
    action = parse_qs(environ.get("QUERY_STRING", "")).get("Action")
    if action:
        return action[0]
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length else b""
        # moto reads the body after us
        environ["wsgi.input"] = io.BytesIO(body)
        action = parse_qs(body.decode("utf-8", "replace")).get("Action")
        if action:
            return action[0]
    return environ.get("REQUEST_METHOD", "?")


def _protocol(environ, service):
    if service == "ec2":
        return "ec2"
    if service == "s3":
        return "s3"
    if environ.get("HTTP_X_AMZ_TARGET") or "amz-json" in environ.get("CONTENT_TYPE", ""):
        return "json"
    return "query"


def _error(start_response, protocol, status, code, message, json_code=None):
    request_id = str(uuid.uuid4())
    if protocol == "json":
        body = json.dumps({"__type": json_code or code, "message": message})
        content_type = "application/x-amz-json-1.1"
    elif protocol == "ec2":
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>"
                f"<Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>")
        content_type = "text/xml"
    elif protocol == "s3":
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}"
                f"</Message><RequestId>{request_id}</RequestId></Error>")
        content_type = "application/xml"
    else:
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
                f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>")
        content_type = "text/xml"
    data = body.encode()
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data))),
                            ("x-amzn-RequestId", request_id)])
    return [data]


# AWS throttling, per protocol: (HTTP status, code, message, code in JSON protocols)
THROTTLE = {
    "query": ("400 Bad Request", "Throttling", "Rate exceeded"),
    "json": ("400 Bad Request", "ThrottlingException", "Rate exceeded"),
    "ec2": ("503 Service Unavailable", "RequestLimitExceeded", "Request limit exceeded."),
    "s3": ("503 Slow Down", "SlowDown", "Please reduce your request rate."),
}

# A request signed with an expired session: what each protocol answers on AWS.
EXPIRED = {
    "query": ("400 Bad Request", "ExpiredToken", "The security token included in the request is expired"),
    "json": ("400 Bad Request", "ExpiredTokenException", "The security token included in the request is expired"),
    "ec2": ("400 Bad Request", "RequestExpired", "Request has expired."),
    "s3": ("400 Bad Request", "ExpiredToken", "The provided token has expired."),
}


def _intercept(environ, start_response):
    """An AWS error for this request, or None to let moto answer it."""
    key_id, service = _credential(environ)
    if service is None:
        return None
    action = _action(environ)
    name = f"{service}:{action}"
    protocol = _protocol(environ, service)
    with _LOCK:
        _REQUESTS[name] = _REQUESTS.get(name, 0) + 1
        rule = next((r for r in _RULES if r["remaining"] > 0 and r["service"] == service
                     and r["action"] in (None, action)), None)
        if rule is not None:
            rule["remaining"] -= 1
            _INJECTED[name] = _INJECTED.get(name, 0) + 1
        expiration = _SESSIONS.get(key_id)
        expired = rule is None and expiration is not None and expiration <= utcnow()
        if expired:
            _EXPIRED[name] = _EXPIRED.get(name, 0) + 1
    if rule is not None:
        return _error(start_response, protocol, *THROTTLE[protocol])
    if expired:
        # AWS refuses temporary credentials after their Expiration; moto accepts them for ever.
        return _error(start_response, protocol, *EXPIRED[protocol])
    return None


def _state():
    with _LOCK:
        return {
            "throttle": [dict(r) for r in _RULES],
            "injected": dict(_INJECTED),
            "expired": dict(_EXPIRED),
            "requests": dict(_REQUESTS),
            "resources": [dict(r) for r in _RESOURCE_RULES],
            "held": [dict(h) for h in _HELD if not h["released"]],
        }


def _clear():
    with _LOCK:
        _RULES.clear()
        _INJECTED.clear()
        _EXPIRED.clear()
        _REQUESTS.clear()
        _RESOURCE_RULES.clear()
        for hold in _HELD:
            hold["released"] = True
        _HELD.clear()


def _stack_matches(rule_stack, stack_names):
    return rule_stack in stack_names


def take_resource_rule(kind, stack_names, logical_id, on):
    """The first `kind` rule (fail, delay, hold) matching this resource operation, with one use
    taken from its count; None when none does. `stack_names`: the stack's name and id."""
    with _LOCK:
        for rule in _RESOURCE_RULES:
            if rule["kind"] == kind and rule["remaining"] > 0 and rule["logical_id"] == logical_id \
                    and rule["on"] == on and _stack_matches(rule["stack"], stack_names):
                rule["remaining"] -= 1
                rule["injected"] = rule.get("injected", 0) + 1
                if kind == "hold":
                    hold = {"stack": rule["stack"], "logical_id": logical_id, "on": on, "released": False}
                    _HELD.append(hold)
                    return hold
                return dict(rule)
    return None


def released(hold):
    with _LOCK:
        return hold["released"]


def _release(spec):
    with _LOCK:
        for hold in _HELD:
            if spec.get("stack") in (None, hold["stack"]) and spec.get("logical_id") in (None, hold["logical_id"]):
                hold["released"] = True
        _HELD[:] = [h for h in _HELD if not h["released"]]


def _parse_resource_rules(doc):
    parsed = []
    for kind in ("fail", "delay", "hold"):
        rules = doc.get(kind, [])
        for r in [rules] if isinstance(rules, dict) else rules:
            count = r.get("count", 1)
            ok = all(isinstance(r.get(k), str) for k in ("stack", "logical_id")) and r.get("on") in RESOURCE_OPS \
                and isinstance(count, int) and not isinstance(count, bool) and count >= 1 \
                and (kind != "fail" or r.get("reason") is None or isinstance(r.get("reason"), str))
            seconds = r.get("seconds")
            if kind == "delay":
                ok = ok and isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and 0 <= seconds <= 600
            if not ok:
                raise ValueError(r)
            rule = {"kind": kind, "stack": r["stack"], "logical_id": r["logical_id"], "on": r["on"],
                    "remaining": count}
            if kind == "fail":
                rule["reason"] = r.get("reason")
            if kind == "delay":
                rule["seconds"] = seconds
            parsed.append(rule)
    releases = doc.get("release", [])
    releases = [releases] if isinstance(releases, dict) else releases
    if not all(isinstance(x, dict) for x in releases):
        raise ValueError(releases)
    return parsed, releases


def _parse_rules(body):
    doc = json.loads(body or b"{}")
    if not isinstance(doc, dict) or not set(doc) <= {"throttle", "fail", "delay", "hold", "release"}:
        raise ValueError(doc)
    rules = doc.get("throttle", [])
    if isinstance(rules, dict):
        rules = [rules]
    parsed = []
    for r in rules:
        service, count, action = r.get("service"), r.get("count"), r.get("action")
        if not isinstance(service, str) or not isinstance(count, int) or isinstance(count, bool) \
                or count < 1 or not (action is None or isinstance(action, str)):
            raise ValueError(r)
        parsed.append({"service": service, "action": action, "remaining": count})
    return (parsed,) + _parse_resource_rules(doc)


def _faults_app(environ, start_response):
    from werkzeug.wrappers import Request, Response
    request = Request(environ)
    if request.method == "POST":
        try:
            rules, resource_rules, releases = _parse_rules(request.get_data())
        except (ValueError, TypeError, AttributeError):
            return Response(json.dumps({"error": "expected {\"throttle\": {\"service\": <signing name>, "
                                                 "\"count\": <int >= 1>, \"action\": <optional>}} or a list, "
                                                 "or fail/delay/hold/release rules (README \"Faults\")"}),
                            400, mimetype="application/json")(environ, start_response)
        with _LOCK:
            _RULES.extend(rules)
            _RESOURCE_RULES.extend(resource_rules)
        for spec in releases:
            _release(spec)
    elif request.method == "DELETE":
        _clear()
    return Response(json.dumps(_state()), 200, mimetype="application/json")(environ, start_response)


def apply():
    from moto.moto_api._internal.models import MotoAPIBackend
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from moto.sts.models import STSBackend

    original_assume_role = STSBackend.assume_role

    def assume_role(self, *args, **kwargs):
        role = original_assume_role(self, *args, **kwargs)
        with _LOCK:
            _SESSIONS[role.access_key_id] = role.expiration
        return role
    STSBackend.assume_role = assume_role

    original_reset = MotoAPIBackend.reset

    def reset(self):
        original_reset(self)
        _clear()
        with _LOCK:
            _SESSIONS.clear()
    MotoAPIBackend.reset = reset

    original_call = DomainDispatcherApplication.__call__

    def dispatch(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.rstrip("/") == "/_emulator/faults":
            return _faults_app(environ, start_response)
        if not path.startswith(("/moto-api", "/_emulator")):
            answered = _intercept(environ, start_response)
            if answered is not None:
                return answered
        return original_call(self, environ, start_response)
    DomainDispatcherApplication.__call__ = dispatch
