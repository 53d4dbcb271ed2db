"""IAM policy evaluation (identity, session, boundary and resource-based policies) for the emulator.

Pure functions over policy documents and a request context; no moto state. Every comparison is
three-valued: MATCH, NO, or UNKNOWN when the emulator cannot tell (an unmapped resource, a condition
key it does not supply, an operator it does not implement, a policy variable it cannot resolve).
UNKNOWN is resolved towards refusal: an Allow statement applies only when it certainly MATCHes,
a Deny statement applies when it MATCHes *or* might (UNKNOWN). So what the evaluator does not
understand can only ever refuse a request, never open one.
"""
import datetime
import functools
import ipaddress
import json
import re
import threading
from urllib.parse import unquote

MATCH, NO, UNKNOWN = "match", "no", "unknown"


class _Unknown:
    """A value the emulator cannot provide (an unmapped resource, an unsupplied condition key)."""

    def __repr__(self):
        return "<unknown>"


UNKNOWN_VALUE = _Unknown()


def all_of(results):
    """Conjunction: NO if any NO, else UNKNOWN if any UNKNOWN, else MATCH."""
    results = list(results)
    if NO in results:
        return NO
    return UNKNOWN if UNKNOWN in results else MATCH


def any_of(results):
    """Disjunction: MATCH if any MATCH, else UNKNOWN if any UNKNOWN, else NO."""
    results = list(results)
    if MATCH in results:
        return MATCH
    return UNKNOWN if UNKNOWN in results else NO


def negate(result):
    return {MATCH: NO, NO: MATCH, UNKNOWN: UNKNOWN}[result]


def as_list(value):
    return value if isinstance(value, list) else [value]


def parse_document(document):
    if isinstance(document, (dict, list)):
        return document
    if isinstance(document, bytes):
        document = document.decode()
    return _parse_text(document)


@functools.lru_cache(maxsize=1024)
def _parse_text(document):
    # policy documents are immutable strings; ReadOnlyAccess alone is ~100 kB of JSON
    document = document.strip()
    if document.startswith("%7B") or document.startswith("%7b"):
        document = unquote(document)
    return json.loads(document)


# ---------------------------------------------------------------- wildcards and ARNs

@functools.lru_cache(maxsize=8192)
def _glob_regex(pattern, ignore_case):
    # \x01 and \x02 stand for ${*} and ${?}: a literal * or ? (see substitute)
    regex = "".join(".*" if c == "*" else "." if c == "?" else r"\*" if c == "\x01" else r"\?" if c == "\x02"
                    else re.escape(c) for c in pattern)
    return re.compile(regex, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def glob(pattern, value, ignore_case=False):
    return _glob_regex(pattern, ignore_case).fullmatch(value) is not None


_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def substitute(text, context):
    """Policy variables (${aws:username}, ${*}, ${?}, ${$}) replaced from the context; None when a
    variable cannot be resolved (the caller treats that as UNKNOWN)."""
    if "${" not in text:
        return text
    failed = []

    def repl(m):
        name = m.group(1)
        if name in ("*", "?", "$"):
            return {"*": "\x01", "?": "\x02", "$": "$"}[name]
        key, _, default = name.partition(", ")
        value = context.lookup(key.strip())
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if isinstance(value, str):
            return value
        if value is None and default:
            return default.strip().strip("'")
        failed.append(name)
        return ""

    out = _VARIABLE.sub(repl, text)
    return None if failed else out


def _literal_wildcards(text):
    # ${*} and ${?} outside a wildcard comparison are just the characters * and ?
    return text.replace("\x01", "*").replace("\x02", "?")


def arn_match(pattern, arn):
    """Resource / ArnLike matching: `*` alone matches anything; otherwise the six colon-separated
    parts of an ARN are matched one by one (a wildcard never spans a colon of the first five)."""
    if pattern == "*":
        return True
    p_parts, a_parts = pattern.split(":", 5), arn.split(":", 5)
    if len(p_parts) == 6 and len(a_parts) == 6:
        return all(glob(p, a) for p, a in zip(p_parts, a_parts))
    return glob(pattern, arn)


def match_action(pattern, action):
    """`action` is "service:Operation", or ("service", None) for an operation the emulator cannot name."""
    if isinstance(action, tuple):
        service = action[0]
        if pattern == "*":
            return MATCH
        p_service, _, p_op = pattern.partition(":")
        if not glob(p_service, service, ignore_case=True):
            return NO
        return MATCH if p_op == "*" else UNKNOWN
    return MATCH if glob(pattern, action, ignore_case=True) else NO


class _ActionIndex:
    """A long list of action patterns (ReadOnlyAccess lists about 3,000) made quick to match: exact
    names in a set, and the wildcard patterns of each service in one small regex, compiled the
    first time that service is asked for. One regex over all 3,000 took 0.7 s to compile, and the
    first requests of a run, arriving together, each compiled it again (seconds of warm-up)."""

    def __init__(self, patterns):
        self.exact = set()
        self.by_service = {}
        generic = []
        for p in patterns:
            low = p.lower()
            service, colon, _ = low.partition(":")
            if "*" not in low and "?" not in low:
                self.exact.add(low)
            elif colon and "*" not in service and "?" not in service:
                self.by_service.setdefault(service, []).append(p)
            else:
                generic.append(p)
        self.generic = _alternation(generic)
        self.compiled = {}

    def matches(self, action):
        low = action.lower()
        if low in self.exact:
            return True
        service = low.partition(":")[0]
        regex = self.compiled.get(service)
        if regex is None and service in self.by_service:
            regex = self.compiled.setdefault(service, _alternation(self.by_service[service]))
        return bool(regex and regex.fullmatch(action)) or bool(self.generic and self.generic.fullmatch(action))


def _alternation(patterns):
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{_glob_regex(p, True).pattern})" for p in patterns), re.IGNORECASE | re.DOTALL)


_action_indexes = {}
_action_indexes_lock = threading.Lock()


def _action_index(patterns):
    """The index of `patterns`, built once even when concurrent requests ask for it together."""
    index = _action_indexes.get(patterns)
    if index is None:
        with _action_indexes_lock:
            index = _action_indexes.get(patterns)
            if index is None:
                if len(_action_indexes) > 4096:
                    _action_indexes.clear()
                index = _action_indexes[patterns] = _ActionIndex(patterns)
    return index


def match_actions(patterns, action):
    """any_of(match_action(p, action) for p in patterns), through an index for long lists."""
    if isinstance(action, tuple):
        return any_of(match_action(p, action) for p in patterns)
    return MATCH if _action_index(tuple(patterns)).matches(action) else NO


def match_resource(pattern, resource, context):
    if resource is UNKNOWN_VALUE:
        return MATCH if pattern == "*" else UNKNOWN
    resolved = substitute(pattern, context)
    if resolved is None:
        return UNKNOWN
    return MATCH if arn_match(resolved, resource) else NO


# ---------------------------------------------------------------- conditions

def _str_eq(want, have):
    return _literal_wildcards(want) == have


def _str_eq_ci(want, have):
    return _literal_wildcards(want).lower() == have.lower()


def _str_like(want, have):
    return glob(want, have)


def _arn_like(want, have):
    return arn_match(want, have)


def _number(text):
    return float(text)


def _date(text):
    text = str(text)
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return datetime.datetime.fromtimestamp(float(text), tz=datetime.timezone.utc)
    value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


def _ordered(convert, compare):
    def test(want, have):
        return compare(convert(have), convert(want))
    return test


def _ip(want, have):
    return ipaddress.ip_address(have) in ipaddress.ip_network(want, strict=False)


def _bool(want, have):
    return str(want).lower() == str(have).lower()


# operator -> (comparison(want, have), negated). A comparison that raises (an unparseable number,
# date or address) makes the test UNKNOWN.
OPERATORS = {
    "StringEquals": (_str_eq, False),
    "StringNotEquals": (_str_eq, True),
    "StringEqualsIgnoreCase": (_str_eq_ci, False),
    "StringNotEqualsIgnoreCase": (_str_eq_ci, True),
    "StringLike": (_str_like, False),
    "StringNotLike": (_str_like, True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
    "Bool": (_bool, False),
    "NumericEquals": (_ordered(_number, lambda h, w: h == w), False),
    "NumericNotEquals": (_ordered(_number, lambda h, w: h == w), True),
    "NumericLessThan": (_ordered(_number, lambda h, w: h < w), False),
    "NumericLessThanEquals": (_ordered(_number, lambda h, w: h <= w), False),
    "NumericGreaterThan": (_ordered(_number, lambda h, w: h > w), False),
    "NumericGreaterThanEquals": (_ordered(_number, lambda h, w: h >= w), False),
    "DateEquals": (_ordered(_date, lambda h, w: h == w), False),
    "DateNotEquals": (_ordered(_date, lambda h, w: h == w), True),
    "DateLessThan": (_ordered(_date, lambda h, w: h < w), False),
    "DateLessThanEquals": (_ordered(_date, lambda h, w: h <= w), False),
    "DateGreaterThan": (_ordered(_date, lambda h, w: h > w), False),
    "DateGreaterThanEquals": (_ordered(_date, lambda h, w: h >= w), False),
    "IpAddress": (_ip, False),
    "NotIpAddress": (_ip, True),
}


def _compare(compare, want, have):
    try:
        return MATCH if compare(want, have) else NO
    except (ValueError, TypeError):
        return UNKNOWN


def _one_condition(operator, key, wanted, context):
    qualifier, _, base = operator.rpartition(":")
    if qualifier not in ("", "ForAnyValue", "ForAllValues"):
        return UNKNOWN, f"condition operator {operator}"
    if_exists = base.endswith("IfExists")
    if if_exists:
        base = base[: -len("IfExists")]
    have = context.lookup(key)
    if have is UNKNOWN_VALUE:
        return UNKNOWN, f"condition key {key}"
    wanted = as_list(wanted)
    if base == "Null":
        if qualifier:
            return UNKNOWN, f"condition operator {operator}"
        absent = have is None or have == []
        return any_of(MATCH if absent == (str(w).lower() == "true") else NO for w in wanted), None
    if base not in OPERATORS:
        return UNKNOWN, f"condition operator {operator}"
    compare, negated = OPERATORS[base]
    resolved = []
    for w in wanted:
        text = substitute(str(w), context) if isinstance(w, str) else str(w).lower() if isinstance(w, bool) else str(w)
        if text is None:
            return UNKNOWN, f"policy variable in {w}"
        resolved.append(text)
    values = [] if have is None else [str(h).lower() if isinstance(h, bool) else str(h) for h in as_list(have)]
    if qualifier == "ForAllValues":
        # every request value must match some policy value; vacuously true when there is none
        return all_of(negate(any_of(_compare(compare, w, h) for w in resolved)) if negated
                      else any_of(_compare(compare, w, h) for w in resolved) for h in values), None
    if qualifier == "ForAnyValue":
        if not values:
            return NO, None
        return any_of(negate(any_of(_compare(compare, w, h) for w in resolved)) if negated
                      else any_of(_compare(compare, w, h) for w in resolved) for h in values), None
    if not values:
        # IAM: a missing key fails a positive test and passes a negated one (or any ...IfExists)
        return (MATCH if if_exists or negated else NO), None
    matched = any_of(_compare(compare, w, h) for w in resolved for h in values)
    return (negate(matched) if negated else matched), None


def conditions_hold(block, context):
    """(result, why-unknown) of a statement's Condition block: every operator and key must hold."""
    results, why = [], None
    for operator, tests in (block or {}).items():
        if not isinstance(tests, dict):
            return UNKNOWN, f"condition {operator}"
        for key, wanted in tests.items():
            result, reason = _one_condition(operator, key, wanted, context)
            if result == UNKNOWN and why is None:
                why = reason
            results.append(result)
    result = all_of(results)
    return result, (why if result == UNKNOWN else None)


# ---------------------------------------------------------------- statements and policies

class Context:
    """Condition keys of one (action, resource): `values` maps lower-case keys to a value, a list of
    values, None (known to be absent) or UNKNOWN_VALUE. Tag-style keys (aws:ResourceTag/x, …) are read
    from `tag_sources` (prefix -> dict of tags, or None when unknown). Any other key is UNKNOWN."""

    def __init__(self, values, tag_sources=None, absent_prefixes=()):
        self.values = {k.lower(): v for k, v in values.items()}
        self.tag_sources = {k.lower(): v for k, v in (tag_sources or {}).items()}
        self.absent_prefixes = tuple(p.lower() for p in absent_prefixes)

    def lookup(self, key):
        key_l = key.lower()
        if key_l in self.values:
            value = self.values[key_l]
            return value() if callable(value) else value
        prefix, slash, tag = key_l.partition("/")
        if slash and prefix + "/" in self.tag_sources:
            tags = self.tag_sources[prefix + "/"]
            tags = tags() if callable(tags) else tags
            if tags is None:
                return UNKNOWN_VALUE
            # tag keys compare case-insensitively in condition keys
            for k, v in tags.items():
                if k.lower() == tag:
                    return v
            return None
        if key_l.startswith(self.absent_prefixes):
            return None
        return UNKNOWN_VALUE

    def extended(self, values=None, tag_sources=None):
        merged = Context({}, {}, ())
        merged.values = dict(self.values, **{k.lower(): v for k, v in (values or {}).items()})
        merged.tag_sources = dict(self.tag_sources, **{k.lower(): v for k, v in (tag_sources or {}).items()})
        merged.absent_prefixes = self.absent_prefixes
        return merged


def statement_result(statement, action, resource, context, principal_match=None):
    """(result, why-unknown) of whether `statement` applies to (action, resource) in `context`.
    `principal_match(principal_element)` is given for resource-based policies."""
    if not isinstance(statement, dict):
        return NO, None  # moto resolves `!If [c, {...}, !Ref AWS::NoValue]` in a list to None
    parts, why = [], None
    if "NotAction" in statement:
        parts.append(negate(match_actions([str(a) for a in as_list(statement["NotAction"])], action)))
    else:
        parts.append(match_actions([str(a) for a in as_list(statement.get("Action", []))], action))
    if parts[-1] == UNKNOWN:
        why = f"the operation behind {action[0]}:*" if isinstance(action, tuple) else None
    if "NotResource" in statement:
        parts.append(negate(any_of(match_resource(r, resource, context) for r in as_list(statement["NotResource"]))))
    elif "Resource" in statement:
        parts.append(any_of(match_resource(r, resource, context) for r in as_list(statement["Resource"])))
    elif principal_match is None:
        parts.append(NO)  # an identity-policy statement without Resource is invalid in IAM
    if parts[-1] == UNKNOWN and why is None:
        why = "the request's resource" if resource is UNKNOWN_VALUE else "a policy variable in Resource"
    if principal_match is not None:
        if "NotPrincipal" in statement:
            parts.append(negate(principal_match(statement["NotPrincipal"])))
        else:
            parts.append(principal_match(statement.get("Principal")))
    if NO in parts:
        return NO, None
    cond, cond_why = conditions_hold(statement.get("Condition"), context)
    parts.append(cond)
    result = all_of(parts)
    return result, (why or cond_why) if result == UNKNOWN else None


class Evaluation:
    """Statements of one policy set that allow or deny (action, resource)."""

    def __init__(self):
        self.allowed = False
        self.denied = False
        self.unknown = None  # why a Deny might apply, or why an Allow could not be proven

    def add(self, statement, result, why):
        effect = statement.get("Effect") if isinstance(statement, dict) else None
        if effect == "Deny" and result in (MATCH, UNKNOWN):
            self.denied = True
            if result == UNKNOWN:
                self.unknown = self.unknown or why
        elif effect == "Allow" and result == MATCH:
            self.allowed = True
        elif effect == "Allow" and result == UNKNOWN:
            self.unknown = self.unknown or why


def evaluate(documents, action, resource, context, principal_match=None):
    """Evaluation of policy documents (dicts or JSON) for one (action, resource)."""
    ev = Evaluation()
    for document in documents:
        try:
            doc = parse_document(document)
        except (ValueError, TypeError):
            ev.denied, ev.unknown = True, "a policy document that is not JSON"
            continue
        for statement in as_list(doc.get("Statement", [])):
            result, why = statement_result(statement, action, resource, context, principal_match)
            ev.add(statement, result, why)
    return ev
