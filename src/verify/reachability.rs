//! Static reachability analysis: given the network of every account as EC2
//! describes it, predict whether an ICMP echo from one instance reaches an
//! address and the reply comes back, and name the first thing that stops it.
//!
//! The model is deliberately plain data so it can be filled from the EC2
//! Describe* calls of several accounts and built by hand in tests.

use std::fmt;
use std::net::Ipv4Addr;

use serde::Serialize;

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
    fn far_side(&self, vpc_id: &str) -> Option<(&str, Cidr)> {
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
            let peering = topo.peering(pcx).ok_or_else(|| {
                format!(
                    "route {} in {location} targets {pcx}, which is not in the topology",
                    route.destination
                )
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
                format!(
                    "route {} in {location} targets {pcx}, which does not connect {vpc_id}",
                    route.destination
                )
            })?;
            // A peering only delivers into the VPC at its far end.
            if !far_cidr.contains(to_ip) {
                let beyond = target_vpcs.iter().find(|target| {
                    !are_peered(topo, vpc_id, target) && are_peered(topo, far_vpc, target)
                });
                return Err(match beyond {
                    Some(target) => format!(
                        "transitive peering via {far_vpc} is not routed by AWS: {} sends {to_ip} over {pcx}, which ends in {far_vpc}, but the address is in {target}",
                        table.id
                    ),
                    None => format!(
                        "route {} in {location} sends {to_ip} over {pcx} into {far_vpc} ({far_cidr}), which does not contain it",
                        route.destination
                    ),
                });
            }
            Ok(Delivery {
                vpc_id: far_vpc,
                path: format!("{} → {pcx} (active)", table.id),
            })
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
mod tests {
    use super::*;

    fn cidr(text: &str) -> Cidr {
        text.parse().unwrap()
    }

    fn ip(text: &str) -> Ipv4Addr {
        text.parse().unwrap()
    }

    fn allow_all_icmp_from(cidrs: &[&str]) -> SgRule {
        SgRule {
            protocol: "icmp".into(),
            from_port: Some(-1),
            to_port: Some(-1),
            cidrs: cidrs.iter().map(|c| cidr(c)).collect(),
            source_groups: vec![],
        }
    }

    fn allow_everything_to_anywhere() -> SgRule {
        SgRule {
            protocol: "-1".into(),
            from_port: None,
            to_port: None,
            cidrs: vec![cidr("0.0.0.0/0")],
            source_groups: vec![],
        }
    }

    fn acl_entry(
        rule_number: i32,
        egress: bool,
        protocol: &str,
        cidr_text: &str,
        allow: bool,
    ) -> AclEntry {
        AclEntry {
            rule_number,
            egress,
            protocol: protocol.into(),
            cidr: cidr(cidr_text),
            allow,
        }
    }

    /// Builds topologies where VPC "a" comes with subnet-a, main route table
    /// rtb-a (local route only), security group sg-a (ICMP in from 10/8, all
    /// out) and default network ACL acl-a (the AWS default entries).
    #[derive(Default)]
    struct Net {
        topo: Topology,
    }

    impl Net {
        fn vpc(mut self, name: &str, cidr_text: &str) -> Self {
            let vpc_id = format!("vpc-{name}");
            self.topo.vpcs.push(Vpc {
                id: vpc_id.clone(),
                account: account_of(name),
                cidr: cidr(cidr_text),
            });
            self.topo.subnets.push(Subnet {
                id: format!("subnet-{name}"),
                vpc_id: vpc_id.clone(),
                cidr: cidr(cidr_text),
            });
            self.topo.route_tables.push(RouteTable {
                id: format!("rtb-{name}"),
                vpc_id: vpc_id.clone(),
                main: true,
                subnet_ids: vec![],
                routes: vec![Route {
                    destination: cidr(cidr_text),
                    target: RouteTarget::Local,
                    blackhole: false,
                }],
            });
            self.topo.security_groups.push(SecurityGroup {
                id: format!("sg-{name}"),
                ingress: vec![allow_all_icmp_from(&["10.0.0.0/8"])],
                egress: vec![allow_everything_to_anywhere()],
            });
            self.topo.network_acls.push(NetworkAcl {
                id: format!("acl-{name}"),
                vpc_id,
                subnet_ids: vec![],
                is_default: true,
                entries: vec![
                    acl_entry(100, false, "-1", "0.0.0.0/0", true),
                    acl_entry(32767, false, "-1", "0.0.0.0/0", false),
                    acl_entry(100, true, "-1", "0.0.0.0/0", true),
                    acl_entry(32767, true, "-1", "0.0.0.0/0", false),
                ],
            });
            self
        }

        /// An extra subnet in VPC `vpc_name`, using the VPC's main route table.
        fn subnet(mut self, subnet_id: &str, vpc_name: &str, cidr_text: &str) -> Self {
            self.topo.subnets.push(Subnet {
                id: subnet_id.into(),
                vpc_id: format!("vpc-{vpc_name}"),
                cidr: cidr(cidr_text),
            });
            self
        }

        /// Instance `i-{name}` in subnet-{vpc_name} with sg-{vpc_name}.
        fn instance(self, name: &str, vpc_name: &str, private_ip: &str) -> Self {
            let subnet = format!("subnet-{vpc_name}");
            self.instance_in(name, vpc_name, &subnet, private_ip)
        }

        fn instance_in(
            mut self,
            name: &str,
            vpc_name: &str,
            subnet_id: &str,
            private_ip: &str,
        ) -> Self {
            self.topo.instances.push(Instance {
                id: format!("i-{name}"),
                account: account_of(vpc_name),
                vpc_id: format!("vpc-{vpc_name}"),
                subnet_id: subnet_id.into(),
                private_ip: ip(private_ip),
                security_group_ids: vec![format!("sg-{vpc_name}")],
                state: "running".into(),
            });
            self
        }

        /// Peering `pcx-{requester}{accepter}` between the two VPCs, without routes.
        fn peer(mut self, requester: &str, accepter: &str, status: &str) -> Self {
            let vpc_cidr = |name: &str| self.topo.vpc(&format!("vpc-{name}")).unwrap().cidr;
            let peering = Peering {
                id: format!("pcx-{requester}{accepter}"),
                requester_vpc: format!("vpc-{requester}"),
                requester_cidr: vpc_cidr(requester),
                accepter_vpc: format!("vpc-{accepter}"),
                accepter_cidr: vpc_cidr(accepter),
                status: status.into(),
            };
            self.topo.peerings.push(peering);
            self
        }

        fn route(mut self, table_id: &str, destination: &str, target: RouteTarget) -> Self {
            self.table(table_id).routes.push(Route {
                destination: cidr(destination),
                target,
                blackhole: false,
            });
            self
        }

        /// Routes both ways over an existing `pcx-{a}{b}`.
        fn peer_routes(self, requester: &str, accepter: &str) -> Self {
            let pcx = RouteTarget::Peering(format!("pcx-{requester}{accepter}"));
            let cidr_of = |name: &str| {
                self.topo
                    .vpc(&format!("vpc-{name}"))
                    .unwrap()
                    .cidr
                    .to_string()
            };
            let (requester_cidr, accepter_cidr) = (cidr_of(requester), cidr_of(accepter));
            self.route(&format!("rtb-{requester}"), &accepter_cidr, pcx.clone())
                .route(&format!("rtb-{accepter}"), &requester_cidr, pcx)
        }

        fn table(&mut self, table_id: &str) -> &mut RouteTable {
            self.topo
                .route_tables
                .iter_mut()
                .find(|t| t.id == table_id)
                .unwrap()
        }

        fn group(&mut self, group_id: &str) -> &mut SecurityGroup {
            self.topo
                .security_groups
                .iter_mut()
                .find(|g| g.id == group_id)
                .unwrap()
        }

        fn acl(&mut self, acl_id: &str) -> &mut NetworkAcl {
            self.topo
                .network_acls
                .iter_mut()
                .find(|a| a.id == acl_id)
                .unwrap()
        }

        fn analyze(&self, from: &str, to: &str) -> Verdict {
            analyze(&self.topo, from, ip(to))
        }
    }

    /// vpc-a 10.0.0.0/16 (i-a 10.0.0.10) peered with vpc-b 10.1.0.0/16 (i-b 10.1.0.10).
    fn peered_pair() -> Net {
        Net::default()
            .vpc("a", "10.0.0.0/16")
            .vpc("b", "10.1.0.0/16")
            .instance("a", "a", "10.0.0.10")
            .instance("b", "b", "10.1.0.10")
            .peer("a", "b", "active")
            .peer_routes("a", "b")
    }

    /// Twelve digits like a real account id, so expected messages read naturally.
    fn account_of(vpc_name: &str) -> String {
        let digit = match vpc_name {
            "a" => '1',
            "b" => '2',
            _ => '3',
        };
        std::iter::repeat_n(digit, 12).collect()
    }

    fn assert_blocked(verdict: Verdict, expected_reason: &str) {
        assert!(
            !verdict.reachable,
            "expected unreachable: {}",
            verdict.reason
        );
        assert_eq!(verdict.reason, expected_reason);
    }

    #[test]
    fn same_vpc_is_reachable() {
        let net = Net::default()
            .vpc("a", "10.0.0.0/16")
            .instance("a", "a", "10.0.0.10")
            .instance("a2", "a", "10.0.0.20");
        let verdict = net.analyze("i-a", "10.0.0.20");
        assert!(verdict.reachable, "{}", verdict.reason);
        assert_eq!(
            verdict.reason,
            "route rtb-a → local and back via rtb-a → local; sg-a allows ICMP from 10.0.0.0/8"
        );
    }

    #[test]
    fn peered_vpcs_are_reachable_both_ways() {
        let net = peered_pair();
        let there = net.analyze("i-a", "10.1.0.10");
        assert!(there.reachable, "{}", there.reason);
        assert_eq!(
            there.reason,
            "route rtb-a → pcx-ab (active) and back via rtb-b → pcx-ab (active); sg-b allows ICMP from 10.0.0.0/8"
        );
        let back = net.analyze("i-b", "10.0.0.10");
        assert!(back.reachable, "{}", back.reason);
    }

    #[test]
    fn transitive_peering_through_a_misdirected_route() {
        // A↔B and B↔C, and A's table sends C's range to B hoping B forwards it.
        let net = peered_pair()
            .vpc("c", "10.2.0.0/16")
            .instance("c", "c", "10.2.0.10")
            .peer("b", "c", "active")
            .peer_routes("b", "c")
            .route(
                "rtb-a",
                "10.2.0.0/16",
                RouteTarget::Peering("pcx-ab".into()),
            )
            .route(
                "rtb-c",
                "10.0.0.0/16",
                RouteTarget::Peering("pcx-bc".into()),
            );
        assert_blocked(
            net.analyze("i-a", "10.2.0.10"),
            "transitive peering via vpc-b is not routed by AWS: rtb-a sends 10.2.0.10 over pcx-ab, which ends in vpc-b, but the address is in vpc-c",
        );
        assert!(net.analyze("i-b", "10.2.0.10").reachable);
    }

    #[test]
    fn transitive_peering_without_any_route() {
        let net = peered_pair()
            .vpc("c", "10.2.0.0/16")
            .instance("c", "c", "10.2.0.10")
            .peer("b", "c", "active")
            .peer_routes("b", "c");
        assert_blocked(
            net.analyze("i-a", "10.2.0.10"),
            "no route to 10.2.0.10 in rtb-a of subnet-a (VPC vpc-a, account 111111111111); transitive peering via vpc-b is not routed by AWS",
        );
    }

    #[test]
    fn missing_return_route() {
        let mut net = peered_pair();
        net.table("rtb-b")
            .routes
            .retain(|r| r.target == RouteTarget::Local);
        assert_blocked(
            net.analyze("i-a", "10.1.0.10"),
            "return path: no route to 10.0.0.10 in rtb-b of subnet-b (VPC vpc-b, account 222222222222)",
        );
    }

    #[test]
    fn default_route_to_internet_gateway_does_not_reach_a_peer() {
        let mut net =
            peered_pair().route("rtb-a", "0.0.0.0/0", RouteTarget::Gateway("igw-a".into()));
        net.table("rtb-a")
            .routes
            .retain(|r| r.target != RouteTarget::Peering("pcx-ab".into()));
        assert_blocked(
            net.analyze("i-a", "10.1.0.10"),
            "no route to 10.1.0.10 in rtb-a of subnet-a (VPC vpc-a, account 111111111111): only 0.0.0.0/0 → igw-a matches, and an internet gateway does not carry private addresses",
        );
    }

    #[test]
    fn unanalysed_route_targets_are_not_assumed_to_deliver() {
        let mut net = peered_pair();
        net.table("rtb-a").routes[1].target = RouteTarget::Other("tgw-0123".into());
        assert_blocked(
            net.analyze("i-a", "10.1.0.10"),
            "route 10.1.0.0/16 in rtb-a of subnet-a (VPC vpc-a, account 111111111111) sends 10.1.0.10 to tgw-0123; only local and peering routes are analysed, so delivery is not confirmed",
        );
    }

    #[test]
    fn security_group_without_icmp_blocks() {
        let mut net = peered_pair();
        net.group("sg-b").ingress = vec![SgRule {
            protocol: "tcp".into(),
            from_port: Some(22),
            to_port: Some(22),
            cidrs: vec![cidr("10.0.0.0/8")],
            source_groups: vec![],
        }];
        assert_blocked(
            net.analyze("i-a", "10.1.0.10"),
            "security group sg-b of i-b (account 222222222222) does not allow inbound ICMP from 10.0.0.10",
        );
    }

    #[test]
    fn security_group_icmp_types_other_than_echo_request_block() {
        let mut net = peered_pair();
        // Type 0 is echo reply: allows answers to b's pings, not pings to b.
        net.group("sg-b").ingress = vec![SgRule {
            protocol: "1".into(),
            from_port: Some(0),
            to_port: Some(-1),
            cidrs: vec![cidr("10.0.0.0/16")],
            source_groups: vec![],
        }];
        assert!(!net.analyze("i-a", "10.1.0.10").reachable);
        net.group("sg-b").ingress[0].from_port = Some(8);
        assert!(net.analyze("i-a", "10.1.0.10").reachable);
    }

    #[test]
    fn security_group_reference_admits_the_peer_group() {
        let mut net = peered_pair();
        net.group("sg-b").ingress = vec![SgRule {
            protocol: "-1".into(),
            from_port: None,
            to_port: None,
            cidrs: vec![],
            source_groups: vec!["sg-a".into()],
        }];
        let verdict = net.analyze("i-a", "10.1.0.10");
        assert!(verdict.reachable, "{}", verdict.reason);
        assert!(
            verdict.reason.ends_with("sg-b allows ICMP from sg-a"),
            "{}",
            verdict.reason
        );
    }

    #[test]
    fn several_security_groups_are_all_consulted() {
        let mut net = peered_pair();
        net.topo.security_groups.push(SecurityGroup {
            id: "sg-b-web".into(),
            ingress: vec![],
            egress: vec![],
        });
        net.topo.instances[1].security_group_ids = vec!["sg-b-web".into(), "sg-b".into()];
        assert!(net.analyze("i-a", "10.1.0.10").reachable);
        net.group("sg-b").ingress.clear();
        assert_blocked(
            net.analyze("i-a", "10.1.0.10"),
            "security groups sg-b-web, sg-b of i-b (account 222222222222) do not allow inbound ICMP from 10.0.0.10",
        );
    }

    #[test]
    fn security_group_missing_from_topology_is_not_blamed_on_others() {
        let mut net = peered_pair();
        net.group("sg-b").ingress.clear();
        net.topo.instances[1]
            .security_group_ids
            .push("sg-unseen".into());
        assert_blocked(
            net.analyze("i-a", "10.1.0.10"),
            "security group sg-unseen of i-b (account 222222222222) is not in the topology, so inbound ICMP from 10.0.0.10 cannot be confirmed",
        );
    }

    #[test]
    fn source_security_group_egress_blocks() {
        let mut net = peered_pair();
        net.group("sg-a").egress = vec![];
        assert_blocked(
            net.analyze("i-a", "10.1.0.10"),
            "security group sg-a of i-a (account 111111111111) does not allow outbound ICMP to 10.1.0.10",
        );
    }

    #[test]
    fn replies_need_no_security_group_rule() {
        // b admits nothing from a's side besides the echo, and a admits nothing at all.
        let mut net = peered_pair();
        net.group("sg-a").ingress = vec![];
        assert!(net.analyze("i-a", "10.1.0.10").reachable);
    }

    #[test]
    fn pending_peering_blocks() {
        let mut net = peered_pair();
        net.topo.peerings[0].status = "pending-acceptance".into();
        assert_blocked(
            net.analyze("i-a", "10.1.0.10"),
            "peering pcx-ab is pending-acceptance (to be accepted from VPC vpc-b, account 222222222222)",
        );
    }

    #[test]
    fn blackhole_route_blocks_even_when_a_wider_route_would_work() {
        let mut net = peered_pair();
        net.table("rtb-a").routes.push(Route {
            destination: cidr("10.1.0.0/24"),
            target: RouteTarget::Peering("pcx-deleted".into()),
            blackhole: true,
        });
        assert_blocked(
            net.analyze("i-a", "10.1.0.10"),
            "route 10.1.0.0/24 → pcx-deleted in rtb-a of subnet-a (VPC vpc-a, account 111111111111) is a blackhole (its target no longer exists)",
        );
    }

    #[test]
    fn explicit_route_table_association_overrides_the_main_table() {
        // subnet-a-private is explicitly tied to a table without the peering
        // route; subnet-a-public falls back to the main table, which has it.
        let mut net = peered_pair()
            .subnet("subnet-a-private", "a", "10.0.1.0/24")
            .subnet("subnet-a-public", "a", "10.0.2.0/24")
            .instance_in("private", "a", "subnet-a-private", "10.0.1.10")
            .instance_in("public", "a", "subnet-a-public", "10.0.2.10");
        net.topo.route_tables.push(RouteTable {
            id: "rtb-a-private".into(),
            vpc_id: "vpc-a".into(),
            main: false,
            subnet_ids: vec!["subnet-a-private".into()],
            routes: vec![Route {
                destination: cidr("10.0.0.0/16"),
                target: RouteTarget::Local,
                blackhole: false,
            }],
        });
        assert_blocked(
            net.analyze("i-private", "10.1.0.10"),
            "no route to 10.1.0.10 in rtb-a-private of subnet-a-private (VPC vpc-a, account 111111111111)",
        );
        let public = net.analyze("i-public", "10.1.0.10");
        assert!(public.reachable, "{}", public.reason);
        assert!(
            public.reason.starts_with("route rtb-a → pcx-ab"),
            "{}",
            public.reason
        );
    }

    #[test]
    fn network_acl_deny_wins_by_rule_order() {
        let mut net = peered_pair();
        // Listed out of order on purpose: evaluation goes by rule number.
        net.acl("acl-b")
            .entries
            .insert(0, acl_entry(90, false, "1", "10.0.0.0/16", false));
        assert_blocked(
            net.analyze("i-a", "10.1.0.10"),
            "network ACL acl-b of subnet-b denies inbound ICMP from 10.0.0.10 (rule 90)",
        );
        // A lower-numbered allow takes precedence over the deny.
        net.acl("acl-b")
            .entries
            .push(acl_entry(80, false, "icmp", "10.0.0.10/32", true));
        assert!(net.analyze("i-a", "10.1.0.10").reachable);
    }

    #[test]
    fn network_acls_are_stateless_so_the_reply_is_checked() {
        let mut net = peered_pair();
        net.acl("acl-b").entries = vec![
            acl_entry(100, false, "-1", "0.0.0.0/0", true),
            acl_entry(100, true, "6", "0.0.0.0/0", true),
        ];
        assert_blocked(
            net.analyze("i-a", "10.1.0.10"),
            "return path: network ACL acl-b of subnet-b denies outbound ICMP to 10.0.0.10 (no rule matches; implicit deny)",
        );
    }

    #[test]
    fn explicitly_associated_network_acl_replaces_the_default() {
        let mut net = peered_pair();
        net.topo.network_acls.push(NetworkAcl {
            id: "acl-strict".into(),
            vpc_id: "vpc-a".into(),
            subnet_ids: vec!["subnet-a".into()],
            is_default: false,
            entries: vec![acl_entry(100, true, "-1", "0.0.0.0/0", false)],
        });
        assert_blocked(
            net.analyze("i-a", "10.1.0.10"),
            "network ACL acl-strict of subnet-a denies outbound ICMP to 10.1.0.10 (rule 100)",
        );
    }

    #[test]
    fn network_acls_do_not_apply_within_a_subnet() {
        let mut net = Net::default()
            .vpc("a", "10.0.0.0/16")
            .instance("a", "a", "10.0.0.10")
            .instance("a2", "a", "10.0.0.20");
        net.acl("acl-a").entries.clear();
        assert!(net.analyze("i-a", "10.0.0.20").reachable);
    }

    #[test]
    fn unknown_destination_ip() {
        let mut net = peered_pair();
        assert_blocked(
            net.analyze("i-a", "10.1.0.99"),
            "no instance has 10.1.0.99 (the address is in subnet-b of vpc-b)",
        );
        assert_blocked(
            net.analyze("i-a", "192.168.0.1"),
            "no instance has 192.168.0.1",
        );
        net.topo.subnets.retain(|s| s.id != "subnet-b");
        assert_blocked(
            net.analyze("i-a", "10.1.0.99"),
            "no instance has 10.1.0.99 (the address is in the range of vpc-b, outside all its subnets)",
        );
    }

    #[test]
    fn unknown_or_stopped_instances() {
        let mut net = peered_pair();
        assert_blocked(
            net.analyze("i-missing", "10.1.0.10"),
            "source instance i-missing is not in the topology",
        );
        net.topo.instances[1].state = "stopped".into();
        assert_blocked(
            net.analyze("i-a", "10.1.0.10"),
            "i-b (10.1.0.10, account 222222222222) is stopped, not running",
        );
    }

    #[test]
    fn overlapping_address_is_resolved_by_routing() {
        // vpc-c reuses vpc-b's range but is not peered; the echo must land on i-b.
        let net = peered_pair()
            .vpc("c", "10.1.0.0/16")
            .instance("c", "c", "10.1.0.10");
        let verdict = net.analyze("i-a", "10.1.0.10");
        assert!(verdict.reachable, "{}", verdict.reason);
        assert!(verdict.reason.contains("sg-b allows"), "{}", verdict.reason);
    }

    #[test]
    fn local_route_keeps_an_address_inside_the_vpc() {
        // 10.0.0.99 exists only in an unpeered VPC with a range overlapping vpc-a.
        let net = peered_pair()
            .vpc("c", "10.0.0.0/16")
            .instance("c", "c", "10.0.0.99");
        assert_blocked(
            net.analyze("i-a", "10.0.0.99"),
            "rtb-a → local delivers 10.0.0.99 into vpc-a, but no instance there has that address",
        );
    }

    #[test]
    fn verdict_serializes() {
        let json = serde_json::to_string(&peered_pair().analyze("i-a", "10.9.9.9")).unwrap();
        assert_eq!(
            json,
            r#"{"reachable":false,"reason":"no instance has 10.9.9.9"}"#
        );
    }
}
