//! The network of one environment as EC2 describes it, converted into the analysis' model and
//! merged with the other environments into one `Topology`.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use aws_sdk_ec2::types as ec2;

use crate::model::cidr::Cidr;

use super::reachability::{
    AclEntry, Instance, NetworkAcl, Peering, Route, RouteTable, RouteTarget, SecurityGroup, SgRule,
    Subnet, Topology, Vpc,
};

/// The network of one environment as EC2 describes it, before merging.
#[derive(Debug, Default)]
pub(crate) struct Described {
    pub(crate) reservations: Vec<ec2::Reservation>,
    pub(crate) subnets: Vec<ec2::Subnet>,
    pub(crate) vpcs: Vec<ec2::Vpc>,
    pub(crate) route_tables: Vec<ec2::RouteTable>,
    pub(crate) peerings: Vec<ec2::VpcPeeringConnection>,
    pub(crate) security_groups: Vec<ec2::SecurityGroup>,
    pub(crate) network_acls: Vec<ec2::NetworkAcl>,
}

/// Adds one environment's network to `topo`. Ids are unique across AWS, so an object already
/// present (a peering seen from both of its accounts) is kept once.
pub(crate) fn merge(topo: &mut Topology, d: &Described, account: &str) {
    let mut seen: HashSet<String> = topo.instances.iter().map(|i| i.id.clone()).collect();
    for r in &d.reservations {
        let owner = r.owner_id().unwrap_or(account);
        for i in r.instances() {
            if let Some(instance) = instance(i, owner)
                && seen.insert(instance.id.clone())
            {
                topo.instances.push(instance);
            }
        }
    }
    extend_unique(
        &mut topo.subnets,
        d.subnets.iter().filter_map(subnet),
        |s| &s.id,
    );
    extend_unique(
        &mut topo.vpcs,
        d.vpcs.iter().filter_map(|v| vpc(v, account)),
        |v| &v.id,
    );
    extend_unique(
        &mut topo.route_tables,
        d.route_tables.iter().filter_map(route_table),
        |t| &t.id,
    );
    for p in d.peerings.iter().filter_map(peering) {
        match topo.peerings.iter_mut().find(|q| q.id == p.0.id) {
            Some(existing) => merge_peering(existing, p),
            None => topo.peerings.push(p.into_peering()),
        }
    }
    extend_unique(
        &mut topo.security_groups,
        d.security_groups.iter().filter_map(security_group),
        |g| &g.id,
    );
    extend_unique(
        &mut topo.network_acls,
        d.network_acls.iter().filter_map(network_acl),
        |a| &a.id,
    );
}

fn extend_unique<T>(into: &mut Vec<T>, items: impl Iterator<Item = T>, id: impl Fn(&T) -> &String) {
    let mut seen: HashSet<String> = into.iter().map(|x| id(x).clone()).collect();
    for item in items {
        if seen.insert(id(&item).clone()) {
            into.push(item);
        }
    }
}

fn cidr(s: Option<&str>) -> Option<Cidr> {
    s?.parse().ok()
}

/// Terminated instances have given their address back (another instance may hold it now), and
/// instances without a VPC address play no part in peering.
fn instance(i: &ec2::Instance, owner: &str) -> Option<Instance> {
    let state = i
        .state()
        .and_then(|s| s.name())
        .map(|n| n.as_str().to_string())
        .unwrap_or_else(|| "unknown".into());
    if state == "terminated" {
        return None;
    }
    let private_ip: Ipv4Addr = i.private_ip_address()?.parse().ok()?;
    let mut groups: Vec<String> = i
        .security_groups()
        .iter()
        .filter_map(|g| g.group_id().map(str::to_string))
        .collect();
    // The instance-level list mirrors the primary interface's groups; fall back to the
    // interfaces when a describe leaves it empty.
    if groups.is_empty() {
        for g in i.network_interfaces().iter().flat_map(|n| n.groups()) {
            if let Some(id) = g.group_id()
                && !groups.iter().any(|x| x == id)
            {
                groups.push(id.to_string());
            }
        }
    }
    Some(Instance {
        id: i.instance_id()?.to_string(),
        account: owner.to_string(),
        vpc_id: i.vpc_id()?.to_string(),
        subnet_id: i.subnet_id()?.to_string(),
        private_ip,
        security_group_ids: groups,
        state,
    })
}

fn subnet(s: &ec2::Subnet) -> Option<Subnet> {
    Some(Subnet {
        id: s.subnet_id()?.to_string(),
        vpc_id: s.vpc_id()?.to_string(),
        cidr: cidr(s.cidr_block())?,
    })
}

fn vpc(v: &ec2::Vpc, account: &str) -> Option<Vpc> {
    Some(Vpc {
        id: v.vpc_id()?.to_string(),
        account: v.owner_id().unwrap_or(account).to_string(),
        cidr: cidr(v.cidr_block())?,
    })
}

fn route_table(t: &ec2::RouteTable) -> Option<RouteTable> {
    let live = |a: &&ec2::RouteTableAssociation| {
        !matches!(
            a.association_state().and_then(|s| s.state()),
            Some(
                ec2::RouteTableAssociationStateCode::Disassociated
                    | ec2::RouteTableAssociationStateCode::Disassociating
                    | ec2::RouteTableAssociationStateCode::Failed
            )
        )
    };
    Some(RouteTable {
        id: t.route_table_id()?.to_string(),
        vpc_id: t.vpc_id()?.to_string(),
        main: t
            .associations()
            .iter()
            .filter(live)
            .any(|a| a.main() == Some(true)),
        subnet_ids: t
            .associations()
            .iter()
            .filter(live)
            .filter_map(|a| a.subnet_id().map(str::to_string))
            .collect(),
        routes: t.routes().iter().filter_map(route).collect(),
    })
}

/// IPv6 and prefix-list routes have no IPv4 destination and cannot carry the echo.
fn route(r: &ec2::Route) -> Option<Route> {
    let target = if let Some(pcx) = r.vpc_peering_connection_id() {
        RouteTarget::Peering(pcx.to_string())
    } else if let Some(nat) = r.nat_gateway_id() {
        RouteTarget::NatGateway(nat.to_string())
    } else if let Some(gw) = r.gateway_id() {
        if gw == "local" {
            RouteTarget::Local
        } else {
            RouteTarget::Gateway(gw.to_string())
        }
    } else {
        let other = [
            r.transit_gateway_id(),
            r.network_interface_id(),
            r.instance_id(),
            r.egress_only_internet_gateway_id(),
            r.local_gateway_id(),
            r.carrier_gateway_id(),
            r.core_network_arn(),
        ]
        .into_iter()
        .flatten()
        .next()
        .unwrap_or("unknown target");
        RouteTarget::Other(other.to_string())
    };
    Some(Route {
        destination: cidr(r.destination_cidr_block())?,
        target,
        blackhole: r.state() == Some(&ec2::RouteState::Blackhole),
    })
}

/// A peering as one account describes it; the accepter's CIDR may be missing until it is
/// accepted, so it is filled in after all accounts are merged.
struct PartialPeering(Peering, bool, bool);

impl PartialPeering {
    fn into_peering(self) -> Peering {
        self.0
    }
}

/// Placeholder for a CIDR EC2 did not report; only pending or failed peerings lack one, and the
/// analysis stops at their status before it looks at CIDRs.
fn unknown_cidr() -> Cidr {
    Cidr::new(Ipv4Addr::UNSPECIFIED, 32).expect("0.0.0.0/32 is a valid CIDR")
}

fn peering(p: &ec2::VpcPeeringConnection) -> Option<PartialPeering> {
    let requester = p.requester_vpc_info()?;
    let accepter = p.accepter_vpc_info()?;
    let requester_cidr = cidr(requester.cidr_block());
    let accepter_cidr = cidr(accepter.cidr_block());
    Some(PartialPeering(
        Peering {
            id: p.vpc_peering_connection_id()?.to_string(),
            requester_vpc: requester.vpc_id()?.to_string(),
            requester_cidr: requester_cidr.unwrap_or_else(unknown_cidr),
            accepter_vpc: accepter.vpc_id()?.to_string(),
            accepter_cidr: accepter_cidr.unwrap_or_else(unknown_cidr),
            status: p
                .status()
                .and_then(|s| s.code())
                .map(|c| c.as_str().to_string())
                .unwrap_or_else(|| "unknown".into()),
        },
        requester_cidr.is_some(),
        accepter_cidr.is_some(),
    ))
}

/// The two accounts of a cross-account peering describe the same connection; right after an
/// acceptance one of them may still lag behind, and the one that already sees it `active` is
/// the one AWS routes by.
fn merge_peering(existing: &mut Peering, seen: PartialPeering) {
    let PartialPeering(other, has_requester_cidr, has_accepter_cidr) = seen;
    if existing.requester_cidr == unknown_cidr() && has_requester_cidr {
        existing.requester_cidr = other.requester_cidr;
    }
    if existing.accepter_cidr == unknown_cidr() && has_accepter_cidr {
        existing.accepter_cidr = other.accepter_cidr;
    }
    if other.status == "active" {
        existing.status = other.status;
    }
}

/// A CIDR still unknown after merging is taken from the VPC itself when one of our accounts owns
/// it.
pub(crate) fn fill_peering_cidrs(topo: &mut Topology) {
    let vpc_cidr = |vpcs: &[Vpc], id: &str| vpcs.iter().find(|v| v.id == id).map(|v| v.cidr);
    for p in &mut topo.peerings {
        if p.requester_cidr == unknown_cidr()
            && let Some(c) = vpc_cidr(&topo.vpcs, &p.requester_vpc)
        {
            p.requester_cidr = c;
        }
        if p.accepter_cidr == unknown_cidr()
            && let Some(c) = vpc_cidr(&topo.vpcs, &p.accepter_vpc)
        {
            p.accepter_cidr = c;
        }
    }
}

fn security_group(g: &ec2::SecurityGroup) -> Option<SecurityGroup> {
    // Only VPC security groups take part (EC2-Classic ones have no VPC).
    g.vpc_id()?;
    Some(SecurityGroup {
        id: g.group_id()?.to_string(),
        ingress: g.ip_permissions().iter().map(sg_rule).collect(),
        egress: g.ip_permissions_egress().iter().map(sg_rule).collect(),
    })
}

fn sg_rule(p: &ec2::IpPermission) -> SgRule {
    SgRule {
        protocol: p.ip_protocol().unwrap_or("-1").to_string(),
        from_port: p.from_port(),
        to_port: p.to_port(),
        cidrs: p
            .ip_ranges()
            .iter()
            .filter_map(|r| cidr(r.cidr_ip()))
            .collect(),
        source_groups: p
            .user_id_group_pairs()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect(),
    }
}

fn network_acl(a: &ec2::NetworkAcl) -> Option<NetworkAcl> {
    Some(NetworkAcl {
        id: a.network_acl_id()?.to_string(),
        vpc_id: a.vpc_id()?.to_string(),
        subnet_ids: a
            .associations()
            .iter()
            .filter_map(|x| x.subnet_id().map(str::to_string))
            .collect(),
        is_default: a.is_default().unwrap_or(false),
        // IPv6 entries have no IPv4 CIDR and never match the echo.
        entries: a
            .entries()
            .iter()
            .filter_map(|e| {
                Some(AclEntry {
                    rule_number: e.rule_number()?,
                    egress: e.egress().unwrap_or(false),
                    protocol: e.protocol().unwrap_or("-1").to_string(),
                    cidr: cidr(e.cidr_block())?,
                    allow: e.rule_action() == Some(&ec2::RuleAction::Allow),
                })
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests;
