"""CloudFormation resource properties moto 5.2.5 drops, and peering-option rules it skips."""
import json

from moto.ec2.exceptions import InvalidSecurityGroupNotFoundError, OperationNotPermitted
from moto.ec2.models import ec2_backends
from moto.ec2.models.instances import Instance
from moto.ec2.models.route_tables import Route
from moto.ec2.models.subnets import SubnetRouteTableAssociation
from moto.ec2.models.vpc_peering_connections import VPCPeeringConnection, VPCPeeringConnectionBackend
from moto.iam.exceptions import NotFoundException
from moto.iam.models import Role, iam_backends
from moto.utilities.utils import get_partition

from . import net_trust


# --- AWS::EC2::SubnetRouteTableAssociation -------------------------------------------------------
# AWS creates a real association (Ref = rtbassoc-…, listed by DescribeRouteTables, removed with the
# stack); moto only records it in a side table that nothing reads, so every subnet fell back to
# the VPC's main route table.

def _association_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    properties = cloudformation_json["Properties"]
    backend = ec2_backends[account_id][region_name]
    association = cls(properties["RouteTableId"], properties["SubnetId"])
    association.id = backend.associate_route_table(properties["RouteTableId"], subnet_id=properties["SubnetId"])
    return association


def _association_update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    # AWS replaces the association when RouteTableId or SubnetId change
    original_resource.delete(account_id, region_name)
    return _association_create(cls, new_resource_name, cloudformation_json, account_id, region_name)


def _association_delete(self, account_id, region_name):
    ec2_backends[account_id][region_name].disassociate_route_table(self.id)


# --- AWS::EC2::Instance SecurityGroupIds ---------------------------------------------------------
# AWS puts the instance (and its primary ENI) in SecurityGroupIds; moto reads only SecurityGroups
# and otherwise leaves the VPC's default group on the ENI.

def _instance_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    group_ids = cloudformation_json["Properties"].get("SecurityGroupIds") or []
    backend = ec2_backends[account_id][region_name]
    groups = [backend.get_security_group_from_id(group_id) for group_id in group_ids]
    for group_id, group in zip(group_ids, groups):
        if group is None:  # validated first so a bad id leaves no instance behind
            raise InvalidSecurityGroupNotFoundError(group_id)
    instance = _orig_instance_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
    if groups:
        instance.security_groups = list(groups)
        for nic in instance.nics.values():
            nic._group_set = list(groups)
    return instance


# --- AWS::IAM::Role ManagedPolicyArns (and trust policy on update) -------------------------------
# AWS attaches ManagedPolicyArns (AWS-managed ones such as AdministratorAccess included), keeps
# them in sync on update, and detaches them before deleting the role. moto ignores the property,
# also ignores a changed AssumeRolePolicyDocument on update (which the trust evaluation reads),
# and cannot delete a role that still has policies attached.

def _iam(account_id, region_name):
    return iam_backends[account_id][get_partition(region_name)]


def _check_attachable(backend, arns):
    for arn in arns:
        if arn not in backend.managed_policies:
            raise NotFoundException(f"Policy {arn} does not exist or is not attachable.")


def _role_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    arns = cloudformation_json["Properties"].get("ManagedPolicyArns") or []
    backend = _iam(account_id, region_name)
    _check_attachable(backend, arns)
    role = _orig_role_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
    for arn in arns:
        backend.attach_role_policy(arn, role.name)
    return role


def _role_update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    properties = cloudformation_json["Properties"]
    backend = _iam(account_id, region_name)
    wanted = set(properties.get("ManagedPolicyArns") or [])
    _check_attachable(backend, wanted)
    role = _orig_role_update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)
    trust = properties.get("AssumeRolePolicyDocument")
    if trust is not None:
        role.assume_role_policy_document = trust if isinstance(trust, str) else json.dumps(trust)
    for arn in set(role.managed_policies) - wanted:
        backend.managed_policies[arn].detach_from(role)
    for arn in wanted - set(role.managed_policies):
        backend.attach_role_policy(arn, role.name)
    return role


def _role_delete(cls, resource_name, cloudformation_json, account_id, region_name):
    backend = _iam(account_id, region_name)
    role = next((r for r in backend.roles.values() if r.name == resource_name), None)
    for policy in list(role.managed_policies.values()) if role else []:
        policy.detach_from(role)
    return _orig_role_delete(cls, resource_name, cloudformation_json, account_id, region_name)


# --- AWS::EC2::VPCPeeringConnection ----------------------------------------------------------------
# AWS looks PeerVpcId up in PeerOwnerId/PeerRegion (moto: always the requester's account, so
# cross-account peering failed with InvalidVpcID.NotFound), accepts same-account peerings itself,
# and accepts a cross-account one by assuming PeerRoleArn in the peer account.

def _peering_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    properties = cloudformation_json["Properties"]
    peer_account = str(properties.get("PeerOwnerId") or account_id)
    peer_region = properties.get("PeerRegion") or region_name
    backend = ec2_backends[account_id][region_name]
    peer_backend = ec2_backends[peer_account][peer_region]
    vpc = backend.get_vpc(properties["VpcId"])
    peer_vpc = peer_backend.get_vpc(properties["PeerVpcId"])
    tags = {tag["Key"]: tag["Value"] for tag in properties.get("Tags") or []}
    pcx = backend.create_vpc_peering_connection(vpc, peer_vpc, tags)
    if peer_account == account_id or _peer_role_trusts(properties.get("PeerRoleArn"), peer_account, account_id):
        peer_backend.accept_vpc_peering_connection(pcx.id)
    return pcx


def _peer_role_trusts(role_arn, peer_account, requester_account):
    role = net_trust.find_role(role_arn) if role_arn else None
    if role is None or role.account_id != peer_account:
        return False
    # CloudFormation assumes the role with the stack's credentials; only account-level grants
    # (account id, :root, "*") are known here.
    caller = net_trust.Caller(account=requester_account, arn=f"arn:aws:iam::{requester_account}:root")
    context = {"aws:principalaccount": requester_account}
    return net_trust.trust_allows(role.assume_role_policy_document, "sts:AssumeRole", caller, context)


def _peering_delete(self, account_id, region_name):
    ec2_backends[account_id][region_name].delete_vpc_peering_connection(self.id)


def _route_state(self):
    # AWS shows a route whose peering is gone as a blackhole (moto: always "active").
    gone = self.vpc_pcx is not None and self.vpc_pcx._status.code in ("deleted", "rejected", "failed", "expired")
    return "blackhole" if gone else "active"


# --- ModifyVpcPeeringConnectionOptions -----------------------------------------------------------
# AWS only changes options of an active peering, and across accounts each side's options can only
# be changed by that side's owner; moto lets anyone change both at any time.

def _modify_peering_options(self, vpc_pcx_id, accepter_options=None, requester_options=None):
    pcx = self.get_vpc_peering_connection(vpc_pcx_id)
    if pcx._status.code != "active":
        raise OperationNotPermitted(
            f"Peering {vpc_pcx_id} is not active. Peering options can be added only to active peerings."
        )
    for side, options, owner in (("accepter", accepter_options, pcx.peer_vpc.owner_id),
                                 ("requester", requester_options, pcx.vpc.owner_id)):
        if options and owner != self.account_id:
            raise OperationNotPermitted(
                f"User {self.account_id} does not have permission to modify the {side} side peering options"
            )
    return _orig_modify_peering_options(self, vpc_pcx_id, accepter_options, requester_options)


_orig_instance_create = Instance.create_from_cloudformation_json.__func__
_orig_role_create = Role.create_from_cloudformation_json.__func__
_orig_role_update = Role.update_from_cloudformation_json.__func__
_orig_role_delete = Role.delete_from_cloudformation_json.__func__
_orig_modify_peering_options = VPCPeeringConnectionBackend.modify_vpc_peering_connection_options


def apply():
    SubnetRouteTableAssociation.create_from_cloudformation_json = classmethod(_association_create)
    SubnetRouteTableAssociation.update_from_cloudformation_json = classmethod(_association_update)
    SubnetRouteTableAssociation.delete = _association_delete
    SubnetRouteTableAssociation.physical_resource_id = property(lambda self: self.id)
    Instance.create_from_cloudformation_json = classmethod(_instance_create)
    Role.create_from_cloudformation_json = classmethod(_role_create)
    Role.update_from_cloudformation_json = classmethod(_role_update)
    Role.delete_from_cloudformation_json = classmethod(_role_delete)
    VPCPeeringConnection.create_from_cloudformation_json = classmethod(_peering_create)
    VPCPeeringConnection.delete = _peering_delete
    Route.state = property(_route_state)
    VPCPeeringConnectionBackend.modify_vpc_peering_connection_options = _modify_peering_options
