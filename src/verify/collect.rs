//! Reads the network of every environment of the plan from EC2, through each account's lookup
//! role, into one `Topology` for the static analysis.

use std::fmt;
use std::sync::Arc;

use anyhow::anyhow;
use tokio::task::JoinSet;

use crate::aws::Aws;
use crate::aws::errors::describe_sdk_error;
use crate::error::summary_of;
use crate::model::env::Environment;
use crate::model::plan::Plan;

use super::merge::{Described, fill_peering_cidrs, merge};
use super::reachability::Topology;

/// Why the static analysis has no network to look at.
#[derive(Debug)]
pub(crate) enum NetworkError {
    /// Environments whose network could not be read, in plan order.
    Unreadable(Vec<Unreadable>),
    /// Ctrl-C stopped the reading.
    Interrupted,
    /// The reading task itself failed.
    Internal(String),
}

/// One environment that could not be read (or a reading task that failed), and why.
#[derive(Debug)]
pub(crate) struct Unreadable {
    /// `None` for a reading task that failed before it could say which environment.
    env: Option<Environment>,
    error: anyhow::Error,
}

impl Unreadable {
    fn what(&self) -> String {
        match &self.env {
            Some(env) => format!("cannot read the EC2 network of {env}"),
            None => "internal error".to_string(),
        }
    }
}

impl NetworkError {
    /// One line: what went wrong, without the fixes (the warning shows them once).
    pub(crate) fn summary(&self) -> String {
        match self {
            NetworkError::Unreadable(envs) => envs
                .iter()
                .map(|u| format!("{}: {}", u.what(), summary_of(&u.error)))
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        }
    }
}

/// One line per unreadable environment, each possibly followed by indented fix lines.
impl fmt::Display for NetworkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkError::Unreadable(envs) => {
                let lines: Vec<String> = envs
                    .iter()
                    .map(|u| format!("{}: {:#}", u.what(), u.error))
                    .collect();
                f.write_str(&lines.join("\n"))
            }
            NetworkError::Interrupted => {
                f.write_str("interrupted (Ctrl-C) before the network was read")
            }
            NetworkError::Internal(e) => write!(f, "internal error while reading the network: {e}"),
        }
    }
}

/// One topology from every environment of the plan, read concurrently. Any environment that
/// cannot be read makes the whole topology unusable: a network with one account missing would
/// explain verdicts with "no instance has 10.2.1.10" instead of the real cause.
pub(crate) async fn topology(plan: Arc<Plan>, aws: Arc<Aws>) -> Result<Topology, NetworkError> {
    let mut tasks = JoinSet::new();
    for (order, env) in plan.environments().into_iter().enumerate() {
        let (plan, aws) = (plan.clone(), aws.clone());
        tasks.spawn(async move {
            let described = describe(&plan, &aws, &env).await;
            (order, env, described)
        });
    }
    let mut described = Vec::new();
    let mut failures = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((order, env, Ok(d))) => described.push((order, env, d)),
            Ok((order, env, Err(error))) => failures.push((
                order,
                Unreadable {
                    env: Some(env),
                    error,
                },
            )),
            Err(e) => failures.push((
                usize::MAX,
                Unreadable {
                    env: None,
                    error: anyhow!("{e}"),
                },
            )),
        }
    }
    if !failures.is_empty() {
        failures.sort_by_cached_key(|(order, u)| (*order, format!("{}: {:#}", u.what(), u.error)));
        return Err(NetworkError::Unreadable(
            failures.into_iter().map(|(_, u)| u).collect(),
        ));
    }
    described.sort_by_key(|(order, _, _)| *order);
    let mut topo = Topology::default();
    for (_, env, d) in &described {
        merge(&mut topo, d, &env.account);
    }
    fill_peering_cidrs(&mut topo);
    Ok(topo)
}

async fn describe(plan: &Plan, aws: &Aws, env: &Environment) -> anyhow::Result<Described> {
    let cfg = aws
        .role(
            &plan.roles_in(env).lookup,
            env,
            &plan.qualifier,
            "read the network for the static reachability analysis",
        )
        .await?;
    let client = aws.ec2(&cfg);
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
                    .map_err(|e| anyhow!("{}: {}", $name, describe_sdk_error(&e)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ExitKind, fail_fix};

    fn env(account: &str) -> Environment {
        Environment::new(account, "ap-northeast-1").unwrap()
    }

    #[test]
    fn an_unreadable_network_shows_its_fixes_in_full_and_only_the_headlines_in_the_summary() {
        let e = NetworkError::Unreadable(vec![
            Unreadable {
                env: Some(env("111111111111")),
                error: fail_fix(
                    ExitKind::Credentials,
                    "cannot assume role R as C (needed to read): AccessDenied: no",
                    "bootstrap it:\n       pipeline-run bootstrap ...",
                ),
            },
            Unreadable {
                env: Some(env("222222222222")),
                error: anyhow!("DescribeVpcs: UnauthorizedOperation: denied"),
            },
        ]);
        assert_eq!(
            e.to_string(),
            "cannot read the EC2 network of aws://111111111111/ap-northeast-1: cannot assume role R as C (needed to read): AccessDenied: no\n  fix: bootstrap it:\n       pipeline-run bootstrap ...\ncannot read the EC2 network of aws://222222222222/ap-northeast-1: DescribeVpcs: UnauthorizedOperation: denied"
        );
        assert_eq!(
            e.summary(),
            "cannot read the EC2 network of aws://111111111111/ap-northeast-1: cannot assume role R as C (needed to read): AccessDenied: no; cannot read the EC2 network of aws://222222222222/ap-northeast-1: DescribeVpcs: UnauthorizedOperation: denied"
        );
        assert_eq!(
            NetworkError::Interrupted.summary(),
            "interrupted (Ctrl-C) before the network was read"
        );
    }
}
