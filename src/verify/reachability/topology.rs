//! The network model the analysis reads: instances, subnets, VPCs, route tables, peerings,
//! security groups and network ACLs of every account, as plain data.

use std::fmt;
use std::net::Ipv4Addr;

use crate::model::cidr::Cidr;

#[derive(Debug, Clone)]
pub(crate) struct Instance {
    pub(crate) id: String,
    pub(crate) account: String,
    pub(crate) vpc_id: String,
    pub(crate) subnet_id: String,
    pub(crate) private_ip: Ipv4Addr,
    pub(crate) security_group_ids: Vec<String>,
    /// EC2 state name: "running", "stopped", ...
    pub(crate) state: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Subnet {
    pub(crate) id: String,
    pub(crate) vpc_id: String,
    pub(crate) cidr: Cidr,
}

#[derive(Debug, Clone)]
pub(crate) struct Vpc {
    pub(crate) id: String,
    pub(crate) account: String,
    pub(crate) cidr: Cidr,
}

#[derive(Debug, Clone)]
pub(crate) struct RouteTable {
    pub(crate) id: String,
    pub(crate) vpc_id: String,
    /// The table used by every subnet of the VPC without an explicit association.
    pub(crate) main: bool,
    /// Explicitly associated subnets.
    pub(crate) subnet_ids: Vec<String>,
    pub(crate) routes: Vec<Route>,
}

#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) destination: Cidr,
    pub(crate) target: RouteTarget,
    /// EC2 state "blackhole": the target was deleted and matching packets are dropped.
    pub(crate) blackhole: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RouteTarget {
    Local,
    /// VPC peering connection id (pcx-...).
    Peering(String),
    /// Internet, virtual private or other gateway id (igw-..., vgw-...).
    Gateway(String),
    NatGateway(String),
    /// Anything else (transit gateway, ENI, endpoint...), by id.
    Other(String),
}

impl fmt::Display for RouteTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteTarget::Local => f.write_str("local"),
            RouteTarget::Peering(id)
            | RouteTarget::Gateway(id)
            | RouteTarget::NatGateway(id)
            | RouteTarget::Other(id) => f.write_str(id),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Peering {
    pub(crate) id: String,
    pub(crate) requester_vpc: String,
    pub(crate) requester_cidr: Cidr,
    pub(crate) accepter_vpc: String,
    pub(crate) accepter_cidr: Cidr,
    /// EC2 status code: "active", "pending-acceptance", "rejected", ...
    pub(crate) status: String,
}

impl Peering {
    /// The VPC and CIDR across the peering as seen from `vpc_id`, or `None`
    /// when the peering does not touch that VPC.
    pub(super) fn far_side(&self, vpc_id: &str) -> Option<(&str, Cidr)> {
        if self.requester_vpc == vpc_id {
            Some((&self.accepter_vpc, self.accepter_cidr))
        } else if self.accepter_vpc == vpc_id {
            Some((&self.requester_vpc, self.requester_cidr))
        } else {
            None
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct SecurityGroup {
    pub(crate) id: String,
    pub(crate) ingress: Vec<SgRule>,
    pub(crate) egress: Vec<SgRule>,
}

#[derive(Debug, Clone)]
pub(crate) struct SgRule {
    /// As EC2 reports it: "-1" (all), "icmp", "tcp", or a protocol number like "1".
    pub(crate) protocol: String,
    /// For ICMP rules this is the ICMP type (-1 = all).
    pub(crate) from_port: Option<i32>,
    /// For ICMP rules this is the ICMP code (-1 = all).
    pub(crate) to_port: Option<i32>,
    pub(crate) cidrs: Vec<Cidr>,
    /// Referenced security group ids (possibly in a peered VPC).
    pub(crate) source_groups: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct NetworkAcl {
    pub(crate) id: String,
    pub(crate) vpc_id: String,
    /// Explicitly associated subnets.
    pub(crate) subnet_ids: Vec<String>,
    /// Used by every subnet of the VPC without an explicit association.
    pub(crate) is_default: bool,
    pub(crate) entries: Vec<AclEntry>,
}

#[derive(Debug, Clone)]
pub(crate) struct AclEntry {
    pub(crate) rule_number: i32,
    pub(crate) egress: bool,
    pub(crate) protocol: String,
    pub(crate) cidr: Cidr,
    pub(crate) allow: bool,
}

/// Everything the analysis looks at, across all accounts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Topology {
    pub(crate) instances: Vec<Instance>,
    pub(crate) subnets: Vec<Subnet>,
    pub(crate) vpcs: Vec<Vpc>,
    pub(crate) route_tables: Vec<RouteTable>,
    pub(crate) peerings: Vec<Peering>,
    pub(crate) security_groups: Vec<SecurityGroup>,
    pub(crate) network_acls: Vec<NetworkAcl>,
}

impl Topology {
    pub(crate) fn instance(&self, id: &str) -> Option<&Instance> {
        self.instances.iter().find(|i| i.id == id)
    }

    /// Several instances can share a private IP when VPCs in different
    /// accounts use overlapping CIDRs, hence an iterator.
    pub(crate) fn instances_with_ip(&self, ip: Ipv4Addr) -> impl Iterator<Item = &Instance> {
        self.instances.iter().filter(move |i| i.private_ip == ip)
    }

    pub(crate) fn vpc(&self, id: &str) -> Option<&Vpc> {
        self.vpcs.iter().find(|v| v.id == id)
    }

    pub(crate) fn peering(&self, id: &str) -> Option<&Peering> {
        self.peerings.iter().find(|p| p.id == id)
    }

    pub(crate) fn security_group(&self, id: &str) -> Option<&SecurityGroup> {
        self.security_groups.iter().find(|g| g.id == id)
    }

    /// The explicitly associated table, else the VPC's main table, as AWS picks it.
    pub(crate) fn route_table_for_subnet(
        &self,
        subnet_id: &str,
        vpc_id: &str,
    ) -> Option<&RouteTable> {
        let explicit = self
            .route_tables
            .iter()
            .find(|t| t.subnet_ids.iter().any(|s| s == subnet_id));
        explicit.or_else(|| {
            self.route_tables
                .iter()
                .find(|t| t.main && t.vpc_id == vpc_id)
        })
    }

    /// The explicitly associated ACL, else the VPC's default ACL.
    pub(crate) fn network_acl_for_subnet(
        &self,
        subnet_id: &str,
        vpc_id: &str,
    ) -> Option<&NetworkAcl> {
        let explicit = self
            .network_acls
            .iter()
            .find(|a| a.subnet_ids.iter().any(|s| s == subnet_id));
        explicit.or_else(|| {
            self.network_acls
                .iter()
                .find(|a| a.is_default && a.vpc_id == vpc_id)
        })
    }
}
