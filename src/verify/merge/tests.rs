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

fn instance(name: &str, state: ec2::InstanceStateName, ip: &str) -> ec2::builders::InstanceBuilder {
    ec2::Instance::builder()
        .instance_id(format!("i-{name}"))
        .vpc_id(format!("vpc-{name}"))
        .subnet_id(format!("subnet-{name}"))
        .private_ip_address(ip)
        .state(ec2::InstanceState::builder().name(state).build())
}

/// The running instance `i-{name}` and a terminated one that held the same address.
fn reservation(account: &str, name: &str, ip: &str) -> ec2::Reservation {
    ec2::Reservation::builder()
        .owner_id(account)
        .instances(
            instance(name, ec2::InstanceStateName::Running, ip)
                .security_groups(
                    ec2::GroupIdentifier::builder()
                        .group_id(format!("sg-{name}"))
                        .build(),
                )
                .build(),
        )
        // Terminated instances keep showing up for a while; they hold no address.
        .instances(
            instance(name, ec2::InstanceStateName::Terminated, ip)
                .instance_id(format!("i-{name}-old"))
                .build(),
        )
        .build()
}

fn local_route(vpc_cidr: &str) -> ec2::Route {
    ec2::Route::builder()
        .destination_cidr_block(vpc_cidr)
        .gateway_id("local")
        .build()
}

/// The main table (local route only) and the subnet's own table with `routes`.
fn route_tables(name: &str, vpc_cidr: &str, routes: Vec<ec2::Route>) -> Vec<ec2::RouteTable> {
    let vpc = format!("vpc-{name}");
    vec![
        ec2::RouteTable::builder()
            .route_table_id(format!("rtb-{name}-main"))
            .vpc_id(&vpc)
            .associations(assoc(None, true))
            .routes(local_route(vpc_cidr))
            .build(),
        ec2::RouteTable::builder()
            .route_table_id(format!("rtb-{name}"))
            .vpc_id(&vpc)
            .associations(assoc(Some(&format!("subnet-{name}")), false))
            .set_routes(Some(
                std::iter::once(local_route(vpc_cidr))
                    .chain(routes)
                    .collect(),
            ))
            .build(),
    ]
}

fn acl_entry(rule: i32, egress: bool) -> ec2::builders::NetworkAclEntryBuilder {
    ec2::NetworkAclEntry::builder()
        .rule_number(rule)
        .egress(egress)
        .protocol("-1")
        .rule_action(ec2::RuleAction::Allow)
}

/// The default ACL of the subnet: everything allowed both ways, plus an IPv6 entry.
fn network_acl(name: &str) -> ec2::NetworkAcl {
    ec2::NetworkAcl::builder()
        .network_acl_id(format!("acl-{name}"))
        .vpc_id(format!("vpc-{name}"))
        .is_default(true)
        .associations(
            ec2::NetworkAclAssociation::builder()
                .subnet_id(format!("subnet-{name}"))
                .build(),
        )
        .entries(acl_entry(100, false).cidr_block("0.0.0.0/0").build())
        .entries(acl_entry(100, true).cidr_block("0.0.0.0/0").build())
        // IPv6 entries carry no IPv4 CIDR.
        .entries(acl_entry(101, false).ipv6_cidr_block("::/0").build())
        .build()
}

/// One account's side of the B ↔ C network as EC2 would describe it.
fn side(
    account: &str,
    name: &str,
    (vpc_cidr, subnet_cidr, ip): (&str, &str, &str),
    routes: Vec<ec2::Route>,
    peering: ec2::VpcPeeringConnection,
) -> Described {
    let vpc = format!("vpc-{name}");
    Described {
        reservations: vec![reservation(account, name, ip)],
        subnets: vec![
            ec2::Subnet::builder()
                .subnet_id(format!("subnet-{name}"))
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
        route_tables: route_tables(name, vpc_cidr, routes),
        peerings: vec![peering],
        security_groups: vec![
            ec2::SecurityGroup::builder()
                .group_id(format!("sg-{name}"))
                .vpc_id(&vpc)
                .ip_permissions(icmp_from("10.0.0.0/8"))
                .ip_permissions_egress(all_out())
                .build(),
        ],
        network_acls: vec![network_acl(name)],
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
        ("10.1.0.0/16", "10.1.1.0/24", "10.1.1.10"),
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
        ("10.2.0.0/16", "10.2.1.0/24", "10.2.1.10"),
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
        ("10.1.0.0/16", "10.1.1.0/24", "10.1.1.10"),
        vec![to_pcx("10.2.0.0/16", "pcx-bc")],
        pending.clone(),
    );
    let c = side(
        "222222222222",
        "c",
        ("10.2.0.0/16", "10.2.1.0/24", "10.2.1.10"),
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
