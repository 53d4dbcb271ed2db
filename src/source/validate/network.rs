//! The network the pipeline builds: `networks:` (address ranges), `peerings:` between them, and
//! the `verify:` checks of who reaches whom.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::problems::Cx;
use super::{Known, refs};
use crate::model::cidr::Cidr;
use crate::model::plan::{CheckPlan, Expectation, PeeringPlan, Target};
use crate::model::roles::VERIFY_TAG;
use crate::source::stagefile::{CheckEntry, NetworkEntry, PeeringEntry, VerifyEntry};

/// Every network whose range parses.
pub(super) fn networks(
    cx: &mut Cx,
    raw: &BTreeMap<String, NetworkEntry>,
) -> BTreeMap<String, Cidr> {
    let mut out = BTreeMap::new();
    for (name, entry) in raw {
        match entry.cidr.parse::<Cidr>() {
            Ok(c) => {
                out.insert(name.clone(), c);
            }
            Err(e) => cx
                .at(cx.line_of(name, None, 1))
                .field(format!("networks.{name}.cidr"))
                .report(
                    format!("'{}' is not an IPv4 CIDR: {e}", entry.cidr),
                    "write it as a.b.c.d/n, e.g. 10.0.0.0/16",
                ),
        }
    }
    out
}

/// Peerings join two declared, disjoint networks; the connection is a stage output.
pub(super) fn peerings(cx: &mut Cx, known: &Known, raw: &[PeeringEntry]) -> Vec<PeeringPlan> {
    // Peerings have no name to find them by: problems point at the first `between:`.
    let peerings_line = cx.line_of("peerings", None, 1).unwrap_or(1);
    let line = cx.line_of("between", None, peerings_line);
    raw.iter()
        .enumerate()
        .filter_map(|(k, p)| peering(cx, known, &format!("peerings[{k}]"), p, line))
        .collect()
}

fn peering(
    cx: &mut Cx,
    known: &Known,
    field: &str,
    p: &PeeringEntry,
    line: Option<usize>,
) -> Option<PeeringPlan> {
    let between = format!("{field}.between");
    if p.between.len() != 2 {
        cx.at(line).field(&between).report(
            "a peering joins exactly two networks",
            "write `between: [NetA, NetB]`",
        );
        return None;
    }
    let mut cidrs = Vec::new();
    for n in &p.between {
        match known.networks.get(n) {
            Some(c) => cidrs.push(*c),
            None => cx.at(line).field(&between).report(
                format!("network '{n}' is not declared"),
                "declare it under `networks:` with its cidr",
            ),
        }
    }
    if let [a, b] = cidrs.as_slice()
        && a.overlaps(b)
    {
        cx.at(line).field(&between).report(
            format!(
                "{} ({a}) and {} ({b}) overlap; AWS refuses to peer overlapping VPCs",
                p.between[0], p.between[1]
            ),
            "give the two networks disjoint ranges under `networks:`",
        );
    }
    let connection = p
        .connection
        .as_deref()
        .and_then(|c| connection(cx, known, field, c, line));
    if p.allow_dns_resolution && connection.is_none() {
        cx.at(line)
            .field(format!("{field}.allow_dns_resolution"))
            .report(
                "DNS resolution needs to know which peering to change",
                "add `connection: Stage.Output` naming the peering id",
            );
    }
    Some(PeeringPlan {
        connection,
        allow_dns_resolution: p.allow_dns_resolution,
    })
}

/// `connection: Stage.Output`, the output holding the peering connection id.
fn connection(
    cx: &mut Cx,
    known: &Known,
    field: &str,
    c: &str,
    line: Option<usize>,
) -> Option<(String, String)> {
    let field = format!("{field}.connection");
    let Some((stage, output)) = c.split_once('.') else {
        cx.at(line).field(field).report(
            format!("'{c}' is not Stage.Output"),
            "name the output holding the peering id, e.g. CrossAccountPeering.PeeringConnectionId",
        );
        return None;
    };
    let at = cx.at(cx.line_of("connection", None, line.unwrap_or(1)));
    refs::check_output(
        at.stage("(peerings)").field(field),
        known,
        None,
        stage,
        output,
    );
    Some((stage.to_string(), output.to_string()))
}

/// The `verify:` checks, with the defaults of `verify:` filled in.
pub(super) fn checks(cx: &mut Cx, known: &Known, verify: Option<&VerifyEntry>) -> Vec<CheckPlan> {
    let Some(verify) = verify else {
        return Vec::new();
    };
    let defaults = (
        verify.count.unwrap_or(3),
        verify.timeout_seconds.unwrap_or(2),
    );
    let verify_line = cx.line_of("verify", None, 1).unwrap_or(1);
    let mut out = Vec::new();
    for (k, c) in verify.checks.iter().enumerate() {
        let line = cx.line_of("from", Some(&c.from), verify_line);
        out.extend(check(
            cx,
            known,
            &format!("verify.checks[{k}]"),
            c,
            line,
            defaults,
        ));
    }
    out
}

fn check(
    cx: &mut Cx,
    known: &Known,
    field: &str,
    c: &CheckEntry,
    line: Option<usize>,
    (default_count, default_timeout): (u32, u32),
) -> Option<CheckPlan> {
    let expect = match c.expect.as_str() {
        "reachable" => Expectation::Reachable,
        "unreachable" => Expectation::Unreachable,
        other => {
            cx.at(line).field(format!("{field}.expect")).report(
                format!("'{other}' is not an expectation"),
                "use `reachable` or `unreachable`",
            );
            return None;
        }
    };
    let Some((from_stage, from_output)) = c.from.split_once('.') else {
        cx.at(line).field(format!("{field}.from")).report(
            format!("'{}' is not Stage.Output", c.from),
            "name the output holding the instance id, e.g. VpcA.InstanceAId",
        );
        return None;
    };
    let at = cx.at(line).stage("(verify)").field(format!("{field}.from"));
    refs::check_output(at, known, None, from_stage, from_output);
    untagged_source(cx, known, &format!("{field}.from"), c, line);
    let to = check_target(cx, known, field, c, line)?;
    let count = c.count.unwrap_or(default_count);
    let timeout_seconds = c.timeout_seconds.unwrap_or(default_timeout);
    if !(1..=100).contains(&count) || !(1..=60).contains(&timeout_seconds) {
        cx.at(line).field(field).report(
            "count must be 1..100 and timeout_seconds 1..60",
            "use small values, e.g. count: 3, timeout_seconds: 2",
        );
    }
    Some(CheckPlan {
        name: c
            .name
            .clone()
            .unwrap_or_else(|| format!("{} → {}", c.from, c.to)),
        from_stage: from_stage.to_string(),
        from_output: from_output.to_string(),
        to,
        expect,
        count,
        timeout_seconds,
    })
}

/// A check pinging from an instance its stage's template declares without the verification tag:
/// the deploy role may send the ping document only to tagged instances, so SSM would refuse it.
fn untagged_source(cx: &mut Cx, known: &Known, field: &str, c: &CheckEntry, line: Option<usize>) {
    let Some((stage, output)) = c.from.split_once('.') else {
        return;
    };
    let Some(Some(t)) = known.names.get(stage).and_then(|j| known.templates.get(j)) else {
        return;
    };
    if let Some(instance) = t.untagged_instance_outputs.get(output) {
        cx.at(line).stage("(verify)").field(field).report(
            format!(
                "'{}' is instance {instance} of template {}, which lacks the tag {VERIFY_TAG}=true: the deploy role may ping only from instances carrying it",
                c.from,
                t.path.display()
            ),
            format!(
                "add `{{Key: '{VERIFY_TAG}', Value: 'true'}}` to the Tags of {instance} in {}",
                t.path.display()
            ),
        );
    }
}

/// `to:`: an IPv4 address, or `Stage.Output` (a dotted text that is no address).
fn check_target(
    cx: &mut Cx,
    known: &Known,
    field: &str,
    c: &CheckEntry,
    line: Option<usize>,
) -> Option<Target> {
    if let Ok(ip) = c.to.parse::<Ipv4Addr>() {
        return Some(Target::Ip(ip));
    }
    let output =
        c.to.split_once('.')
            .filter(|(s, _)| known.names.contains(s) || !s.chars().all(|ch| ch.is_ascii_digit()));
    let Some((stage, output)) = output else {
        cx.at(line).field(format!("{field}.to")).report(
            format!("'{}' is neither an IPv4 address nor Stage.Output", c.to),
            "use e.g. 10.2.0.10 or VpcC.InstanceCPrivateIp",
        );
        return None;
    };
    let at = cx.at(line).stage("(verify)").field(format!("{field}.to"));
    refs::check_output(at, known, None, stage, output);
    Some(Target::Output {
        stage: stage.to_string(),
        output: output.to_string(),
    })
}
