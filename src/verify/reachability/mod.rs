//! Static reachability analysis: given the network of every account as EC2
//! describes it, predict whether an ICMP echo from one instance reaches an
//! address and the reply comes back, and name the first thing that stops it.
//!
//! The model is deliberately plain data so it can be filled from the EC2
//! Describe* calls of several accounts and built by hand in tests.

mod topology;

use std::net::Ipv4Addr;

use serde::Serialize;

use crate::model::cidr::Cidr;

pub(crate) use self::topology::{
    AclEntry, Instance, NetworkAcl, Peering, Route, RouteTable, RouteTarget, SecurityGroup, SgRule,
    Subnet, Topology, Vpc,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Verdict {
    pub(crate) reachable: bool,
    /// One line: the first thing that blocks the echo or its reply, or the
    /// path that carries both.
    pub(crate) reason: String,
}

/// Decides whether an ICMP echo from `from_instance` reaches `to_ip` and the
/// reply returns.
///
/// Checks run in packet order: forward route, source security group egress,
/// source subnet ACL egress, destination subnet ACL ingress, destination
/// security group ingress, then for the reply the return route, destination
/// subnet ACL egress and source subnet ACL ingress. Security groups are
/// stateful, so the reply needs no rule there. Only local and peering routes
/// can deliver; any other target is reported as blocking, since a private
/// address in another VPC cannot be confirmed reachable through it.
pub(crate) fn analyze(topo: &Topology, from_instance: &str, to_ip: Ipv4Addr) -> Verdict {
    match trace_echo(topo, from_instance, to_ip) {
        Ok(path) => Verdict {
            reachable: true,
            reason: path,
        },
        Err(blocker) => Verdict {
            reachable: false,
            reason: blocker,
        },
    }
}

/// `Ok` describes the working path, `Err` names the blocker; both are the
/// one-line verdict reason.
fn trace_echo(topo: &Topology, from_instance: &str, to_ip: Ipv4Addr) -> Result<String, String> {
    let src = topo
        .instance(from_instance)
        .ok_or_else(|| format!("source instance {from_instance} is not in the topology"))?;
    ensure_running(src)?;
    if src.private_ip == to_ip {
        return Ok(format!("{to_ip} is {}'s own address", src.id));
    }
    let candidate_vpcs: Vec<&str> = topo
        .instances_with_ip(to_ip)
        .map(|i| i.vpc_id.as_str())
        .collect();
    if candidate_vpcs.is_empty() {
        return Err(no_instance_has(topo, to_ip));
    }

    let forward = route(topo, &src.subnet_id, &src.vpc_id, to_ip, &candidate_vpcs)?;
    let dst = topo
        .instances_with_ip(to_ip)
        .find(|i| i.vpc_id == forward.vpc_id)
        .ok_or_else(|| {
            format!(
                "{} delivers {to_ip} into {}, but no instance there has that address",
                forward.path, forward.vpc_id
            )
        })?;
    ensure_running(dst)?;

    security_group_allows(topo, src, dst, Direction::Egress)?;
    let crosses_subnets = src.subnet_id != dst.subnet_id;
    // ACLs filter at subnet boundaries, so traffic inside one subnet skips them.
    if crosses_subnets {
        network_acl_allows(topo, src, Direction::Egress, to_ip)?;
        network_acl_allows(topo, dst, Direction::Ingress, src.private_ip)?;
    }
    let admitted_by = security_group_allows(topo, dst, src, Direction::Ingress)?;

    let back = route(
        topo,
        &dst.subnet_id,
        &dst.vpc_id,
        src.private_ip,
        &[src.vpc_id.as_str()],
    )
    .map_err(|blocker| format!("return path: {blocker}"))?;
    if back.vpc_id != src.vpc_id {
        return Err(format!(
            "return path: {} delivers the reply to {} into {} instead of {}",
            back.path, src.private_ip, back.vpc_id, src.vpc_id
        ));
    }
    if crosses_subnets {
        network_acl_allows(topo, dst, Direction::Egress, src.private_ip)
            .map_err(|blocker| format!("return path: {blocker}"))?;
        network_acl_allows(topo, src, Direction::Ingress, to_ip)
            .map_err(|blocker| format!("return path: {blocker}"))?;
    }

    Ok(format!(
        "route {} and back via {}; {admitted_by}",
        forward.path, back.path
    ))
}

fn ensure_running(instance: &Instance) -> Result<(), String> {
    if instance.state == "running" {
        Ok(())
    } else {
        Err(format!(
            "{} ({}, account {}) is {}, not running",
            instance.id, instance.private_ip, instance.account, instance.state
        ))
    }
}

fn no_instance_has(topo: &Topology, ip: Ipv4Addr) -> String {
    if let Some(subnet) = topo.subnets.iter().find(|s| s.cidr.contains(ip)) {
        format!(
            "no instance has {ip} (the address is in {} of {})",
            subnet.id, subnet.vpc_id
        )
    } else if let Some(vpc) = topo.vpcs.iter().find(|v| v.cidr.contains(ip)) {
        format!(
            "no instance has {ip} (the address is in the range of {}, outside all its subnets)",
            vpc.id
        )
    } else {
        format!("no instance has {ip}")
    }
}

/// Names the account next to the VPC because in a multi-account network the
/// fix has to be made by whoever owns that account.
fn vpc_label(topo: &Topology, vpc_id: &str) -> String {
    match topo.vpc(vpc_id) {
        Some(vpc) => format!("VPC {vpc_id}, account {}", vpc.account),
        None => format!("VPC {vpc_id}"),
    }
}

/// Where a routed packet ends up, and the hop that took it there for the
/// verdict text ("rtb-a → pcx-ab (active)").
struct Delivery<'t> {
    vpc_id: &'t str,
    path: String,
}

/// Routes a packet leaving `subnet_id` for `to_ip` one hop, which is all AWS
/// does: a VPC delivers locally or across one peering, never onward.
/// `target_vpcs` are the VPCs the packet is meant for, only used to explain
/// a transitive-peering attempt.
fn route<'t>(
    topo: &'t Topology,
    subnet_id: &str,
    vpc_id: &'t str,
    to_ip: Ipv4Addr,
    target_vpcs: &[&str],
) -> Result<Delivery<'t>, String> {
    let table = topo
        .route_table_for_subnet(subnet_id, vpc_id)
        .ok_or_else(|| {
            format!("no route table for {subnet_id}: no explicit association and {vpc_id} has no main route table")
        })?;
    let location = format!("{} of {subnet_id} ({})", table.id, vpc_label(topo, vpc_id));
    let transitive_hint = || {
        target_vpcs
            .iter()
            .find_map(|target| transit_vpc(topo, vpc_id, target))
            .map(|via| format!("; transitive peering via {via} is not routed by AWS"))
            .unwrap_or_default()
    };

    // AWS picks the most specific matching route, even if it is a blackhole.
    let Some(route) = table
        .routes
        .iter()
        .filter(|r| r.destination.contains(to_ip))
        .max_by_key(|r| r.destination.prefix_len())
    else {
        return Err(format!(
            "no route to {to_ip} in {location}{}",
            transitive_hint()
        ));
    };
    if route.blackhole {
        return Err(format!(
            "route {} → {} in {location} is a blackhole (its target no longer exists)",
            route.destination, route.target
        ));
    }

    match &route.target {
        RouteTarget::Local => Ok(Delivery {
            vpc_id,
            path: format!("{} → local", table.id),
        }),
        RouteTarget::Peering(pcx) => {
            let hop = Hop {
                table: &table.id,
                location: &location,
                destination: route.destination,
                vpc_id,
                to_ip,
            };
            across_peering(topo, &hop, pcx, target_vpcs)
        }
        RouteTarget::Gateway(igw) if igw.starts_with("igw-") => Err(format!(
            "no route to {to_ip} in {location}: only {} → {igw} matches, and an internet gateway does not carry private addresses{}",
            route.destination,
            transitive_hint()
        )),
        other => Err(format!(
            "route {} in {location} sends {to_ip} to {other}; only local and peering routes are analysed, so delivery is not confirmed",
            route.destination
        )),
    }
}

/// The route a packet matched, for the texts of `across_peering`.
struct Hop<'h> {
    table: &'h str,
    /// "rtb-a of subnet-a (VPC vpc-a, account 111111111111)".
    location: &'h str,
    destination: Cidr,
    vpc_id: &'h str,
    to_ip: Ipv4Addr,
}

/// Delivers a packet over peering `pcx`: only an active peering does, and only into the VPC at
/// its far end.
fn across_peering<'t>(
    topo: &'t Topology,
    hop: &Hop<'_>,
    pcx: &str,
    target_vpcs: &[&str],
) -> Result<Delivery<'t>, String> {
    let Hop {
        table,
        location,
        destination,
        vpc_id,
        to_ip,
    } = *hop;
    let peering = topo.peering(pcx).ok_or_else(|| {
        format!("route {destination} in {location} targets {pcx}, which is not in the topology")
    })?;
    if peering.status == "pending-acceptance" {
        return Err(format!(
            "peering {pcx} is pending-acceptance (to be accepted from {})",
            vpc_label(topo, &peering.accepter_vpc)
        ));
    }
    if peering.status != "active" {
        return Err(format!("peering {pcx} is {}", peering.status));
    }
    let (far_vpc, far_cidr) = peering.far_side(vpc_id).ok_or_else(|| {
        format!("route {destination} in {location} targets {pcx}, which does not connect {vpc_id}")
    })?;
    if !far_cidr.contains(to_ip) {
        let beyond = target_vpcs
            .iter()
            .find(|target| !are_peered(topo, vpc_id, target) && are_peered(topo, far_vpc, target));
        return Err(match beyond {
            Some(target) => format!(
                "transitive peering via {far_vpc} is not routed by AWS: {table} sends {to_ip} over {pcx}, which ends in {far_vpc}, but the address is in {target}"
            ),
            None => format!(
                "route {destination} in {location} sends {to_ip} over {pcx} into {far_vpc} ({far_cidr}), which does not contain it"
            ),
        });
    }
    Ok(Delivery {
        vpc_id: far_vpc,
        path: format!("{table} → {pcx} (active)"),
    })
}

/// A VPC peered with both `from_vpc` and `to_vpc` when the two are not peered
/// directly: the shape of a network that relies on transitive peering.
fn transit_vpc<'t>(topo: &'t Topology, from_vpc: &str, to_vpc: &str) -> Option<&'t str> {
    if from_vpc == to_vpc || are_peered(topo, from_vpc, to_vpc) {
        return None;
    }
    topo.peerings
        .iter()
        .filter_map(|p| p.far_side(from_vpc).map(|(far, _)| far))
        .find(|via| are_peered(topo, via, to_vpc))
}

/// Whatever the status: a pending peering is still a direct link in the
/// making, not a reason to suggest transitivity.
fn are_peered(topo: &Topology, a: &str, b: &str) -> bool {
    topo.peerings
        .iter()
        .any(|p| p.far_side(a).is_some_and(|(far, _)| far == b))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    fn way(self) -> &'static str {
        match self {
            Direction::Ingress => "inbound",
            Direction::Egress => "outbound",
        }
    }

    fn preposition(self) -> &'static str {
        match self {
            Direction::Ingress => "from",
            Direction::Egress => "to",
        }
    }
}

/// Security groups of `owner` checked for the echo request to or from
/// `peer`. Returns which rule admits it, for the verdict text.
fn security_group_allows(
    topo: &Topology,
    owner: &Instance,
    peer: &Instance,
    direction: Direction,
) -> Result<String, String> {
    let (way, preposition) = (direction.way(), direction.preposition());
    let mut missing_groups = Vec::new();
    for group_id in &owner.security_group_ids {
        let Some(group) = topo.security_group(group_id) else {
            missing_groups.push(group_id.as_str());
            continue;
        };
        let rules = match direction {
            Direction::Ingress => &group.ingress,
            Direction::Egress => &group.egress,
        };
        for rule in rules.iter().filter(|r| sg_rule_admits_echo_request(r)) {
            if let Some(cidr) = rule.cidrs.iter().find(|c| c.contains(peer.private_ip)) {
                return Ok(format!("{group_id} allows ICMP {preposition} {cidr}"));
            }
            if let Some(peer_group) = rule
                .source_groups
                .iter()
                .find(|g| peer.security_group_ids.contains(g))
            {
                return Ok(format!("{group_id} allows ICMP {preposition} {peer_group}"));
            }
        }
    }

    let owner_label = format!("{} (account {})", owner.id, owner.account);
    let remote = peer.private_ip;
    // A group we were not shown might be the one that allows it; say so
    // rather than blame the groups we could see.
    if !missing_groups.is_empty() {
        return Err(format!(
            "security group {} of {owner_label} is not in the topology, so {way} ICMP {preposition} {remote} cannot be confirmed",
            missing_groups.join(", ")
        ));
    }
    Err(match owner.security_group_ids.as_slice() {
        [] => format!(
            "{owner_label} has no security groups, so {way} ICMP {preposition} {remote} is not allowed"
        ),
        [group] => format!(
            "security group {group} of {owner_label} does not allow {way} ICMP {preposition} {remote}"
        ),
        groups => format!(
            "security groups {} of {owner_label} do not allow {way} ICMP {preposition} {remote}",
            groups.join(", ")
        ),
    })
}

/// Echo request is ICMP type 8 code 0; for ICMP rules EC2 stores the type in
/// `from_port` and the code in `to_port`, with -1 meaning any.
fn sg_rule_admits_echo_request(rule: &SgRule) -> bool {
    const ECHO_REQUEST_TYPE: i32 = 8;
    const ECHO_REQUEST_CODE: i32 = 0;
    let matches =
        |port: Option<i32>, wanted: i32| matches!(port, None | Some(-1)) || port == Some(wanted);
    match protocol_of(&rule.protocol) {
        Protocol::All => true,
        Protocol::Icmp => {
            matches(rule.from_port, ECHO_REQUEST_TYPE) && matches(rule.to_port, ECHO_REQUEST_CODE)
        }
        Protocol::Other => false,
    }
}

enum Protocol {
    All,
    Icmp,
    Other,
}

fn protocol_of(protocol: &str) -> Protocol {
    match protocol.trim().to_ascii_lowercase().as_str() {
        "-1" | "all" => Protocol::All,
        "1" | "icmp" => Protocol::Icmp,
        _ => Protocol::Other,
    }
}

/// Evaluates the ACL of `instance`'s subnet for ICMP crossing it in
/// `direction` to or from `remote`. ACLs are stateless, so the caller checks
/// the reply separately. A subnet whose ACL is missing from the topology is
/// treated like one under the default ACL, which allows everything.
fn network_acl_allows(
    topo: &Topology,
    instance: &Instance,
    direction: Direction,
    remote: Ipv4Addr,
) -> Result<(), String> {
    let Some(acl) = topo.network_acl_for_subnet(&instance.subnet_id, &instance.vpc_id) else {
        return Ok(());
    };
    let mut entries: Vec<&AclEntry> = acl
        .entries
        .iter()
        .filter(|e| e.egress == (direction == Direction::Egress))
        .collect();
    entries.sort_by_key(|e| e.rule_number);
    let deciding = entries
        .into_iter()
        .find(|e| !matches!(protocol_of(&e.protocol), Protocol::Other) && e.cidr.contains(remote));
    let (way, preposition) = (direction.way(), direction.preposition());
    match deciding {
        Some(entry) if entry.allow => Ok(()),
        Some(entry) => Err(format!(
            "network ACL {} of {} denies {way} ICMP {preposition} {remote} (rule {})",
            acl.id, instance.subnet_id, entry.rule_number
        )),
        None => Err(format!(
            "network ACL {} of {} denies {way} ICMP {preposition} {remote} (no rule matches; implicit deny)",
            acl.id, instance.subnet_id
        )),
    }
}

#[cfg(test)]
mod tests;
