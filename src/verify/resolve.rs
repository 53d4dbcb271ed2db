//! A check resolved through stage outputs: the instance to ping from, the address to ping, and
//! the environment whose deploy role runs the command.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;

use tokio::task::JoinSet;

use crate::model::env::Environment;
use crate::model::plan::{CheckPlan, Plan, Target};

use super::StageOutputs;

/// A check with its stage outputs read: what to ping from, what to ping, and where it runs.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub(crate) instance: String,
    pub(crate) ip: Ipv4Addr,
    pub(crate) env: Environment,
}

/// Why a check could not be resolved; it fails with this as its problem.
#[derive(Debug, Clone)]
pub(crate) enum Unresolved {
    /// The check names a stage the stage file does not have.
    NoStage(String),
    /// The outputs of a stage could not be read (not deployed, failed, no access).
    Outputs(Arc<anyhow::Error>),
    /// The task reading the outputs of this stage ended without a result.
    Unread(String),
    NoOutput {
        stage: String,
        output: String,
        known: Vec<String>,
    },
    NotAnInstance {
        stage: String,
        output: String,
        value: String,
    },
    NotAnAddress {
        stage: String,
        output: String,
        value: String,
    },
    /// Ctrl-C stopped the reading of the outputs.
    Interrupted,
}

impl fmt::Display for Unresolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unresolved::NoStage(stage) => write!(f, "the stage file has no stage {stage}"),
            Unresolved::Outputs(e) => write!(f, "{e:#}"),
            Unresolved::Unread(stage) => {
                write!(f, "the outputs of stage {stage} could not be read")
            }
            Unresolved::NoOutput {
                stage,
                output,
                known,
            } => write!(
                f,
                "stage {stage} has no output {output} (it has: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
            Unresolved::NotAnInstance {
                stage,
                output,
                value,
            } => write!(
                f,
                "from: {stage}.{output} is {value:?}, not an EC2 instance id (i-…)"
            ),
            Unresolved::NotAnAddress {
                stage,
                output,
                value,
            } => write!(f, "to: {stage}.{output} is {value:?}, not an IPv4 address"),
            Unresolved::Interrupted => {
                f.write_str("interrupted (Ctrl-C) before the check's stage outputs were read")
            }
        }
    }
}

impl std::error::Error for Unresolved {}

/// The outputs of each stage the checks name, or why they could not be read.
type ReadOutputs = HashMap<String, Result<BTreeMap<String, String>, Unresolved>>;

/// Reads the outputs of every stage the checks name (each stage once, all at the same time),
/// then resolves each check.
pub(crate) async fn resolve_all(
    plan: &Arc<Plan>,
    outputs: &Arc<dyn StageOutputs>,
) -> Vec<Result<Resolved, Unresolved>> {
    let mut stages: Vec<String> = Vec::new();
    for check in &plan.checks {
        stages.push(check.from_stage.clone());
        if let Target::Output { stage, .. } = &check.to {
            stages.push(stage.clone());
        }
    }
    stages.sort();
    stages.dedup();
    let mut reads = JoinSet::new();
    for name in stages {
        let (plan, outputs) = (plan.clone(), outputs.clone());
        reads.spawn(async move {
            let read = match plan.stage_index(&name) {
                Some(i) => outputs
                    .outputs_of(&plan.stages[i])
                    .await
                    .map_err(|e| Unresolved::Outputs(Arc::new(e))),
                None => Err(Unresolved::NoStage(name.clone())),
            };
            (name, read)
        });
    }
    let mut read = ReadOutputs::new();
    while let Some(joined) = reads.join_next().await {
        if let Ok((name, o)) = joined {
            read.insert(name, o);
        }
    }
    plan.checks
        .iter()
        .map(|check| {
            let env = plan
                .stage_index(&check.from_stage)
                .map(|i| plan.stages[i].env.clone())
                .ok_or_else(|| Unresolved::NoStage(check.from_stage.clone()))?;
            resolve_check(check, env, &read)
        })
        .collect()
}

fn resolve_check(
    check: &CheckPlan,
    env: Environment,
    outputs: &ReadOutputs,
) -> Result<Resolved, Unresolved> {
    let instance = output_value(outputs, &check.from_stage, &check.from_output)?;
    if !instance.starts_with("i-") {
        return Err(Unresolved::NotAnInstance {
            stage: check.from_stage.clone(),
            output: check.from_output.clone(),
            value: instance.to_string(),
        });
    }
    let ip = match &check.to {
        Target::Ip(ip) => *ip,
        Target::Output { stage, output } => {
            let value = output_value(outputs, stage, output)?;
            value.trim().parse().map_err(|_| Unresolved::NotAnAddress {
                stage: stage.clone(),
                output: output.clone(),
                value: value.to_string(),
            })?
        }
    };
    Ok(Resolved {
        instance: instance.to_string(),
        ip,
        env,
    })
}

fn output_value<'a>(
    outputs: &'a ReadOutputs,
    stage: &str,
    output: &str,
) -> Result<&'a str, Unresolved> {
    match outputs.get(stage) {
        Some(Ok(values)) => {
            values
                .get(output)
                .map(String::as_str)
                .ok_or_else(|| Unresolved::NoOutput {
                    stage: stage.to_string(),
                    output: output.to_string(),
                    known: values.keys().cloned().collect(),
                })
        }
        Some(Err(e)) => Err(e.clone()),
        None => Err(Unresolved::Unread(stage.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::plan::Expectation;

    fn check(to: Target) -> CheckPlan {
        CheckPlan {
            name: "B → C".into(),
            from_stage: "VpcA".into(),
            from_output: "InstanceBId".into(),
            to,
            expect: Expectation::Reachable,
            count: 3,
            timeout_seconds: 2,
        }
    }

    fn env() -> Environment {
        Environment::new("111111111111", "ap-northeast-1").unwrap()
    }

    fn outputs(pairs: &[(&str, &[(&str, &str)])]) -> ReadOutputs {
        pairs
            .iter()
            .map(|(stage, values)| {
                (
                    stage.to_string(),
                    Ok(values
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()),
                )
            })
            .collect()
    }

    fn to_c() -> Target {
        Target::Output {
            stage: "VpcC".into(),
            output: "InstanceCPrivateIp".into(),
        }
    }

    fn to_ip() -> Target {
        Target::Ip(Ipv4Addr::new(10, 0, 1, 10))
    }

    fn problem(o: &ReadOutputs, to: Target) -> String {
        resolve_check(&check(to), env(), o).unwrap_err().to_string()
    }

    #[test]
    fn checks_resolve_through_stage_outputs() {
        let o = outputs(&[
            ("VpcA", &[("InstanceBId", "i-0b")]),
            ("VpcC", &[("InstanceCPrivateIp", "10.2.1.10")]),
        ]);
        let r = resolve_check(&check(to_c()), env(), &o).unwrap();
        assert_eq!(r.instance, "i-0b");
        assert_eq!(r.ip, Ipv4Addr::new(10, 2, 1, 10));
        assert_eq!(r.env, env());
    }

    #[test]
    fn a_target_that_is_not_an_address_is_a_clear_problem() {
        let o = outputs(&[
            ("VpcA", &[("InstanceBId", "i-0b")]),
            (
                "VpcC",
                &[("InstanceCPrivateIp", "ip-10-2-1-10.ec2.internal")],
            ),
        ]);
        assert_eq!(
            problem(&o, to_c()),
            "to: VpcC.InstanceCPrivateIp is \"ip-10-2-1-10.ec2.internal\", not an IPv4 address"
        );
    }

    #[test]
    fn a_missing_output_names_the_outputs_that_exist() {
        let o = outputs(&[("VpcA", &[("InstanceAId", "i-0a")])]);
        assert_eq!(
            problem(&o, to_ip()),
            "stage VpcA has no output InstanceBId (it has: InstanceAId)"
        );
        assert_eq!(
            problem(&outputs(&[("VpcA", &[])]), to_ip()),
            "stage VpcA has no output InstanceBId (it has: none)"
        );
    }

    #[test]
    fn a_source_that_is_not_an_instance_is_refused() {
        let o = outputs(&[("VpcA", &[("InstanceBId", "vpc-0b")])]);
        let e = problem(&o, to_ip());
        assert!(e.contains("not an EC2 instance id"), "{e}");
    }

    #[test]
    fn an_unreadable_stage_carries_its_own_error() {
        let mut o = ReadOutputs::new();
        let not_deployed = anyhow::anyhow!("stage VpcA is not deployed\n  fix: deploy it first");
        o.insert(
            "VpcA".into(),
            Err(Unresolved::Outputs(Arc::new(not_deployed))),
        );
        assert_eq!(
            problem(&o, to_c()),
            "stage VpcA is not deployed\n  fix: deploy it first"
        );
        assert_eq!(
            problem(&ReadOutputs::new(), to_c()),
            "the outputs of stage VpcA could not be read"
        );
    }
}
