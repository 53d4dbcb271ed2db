//! Reads the network of every environment of the plan from EC2, through each account's lookup
//! role, into one `Topology` for the static analysis.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use aws_sdk_ec2::types as ec2;
use tokio::task::JoinSet;

use crate::aws::errors::describe_sdk_error;
use crate::model::cidr::Cidr;
use crate::model::env::Environment;
use crate::run::context::Context;

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

/// One topology from every environment of the plan, read concurrently. Any environment that
/// cannot be read makes the whole topology unusable: a network with one account missing would
/// explain verdicts with "no instance has 10.2.1.10" instead of the real cause. The error has
/// one line per unreadable environment, each possibly followed by indented fix lines.
pub(crate) async fn topology(ctx: Arc<Context>) -> Result<Topology, String> {
    let mut tasks = JoinSet::new();
    for (order, env) in ctx.plan.environments().into_iter().enumerate() {
        let ctx = ctx.clone();
        tasks.spawn(async move {
            let described = describe(&ctx, &env).await;
            (order, env, described)
        });
    }
    let mut described = Vec::new();
    let mut failures = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((order, env, Ok(d))) => described.push((order, env, d)),
            Ok((order, env, Err(e))) => {
                failures.push((order, format!("cannot read the EC2 network of {env}: {e}")))
            }
            Err(e) => failures.push((usize::MAX, format!("internal error: {e}"))),
        }
    }
    if !failures.is_empty() {
        failures.sort();
        let reasons: Vec<String> = failures.into_iter().map(|(_, f)| f).collect();
        return Err(reasons.join("\n"));
    }
    described.sort_by_key(|(order, _, _)| *order);
    let mut topo = Topology::default();
    for (_, env, d) in &described {
        merge(&mut topo, d, &env.account);
    }
    fill_peering_cidrs(&mut topo);
    Ok(topo)
}

async fn describe(ctx: &Context, env: &Environment) -> Result<Described, String> {
    let cfg = ctx
        .aws
        .role(
            &ctx.plan.roles_in(env).lookup,
            env,
            &ctx.plan.qualifier,
            "read the network for the static reachability analysis",
        )
        .await
        .map_err(|e| format!("{e:#}"))?;
    let client = ctx.aws.ec2(&cfg);
    // Every item of every page of one Describe call; the error names the call.
    macro_rules! all_items {
        ($call:ident, $name:literal) => {
            async {
                client
                    .$call()
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                    .map_err(|e| format!("{}: {}", $name, describe_sdk_error(&e)))
            }
        };
    }
    let (reservations, subnets, vpcs, route_tables, peerings, security_groups, network_acls) = tokio::try_join!(
        all_items!(describe_instances, "DescribeInstances"),
        all_items!(describe_subnets, "DescribeSubnets"),
        all_items!(describe_vpcs, "DescribeVpcs"),
        all_items!(describe_route_tables, "DescribeRouteTables"),
        all_items!(
            describe_vpc_peering_connections,
            "DescribeVpcPeeringConnections"
        ),
        all_items!(describe_security_groups, "DescribeSecurityGroups"),
        all_items!(describe_network_acls, "DescribeNetworkAcls"),
    )?;
    Ok(Described {
        reservations,
        subnets,
        vpcs,
        route_tables,
        peerings,
        security_groups,
        network_acls,
    })
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
fn fill_peering_cidrs(topo: &mut Topology) {
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
mod tests {
    use super::*;
    use crate::verify::reachability::analyze;

    fn assoc(subnet: Option<&str>, main: bool) -> ec2::RouteTableAssociation {
        let mut b = ec2::RouteTableAssociation::builder().main(main);
        if let Some(s) = subnet {
            b = b.subnet_id(s);
        }
        b.build()
    }

    fn vpc_info(vpc: &str, owner: &str, cidr: Option<&str>) -> ec2::VpcPeeringConnectionVpcInfo {
        let mut b = ec2::VpcPeeringConnectionVpcInfo::builder()
            .vpc_id(vpc)
            .owner_id(owner);
        if let Some(c) = cidr {
            b = b.cidr_block(c);
        }
        b.build()
    }

    fn pcx(
        id: &str,
        status: ec2::VpcPeeringConnectionStateReasonCode,
        accepter_cidr: Option<&str>,
    ) -> ec2::VpcPeeringConnection {
        ec2::VpcPeeringConnection::builder()
            .vpc_peering_connection_id(id)
            .requester_vpc_info(vpc_info("vpc-b", "111111111111", Some("10.1.0.0/16")))
            .accepter_vpc_info(vpc_info("vpc-c", "222222222222", accepter_cidr))
            .status(
                ec2::VpcPeeringConnectionStateReason::builder()
                    .code(status)
                    .build(),
            )
            .build()
    }

    fn icmp_from(cidr: &str) -> ec2::IpPermission {
        ec2::IpPermission::builder()
            .ip_protocol("icmp")
            .from_port(-1)
            .to_port(-1)
            .ip_ranges(ec2::IpRange::builder().cidr_ip(cidr).build())
            .build()
    }

    fn all_out() -> ec2::IpPermission {
        ec2::IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(ec2::IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build()
    }

    /// One account's side of the B ↔ C network as EC2 would describe it.
    fn side(
        account: &str,
        name: &str,
        vpc_cidr: &str,
        subnet_cidr: &str,
        ip: &str,
        routes: Vec<ec2::Route>,
        peering: ec2::VpcPeeringConnection,
    ) -> Described {
        let vpc = format!("vpc-{name}");
        let subnet = format!("subnet-{name}");
        let sg = format!("sg-{name}");
        Described {
            reservations: vec![
                ec2::Reservation::builder()
                    .owner_id(account)
                    .instances(
                        ec2::Instance::builder()
                            .instance_id(format!("i-{name}"))
                            .vpc_id(&vpc)
                            .subnet_id(&subnet)
                            .private_ip_address(ip)
                            .security_groups(ec2::GroupIdentifier::builder().group_id(&sg).build())
                            .state(
                                ec2::InstanceState::builder()
                                    .name(ec2::InstanceStateName::Running)
                                    .build(),
                            )
                            .build(),
                    )
                    // Terminated instances keep showing up for a while; they hold no address.
                    .instances(
                        ec2::Instance::builder()
                            .instance_id(format!("i-{name}-old"))
                            .vpc_id(&vpc)
                            .subnet_id(&subnet)
                            .private_ip_address(ip)
                            .state(
                                ec2::InstanceState::builder()
                                    .name(ec2::InstanceStateName::Terminated)
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            ],
            subnets: vec![
                ec2::Subnet::builder()
                    .subnet_id(&subnet)
                    .vpc_id(&vpc)
                    .cidr_block(subnet_cidr)
                    .build(),
            ],
            vpcs: vec![
                ec2::Vpc::builder()
                    .vpc_id(&vpc)
                    .owner_id(account)
                    .cidr_block(vpc_cidr)
                    .build(),
            ],
            route_tables: vec![
                ec2::RouteTable::builder()
                    .route_table_id(format!("rtb-{name}-main"))
                    .vpc_id(&vpc)
                    .associations(assoc(None, true))
                    .routes(
                        ec2::Route::builder()
                            .destination_cidr_block(vpc_cidr)
                            .gateway_id("local")
                            .build(),
                    )
                    .build(),
                ec2::RouteTable::builder()
                    .route_table_id(format!("rtb-{name}"))
                    .vpc_id(&vpc)
                    .associations(assoc(Some(&subnet), false))
                    .set_routes(Some(
                        std::iter::once(
                            ec2::Route::builder()
                                .destination_cidr_block(vpc_cidr)
                                .gateway_id("local")
                                .build(),
                        )
                        .chain(routes)
                        .collect(),
                    ))
                    .build(),
            ],
            peerings: vec![peering],
            security_groups: vec![
                ec2::SecurityGroup::builder()
                    .group_id(&sg)
                    .vpc_id(&vpc)
                    .ip_permissions(icmp_from("10.0.0.0/8"))
                    .ip_permissions_egress(all_out())
                    .build(),
            ],
            network_acls: vec![
                ec2::NetworkAcl::builder()
                    .network_acl_id(format!("acl-{name}"))
                    .vpc_id(&vpc)
                    .is_default(true)
                    .associations(
                        ec2::NetworkAclAssociation::builder()
                            .subnet_id(&subnet)
                            .build(),
                    )
                    .entries(
                        ec2::NetworkAclEntry::builder()
                            .rule_number(100)
                            .egress(false)
                            .protocol("-1")
                            .cidr_block("0.0.0.0/0")
                            .rule_action(ec2::RuleAction::Allow)
                            .build(),
                    )
                    .entries(
                        ec2::NetworkAclEntry::builder()
                            .rule_number(100)
                            .egress(true)
                            .protocol("-1")
                            .cidr_block("0.0.0.0/0")
                            .rule_action(ec2::RuleAction::Allow)
                            .build(),
                    )
                    // IPv6 entries carry no IPv4 CIDR.
                    .entries(
                        ec2::NetworkAclEntry::builder()
                            .rule_number(101)
                            .egress(false)
                            .protocol("-1")
                            .ipv6_cidr_block("::/0")
                            .rule_action(ec2::RuleAction::Allow)
                            .build(),
                    )
                    .build(),
            ],
        }
    }

    fn to_pcx(dest: &str, pcx: &str) -> ec2::Route {
        ec2::Route::builder()
            .destination_cidr_block(dest)
            .vpc_peering_connection_id(pcx)
            .state(ec2::RouteState::Active)
            .build()
    }

    fn b_and_c(c_routes: Vec<ec2::Route>, accepter_view: ec2::VpcPeeringConnection) -> Topology {
        let b = side(
            "111111111111",
            "b",
            "10.1.0.0/16",
            "10.1.1.0/24",
            "10.1.1.10",
            vec![to_pcx("10.2.0.0/16", "pcx-bc")],
            pcx(
                "pcx-bc",
                ec2::VpcPeeringConnectionStateReasonCode::Active,
                Some("10.2.0.0/16"),
            ),
        );
        let c = side(
            "222222222222",
            "c",
            "10.2.0.0/16",
            "10.2.1.0/24",
            "10.2.1.10",
            c_routes,
            accepter_view,
        );
        let mut topo = Topology::default();
        merge(&mut topo, &b, "111111111111");
        merge(&mut topo, &c, "222222222222");
        fill_peering_cidrs(&mut topo);
        topo
    }

    #[test]
    fn two_accounts_merge_into_one_routable_network() {
        let topo = b_and_c(
            vec![to_pcx("10.1.0.0/16", "pcx-bc")],
            pcx(
                "pcx-bc",
                ec2::VpcPeeringConnectionStateReasonCode::Active,
                Some("10.2.0.0/16"),
            ),
        );
        assert_eq!(
            topo.peerings.len(),
            1,
            "the peering is seen from both accounts"
        );
        assert_eq!(topo.instances.len(), 2, "terminated instances are left out");
        let c = topo.instance("i-c").unwrap();
        assert_eq!(c.account, "222222222222");
        assert_eq!(c.security_group_ids, vec!["sg-c".to_string()]);
        let subnet_table = topo.route_table_for_subnet("subnet-c", "vpc-c").unwrap();
        assert_eq!(subnet_table.id, "rtb-c", "the explicit association wins");
        let acl = topo.network_acl_for_subnet("subnet-c", "vpc-c").unwrap();
        assert_eq!(acl.entries.len(), 2, "the IPv6 entry is dropped");

        let v = analyze(&topo, "i-b", "10.2.1.10".parse().unwrap());
        assert!(v.reachable, "{}", v.reason);
        let v = analyze(&topo, "i-c", "10.1.1.10".parse().unwrap());
        assert!(v.reachable, "{}", v.reason);
    }

    #[test]
    fn a_missing_return_route_in_the_other_account_is_named() {
        let topo = b_and_c(
            Vec::new(),
            pcx(
                "pcx-bc",
                ec2::VpcPeeringConnectionStateReasonCode::Active,
                Some("10.2.0.0/16"),
            ),
        );
        let v = analyze(&topo, "i-b", "10.2.1.10".parse().unwrap());
        assert!(!v.reachable);
        assert!(
            v.reason
                .starts_with("return path: no route to 10.1.1.10 in rtb-c"),
            "{}",
            v.reason
        );
    }

    #[test]
    fn a_peering_one_account_still_sees_pending_is_taken_as_active() {
        let topo = b_and_c(
            vec![to_pcx("10.1.0.0/16", "pcx-bc")],
            pcx(
                "pcx-bc",
                ec2::VpcPeeringConnectionStateReasonCode::PendingAcceptance,
                None,
            ),
        );
        assert_eq!(topo.peerings[0].status, "active");
        assert_eq!(topo.peerings[0].accepter_cidr.to_string(), "10.2.0.0/16");
    }

    #[test]
    fn a_pending_peering_without_cidr_gets_the_known_vpc_range() {
        let pending = pcx(
            "pcx-bc",
            ec2::VpcPeeringConnectionStateReasonCode::PendingAcceptance,
            None,
        );
        let b = side(
            "111111111111",
            "b",
            "10.1.0.0/16",
            "10.1.1.0/24",
            "10.1.1.10",
            vec![to_pcx("10.2.0.0/16", "pcx-bc")],
            pending.clone(),
        );
        let c = side(
            "222222222222",
            "c",
            "10.2.0.0/16",
            "10.2.1.0/24",
            "10.2.1.10",
            Vec::new(),
            pending,
        );
        let mut topo = Topology::default();
        merge(&mut topo, &b, "111111111111");
        merge(&mut topo, &c, "222222222222");
        fill_peering_cidrs(&mut topo);
        assert_eq!(topo.peerings[0].accepter_cidr.to_string(), "10.2.0.0/16");
        let v = analyze(&topo, "i-b", "10.2.1.10".parse().unwrap());
        assert!(!v.reachable);
        assert!(v.reason.contains("pending-acceptance"), "{}", v.reason);
    }

    #[test]
    fn route_targets_and_blackholes_are_mapped() {
        let r = route(
            &ec2::Route::builder()
                .destination_cidr_block("0.0.0.0/0")
                .nat_gateway_id("nat-1")
                .build(),
        )
        .unwrap();
        assert_eq!(r.target, RouteTarget::NatGateway("nat-1".into()));
        let r = route(
            &ec2::Route::builder()
                .destination_cidr_block("10.9.0.0/16")
                .vpc_peering_connection_id("pcx-gone")
                .state(ec2::RouteState::Blackhole)
                .build(),
        )
        .unwrap();
        assert!(r.blackhole);
        let r = route(
            &ec2::Route::builder()
                .destination_cidr_block("10.8.0.0/16")
                .transit_gateway_id("tgw-1")
                .build(),
        )
        .unwrap();
        assert_eq!(r.target, RouteTarget::Other("tgw-1".into()));
        assert!(
            route(
                &ec2::Route::builder()
                    .destination_ipv6_cidr_block("::/0")
                    .gateway_id("igw-1")
                    .build()
            )
            .is_none()
        );
    }

    #[test]
    fn disassociated_route_tables_do_not_claim_the_subnet() {
        let t = route_table(
            &ec2::RouteTable::builder()
                .route_table_id("rtb-old")
                .vpc_id("vpc-1")
                .associations(
                    ec2::RouteTableAssociation::builder()
                        .subnet_id("subnet-1")
                        .association_state(
                            ec2::RouteTableAssociationState::builder()
                                .state(ec2::RouteTableAssociationStateCode::Disassociated)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .unwrap();
        assert!(t.subnet_ids.is_empty());
        assert!(!t.main);
    }
}
