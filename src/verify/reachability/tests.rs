use super::*;
use crate::model::cidr::Cidr;

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
    let mut net = peered_pair().route("rtb-a", "0.0.0.0/0", RouteTarget::Gateway("igw-a".into()));
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
