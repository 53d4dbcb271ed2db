"""IAM for what CloudFormation does on a caller's behalf.

- A `RoleARN` (CreateChangeSet, CreateStack, UpdateStack, DeleteStack) must name a role that exists and
  trusts cloudformation.amazonaws.com: `ValidationError: Role <arn> is invalid or cannot be assumed`.
  The caller also needs iam:PassRole on it (iam_requests adds that check to the request itself).
- Each resource handler step (create, update, delete) is authorized as AWS authorizes the handler's
  own API calls: against the stack's role (a session `assumed-role/<role>/AWSCloudFormation`) when the
  operation has one, else against the caller who started the operation (as CloudFormation's forward
  access session, aws:CalledVia cloudformation.amazonaws.com). A refused step fails the resource with
  AWS's `Resource handler returned message: "User: … is not authorized to perform: …" (Error Code:
  AccessDenied)` and the stack rolls back. The actions per resource type are the main API calls of
  the type's handler (HANDLERS below); an unmapped type needs `<service>:*` on `*`.
- AWS::S3::BucketPolicy is implemented (moto 5.2.5 ignores it), so the bootstrap's TLS-only bucket
  policy exists and is evaluated.
- Stack parameters of an `AWS::SSM::Parameter::Value<…>` type are resolved by CreateChangeSet,
  CreateStack and UpdateStack with the *caller's* permissions (ssm:GetParameters on each name, even
  when a RoleARN is given: the CDK's bootstrap grants its deploy role GetParameters on the version
  parameter for exactly this). A refusal is `ValidationError: AccessDenied. User doesn't have
  permission to call ssm:GetParameters` (as reported in aws/aws-cdk#20959). Source:
  https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/systems-manager-parameter-types.html
  (values are fetched when the change set is created, in the caller's account).
"""
import json
import threading
from types import SimpleNamespace

from moto.cloudformation import parsing
from moto.cloudformation.exceptions import ValidationError
from moto.core.common_models import CloudFormationModel
from moto.s3.models import s3_backends
from werkzeug.exceptions import HTTPException

from . import cfn_changesets, iam_policies, net_trust
from .iam_eval import UNKNOWN_VALUE
from .iam_requests import Check, parameter_arn, request_tag_keys

CFN_SERVICE = "cloudformation.amazonaws.com"
_local = threading.local()


class HandlerAccessDenied(HTTPException):
    """A handler step refused. In the change-set engine it becomes the resource's failure reason; in
    moto's own CreateStack/UpdateStack it answers the API call (HTTP 403, AccessDenied)."""
    code = 403
    error_type = "AccessDenied"

    def __init__(self, message):
        super().__init__()
        self.message = message
        self.description = (
            '<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type>'
            f"<Code>AccessDenied</Code><Message>{_xml(message)}</Message></Error>"
            "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>")

    def get_headers(self, *args, **kwargs):
        return [("Content-Type", "text/xml")]

    def __str__(self):
        return self.message


def _xml(text):
    from xml.sax.saxutils import escape
    return escape(text)


# ---------------------------------------------------------------- the role CloudFormation acts with

def role_usable(role_arn):
    """The role, if it exists and its trust policy lets CloudFormation assume it."""
    role = net_trust.find_role(role_arn)
    if role is None:
        return None
    caller = net_trust.Caller(account="", arn="", service=CFN_SERVICE)
    trusted = net_trust.trust_allows(role.assume_role_policy_document, "sts:AssumeRole", caller, {})
    return role if trusted else None


def _refuse_role(role_arn):
    raise ValidationError(message=f"Role {role_arn} is invalid or cannot be assumed")


def operation_principal(role_arn):
    """Who a stack operation's resource handlers act as: the role's CloudFormation session, or the
    caller of the request (as a forward access session). None: the role cannot be assumed."""
    if role_arn:
        role = role_usable(role_arn)
        return iam_policies.cloudformation_session(role) if role is not None else None
    caller = iam_policies.current_principal()
    if caller is None:
        return None
    forwarded = iam_policies.Principal(caller.kind, caller.account, caller.arn, caller.principal_arn,
                                       caller.user, caller.role, caller.session, called_via=CFN_SERVICE)
    return forwarded


def _principal_for(rmap):
    # moto's synchronous CreateStack/UpdateStack set the thread's principal for the length of the call;
    # the change-set engine (possibly in a background thread) pins it on the stack's resource map.
    local = getattr(_local, "principal", None)
    if local is not None:
        return None if local is _NO_PRINCIPAL else local
    marker = getattr(rmap, "_emu_iam_principal", None)
    return None if marker is _NO_PRINCIPAL else marker


# ---------------------------------------------------------------- handler permissions

def _ec2(ctx, kind, rid="*", account=None, region=None):
    return f"arn:aws:ec2:{region or ctx.region}:{account or ctx.account}:{kind}/{rid}"


def _tags(props):
    raw = props.get("Tags") or []
    if isinstance(raw, dict):  # AWS::SSM::Parameter tags are a map
        return {str(k): str(v) for k, v in raw.items()}
    return {t.get("Key"): t.get("Value") for t in raw if isinstance(t, dict)}


def _create_tags(ctx, kind, create_action, props):
    tags = dict(_tags(props), **(ctx.stack_tags or {}))
    values, sources = request_tag_keys(tags)
    values["ec2:CreateAction"] = create_action
    return Check("ec2:CreateTags", _ec2(ctx, kind), values, sources)


def _ids(value):
    return [str(v) for v in (value if isinstance(value, list) else [value] if value else [])]


def _role_arn(ctx, name, path=None):
    return iam_policies.BACKENDS.iam_arn(ctx.account, "role", name, path)


def _vpc(op, p, name, res, ctx):
    if op == "create":
        checks = [Check("ec2:CreateVpc", _ec2(ctx, "vpc")), Check("ec2:DescribeVpcs", "*"),
                  _create_tags(ctx, "vpc", "CreateVpc", p)]
        if "EnableDnsHostnames" in p or "EnableDnsSupport" in p:
            checks.append(Check("ec2:ModifyVpcAttribute", _ec2(ctx, "vpc")))
        return checks
    rid = getattr(res, "id", "*")
    if op == "update":
        return [Check("ec2:ModifyVpcAttribute", _ec2(ctx, "vpc", rid)), Check("ec2:CreateTags", _ec2(ctx, "vpc", rid))]
    return [Check("ec2:DeleteVpc", _ec2(ctx, "vpc", rid))]


def _in_vpc(kind, create, delete):
    def handler(op, p, name, res, ctx):
        if op == "create":
            return [Check(f"ec2:{create}", _ec2(ctx, kind)), Check(f"ec2:{create}", _ec2(ctx, "vpc", p.get("VpcId", "*"))),
                    _create_tags(ctx, kind, create, p)]
        rid = getattr(res, "id", "*")
        if op == "update":
            return [Check("ec2:CreateTags", _ec2(ctx, kind, rid))]
        return [Check(f"ec2:{delete}", _ec2(ctx, kind, rid))]
    return handler


def _security_group(op, p, name, res, ctx):
    if op == "create":
        checks = [Check("ec2:CreateSecurityGroup", _ec2(ctx, "security-group")),
                  Check("ec2:CreateSecurityGroup", _ec2(ctx, "vpc", p.get("VpcId", "*"))),
                  _create_tags(ctx, "security-group", "CreateSecurityGroup", p)]
        if p.get("SecurityGroupIngress"):
            checks.append(Check("ec2:AuthorizeSecurityGroupIngress", _ec2(ctx, "security-group")))
        if p.get("SecurityGroupEgress"):
            checks += [Check("ec2:AuthorizeSecurityGroupEgress", _ec2(ctx, "security-group")),
                       Check("ec2:RevokeSecurityGroupEgress", _ec2(ctx, "security-group"))]
        return checks
    rid = getattr(res, "id", "*")
    if op == "update":
        return [Check(f"ec2:{a}", _ec2(ctx, "security-group", rid)) for a in (
            "AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress", "AuthorizeSecurityGroupEgress",
            "RevokeSecurityGroupEgress")]
    return [Check("ec2:DeleteSecurityGroup", _ec2(ctx, "security-group", rid))]


def _route(op, p, name, res, ctx):
    table = p.get("RouteTableId") or getattr(getattr(res, "route_table", None), "id", "*")
    action = {"create": "CreateRoute", "update": "ReplaceRoute", "delete": "DeleteRoute"}[op]
    return [Check(f"ec2:{action}", _ec2(ctx, "route-table", table))]


def _association(op, p, name, res, ctx):
    table = p.get("RouteTableId") or getattr(res, "route_table_id", "*")
    subnet = p.get("SubnetId") or getattr(res, "subnet_id", "*")
    if op == "delete":
        return [Check("ec2:DisassociateRouteTable", _ec2(ctx, "route-table", table))]
    return [Check("ec2:AssociateRouteTable", _ec2(ctx, "route-table", table)),
            Check("ec2:AssociateRouteTable", _ec2(ctx, "subnet", subnet))]


def _instance(op, p, name, res, ctx):
    rid = getattr(res, "id", "*")
    if op == "delete":
        return [Check("ec2:TerminateInstances", _ec2(ctx, "instance", rid))]
    if op == "update":
        return [Check("ec2:ModifyInstanceAttribute", _ec2(ctx, "instance", rid)),
                Check("ec2:CreateTags", _ec2(ctx, "instance", rid))]
    run = "ec2:RunInstances"
    checks = [Check(run, _ec2(ctx, "instance")), Check(run, _ec2(ctx, "network-interface")),
              Check(run, _ec2(ctx, "volume")), Check("ec2:DescribeInstances", "*"),
              _create_tags(ctx, "instance", "RunInstances", p)]
    if p.get("ImageId"):
        checks.append(Check(run, _ec2(ctx, "image", p["ImageId"], account="")))
    if p.get("SubnetId"):
        checks.append(Check(run, _ec2(ctx, "subnet", p["SubnetId"])))
    for group in _ids(p.get("SecurityGroupIds")):
        checks.append(Check(run, _ec2(ctx, "security-group", group)))
    profile = p.get("IamInstanceProfile")
    if profile:
        checks += _pass_profile_roles(ctx, profile, "ec2.amazonaws.com")
    return checks


def _pass_profile_roles(ctx, profile_name, service):
    backend = iam_policies.iam_backends[ctx.account]["aws"]
    name = str(profile_name).rsplit("/", 1)[-1]
    profile = next((ip for ip in list(backend.instance_profiles.values()) if ip.name == name), None)
    roles = profile.roles if profile is not None else []
    return [Check("iam:PassRole", role.arn, {"iam:PassedToService": service}) for role in roles]


def _peering(op, p, name, res, ctx):
    if op == "delete":
        return [Check("ec2:DeleteVpcPeeringConnection", _ec2(ctx, "vpc-peering-connection", getattr(res, "id", "*")))]
    if op == "update":
        return [Check("ec2:CreateTags", _ec2(ctx, "vpc-peering-connection", getattr(res, "id", "*")))]
    peer_account = str(p.get("PeerOwnerId") or ctx.account)
    peer_region = p.get("PeerRegion") or ctx.region
    checks = [Check("ec2:CreateVpcPeeringConnection", _ec2(ctx, "vpc", p.get("VpcId", "*"))),
              Check("ec2:CreateVpcPeeringConnection", _ec2(ctx, "vpc-peering-connection")),
              Check("ec2:CreateVpcPeeringConnection",
                    _ec2(ctx, "vpc", p.get("PeerVpcId", "*"), account=peer_account, region=peer_region),
                    identity_only=True),
              _create_tags(ctx, "vpc-peering-connection", "CreateVpcPeeringConnection", p)]
    if p.get("PeerRoleArn"):
        # CloudFormation assumes PeerRoleArn to accept; its trust policy is checked by net_resources
        checks.append(Check("sts:AssumeRole", p["PeerRoleArn"], identity_only=True))
    return checks


def _simple_ec2(kind, create, delete):
    def handler(op, p, name, res, ctx):
        if op == "create":
            return [Check(f"ec2:{create}", _ec2(ctx, kind)), _create_tags(ctx, kind, create, p)]
        if op == "update":
            return [Check("ec2:CreateTags", _ec2(ctx, kind, getattr(res, "id", "*")))]
        return [Check(f"ec2:{delete}", _ec2(ctx, kind, getattr(res, "id", "*")))]
    return handler


def _role(op, p, name, res, ctx):
    role_name = name if op != "delete" else getattr(res, "name", name)
    arn = _role_arn(ctx, role_name, p.get("Path"))
    tags = _tags(p)
    values, sources = request_tag_keys(tags)
    if op == "delete":
        checks = [Check("iam:DeleteRole", arn)]
        checks += [Check("iam:DetachRolePolicy", arn, {"iam:PolicyARN": a}) for a in getattr(res, "managed_policies", {})]
        checks += [Check("iam:DeleteRolePolicy", arn) for _ in list(getattr(res, "policies", {}))[:1]]
        return checks
    create_values = dict(values, **{"iam:PermissionsBoundary": p.get("PermissionsBoundary")})
    checks = [Check("iam:CreateRole" if op == "create" else "iam:UpdateAssumeRolePolicy", arn,
                    create_values if op == "create" else {}, sources if op == "create" else {}),
              Check("iam:GetRole", arn)]
    if p.get("Policies"):
        checks.append(Check("iam:PutRolePolicy", arn))
    attached = set(getattr(res, "managed_policies", {}) or {}) if op == "update" else set()
    for policy in p.get("ManagedPolicyArns") or []:
        if policy not in attached:
            checks.append(Check("iam:AttachRolePolicy", arn, {"iam:PolicyARN": policy}))
    for policy in attached - set(p.get("ManagedPolicyArns") or []):
        checks.append(Check("iam:DetachRolePolicy", arn, {"iam:PolicyARN": policy}))
    if tags:
        checks.append(Check("iam:TagRole", arn, values, sources))
    return checks


def _inline_policy(op, p, name, res, ctx):
    action = "iam:DeleteRolePolicy" if op == "delete" else "iam:PutRolePolicy"
    checks = [Check(action, _role_arn(ctx, str(r).rsplit("/", 1)[-1])) for r in _ids(p.get("Roles"))]
    user_action, group_action = action.replace("Role", "User"), action.replace("Role", "Group")
    checks += [Check(user_action, iam_policies.BACKENDS.iam_arn(ctx.account, "user", u)) for u in _ids(p.get("Users"))]
    checks += [Check(group_action, iam_policies.BACKENDS.iam_arn(ctx.account, "group", g)) for g in _ids(p.get("Groups"))]
    return checks or [Check(action, UNKNOWN_VALUE, mapped=False)]


def _instance_profile(op, p, name, res, ctx):
    profile_name = name if op != "delete" else getattr(res, "name", name)
    arn = iam_policies.BACKENDS.iam_arn(ctx.account, "instance-profile", profile_name, p.get("Path"))
    if op == "delete":
        return [Check("iam:RemoveRoleFromInstanceProfile", arn), Check("iam:DeleteInstanceProfile", arn)]
    checks = [Check("iam:CreateInstanceProfile", arn)] if op == "create" else []
    for role in _ids(p.get("Roles")):
        checks += [Check("iam:AddRoleToInstanceProfile", arn),
                   Check("iam:PassRole", _role_arn(ctx, role), {"iam:PassedToService": "ec2.amazonaws.com"})]
    return checks


def _oidc_provider(op, p, name, res, ctx):
    url = str(p.get("Url", "")).replace("https://", "", 1)
    arn = f"arn:aws:iam::{ctx.account}:oidc-provider/{url}"
    action = {"create": "iam:CreateOpenIDConnectProvider", "update": "iam:UpdateOpenIDConnectProviderThumbprint",
              "delete": "iam:DeleteOpenIDConnectProvider"}[op]
    values, sources = request_tag_keys(_tags(p)) if op == "create" else ({}, {})
    return [Check(action, arn, values, sources)]


_BUCKET_PROPERTIES = {
    "BucketEncryption": "s3:PutEncryptionConfiguration", "VersioningConfiguration": "s3:PutBucketVersioning",
    "LifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "PublicAccessBlockConfiguration": "s3:PutBucketPublicAccessBlock", "Tags": "s3:PutBucketTagging",
    "OwnershipControls": "s3:PutBucketOwnershipControls", "CorsConfiguration": "s3:PutBucketCORS",
    "NotificationConfiguration": "s3:PutBucketNotification", "LoggingConfiguration": "s3:PutBucketLogging",
    "WebsiteConfiguration": "s3:PutBucketWebsite", "ObjectLockConfiguration": "s3:PutBucketObjectLockConfiguration",
}


def _bucket(op, p, name, res, ctx):
    bucket = name if op != "delete" else getattr(res, "name", name)
    arn = f"arn:aws:s3:::{bucket}"
    if op == "delete":
        return [Check("s3:DeleteBucket", arn, resource_account=ctx.account)]
    checks = [Check("s3:CreateBucket", arn, resource_account=ctx.account)] if op == "create" else []
    checks += [Check(action, arn, resource_account=ctx.account) for prop, action in _BUCKET_PROPERTIES.items()
               if p.get(prop)]
    return checks


def _bucket_policy(op, p, name, res, ctx):
    bucket = p.get("Bucket") or getattr(res, "bucket_name", "*")
    arn = f"arn:aws:s3:::{bucket}"
    if op == "delete":
        return [Check("s3:DeleteBucketPolicy", arn, resource_account=ctx.account)]
    return [Check("s3:PutBucketPolicy", arn, resource_account=ctx.account),
            Check("s3:GetBucketPolicy", arn, resource_account=ctx.account)]


def _ssm_parameter(op, p, name, res, ctx):
    param = name if op != "delete" else getattr(res, "name", name)
    arn = parameter_arn(ctx.region, ctx.account, str(param))
    if op == "delete":
        return [Check("ssm:DeleteParameter", arn)]
    tags = _tags(p)
    values, sources = request_tag_keys(tags)
    checks = [Check("ssm:PutParameter", arn, values, sources), Check("ssm:GetParameters", arn)]
    if tags:
        checks.append(Check("ssm:AddTagsToResource", arn, values, sources))
    return checks


def _ssm_document(op, p, name, res, ctx):
    """The handler's permissions per the resource type's schema (create: CreateDocument, GetDocument,
    AddTagsToResource; update: UpdateDocument, UpdateDocumentDefaultVersion, GetDocument and the tag
    calls; delete: DeleteDocument, GetDocument)."""
    document = getattr(res, "name", name) if op == "delete" else (p.get("Name") or name)
    arn = f"arn:aws:ssm:{ctx.region}:{ctx.account}:document/{document}"
    if op == "delete":
        return [Check("ssm:DeleteDocument", arn), Check("ssm:GetDocument", arn)]
    if op == "create":
        checks = [Check("ssm:CreateDocument", arn), Check("ssm:GetDocument", arn)]
    else:
        checks = [Check("ssm:UpdateDocument", arn), Check("ssm:UpdateDocumentDefaultVersion", arn),
                  Check("ssm:GetDocument", arn)]
    if p.get("Tags"):
        values, sources = request_tag_keys(_tags(p))
        checks.append(Check("ssm:AddTagsToResource", arn, values, sources))
    return checks


def _ecr_repository(op, p, name, res, ctx):
    repo = name if op != "delete" else getattr(res, "name", name)
    arn = f"arn:aws:ecr:{ctx.region}:{ctx.account}:repository/{repo}"
    if op == "delete":
        return [Check("ecr:DeleteRepository", arn)]
    checks = [Check("ecr:CreateRepository" if op == "create" else "ecr:PutImageTagMutability", arn)]
    if p.get("LifecyclePolicy"):
        checks.append(Check("ecr:PutLifecyclePolicy", arn))
    if p.get("RepositoryPolicyText"):
        checks.append(Check("ecr:SetRepositoryPolicy", arn))
    if p.get("Tags"):
        values, sources = request_tag_keys(_tags(p))
        checks.append(Check("ecr:TagResource", arn, values, sources))
    return checks


HANDLERS = {
    "AWS::EC2::VPC": _vpc,
    "AWS::EC2::Subnet": _in_vpc("subnet", "CreateSubnet", "DeleteSubnet"),
    "AWS::EC2::RouteTable": _in_vpc("route-table", "CreateRouteTable", "DeleteRouteTable"),
    "AWS::EC2::NetworkAcl": _in_vpc("network-acl", "CreateNetworkAcl", "DeleteNetworkAcl"),
    "AWS::EC2::Route": _route,
    "AWS::EC2::SubnetRouteTableAssociation": _association,
    "AWS::EC2::SecurityGroup": _security_group,
    "AWS::EC2::Instance": _instance,
    "AWS::EC2::VPCPeeringConnection": _peering,
    "AWS::EC2::InternetGateway": _simple_ec2("internet-gateway", "CreateInternetGateway", "DeleteInternetGateway"),
    "AWS::EC2::EIP": _simple_ec2("elastic-ip", "AllocateAddress", "ReleaseAddress"),
    "AWS::IAM::Role": _role,
    "AWS::IAM::Policy": _inline_policy,
    "AWS::IAM::InstanceProfile": _instance_profile,
    "AWS::IAM::OIDCProvider": _oidc_provider,
    "AWS::S3::Bucket": _bucket,
    "AWS::S3::BucketPolicy": _bucket_policy,
    "AWS::SSM::Parameter": _ssm_parameter,
    "AWS::SSM::Document": _ssm_document,
    "AWS::ECR::Repository": _ecr_repository,
}


def handler_checks(op, resource_type, props, name, resource, ctx):
    handler = HANDLERS.get(resource_type)
    if handler is None:
        service = resource_type.split("::")[1].lower() if resource_type.count("::") == 2 else "cloudformation"
        return [Check((service, None), UNKNOWN_VALUE, mapped=False)]
    return handler(op, props or {}, name, resource, ctx)


def authorize_step(op, resource_type, logical_id, props, name, resource, rmap):
    """Raise HandlerAccessDenied unless the operation's principal may run this handler step."""
    if iam_policies.mode() == "off":
        return
    principal = _principal_for(rmap)
    ctx = SimpleNamespace(account=rmap._account_id, region=rmap._region_name, logical_id=logical_id,
                          stack_tags={k: v for k, v in (getattr(rmap, "tags", None) or {}).items()
                                      if not k.startswith("aws:")})
    if principal is None:
        message = ("Role is invalid or cannot be assumed: CloudFormation has no credentials for this "
                   f"operation on {logical_id}")
        iam_policies.record(iam_policies.Principal("anonymous", None, "<none>"),
                            Check(f"cloudformation:{op}", logical_id), iam_policies.Decision(False, "no-identity"),
                            message)
        if iam_policies.mode() == "enforce":
            raise HandlerAccessDenied(message)
        return
    for check in handler_checks(op, resource_type, props, name, resource, ctx):
        check.values.setdefault("aws:RequestedRegion", ctx.region)
        iam_policies.note_unmapped(check)
        decision = iam_policies.decide(principal, check)
        if not decision.allowed:
            message = iam_policies.denial_message(principal, check, decision)
            extra = iam_policies.detail(check, decision)
            iam_policies.record(principal, check, decision, message)
            if iam_policies.mode() == "enforce":
                raise HandlerAccessDenied(message + (f" [emulator: {extra}]" if extra else ""))


# ---------------------------------------------------------------- hooks into moto's resource parsing

def _resolved_properties(resource_json, rmap):
    try:
        return parsing.clean_json(dict(resource_json.get("Properties") or {}), rmap)
    except Exception:
        return {}


def _unsupported_name(resource_type, logical_id, props, rmap):
    name_property = parsing.resource_name_property_from_type(resource_type)
    if name_property and props.get(name_property):
        return props[name_property]
    return f"{rmap['AWS::StackName']}-{logical_id}-*"


def parse_and_create_resource(logical_id, resource_json, resources_map, account_id, region_name):
    # moto 5.2.5's parse_and_create_resource, with the handler authorized before the resource is made
    condition = resource_json.get("Condition")
    if condition and not resources_map.lazy_condition_map[condition]:
        return None
    resource_type = resource_json["Type"]
    resource_tuple = parsing.parse_resource_and_generate_name(logical_id, resource_json, resources_map)
    if not resource_tuple:
        props = _resolved_properties(resource_json, resources_map)
        authorize_step("create", resource_type, logical_id, props,
                       _unsupported_name(resource_type, logical_id, props, resources_map), None, resources_map)
        return None
    resource_class, resource_json, resource_physical_name = resource_tuple
    authorize_step("create", resource_type, logical_id, resource_json.get("Properties") or {},
                   resource_physical_name, None, resources_map)
    kwargs = {"LogicalId": logical_id, "StackId": resources_map.stack_id, "ResourceType": resource_type}
    resource = resource_class.create_from_cloudformation_json(
        resource_physical_name, resource_json, account_id, region_name, **kwargs)
    resource.cf_resource_type = resource_type
    resource.logical_resource_id = logical_id
    return resource


def parse_and_update_resource(logical_id, resource_json, resources_map, account_id, region_name):
    # moto 5.2.5's parse_and_update_resource, with the handler authorized first
    resource_tuple = parsing.parse_resource_and_generate_name(logical_id, resource_json, resources_map)
    if not resource_tuple:
        props = _resolved_properties(resource_json, resources_map)
        authorize_step("update", resource_json["Type"], logical_id, props,
                       _unsupported_name(resource_json["Type"], logical_id, props, resources_map), None,
                       resources_map)
        return None
    resource_class, resource_json, new_resource_name = resource_tuple
    original_resource = resources_map[logical_id]
    authorize_step("update", resource_json["Type"], logical_id, resource_json.get("Properties") or {},
                   getattr(original_resource, "name", new_resource_name), original_resource, resources_map)
    if not hasattr(resource_class.update_from_cloudformation_json, "__isabstractmethod__"):
        new_resource = resource_class.update_from_cloudformation_json(
            original_resource=original_resource, new_resource_name=new_resource_name,
            cloudformation_json=resource_json, account_id=account_id, region_name=region_name)
        new_resource.cf_resource_type = resource_json["Type"]
        new_resource.logical_resource_id = logical_id
        return new_resource
    return None


def _engine_delete_resource(original):
    def delete_resource(rmap, resource, res_json):
        props = _resolved_properties(res_json, rmap)
        authorize_step("delete", res_json["Type"], getattr(resource, "logical_resource_id", "?"), props,
                       getattr(resource, "physical_resource_id", None), resource, rmap)
        return original(rmap, resource, res_json)
    return delete_resource


# ---------------------------------------------------------------- AWS::S3::BucketPolicy

class BucketPolicyResource(CloudFormationModel):
    """AWS::S3::BucketPolicy: PutBucketPolicy on create/update, DeleteBucketPolicy on delete."""

    def __init__(self, account_id, bucket_name, document):
        self.account_id, self.bucket_name, self.document = account_id, bucket_name, document

    @property
    def physical_resource_id(self):
        return self.bucket_name

    @staticmethod
    def cloudformation_name_type():
        return ""

    @staticmethod
    def cloudformation_type():
        return "AWS::S3::BucketPolicy"

    @classmethod
    def has_cfn_attr(cls, attr):
        return False

    @staticmethod
    def _backend(account_id):
        return s3_backends[account_id]["aws"]

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        bucket, document = props["Bucket"], props["PolicyDocument"]
        text = document if isinstance(document, str) else json.dumps(document)
        cls._backend(account_id).put_bucket_policy(bucket, text.encode())
        return cls(account_id, bucket, text)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                        account_id, region_name):
        if cloudformation_json["Properties"]["Bucket"] != original_resource.bucket_name:
            original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        cls._backend(account_id).delete_bucket_policy(cloudformation_json["Properties"]["Bucket"])

    def delete(self, account_id, region_name):
        try:
            self._backend(account_id).delete_bucket_policy(self.bucket_name)
        except Exception:
            pass  # the bucket is gone (it is Retain-ed or was deleted by hand): nothing to remove


# ---------------------------------------------------------------- request wrappers

def _wrap_role_check(handler):
    def wrapped(self):
        role_arn = self._get_param("RoleARN")
        if role_arn and iam_policies.mode() != "off" and role_usable(role_arn) is None:
            _refuse_role(role_arn)
        return handler(self)
    wrapped.__name__ = handler.__name__
    return wrapped


SSM_TYPE_PREFIX = "AWS::SSM::Parameter::Value<"
SSM_DENIED = "AccessDenied. User doesn't have permission to call ssm:GetParameters"


def ssm_typed_parameter_names(response, stack):
    """The Parameter Store names CloudFormation resolves for this request: each template parameter of
    an SSM type, with its effective value (passed, UsePreviousValue or Default, as cfn_changesets
    resolves them). A request moto cannot read (template, parameters) resolves nothing here: moto
    then refuses it itself, as AWS refuses it before resolving anything."""
    from moto.cloudformation.models import Stack
    try:
        body = response._get_param("TemplateBody")
        if response._get_param("TemplateURL"):
            body = response._get_stack_from_s3_url(response._get_param("TemplateURL"))
        elif response._get_bool_param("UsePreviousTemplate", False) and stack is not None:
            body = stack.template
        template = Stack.parse_template(body)
        previous = cfn_changesets._stack_params(stack) if stack is not None else None
        values = cfn_changesets._effective_params(template, response._get_param("Parameters", []), previous)
        declared = template.get("Parameters") or {}
    except Exception:
        return []
    return [str(values[key]) for key, spec in declared.items()
            if isinstance(spec, dict) and str(spec.get("Type", "")).startswith(SSM_TYPE_PREFIX) and values.get(key)]


def _wrap_ssm_parameter_check(handler):
    def wrapped(self):
        principal, request = iam_policies.current_principal(), iam_policies.current_request()
        if principal is not None and request is not None and iam_policies.mode() != "off":
            stack = cfn_changesets._live_stack(self.cloudformation_backend, self._get_param("StackName"))
            for name in ssm_typed_parameter_names(self, stack):
                check = Check("ssm:GetParameters", parameter_arn(request.region, principal.account, name))
                decision = iam_policies.decide(principal, check)
                if not decision.allowed:
                    iam_policies.record(principal, check, decision, iam_policies.denial_message(principal, check,
                                                                                               decision))
                    if iam_policies.mode() == "enforce":
                        raise ValidationError(message=SSM_DENIED)
        return handler(self)
    wrapped.__name__ = handler.__name__
    return wrapped


def _wrap_moto_stack_call(handler):
    """moto's synchronous CreateStack/UpdateStack: its resources are made inside the call."""
    def wrapped(self):
        role_arn = self._get_param("RoleARN")
        if not role_arn and handler.__name__ == "update_stack":
            stack = cfn_changesets._live_stack(self.cloudformation_backend, self._get_param("StackName"))
            role_arn = getattr(stack, "role_arn", None)
        _local.principal = operation_principal(role_arn) or _NO_PRINCIPAL
        try:
            return handler(self)
        finally:
            _local.principal = None
    wrapped.__name__ = handler.__name__
    return wrapped


def apply():
    from moto.cloudformation import responses as cfn_responses
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    # moto checks bucket policies on object requests itself, unsoundly: a condition it does not
    # implement (Bool, …) is ignored, so the bootstrap's TLS-only Deny refused every request, and a
    # failed condition counts as an explicit Deny. Bucket policies are evaluated in iam_policies.
    FakeBucket.get_permission = lambda self, action, resource: PermissionResult.NEUTRAL

    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()

    parsing.parse_and_create_resource = parse_and_create_resource
    parsing.parse_and_update_resource = parse_and_update_resource
    cfn_changesets.parse_and_update_resource = parse_and_update_resource
    cfn_changesets._delete_resource = _engine_delete_resource(cfn_changesets._delete_resource)

    original_execute_job = cfn_changesets._execute_job
    original_delete_job = cfn_changesets._delete_stack_job

    def execute_job(backend, change_set):
        # runs first in the ExecuteChangeSet request (see cfn_changesets._run): the caller is known
        role_arn = change_set.role_arn or change_set.stack.role_arn
        change_set.stack.resource_map._emu_iam_principal = operation_principal(role_arn) or _NO_PRINCIPAL
        yield from original_execute_job(backend, change_set)

    def delete_stack_job(backend, stack, *args):
        request = iam_policies.current_request()
        role_arn = (request.param("RoleARN") if request is not None else None) or stack.role_arn
        stack.resource_map._emu_iam_principal = operation_principal(role_arn) or _NO_PRINCIPAL
        yield from original_delete_job(backend, stack, *args)

    cfn_changesets._execute_job = execute_job
    cfn_changesets._delete_stack_job = delete_stack_job

    resp = cfn_responses.CloudFormationResponse
    for name in ("create_change_set", "create_stack", "update_stack", "delete_stack"):
        handler = getattr(resp, name)
        if name in ("create_stack", "update_stack"):
            handler = _wrap_moto_stack_call(handler)
        if name != "delete_stack":
            handler = _wrap_ssm_parameter_check(handler)
        setattr(resp, name, _wrap_role_check(handler))


class _NoPrincipal:
    """Marks an operation whose role CloudFormation cannot assume: every handler step is refused."""


_NO_PRINCIPAL = _NoPrincipal()
