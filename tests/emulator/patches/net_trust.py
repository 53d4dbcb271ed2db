"""IAM trust-policy evaluation for sts:AssumeRole / sts:AssumeRoleWithWebIdentity.

moto 5.2.5 hands out credentials for any role ARN, even one that does not exist, so a
missing `--trust` or a wrong account in a bootstrap template would go unnoticed locally.

Web identity also needs what AWS checks before the trust policy: an IAM OIDC provider for the
token's issuer in the role's account, with the token's audience in its client id list
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_oidc.html; the
refusal is InvalidIdentityToken, https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html).
For that, AWS::IAM::OIDCProvider is a real CloudFormation resource here (moto 5.2.5 has none).
"""
import base64
import json
import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import unquote
from xml.sax.saxutils import escape

from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel
from moto.iam.models import iam_backends
from moto.sts.responses import TokenResponse
from werkzeug.exceptions import HTTPException

ROOT_ARN = re.compile(r"^arn:aws[\w-]*:iam::(\d{12}):root$")
ROLE_ARN = re.compile(r"^arn:(aws[\w-]*):iam::(\d{12}):role/")


class UnsupportedCondition(Exception):
    pass


@dataclass
class Caller:
    account: str
    arn: str  # as AWS names the caller in error messages (assumed-role ARN for sessions)
    principal_arn: str = ""  # aws:PrincipalArn: the role ARN for a role session
    principal_arns: set = field(default_factory=set)  # ARNs a trust policy may name
    federated: str | None = None
    service: str | None = None  # an AWS service principal (cloudformation.amazonaws.com assuming a stack role)


class StsAccessDenied(HTTPException):
    """AccessDenied as AWS STS renders it: HTTP 403, <ErrorResponse><Error>…, no <Errors> wrapper
    (moto's generic AccessDeniedError adds one, which the Rust SDK's awsQuery parser does not read)."""

    code = 403

    def __init__(self, message):
        super().__init__()
        self.description = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
            f"<Type>Sender</Type><Code>AccessDenied</Code><Message>{escape(message)}</Message>"
            f"</Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        )

    def get_headers(self, *args, **kwargs):
        return [("Content-Type", "text/xml")]


class StsInvalidIdentityToken(StsAccessDenied):
    """InvalidIdentityToken as AWS STS renders it: HTTP 400, a Sender fault."""

    code = 400

    def __init__(self, message):
        super().__init__(message)
        self.description = self.description.replace("<Code>AccessDenied</Code>", "<Code>InvalidIdentityToken</Code>")


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _glob(pattern, value, ignore_case=False):
    flags = re.IGNORECASE if ignore_case else 0
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags) is not None


# Condition operators IAM documents, reduced to a comparison and whether it is negated.
# Anything else (ForAnyValue:/ForAllValues:, Bool, Date*, Numeric*, IpAddress…) is refused.
_OPERATORS = {
    "StringEquals": (lambda want, have: want == have, False),
    "StringNotEquals": (lambda want, have: want == have, True),
    "StringEqualsIgnoreCase": (lambda want, have: want.lower() == have.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda want, have: want.lower() == have.lower(), True),
    "StringLike": (_glob, False),
    "StringNotLike": (_glob, True),
    "ArnEquals": (_glob, False),
    "ArnLike": (_glob, False),
    "ArnNotEquals": (_glob, True),
    "ArnNotLike": (_glob, True),
}


def _condition_holds(block, context):
    for operator, tests in block.items():
        base, if_exists = (operator[:-8], True) if operator.endswith("IfExists") else (operator, False)
        for key, wanted in tests.items():
            have = context.get(key.lower())
            if base == "Null":
                # {"Null": {"sts:ExternalId": "true"}} holds when the request carries no ExternalId
                ok = all((have is None) == (str(w).lower() == "true") for w in _as_list(wanted))
            elif base not in _OPERATORS:
                raise UnsupportedCondition(operator)
            else:
                compare, negated = _OPERATORS[base]
                if have is None:
                    # IAM: a missing key fails a positive test and passes a negated one
                    ok = if_exists or negated
                else:
                    matched = any(compare(str(w), str(h)) for w in _as_list(wanted) for h in _as_list(have))
                    ok = matched != negated
            if not ok:
                return False
    return True


def _principal_matches(principal, caller):
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for value in _as_list(principal.get("AWS", [])):
        value = str(value)
        root = ROOT_ARN.match(value)
        if value == "*" or value == caller.account or (root and root.group(1) == caller.account):
            return True
        if value in caller.principal_arns:
            return True
    # Service principals (cloudformation.amazonaws.com, …) never match a user or role session.
    if caller.service is not None and caller.service in _as_list(principal.get("Service", [])):
        return True
    return caller.federated is not None and caller.federated in _as_list(principal.get("Federated", []))


def _statement_applies(statement, action, caller, context):
    if "NotAction" in statement:
        if any(_glob(a, action, ignore_case=True) for a in _as_list(statement["NotAction"])):
            return False
    elif not any(_glob(a, action, ignore_case=True) for a in _as_list(statement.get("Action", []))):
        return False
    if "NotPrincipal" in statement:
        if _principal_matches(statement["NotPrincipal"], caller):
            return False
    elif not _principal_matches(statement.get("Principal"), caller):
        return False
    return _condition_holds(statement.get("Condition") or {}, context)


def trust_allows(document, action, caller, context):
    """IAM evaluation of one resource policy: an explicit Deny wins, else some Allow must match.
    Unknown condition operators make the whole evaluation refuse (fail closed)."""
    if isinstance(document, str):
        document = json.loads(unquote(document) if document.startswith("%7B") else document)
    allowed = False
    try:
        for statement in _as_list(document.get("Statement", [])):
            # moto resolves `!If [cond, {...}, !Ref AWS::NoValue]` in a list to None; AWS drops it
            if isinstance(statement, dict) and _statement_applies(statement, action, caller, context):
                if statement.get("Effect") == "Deny":
                    return False
                allowed = allowed or statement.get("Effect") == "Allow"
    except UnsupportedCondition:
        return False
    return allowed


def find_role(role_arn):
    match = ROLE_ARN.match(role_arn or "")
    if not match:
        return None
    backend = iam_backends[match.group(2)][match.group(1)]
    return next((role for role in backend.roles.values() if role.arn == role_arn), None)


def _caller_of(response):
    access_key = response.get_access_key()
    backend = response.backend
    user_id, arn, account = backend.get_caller_identity(access_key, response.region)
    session = backend.get_assumed_role_from_access_key(access_key)
    # a role session is matched against the role's ARN, as IAM does
    principal_arn = session.role_arn if session else arn
    return Caller(account=account, arn=arn, principal_arn=principal_arn, principal_arns={arn, principal_arn})


def _assume_role(self):
    role_arn = self._get_param("RoleArn")
    caller = _caller_of(self)
    context = {
        "sts:externalid": self._get_param("ExternalId"),
        "sts:rolesessionname": self._get_param("RoleSessionName"),
        "aws:principalaccount": caller.account,
        "aws:principalarn": caller.principal_arn,
    }
    role = find_role(role_arn)
    if role is None or not trust_allows(role.assume_role_policy_document, "sts:AssumeRole", caller, context):
        raise StsAccessDenied(
            f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}")
    return _orig_assume_role(self)


def _jwt_claims(token):
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except Exception:
        return {}


def _assume_role_with_web_identity(self):
    role_arn = self._get_param("RoleArn")
    claims = _jwt_claims(self._get_param("WebIdentityToken") or "")
    issuer = re.sub(r"^https://", "", str(claims.get("iss", "")))
    role = find_role(role_arn)
    account = ROLE_ARN.match(role_arn).group(2) if role else ""
    if role is not None and issuer:
        _check_provider(ROLE_ARN.match(role_arn).group(1), account, issuer, claims)
    caller = Caller(account="", arn="", federated=f"arn:aws:iam::{account}:oidc-provider/{issuer}")
    # OIDC claims become condition keys named after the provider, e.g. token.actions.githubusercontent.com:sub
    context = {f"{issuer}:{k}".lower(): v for k, v in claims.items()}
    if role is None or not issuer or not trust_allows(
        role.assume_role_policy_document, "sts:AssumeRoleWithWebIdentity", caller, context
    ):
        raise StsAccessDenied("Not authorized to perform sts:AssumeRoleWithWebIdentity")
    return _orig_assume_role_with_web_identity(self)


def _check_provider(partition, account, issuer, claims):
    """AWS validates a web identity token against the IAM OIDC provider of its issuer in the role's
    account before it reads the trust policy: no provider, or an audience the provider does not
    list, is InvalidIdentityToken. (The signature and thumbprints are still not checked.)"""
    provider = iam_backends[account][partition].open_id_providers.get(
        f"arn:{partition}:iam::{account}:oidc-provider/{issuer}")
    if provider is None:
        raise StsInvalidIdentityToken(f"No OpenIDConnect provider found in your account for https://{issuer}")
    if not any(str(aud) in provider.client_id_list for aud in _as_list(claims.get("aud", []))):
        raise StsInvalidIdentityToken("Incorrect token audience")


class OidcProviderResource(CloudFormationModel):
    """AWS::IAM::OIDCProvider: CreateOpenIDConnectProvider on create, DeleteOpenIDConnectProvider on
    delete; Ref and Fn::GetAtt Arn give the provider's ARN, as on AWS
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-iam-oidcprovider.html)."""

    def __init__(self, account_id, arn):
        self.account_id, self.arn = account_id, arn

    @property
    def physical_resource_id(self):
        return self.arn

    @staticmethod
    def cloudformation_name_type():
        return ""

    @staticmethod
    def cloudformation_type():
        return "AWS::IAM::OIDCProvider"

    @classmethod
    def has_cfn_attr(cls, attr):
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name):
        return self.arn

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        tags = [{"Key": t["Key"], "Value": t["Value"]} for t in props.get("Tags", [])]
        provider = iam_backends[account_id]["aws"].create_open_id_connect_provider(
            props["Url"], list(props.get("ThumbprintList", [])), list(props.get("ClientIdList", [])), tags)
        return cls(account_id, provider.arn)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                        account_id, region_name):
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        url = str(cloudformation_json["Properties"]["Url"]).replace("https://", "", 1)
        iam_backends[account_id]["aws"].delete_open_id_connect_provider(
            f"arn:aws:iam::{account_id}:oidc-provider/{url}")

    def delete(self, account_id, region_name):
        iam_backends[account_id]["aws"].delete_open_id_connect_provider(self.arn)


_orig_assume_role = TokenResponse.assume_role
_orig_assume_role_with_web_identity = TokenResponse.assume_role_with_web_identity


def apply():
    # AWS evaluates the role's trust policy on every AssumeRole; moto never does.
    TokenResponse.assume_role = _assume_role
    # Same for web identity federation (OIDC): Federated principal + claim conditions.
    TokenResponse.assume_role_with_web_identity = _assume_role_with_web_identity
    # moto lists the CloudFormation types it knows once (lru_cache): make it see the OIDC provider.
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
