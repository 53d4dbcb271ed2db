"""EC2 fidelity: CloudFormation network resources, cross-account peering, and SSM ping decided by
the emulated network (routes, peerings, security groups, NACLs)."""
import json
import re
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT_A, ACCOUNT_B, client

AMI = "ami-0123456789abcdef0"


def deploy(server, account, name, resources, update=False):
    cfn = client(server, "cloudformation", account=account)
    call = cfn.update_stack if update else cfn.create_stack
    call(StackName=name, TemplateBody=json.dumps({"Resources": resources}), Capabilities=["CAPABILITY_NAMED_IAM"])
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), stack.get("StackStatusReason")
    return {r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in cfn.describe_stack_resources(StackName=name)["StackResources"] if r.get("LogicalResourceId")}


def network(cidr, **extra):
    """VPC + subnet + route table (associated through CloudFormation)."""
    return {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": cidr}},
        "Subnet": {"Type": "AWS::EC2::Subnet",
                   "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": cidr.replace("0.0/16", "0.0/24")}},
        "Rt": {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": {"Ref": "Vpc"}}},
        "Assoc": {"Type": "AWS::EC2::SubnetRouteTableAssociation",
                  "Properties": {"RouteTableId": {"Ref": "Rt"}, "SubnetId": {"Ref": "Subnet"}}},
        **extra,
    }


@pytest.mark.raw_moto(at='assert ids["Assoc"].startswith("rtbassoc-")', raises='AssertionError',
                      match='assert False')
def test_cfn_subnet_route_table_association(both_servers):
    ids = deploy(both_servers, ACCOUNT_A, "net", network("10.5.0.0/16"))
    ec2 = client(both_servers, "ec2")

    def tables_of_subnet():
        subnet_filter = {"Name": "association.subnet-id", "Values": [ids["Subnet"]]}
        return ec2.describe_route_tables(Filters=[subnet_filter])["RouteTables"]

    assert ids["Assoc"].startswith("rtbassoc-")
    found = tables_of_subnet()
    assert [t["RouteTableId"] for t in found] == [ids["Rt"]]
    associations = [(a["RouteTableAssociationId"], a["SubnetId"]) for a in found[0]["Associations"]]
    assert associations == [(ids["Assoc"], ids["Subnet"])]
    client(both_servers, "cloudformation").delete_stack(StackName="net")
    assert tables_of_subnet() == []


@pytest.mark.raw_moto(at='assert [g["GroupId"] for g in instance["SecurityGroups"]] == [ids["Sg"', raises='AssertionError',
                      match=r"assert \[\] == \['sg-[0-9a-f]+'\]")
def test_cfn_instance_security_group_ids(both_servers):
    ids = deploy(both_servers, ACCOUNT_A, "inst", network("10.6.0.0/16", **{
        "Sg": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "app", "VpcId": {"Ref": "Vpc"}}},
        "Host": {"Type": "AWS::EC2::Instance", "Properties": {
            "ImageId": AMI, "SubnetId": {"Ref": "Subnet"}, "PrivateIpAddress": "10.6.0.10",
            "SecurityGroupIds": [{"Ref": "Sg"}]}},
    }))
    reservations = client(both_servers, "ec2").describe_instances(InstanceIds=[ids["Host"]])["Reservations"]
    instance = reservations[0]["Instances"][0]
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [ids["Sg"]]
    assert [g["GroupId"] for g in instance["NetworkInterfaces"][0]["Groups"]] == [ids["Sg"]]


@pytest.mark.raw_moto(at='assert attached() == [admin, ssm_core]', raises='AssertionError',
                      match="assert \\[\\] == \\['arn:aws:iam\\.\\.\\.InstanceCore'\\]")
def test_cfn_role_managed_policy_arns(both_servers):
    def role(arns):
        return {"Role": {"Type": "AWS::IAM::Role", "Properties": {
            "RoleName": "instance-role", "ManagedPolicyArns": arns,
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}}}}

    iam = client(both_servers, "iam", account=ACCOUNT_B)

    def attached():
        policies = iam.list_attached_role_policies(RoleName="instance-role")["AttachedPolicies"]
        return sorted(p["PolicyArn"] for p in policies)

    ssm_core = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    deploy(both_servers, ACCOUNT_B, "iam", role([ssm_core, admin]))
    assert attached() == [admin, ssm_core]
    deploy(both_servers, ACCOUNT_B, "iam", role([ssm_core]), update=True)
    assert attached() == [ssm_core]
    client(both_servers, "cloudformation", account=ACCOUNT_B).delete_stack(StackName="iam")
    assert [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"] == "instance-role"] == []


@pytest.mark.raw_moto(at='assert pcx["Status"]["Code"] == "active"', raises='AssertionError',
                      match="assert 'pending\\-acceptance' == 'active'")
def test_cfn_same_account_peering_is_active(both_servers):
    ec2 = client(both_servers, "ec2")
    peer_vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    ids = deploy(both_servers, ACCOUNT_A, "peer", {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.7.0.0/16"}},
        "Pcx": {"Type": "AWS::EC2::VPCPeeringConnection",
                "Properties": {"VpcId": {"Ref": "Vpc"}, "PeerVpcId": peer_vpc}},
    })
    pcx = ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[ids["Pcx"]])["VpcPeeringConnections"][0]
    assert pcx["Status"]["Code"] == "active"


def status(server, account, pcx_id):
    ec2 = client(server, "ec2", account=account)
    return ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx_id])["VpcPeeringConnections"][0]


@pytest.mark.raw_moto(at='ids = deploy(both_servers, ACCOUNT_A, "requester", {', raises='ClientError',
                      match=r'An error occurred \(InvalidVpcID\.NotFound\) when calling the CreateStack operation: VpcID vpc-[0-9a-f]+ does not exist')
def test_cfn_cross_account_peering(both_servers):
    ec2_b = client(both_servers, "ec2", account=ACCOUNT_B)
    peer_vpcs = [ec2_b.create_vpc(CidrBlock=f"10.{n}.0.0/16")["Vpc"]["VpcId"] for n in (1, 2, 3)]
    rt_b = ec2_b.create_route_table(VpcId=peer_vpcs[0])["RouteTable"]["RouteTableId"]
    iam_b = client(both_servers, "iam", account=ACCOUNT_B)

    def role(name, trusted):
        return iam_b.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Statement": [{
            "Effect": "Allow", "Principal": {"AWS": trusted}, "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]

    def peering(peer_vpc, role_arn=None):
        properties = {"VpcId": {"Ref": "Vpc"}, "PeerVpcId": peer_vpc, "PeerOwnerId": ACCOUNT_B,
                      "PeerRegion": "ap-northeast-1"}
        if role_arn:
            properties["PeerRoleArn"] = role_arn
        return {"Type": "AWS::EC2::VPCPeeringConnection", "Properties": properties}

    ids = deploy(both_servers, ACCOUNT_A, "requester", {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16"}},
        "Accepted": peering(peer_vpcs[0], role("peer-accepter", f"arn:aws:iam::{ACCOUNT_A}:root")),
        "NoRole": peering(peer_vpcs[1]),
        "Untrusted": peering(peer_vpcs[2], role("untrusting", "arn:aws:iam::333333333333:root")),
    })
    pcx = ids["Accepted"]
    for account in (ACCOUNT_A, ACCOUNT_B):
        seen = status(both_servers, account, pcx)
        assert seen["Status"]["Code"] == "active"
        assert (seen["RequesterVpcInfo"]["OwnerId"], seen["AccepterVpcInfo"]["OwnerId"]) == (ACCOUNT_A, ACCOUNT_B)
    assert status(both_servers, ACCOUNT_B, ids["NoRole"])["Status"]["Code"] == "pending-acceptance"
    assert status(both_servers, ACCOUNT_B, ids["Untrusted"])["Status"]["Code"] == "pending-acceptance"

    # the accepter routes back over the requester's peering from its own stack
    deploy(both_servers, ACCOUNT_B, "accepter-routes", {"Back": {"Type": "AWS::EC2::Route", "Properties": {
        "RouteTableId": rt_b, "DestinationCidrBlock": "10.0.0.0/16", "VpcPeeringConnectionId": pcx}}})
    routes = ec2_b.describe_route_tables(RouteTableIds=[rt_b])["RouteTables"][0]["Routes"]
    assert {r["DestinationCidrBlock"]: r.get("VpcPeeringConnectionId") for r in routes}["10.0.0.0/16"] == pcx

    # each side switches on DNS resolution for its own side
    dns = {"AllowDnsResolutionFromRemoteVpc": True}
    client(both_servers, "ec2").modify_vpc_peering_connection_options(
        VpcPeeringConnectionId=pcx, RequesterPeeringConnectionOptions=dns)
    ec2_b.modify_vpc_peering_connection_options(VpcPeeringConnectionId=pcx, AccepterPeeringConnectionOptions=dns)
    for account in (ACCOUNT_A, ACCOUNT_B):
        seen = status(both_servers, account, pcx)
        assert seen["RequesterVpcInfo"]["PeeringOptions"]["AllowDnsResolutionFromRemoteVpc"] is True
        assert seen["AccepterVpcInfo"]["PeeringOptions"]["AllowDnsResolutionFromRemoteVpc"] is True


@pytest.mark.raw_moto(at='refused(ec2_a, f"Peering {pcx} is not active. Peering options can be a', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_peering_options_only_on_own_side_of_active_peering(both_servers):
    ec2_a, ec2_b = client(both_servers, "ec2"), client(both_servers, "ec2", account=ACCOUNT_B)
    vpc_a = ec2_a.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    vpc_b = ec2_b.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    pcx = ec2_a.create_vpc_peering_connection(VpcId=vpc_a, PeerVpcId=vpc_b, PeerOwnerId=ACCOUNT_B)[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    dns = {"AllowDnsResolutionFromRemoteVpc": True}

    def refused(ec2, message, **options):
        with pytest.raises(ClientError) as error:
            ec2.modify_vpc_peering_connection_options(VpcPeeringConnectionId=pcx, **options)
        assert (error.value.response["Error"]["Code"], error.value.response["Error"]["Message"]) == (
            "OperationNotPermitted", message)

    refused(ec2_a, f"Peering {pcx} is not active. Peering options can be added only to active peerings.",
            RequesterPeeringConnectionOptions=dns)
    ec2_b.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    refused(ec2_a, f"User {ACCOUNT_A} does not have permission to modify the accepter side peering options",
            AccepterPeeringConnectionOptions=dns)
    refused(ec2_b, f"User {ACCOUNT_B} does not have permission to modify the requester side peering options",
            RequesterPeeringConnectionOptions=dns)


# --- SSM ping ------------------------------------------------------------------------------------

def vpc_with_instance(server, account, cidr, ip, icmp_from=None):
    ec2 = client(server, "ec2", account=account)
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=ip.rsplit(".", 1)[0] + ".0/24")["Subnet"]["SubnetId"]
    rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=rt, SubnetId=subnet)
    sg = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
    if icmp_from:
        ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
            {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": icmp_from}]}])
    instance = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet, PrivateIpAddress=ip,
                                 SecurityGroupIds=[sg])["Instances"][0]["InstanceId"]
    return SimpleNamespace(server=server, account=account, ec2=ec2, cidr=cidr, vpc=vpc, subnet=subnet, rt=rt,
                           sg=sg, instance=instance, ip=ip)


def peer(a, b):
    pcx = a.ec2.create_vpc_peering_connection(VpcId=a.vpc, PeerVpcId=b.vpc, PeerOwnerId=b.account)[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    b.ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    a.ec2.create_route(RouteTableId=a.rt, DestinationCidrBlock=b.cidr, VpcPeeringConnectionId=pcx)
    b.ec2.create_route(RouteTableId=b.rt, DestinationCidrBlock=a.cidr, VpcPeeringConnectionId=pcx)
    return pcx


def send(src, *commands):
    ssm = client(src.server, "ssm", account=src.account)
    return ssm, ssm.send_command(InstanceIds=[src.instance], DocumentName="AWS-RunShellScript",
                                 Parameters={"commands": list(commands)})["Command"]["CommandId"]


def run(src, *commands):
    """Polls like a client must: the invocation appears late and is InProgress first."""
    ssm, command_id = send(src, *commands)
    for _ in range(10):
        try:
            invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=src.instance)
        except ClientError as error:
            if error.response["Error"]["Code"] != "InvocationDoesNotExist":
                raise
            continue
        if invocation["Status"] not in ("Pending", "InProgress", "Delayed"):
            return invocation
    raise AssertionError("command did not finish")


def pings(src, ip):
    return run(src, f"ping -c 3 -W 2 {ip}")["Status"] == "Success"


@pytest.fixture
def peered(both_servers):
    a = vpc_with_instance(both_servers, ACCOUNT_A, "10.0.0.0/16", "10.0.0.10", icmp_from="10.1.0.0/16")
    b = vpc_with_instance(both_servers, ACCOUNT_B, "10.1.0.0/16", "10.1.0.10", icmp_from="10.0.0.0/16")
    return a, b, peer(a, b)


@pytest.mark.raw_moto(at='with pytest.raises(ClientError) as error:  # eventual consistency, as ', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_ping_across_cross_account_peering(peered):
    a, b, pcx = peered
    ssm, command_id = send(a, "ping -c 3 -W 2 10.1.0.10")
    with pytest.raises(ClientError) as error:  # eventual consistency, as on AWS
        ssm.get_command_invocation(CommandId=command_id, InstanceId=a.instance)
    assert error.value.response["Error"]["Code"] == "InvocationDoesNotExist"
    assert ssm.get_command_invocation(CommandId=command_id, InstanceId=a.instance)["Status"] == "InProgress"
    ok = ssm.get_command_invocation(CommandId=command_id, InstanceId=a.instance)
    assert (ok["Status"], ok["ResponseCode"]) == ("Success", 0)
    assert re.fullmatch(
        r"PING 10\.1\.0\.10 \(10\.1\.0\.10\) 56\(84\) bytes of data\.\n"
        r"(64 bytes from 10\.1\.0\.10: icmp_seq=[123] ttl=64 time=\d+\.\d{3} ms\n){3}\n"
        r"--- 10\.1\.0\.10 ping statistics ---\n"
        r"3 packets transmitted, 3 received, 0% packet loss, time \d+ms\n"
        r"rtt min/avg/max/mdev = [\d.]+/[\d.]+/[\d.]+/[\d.]+ ms\n", ok["StandardOutputContent"])
    assert pings(b, "10.0.0.10")
    # no return route from B's subnet: the echo reply is lost
    b.ec2.delete_route(RouteTableId=b.rt, DestinationCidrBlock="10.0.0.0/16")
    failed = run(a, "ping -c 4 10.1.0.10")
    assert (failed["Status"], failed["StatusDetails"], failed["ResponseCode"]) == ("Failed", "Failed", 1)
    assert "4 packets transmitted, 0 received, 100% packet loss" in failed["StandardOutputContent"]
    assert "64 bytes from" not in failed["StandardOutputContent"]
    # other commands keep moto's behaviour; a script ends with its last command's status
    other = run(a, "ping -c 1 10.1.0.10", "echo done")
    assert (other["Status"], other["ResponseCode"]) == ("Success", 0)


@pytest.mark.raw_moto(at='assert not pings(a, b.ip)', raises='AssertionError',
                      match='assert not True')
def test_ping_follows_security_groups_nacls_and_routes(peered):
    a, b, pcx = peered
    assert pings(a, b.ip)
    # destination security group: no ICMP from the source
    rule = {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}
    b.ec2.revoke_security_group_ingress(GroupId=b.sg, IpPermissions=[rule])
    assert not pings(a, b.ip)
    b.ec2.authorize_security_group_ingress(GroupId=b.sg, IpPermissions=[{**rule, "IpProtocol": "-1"}])
    assert pings(a, b.ip)
    # source security group without egress
    a.ec2.revoke_security_group_egress(GroupId=a.sg, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    assert not pings(a, b.ip)
    a.ec2.authorize_security_group_egress(GroupId=a.sg, IpPermissions=[
        {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "10.1.0.0/16"}]}])
    assert pings(a, b.ip)
    # a NACL on B's subnet that denies the source before allowing everything
    acl = b.ec2.create_network_acl(VpcId=b.vpc)["NetworkAcl"]["NetworkAclId"]
    for egress in (False, True):
        b.ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=10, Protocol="1", RuleAction="deny", Egress=egress,
                                       CidrBlock="10.0.0.10/32", IcmpTypeCode={"Type": -1, "Code": -1})
        b.ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=20, Protocol="-1", RuleAction="allow",
                                       Egress=egress, CidrBlock="0.0.0.0/0")
    current = b.ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [b.subnet]}])
    association = next(x for x in current["NetworkAcls"][0]["Associations"] if x["SubnetId"] == b.subnet)
    new_association = b.ec2.replace_network_acl_association(
        AssociationId=association["NetworkAclAssociationId"], NetworkAclId=acl)["NewAssociationId"]
    assert not pings(a, b.ip)
    b.ec2.replace_network_acl_association(AssociationId=new_association,
                                          NetworkAclId=current["NetworkAcls"][0]["NetworkAclId"])
    assert pings(a, b.ip)
    # same VPC over the local route, allowed by a source-security-group rule
    neighbour = b.ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=b.subnet,
                                    PrivateIpAddress="10.1.0.20", SecurityGroupIds=[b.sg])["Instances"][0]["InstanceId"]
    b.ec2.authorize_security_group_ingress(GroupId=b.sg, IpPermissions=[
        {"IpProtocol": "icmp", "FromPort": 8, "ToPort": 0, "UserIdGroupPairs": [{"GroupId": b.sg}]}])
    assert pings(b, "10.1.0.20")
    # a stopped destination, an address nobody has
    b.ec2.stop_instances(InstanceIds=[neighbour])
    assert not pings(b, "10.1.0.20")
    assert not pings(a, "10.1.0.99")
    # peering is not transitive: C peers with B only, A routes C's range to the A-B peering
    c = vpc_with_instance(a.server, ACCOUNT_B, "10.2.0.0/16", "10.2.0.10", icmp_from="0.0.0.0/0")
    peer(b, c)
    a.ec2.create_route(RouteTableId=a.rt, DestinationCidrBlock="10.2.0.0/16", VpcPeeringConnectionId=pcx)
    assert pings(b, c.ip) and not pings(a, c.ip)
    # deleting the peering leaves its routes as blackholes
    a.ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    routes = a.ec2.describe_route_tables(RouteTableIds=[a.rt])["RouteTables"][0]["Routes"]
    assert {r["DestinationCidrBlock"]: r["State"] for r in routes}["10.1.0.0/16"] == "blackhole"
    assert not pings(a, b.ip)
    assert pings(a, "127.0.0.1") and pings(a, a.ip)


@pytest.mark.raw_moto(at='with pytest.raises(ClientError) as error:', raises='Failed',
                      match="DID NOT RAISE <class 'botocore\\.exceptions\\.ClientError'>")
def test_send_command_refuses_unknown_instances(both_servers):
    other = vpc_with_instance(both_servers, ACCOUNT_B, "10.1.0.0/16", "10.1.0.10")
    ssm = client(both_servers, "ssm", account=ACCOUNT_A)
    for instance_id in ("i-0123456789abcdef0", other.instance):
        with pytest.raises(ClientError) as error:
            ssm.send_command(InstanceIds=[instance_id], DocumentName="AWS-RunShellScript",
                             Parameters={"commands": ["ping -c 1 10.1.0.10"]})
        assert error.value.response["Error"]["Code"] == "InvalidInstanceId"
        assert error.value.response["Error"]["Message"] == (
            f"Instances [[{instance_id}]] not in a valid state for account {ACCOUNT_A}")
