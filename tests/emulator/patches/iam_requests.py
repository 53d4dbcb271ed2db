"""What an AWS request asks IAM for: the `service:Action`, the resource ARN(s) and the condition keys,
read from the raw WSGI request (query, JSON and REST-XML protocols) before moto sees it.

`checks(request)` returns the authorizations one request needs, as AWS's Service Authorization
Reference lists them for the operations pipeline-run, its bootstrap roles and its tests use. An
operation missing from these tables is still evaluated, with an UNKNOWN resource (so only a
`Resource: "*"` grant can allow it, see iam_eval), and is reported as unmapped.
"""
import io
import json
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlparse
from xml.etree import ElementTree

from .iam_eval import UNKNOWN_VALUE


@dataclass
class Check:
    """One authorization: `action` on `resource` (an ARN, "*" or UNKNOWN_VALUE), with the condition
    keys that belong to this resource (`values`, `tags`: prefix -> tag dict or callable or None)."""
    action: str
    resource: object
    values: dict = field(default_factory=dict)
    tags: dict = field(default_factory=dict)
    resource_account: object = None  # None: read from the ARN
    mapped: bool = True
    # the resource is in another account but no resource policy of that account is involved (the
    # accepter VPC of a peering request: the accepter accepts separately)
    identity_only: bool = False


class Request:
    """The parts of one HTTP request IAM evaluation needs."""

    def __init__(self, environ):
        self.environ = environ
        self.method = environ.get("REQUEST_METHOD", "GET")
        self.path = environ.get("PATH_INFO", "")
        self.raw_query = environ.get("QUERY_STRING", "")
        self.query = parse_qs(self.raw_query, keep_blank_values=True)
        self.headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if "CONTENT_TYPE" in environ:
            self.headers["content-type"] = environ["CONTENT_TYPE"]
        self.key_id, self.region, self.service = credential(environ)
        self.signed = self.key_id is not None
        self.auth_type = "REST-HEADER" if "Credential=" in environ.get("HTTP_AUTHORIZATION", "") else "REST-QUERY-STRING"
        self.session_token = self.headers.get("x-amz-security-token") or \
            (self.query.get("X-Amz-Security-Token") or [None])[0]
        self.source_ip = environ.get("REMOTE_ADDR", "127.0.0.1")
        self._body = None
        self.params = {}
        self.json = None
        self.operation = None
        self.protocol = None
        self._parse()

    def body(self):
        """The request body (read once and put back for moto)."""
        if self._body is None:
            try:
                length = int(self.environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            self._body = self.environ["wsgi.input"].read(length) if length else b""
            self.environ["wsgi.input"] = io.BytesIO(self._body)
        return self._body

    def _parse(self):
        target = self.headers.get("x-amz-target")
        form = self.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
        if self.service == "s3":
            self.protocol = "s3"
            return
        if self.service is None and not target and "Action" not in self.query and not form:
            self.protocol = "rest"  # unsigned, and not a query-protocol call: nothing more to read
            return
        if target or "amz-json" in self.headers.get("content-type", ""):
            self.protocol = "json"
            self.operation = (target or "").rsplit(".", 1)[-1] or None
            try:
                self.json = json.loads(self.body() or b"{}")
            except ValueError:
                self.json = None
            if not isinstance(self.json, dict):
                self.json = {}
            return
        self.protocol = "ec2" if self.service == "ec2" else "query"
        params = {k: v[0] for k, v in self.query.items()}
        if self.method == "POST" and form:
            params.update({k: v[0] for k, v in parse_qs(self.body().decode("utf-8", "replace"),
                                                        keep_blank_values=True).items()})
        self.params = params
        self.operation = params.get("Action")
        if self.service is None and self.operation == "AssumeRoleWithWebIdentity":
            self.service = "sts"  # unsigned: the service is known from the operation only

    # query-protocol helpers -------------------------------------------------------------
    def param(self, name, default=None):
        if self.protocol == "json":
            return self.json.get(name, default)
        return self.params.get(name, default)

    def members(self, prefix):
        """A query-protocol list: Prefix.member.N (or Prefix.N for EC2), or a JSON list."""
        if self.protocol == "json":
            value = self.json.get(prefix)
            return value if isinstance(value, list) else []
        found = {}
        for key, value in self.params.items():
            m = re.fullmatch(re.escape(prefix) + r"(?:\.member)?\.(\d+)", key)
            if m:
                found[int(m.group(1))] = value
        return [found[i] for i in sorted(found)]

    def tag_dict(self, prefix="Tags"):
        """Tags of the request as {key: value}: query Tags.member.N.Key/Value or JSON [{Key, Value}]."""
        if self.protocol == "json":
            return {t.get("Key"): t.get("Value") for t in self.json.get(prefix) or [] if isinstance(t, dict)}
        keys, values = {}, {}
        for key, value in self.params.items():
            m = re.fullmatch(re.escape(prefix) + r"(?:\.member)?\.(\d+)\.(Key|Value)", key)
            if m:
                (keys if m.group(2) == "Key" else values)[m.group(1)] = value
        return {keys[i]: values.get(i, "") for i in keys}


def credential(environ):
    """(access key id, region, service) from the SigV4 Authorization header or a presigned URL."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    scope = None
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].strip()
    else:
        values = parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential")
        scope = values[0] if values else None
    if not scope:
        return None, None, None
    parts = scope.split("/")
    if len(parts) < 5:
        return parts[0], None, None
    return parts[0], parts[2], parts[3]


# ---------------------------------------------------------------- helpers shared by the tables

def request_tag_keys(tags):
    """Condition keys of tags a request sets: aws:RequestTag/<k> and aws:TagKeys."""
    return {"aws:TagKeys": list(tags)}, {"aws:RequestTag/": dict(tags)}


def _tags_of(raw):
    if raw is None:
        return {}
    if isinstance(raw, dict):
        out = {}
        for k, v in raw.items():
            out[k] = v.get("Value") if isinstance(v, dict) else v
        return out
    return {t.get("Key"): t.get("Value") for t in raw if isinstance(t, dict)}


def account_of(arn):
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        return None
    parts = arn.split(":", 5)
    return parts[4] if len(parts) == 6 else None


# ---------------------------------------------------------------- STS

def _sts(req, caller_account, backends):
    op = req.operation
    if op == "AssumeRole":
        role = req.param("RoleArn") or UNKNOWN_VALUE
        tags = req.tag_dict()
        values, tag_sources = request_tag_keys(tags)
        values.update({"sts:RoleSessionName": req.param("RoleSessionName"),
                       "sts:ExternalId": req.param("ExternalId"),
                       "sts:SourceIdentity": req.param("SourceIdentity"),
                       "sts:TransitiveTagKeys": req.members("TransitiveTagKeys") or None})
        role_tags = lambda: backends.role_tags(role)  # noqa: E731
        checks = [Check("sts:AssumeRole", role, values, dict(tag_sources, **{"aws:ResourceTag/": role_tags,
                                                                             "iam:ResourceTag/": role_tags}))]
        if tags or req.members("TransitiveTagKeys"):
            checks.append(Check("sts:TagSession", role, values, dict(tag_sources, **{"aws:ResourceTag/": role_tags})))
        if req.param("SourceIdentity"):
            checks.append(Check("sts:SetSourceIdentity", role, values))
        return checks
    if op in ("GetSessionToken", "GetAccessKeyInfo", "DecodeAuthorizationMessage"):
        return [Check(f"sts:{op}", "*")]
    if op == "GetFederationToken":
        return [Check("sts:GetFederationToken",
                      f"arn:aws:sts::{caller_account}:federated-user/{req.param('Name')}")]
    return None


# ---------------------------------------------------------------- CloudFormation

_CFN_STACK_OPS = {
    "CancelUpdateStack", "ContinueUpdateRollback", "CreateChangeSet", "CreateStack", "DeleteChangeSet",
    "DeleteStack", "DescribeChangeSet", "DescribeChangeSetHooks", "DescribeStackEvents",
    "DescribeStackResource", "DescribeStackResourceDrifts", "DescribeStackResources", "DescribeStacks",
    "DetectStackDrift", "DetectStackResourceDrift", "ExecuteChangeSet", "GetStackPolicy", "GetTemplate",
    "GetTemplateSummary", "ListChangeSets", "ListStackResources", "RollbackStack", "SetStackPolicy",
    "SignalResource", "UpdateStack", "UpdateTerminationProtection",
}
# Operations AWS authorizes on "*" (no resource-level permissions)
_CFN_STAR_OPS = {
    "ListStacks", "ValidateTemplate", "ListExports", "ListImports", "DescribeAccountLimits",
    "EstimateTemplateCost", "DescribeStackDriftDetectionStatus", "ListTypes", "DescribeType",
    "ListStackSets", "DescribeOrganizationsAccess",
}
# StackName is optional for these; without it they are authorized on "*"
_CFN_OPTIONAL_STACK = {"DescribeStacks", "GetTemplateSummary", "DescribeStackResources", "GetTemplate"}


def _cfn(req, caller_account, backends):
    op, region = req.operation, req.region
    if op in _CFN_STAR_OPS:
        return [Check(f"cloudformation:{op}", "*")]
    if op not in _CFN_STACK_OPS:
        return None
    change_set = req.param("ChangeSetName")
    stack_name = req.param("StackName")
    if not stack_name and change_set and change_set.startswith("arn:"):
        stack_name = backends.stack_of_change_set(change_set)
    if not stack_name:
        if op in _CFN_OPTIONAL_STACK:
            return [Check(f"cloudformation:{op}", "*")]
        return [Check(f"cloudformation:{op}", UNKNOWN_VALUE, mapped=False)]
    stack_arn = backends.stack_arn(caller_account, region, stack_name)
    values = {}
    tag_sources = {"aws:ResourceTag/": lambda: backends.stack_tags(caller_account, region, stack_name)}
    if change_set is not None:
        values["cloudformation:ChangeSetName"] = change_set.split("/")[1] if change_set.startswith("arn:") \
            else change_set
    checks = []
    if op in ("CreateChangeSet", "CreateStack", "UpdateStack", "DeleteStack", "RollbackStack",
              "ContinueUpdateRollback"):
        role_arn = req.param("RoleARN")
        values["cloudformation:RoleArn"] = role_arn
        if op != "DeleteStack" and op != "RollbackStack" and op != "ContinueUpdateRollback":
            tags = req.tag_dict()
            tag_values, request_tags = request_tag_keys(tags)
            values.update(tag_values)
            tag_sources.update(request_tags)
            template_url = req.param("TemplateURL")
            values["cloudformation:TemplateUrl"] = template_url
            values["cloudformation:StackPolicyUrl"] = req.param("StackPolicyURL")
            values["cloudformation:ResourceTypes"] = lambda: backends.template_resource_types(req)
            if req.param("ChangeSetType") == "IMPORT":
                values["cloudformation:ImportResourceTypes"] = UNKNOWN_VALUE
            if template_url:
                obj = s3_object_of_url(template_url)
                # AWS reads TemplateURL with the caller's credentials
                checks.append(Check("s3:GetObject", obj or UNKNOWN_VALUE, {}, {},
                                    resource_account=backends.bucket_account(obj)))
        if role_arn:
            checks.append(Check("iam:PassRole", role_arn, {"iam:PassedToService": "cloudformation.amazonaws.com",
                                                           "iam:AssociatedResourceArn": stack_arn}))
    return [Check(f"cloudformation:{op}", stack_arn, values, tag_sources)] + checks


def s3_object_of_url(url):
    """arn:aws:s3:::bucket/key of an S3 object URL (virtual-hosted, path-style or the emulator's)."""
    try:
        u = urlparse(url)
    except ValueError:
        return None
    host, path = (u.hostname or ""), unquote(u.path or "")
    m = re.match(r"^(.+)\.s3[.-]", host)
    if m and ".amazonaws.com" in host:
        return f"arn:aws:s3:::{m.group(1)}{path}" if path.strip("/") else None
    bucket, _, key = path.lstrip("/").partition("/")
    return f"arn:aws:s3:::{bucket}/{key}" if bucket and key else None


# ---------------------------------------------------------------- SSM

def parameter_arn(region, account, name):
    if name.startswith("arn:"):
        return name
    return f"arn:aws:ssm:{region}:{account}:parameter{name if name.startswith('/') else '/' + name}"


def _ssm(req, caller_account, backends):
    op, region = req.operation, req.region

    def param_check(action, name, values=None, tag_sources=None):
        arn = parameter_arn(region, caller_account, str(name))
        tags = {"ssm:resourceTag/": lambda: backends.parameter_tags(caller_account, region, str(name)),
                "aws:ResourceTag/": lambda: backends.parameter_tags(caller_account, region, str(name))}
        tags.update(tag_sources or {})
        return Check(action, arn, values or {}, tags)

    if op in ("GetParameter", "DeleteParameter", "GetParameterHistory", "LabelParameterVersion",
              "UnlabelParameterVersion"):
        return [param_check(f"ssm:{op}", req.param("Name", ""))]
    if op == "PutParameter":
        tags = req.tag_dict()
        values, request_tags = request_tag_keys(tags)
        values["ssm:Overwrite"] = str(bool(req.param("Overwrite", False))).lower()
        checks = [param_check("ssm:PutParameter", req.param("Name", ""), values, request_tags)]
        if tags:
            checks.append(param_check("ssm:AddTagsToResource", req.param("Name", ""), values, request_tags))
        return checks
    if op in ("GetParameters", "DeleteParameters"):
        return [param_check(f"ssm:{op}", n) for n in req.param("Names") or []] or \
            [Check(f"ssm:{op}", UNKNOWN_VALUE, mapped=False)]
    if op == "GetParametersByPath":
        path = req.param("Path", "/")
        return [Check("ssm:GetParametersByPath", parameter_arn(region, caller_account, path.rstrip("/") or "/"))]
    if op in ("AddTagsToResource", "RemoveTagsFromResource", "ListTagsForResource"):
        if req.param("ResourceType") == "Parameter":
            tags = req.tag_dict()
            values, request_tags = request_tag_keys(tags)
            if op == "RemoveTagsFromResource":
                values = {"aws:TagKeys": req.param("TagKeys") or []}
            return [param_check(f"ssm:{op}", req.param("ResourceId", ""), values, request_tags)]
        return [Check(f"ssm:{op}", UNKNOWN_VALUE, mapped=False)]
    if op == "SendCommand":
        document = req.param("DocumentName", "")
        checks = [Check("ssm:SendCommand", backends.document_arn(caller_account, region, document),
                        {}, {"ssm:resourceTag/": lambda: backends.document_tags(caller_account, region, document),
                             "aws:ResourceTag/": lambda: backends.document_tags(caller_account, region, document)})]
        for instance in req.param("InstanceIds") or []:
            def tags(instance=instance):
                return backends.ec2_tags(caller_account, region, instance)
            checks.append(Check("ssm:SendCommand", f"arn:aws:ec2:{region}:{caller_account}:instance/{instance}",
                                {}, {"ssm:resourceTag/": tags, "aws:ResourceTag/": tags, "ec2:ResourceTag/": tags}))
        if req.param("Targets"):
            checks.append(Check("ssm:SendCommand", f"arn:aws:ec2:{region}:{caller_account}:instance/*",
                                {}, {"ssm:resourceTag/": None, "aws:ResourceTag/": None}))
        return checks
    if op in ("GetCommandInvocation", "ListCommands", "ListCommandInvocations", "CancelCommand",
              "DescribeInstanceInformation", "DescribeParameters", "ListDocuments"):
        return [Check(f"ssm:{op}", "*")]
    if op in ("GetDocument", "DescribeDocument"):
        document = req.param("Name", "")
        return [Check(f"ssm:{op}", backends.document_arn(caller_account, region, document))]
    return None


# ---------------------------------------------------------------- EC2

def _ec2(req, caller_account, backends):
    op, region = req.operation, req.region
    if op and (op.startswith("Describe") or op in ("GetConsoleOutput",)):
        # EC2's Describe* actions have no resource-level permissions
        return [Check(f"ec2:{op}", "*")]
    if op in ("ModifyVpcPeeringConnectionOptions", "DeleteVpcPeeringConnection", "AcceptVpcPeeringConnection",
              "RejectVpcPeeringConnection"):
        pcx = req.param("VpcPeeringConnectionId", "")

        def tags():
            return backends.ec2_tags(caller_account, region, pcx)
        values = {"ec2:AccepterVpc": lambda: backends.peering_vpc_arn(caller_account, region, pcx, "accepter"),
                  "ec2:RequesterVpc": lambda: backends.peering_vpc_arn(caller_account, region, pcx, "requester")}
        return [Check(f"ec2:{op}", f"arn:aws:ec2:{region}:{caller_account}:vpc-peering-connection/{pcx}",
                      values, {"ec2:ResourceTag/": tags, "aws:ResourceTag/": tags})]
    return None


# ---------------------------------------------------------------- IAM

# the first of these a request carries names its resource (AddRoleToInstanceProfile: the profile,
# AddUserToGroup: the group)
_IAM_ENTITY_PARAMS = [("InstanceProfileName", "instance-profile"), ("GroupName", "group"), ("RoleName", "role"),
                      ("UserName", "user")]
_IAM_STAR_OPS = {"ListRoles", "ListUsers", "ListGroups", "ListPolicies", "ListInstanceProfiles",
                 "GetAccountSummary", "GetAccountAuthorizationDetails", "ListOpenIDConnectProviders",
                 "ListAccountAliases", "GetAccountPasswordPolicy"}


def _iam(req, caller_account, backends):
    op = req.operation
    if op in _IAM_STAR_OPS:
        return [Check(f"iam:{op}", "*")]
    values, tag_sources = {}, {}
    if op and (op.startswith("Create") or op.startswith("Tag")):
        values, tag_sources = request_tag_keys(req.tag_dict())
    if op and op.startswith("Untag"):
        values = {"aws:TagKeys": req.members("TagKeys")}
    if req.param("PolicyArn") and op and ("Attach" in op or "Detach" in op):
        values["iam:PolicyARN"] = req.param("PolicyArn")
    if req.param("PermissionsBoundary") is not None or op in ("PutRolePermissionsBoundary",
                                                             "PutUserPermissionsBoundary"):
        values["iam:PermissionsBoundary"] = req.param("PermissionsBoundary")
    # an operation on a role or a user of the caller's account: Role/User (+ Path on Create)
    for param, kind in _IAM_ENTITY_PARAMS:
        name = req.param(param)
        if name is None or not op:
            continue
        arn = backends.iam_arn(caller_account, kind, name, req.param("Path") if op.startswith("Create") else None)
        tags = (lambda kind=kind, name=name: backends.iam_tags(caller_account, kind, name))
        return [Check(f"iam:{op}", arn, values, dict(tag_sources, **{"iam:ResourceTag/": tags,
                                                                     "aws:ResourceTag/": tags}))]
    if req.param("PolicyArn") and op in ("GetPolicy", "GetPolicyVersion", "ListPolicyVersions", "DeletePolicy",
                                         "CreatePolicyVersion", "DeletePolicyVersion", "ListEntitiesForPolicy",
                                         "SetDefaultPolicyVersion", "TagPolicy", "UntagPolicy"):
        return [Check(f"iam:{op}", req.param("PolicyArn"), values, tag_sources)]
    if op == "CreatePolicy":
        path = req.param("Path") or "/"
        return [Check("iam:CreatePolicy", f"arn:aws:iam::{caller_account}:policy{path}{req.param('PolicyName')}",
                      values, tag_sources)]
    if op == "CreateOpenIDConnectProvider":
        url = re.sub(r"^https://", "", req.param("Url") or "")
        return [Check(f"iam:{op}", f"arn:aws:iam::{caller_account}:oidc-provider/{url}", values, tag_sources)]
    if req.param("OpenIDConnectProviderArn"):
        return [Check(f"iam:{op}", req.param("OpenIDConnectProviderArn"), values, tag_sources)]
    return None


# ---------------------------------------------------------------- S3 (REST-XML)

# (method, has key, subresource) -> IAM action. The subresource is the first query parameter of the
# operation (?versioning, ?policy, …); None for plain bucket or object requests.
_S3_BUCKET = {
    ("GET", None): "s3:ListBucket", ("HEAD", None): "s3:ListBucket", ("PUT", None): "s3:CreateBucket",
    ("DELETE", None): "s3:DeleteBucket",
    ("GET", "list-type"): "s3:ListBucket", ("GET", "versions"): "s3:ListBucketVersions",
    ("GET", "uploads"): "s3:ListBucketMultipartUploads", ("GET", "location"): "s3:GetBucketLocation",
    ("GET", "versioning"): "s3:GetBucketVersioning", ("PUT", "versioning"): "s3:PutBucketVersioning",
    ("GET", "policy"): "s3:GetBucketPolicy", ("PUT", "policy"): "s3:PutBucketPolicy",
    ("DELETE", "policy"): "s3:DeleteBucketPolicy", ("GET", "policyStatus"): "s3:GetBucketPolicyStatus",
    ("GET", "encryption"): "s3:GetEncryptionConfiguration", ("PUT", "encryption"): "s3:PutEncryptionConfiguration",
    ("DELETE", "encryption"): "s3:PutEncryptionConfiguration",
    ("GET", "tagging"): "s3:GetBucketTagging", ("PUT", "tagging"): "s3:PutBucketTagging",
    ("DELETE", "tagging"): "s3:PutBucketTagging",
    ("GET", "lifecycle"): "s3:GetLifecycleConfiguration", ("PUT", "lifecycle"): "s3:PutLifecycleConfiguration",
    ("DELETE", "lifecycle"): "s3:PutLifecycleConfiguration",
    ("GET", "publicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("PUT", "publicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("DELETE", "publicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("GET", "acl"): "s3:GetBucketAcl", ("PUT", "acl"): "s3:PutBucketAcl",
    ("GET", "ownershipControls"): "s3:GetBucketOwnershipControls",
    ("PUT", "ownershipControls"): "s3:PutBucketOwnershipControls",
    ("DELETE", "ownershipControls"): "s3:PutBucketOwnershipControls",
    ("GET", "cors"): "s3:GetBucketCORS", ("PUT", "cors"): "s3:PutBucketCORS", ("DELETE", "cors"): "s3:PutBucketCORS",
    ("GET", "notification"): "s3:GetBucketNotification", ("PUT", "notification"): "s3:PutBucketNotification",
    ("GET", "logging"): "s3:GetBucketLogging", ("PUT", "logging"): "s3:PutBucketLogging",
    ("GET", "website"): "s3:GetBucketWebsite", ("PUT", "website"): "s3:PutBucketWebsite",
    ("DELETE", "website"): "s3:DeleteBucketWebsite",
    ("GET", "object-lock"): "s3:GetBucketObjectLockConfiguration",
    ("GET", "accelerate"): "s3:GetAccelerateConfiguration", ("GET", "requestPayment"): "s3:GetBucketRequestPayment",
    ("GET", "replication"): "s3:GetReplicationConfiguration",
}
_S3_OBJECT = {
    ("GET", None): "s3:GetObject", ("HEAD", None): "s3:GetObject", ("PUT", None): "s3:PutObject",
    ("DELETE", None): "s3:DeleteObject",
    ("POST", "uploads"): "s3:PutObject", ("POST", "uploadId"): "s3:PutObject", ("PUT", "uploadId"): "s3:PutObject",
    ("DELETE", "uploadId"): "s3:AbortMultipartUpload", ("GET", "uploadId"): "s3:ListMultipartUploadParts",
    ("GET", "tagging"): "s3:GetObjectTagging", ("PUT", "tagging"): "s3:PutObjectTagging",
    ("DELETE", "tagging"): "s3:DeleteObjectTagging", ("GET", "acl"): "s3:GetObjectAcl",
    ("PUT", "acl"): "s3:PutObjectAcl", ("GET", "attributes"): "s3:GetObjectAttributes",
}
# query parameters that only qualify a request and never name its subresource
_S3_PLAIN = {"prefix", "delimiter", "max-keys", "marker", "continuation-token", "start-after", "encoding-type",
             "fetch-owner", "x-id", "partNumber", "versionId", "response-content-type", "key-marker",
             "upload-id-marker", "max-uploads", "version-id-marker", "max-parts", "part-number-marker",
             "response-content-disposition", "response-cache-control", "response-expires",
             "response-content-language", "response-content-encoding", "optional-object-attributes"}


def _s3(req, caller_account, backends):
    parts = req.path.lstrip("/").split("/", 1)
    bucket = unquote(parts[0]) if parts[0] else None
    key = unquote(parts[1]) if len(parts) > 1 and parts[1] != "" else None
    names = [k for k in req.query if not k.startswith("X-Amz-") and k not in _S3_PLAIN]
    sub = "uploadId" if "uploadId" in req.query else (names[0] if names else None)
    if "list-type" in req.query and sub == "list-type":
        sub = "list-type"
    method = req.method
    if bucket is None:
        if method == "GET":
            return [Check("s3:ListAllMyBuckets", "*")]
        return None
    owner = backends.bucket_account(f"arn:aws:s3:::{bucket}")
    values = {"s3:signatureversion": "AWS4-HMAC-SHA256", "s3:authType": req.auth_type,
              "s3:x-amz-acl": req.headers.get("x-amz-acl"),
              "s3:x-amz-server-side-encryption": req.headers.get("x-amz-server-side-encryption"),
              "s3:ResourceAccount": owner}
    if key is None:
        if method == "POST" and sub == "delete":
            # DeleteObjects: s3:DeleteObject on each key of the request
            keys = _delete_keys(req.body())
            if keys is None:
                return [Check("s3:DeleteObject", UNKNOWN_VALUE, values, resource_account=owner, mapped=False)]
            return [Check("s3:DeleteObject", f"arn:aws:s3:::{bucket}/{k}", values, resource_account=owner)
                    for k in keys]
        action = _S3_BUCKET.get((method, sub))
        if action is None:
            return [Check(("s3", None), f"arn:aws:s3:::{bucket}", values, resource_account=owner, mapped=False)]
        if action == "s3:ListBucket":
            values.update({"s3:prefix": _first(req.query, "prefix"), "s3:delimiter": _first(req.query, "delimiter"),
                           "s3:max-keys": _first(req.query, "max-keys")})
        return [Check(action, f"arn:aws:s3:::{bucket}", values, resource_account=owner)]
    if "versionId" in req.query and sub is None:
        action = {"GET": "s3:GetObjectVersion", "HEAD": "s3:GetObjectVersion",
                  "DELETE": "s3:DeleteObjectVersion"}.get(method)
    else:
        action = _S3_OBJECT.get((method, sub))
    if action is None:
        return [Check(("s3", None), f"arn:aws:s3:::{bucket}/{key}", values, resource_account=owner, mapped=False)]
    checks = [Check(action, f"arn:aws:s3:::{bucket}/{key}", values, resource_account=owner)]
    source = req.headers.get("x-amz-copy-source")
    if source and method == "PUT":
        source = unquote(source.split("?", 1)[0]).lstrip("/")
        checks.append(Check("s3:GetObject", f"arn:aws:s3:::{source}", values,
                            resource_account=backends.bucket_account(f"arn:aws:s3:::{source}")))
    return checks


def _first(query, name):
    values = query.get(name)
    return values[0] if values else None


def _delete_keys(body):
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return None
    return [el.text or "" for el in root.iter() if el.tag.split("}")[-1] == "Key"]


# ---------------------------------------------------------------- dispatch

TABLES = {"sts": _sts, "cloudformation": _cfn, "ssm": _ssm, "ec2": _ec2, "iam": _iam, "s3": _s3}


def checks(req, caller_account, backends):
    """The authorizations `req` needs; an operation no table names gets one UNKNOWN-resource check."""
    service = req.service
    table = TABLES.get(service)
    found = table(req, caller_account, backends) if table else None
    if found is None:
        action = f"{service}:{req.operation}" if req.operation else (service, None)
        return [Check(action, UNKNOWN_VALUE, mapped=False)]
    return found
