//! `Fn::GetStackOutput` uses (`stack_refs`) linked to the stages of a plan: a reference to a
//! stack the plan deploys makes the consumer wait for it, and is checked (the output declared, the
//! role one the plan knows, the stack read where the plan deploys it). No I/O.

use super::plan::Stage;
use super::roles::{BootstrapRole, RoleRef};
use super::stack_refs::{
    Arg, RefRole, StackRef, StackRefUse, literal, role_account, stack_ref_role_arn,
};

/// "Net.VpcId (stage Net; through stack-ref role …)", or why it is not linked.
pub(crate) fn describe<E>(u: &StackRefUse, stages: &[Stage<E>]) -> String {
    let what = match (&u.stack_name, &u.output) {
        (Some(s), Some(o)) => format!("{s}.{o}"),
        (Some(s), None) => format!("{s}.<expression>"),
        _ => "<expression>".to_string(),
    };
    let target = match u.stage {
        Some(j) => format!("stage {}", stages[j].name),
        None => "outside the plan, not checked".to_string(),
    };
    format!("{what} ({target}; through {})", u.role.describe())
}

/// A reference that cannot work, for the source to report where the stage is written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RefProblem {
    pub(crate) stage: usize,
    pub(crate) message: String,
    pub(crate) fix: String,
}

/// Links every stage's `Fn::GetStackOutput` uses to the plan: each stage's `stack_refs` set, a
/// stage reading a stack of the plan made to wait for it (`depends_on`), and every problem found.
pub(crate) fn link(stages: &mut [Stage], qualifier: &str) -> Vec<RefProblem> {
    let mut problems = Vec::new();
    for i in 0..stages.len() {
        let mut uses = Vec::new();
        for r in stages[i].template.stack_refs.clone() {
            let (one, problem) = link_one(stages, i, &r, qualifier);
            problems.extend(problem.map(|(message, fix)| RefProblem {
                stage: i,
                message: format!("{}: {message}", at(&stages[i], &r)),
                fix,
            }));
            if let Some(j) = one.as_ref().and_then(|u| u.stage)
                && !stages[i].depends_on.contains(&j)
            {
                stages[i].depends_on.push(j);
            }
            uses.extend(one);
        }
        stages[i].stack_refs = uses;
    }
    problems
}

fn at(stage: &Stage, r: &StackRef) -> String {
    let line = r.line.map(|l| format!(":{l}")).unwrap_or_default();
    format!(
        "{}{line}: Fn::GetStackOutput in {}",
        stage.template.path.display(),
        r.location
    )
}

type Found = (Option<StackRefUse>, Option<(String, String)>);

fn link_one(stages: &[Stage], i: usize, r: &StackRef, qualifier: &str) -> Found {
    let consumer = &stages[i];
    if let Some(m) = &r.malformed {
        return (
            None,
            Some((
                m.clone(),
                "write it as Fn::GetStackOutput: {StackName: STACK, OutputName: OUTPUT, Region: REGION, RoleArn: ROLE} (Region and RoleArn optional)".to_string(),
            )),
        );
    }
    let text = |a: &Option<Arg>| a.as_ref().and_then(|a| literal(a, &consumer.env));
    let stack_name = text(&r.stack_name);
    let output = text(&r.output_name);
    let role_arn = r.role_arn.as_ref().map(|a| literal(a, &consumer.env));
    let region = match &r.region {
        None => Some(consumer.env.region.to_string()),
        Some(a) => literal(a, &consumer.env),
    };
    let account = match &role_arn {
        None => Some(consumer.env.account.to_string()),
        Some(Some(arn)) => role_account(arn).map(str::to_string),
        Some(None) => None,
    };
    let mut u = StackRefUse {
        location: r.location.clone(),
        stack_name: stack_name.clone(),
        output: output.clone(),
        stage: None,
        role: match &role_arn {
            None => RefRole::ExecutionRole,
            Some(_) => RefRole::Unresolved,
        },
    };
    if let Some(Some(arn)) = &role_arn
        && role_account(arn).is_none()
    {
        let fix = "use the ARN of an IAM role, arn:aws:iam::ACCOUNT:role/NAME".to_string();
        return (
            Some(u),
            Some((format!("RoleArn '{arn}' is not a role ARN"), fix)),
        );
    }
    let Some(name) = stack_name else {
        return (Some(u), None);
    };
    let same_name: Vec<usize> = (0..stages.len())
        .filter(|&j| stages[j].stack_name == name)
        .collect();
    let target = same_name.iter().copied().find(|&j| {
        Some(stages[j].env.region.to_string()) == region
            && Some(stages[j].env.account.to_string()) == account
    });
    let Some(j) = target else {
        return (
            Some(u),
            wrong_place(
                stages, &same_name, &name, &region, &account, &role_arn, qualifier, consumer,
            ),
        );
    };
    if j == i {
        let fix =
            "reference the resource directly (Ref, Fn::GetAtt) instead of the stack's own output"
                .to_string();
        return (
            Some(u),
            Some((format!("stack {name} reads its own output"), fix)),
        );
    }
    u.stage = Some(j);
    check_target(stages, (i, j), u, role_arn, qualifier)
}

/// The checks of a reference to stage `j` of the plan: the output declared, the role known.
fn check_target(
    stages: &[Stage],
    (i, j): (usize, usize),
    mut u: StackRefUse,
    role_arn: Option<Option<String>>,
    qualifier: &str,
) -> Found {
    let consumer = &stages[i];
    let name = &stages[j].stack_name;
    let output = u.output.clone();
    let producer = &stages[j];
    if let Some(o) = &output
        && !producer.template.outputs.contains(o)
    {
        let declared: Vec<&str> = producer
            .template
            .outputs
            .iter()
            .map(String::as_str)
            .collect();
        let fix = if declared.is_empty() {
            format!(
                "declare output {o} in the template of stage {}",
                producer.name
            )
        } else {
            format!("use one of: {}", declared.join(", "))
        };
        return (
            Some(u),
            Some((
                format!(
                    "stage '{}' (stack {name}) has no output '{o}'",
                    producer.name
                ),
                fix,
            )),
        );
    }
    let Some(Some(arn)) = role_arn else {
        return (Some(u), None);
    };
    match known_role(stages, producer, &arn, qualifier) {
        Some(role) => {
            u.role = role;
            (Some(u), None)
        }
        None => {
            let fix = format!(
                "use the stack-ref role {} (pipeline-run bootstrap --trust-for-stack-refs {} {}) or the lookup role {}",
                stack_ref_role_arn(qualifier, &producer.env),
                consumer.env.account,
                producer.env,
                producer.roles.lookup.arn
            );
            (
                Some(u),
                Some((
                    format!(
                        "RoleArn {arn} is not a role of the plan in account {}",
                        producer.env.account
                    ),
                    fix,
                )),
            )
        }
    }
}

/// A reference naming a stack the plan deploys, but elsewhere than where it reads (another
/// account or region, or cross-account without a role); None when no stage deploys that name.
#[allow(clippy::too_many_arguments)]
fn wrong_place(
    stages: &[Stage],
    same_name: &[usize],
    name: &str,
    region: &Option<String>,
    account: &Option<String>,
    role_arn: &Option<Option<String>>,
    qualifier: &str,
    consumer: &Stage,
) -> Option<(String, String)> {
    let (Some(region), Some(account)) = (region, account) else {
        return None;
    };
    let &j = same_name.first()?;
    let producer = &stages[j];
    let places: Vec<String> = same_name
        .iter()
        .map(|&k| stages[k].env.to_string())
        .collect();
    let reads = format!("aws://{account}/{region}");
    let message = format!(
        "it reads stack {name} in {reads}, but the plan deploys {name} in {} (stage {})",
        places.join(", "),
        producer.name
    );
    let fix = if role_arn.is_none() && producer.env.account != consumer.env.account {
        format!(
            "add Region: {} and RoleArn: {} (a stack of another account is read through a role of that account; bootstrap it with --trust-for-stack-refs {})",
            producer.env.region,
            stack_ref_role_arn(qualifier, &producer.env),
            consumer.env.account
        )
    } else {
        format!(
            "set Region: {} and a RoleArn of account {}, or correct StackName",
            producer.env.region, producer.env.account
        )
    };
    Some((message, fix))
}

/// What `arn` is for the producer: its stack-ref role, or a role the plan names in its account.
fn known_role(stages: &[Stage], producer: &Stage, arn: &str, qualifier: &str) -> Option<RefRole> {
    let account = &producer.env.account;
    let stack_ref = stages
        .iter()
        .filter(|s| &s.env.account == account)
        .map(|s| stack_ref_role_arn(qualifier, &s.env))
        .chain([stack_ref_role_arn(qualifier, &producer.env)])
        .find(|a| a == arn);
    if let Some(a) = stack_ref {
        return Some(RefRole::StackRef(a));
    }
    let roles = |s: &Stage| -> Vec<RoleRef> {
        [
            &s.roles.lookup,
            &s.roles.deploy,
            &s.roles.cfn_exec,
            &s.roles.file_publishing,
        ]
        .into_iter()
        .cloned()
        .collect()
    };
    let lookup = BootstrapRole::Lookup.arn(qualifier, &producer.env);
    if arn == lookup {
        return Some(RefRole::Plan(BootstrapRole::Lookup, lookup));
    }
    let in_account = || stages.iter().filter(|s| &s.env.account == account);
    if let Some(r) = std::iter::once(producer)
        .chain(in_account())
        .flat_map(roles)
        .find(|r| r.arn == arn)
    {
        return Some(RefRole::Plan(r.kind, r.arn));
    }
    let declared = |s: &Stage, name: &String| {
        format!("arn:{}:iam::{account}:role/{name}", s.env.partition()) == arn
    };
    in_account()
        .find(|s| s.template.role_names.iter().any(|n| declared(s, n)))
        .map(|s| RefRole::Declared(s.name.clone(), arn.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::env::Environment;
    use crate::model::roles::StageRoles;
    use crate::model::template::parse;
    use std::path::Path;

    fn stage(name: &str, account: &str, region: &str, body: &str) -> Stage {
        let env = Environment::new(account, region).unwrap();
        let template = parse(Path::new("t.yml"), body.to_string()).unwrap();
        let roles = StageRoles::conventional("hnb659fds", &env);
        Stage::new(name, env, template, roles)
    }

    const PRODUCER: &str =
        "Resources:\n  P: {Type: AWS::SSM::Parameter}\nOutputs:\n  Url: {Value: x}\n";

    #[test]
    fn a_reference_to_a_stage_of_the_plan_is_a_dependency_through_a_known_role() {
        let role = stack_ref_role_arn(
            "hnb659fds",
            &Environment::new("111111111111", "us-east-1").unwrap(),
        );
        let consumer = format!(
            "Resources:\n  T:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Value:\n        Fn::GetStackOutput: {{StackName: A, OutputName: Url, RoleArn: '{role}'}}\n"
        );
        let mut stages = vec![
            stage("B", "222222222222", "us-east-1", &consumer),
            stage("A", "111111111111", "us-east-1", PRODUCER),
        ];
        assert_eq!(link(&mut stages, "hnb659fds"), vec![]);
        assert_eq!(stages[0].depends_on, vec![1]);
        assert_eq!(
            stages[0].stack_refs[0].role,
            RefRole::StackRef(role.clone())
        );
        assert!(describe(&stages[0].stack_refs[0], &stages).contains("stage A"));
    }

    #[test]
    fn the_cdks_form_reads_through_the_role_its_producer_declares() {
        let producer = "Resources:\n  GetStackOutputRole:\n    Type: AWS::IAM::Role\n    Properties:\n      RoleName: producer-publish-getstackoutputrole-abc\nOutputs:\n  OutputX: {Value: x}\n";
        let consumer = "{\"Resources\": {\"T\": {\"Type\": \"AWS::SSM::Parameter\", \"Properties\": {\"Value\": {\"Fn::GetStackOutput\": {\"StackName\": \"Producer\", \"OutputName\": \"OutputX\", \"Region\": \"eu-west-1\", \"RoleArn\": {\"Fn::Join\": [\"\", [\"arn:\", {\"Ref\": \"AWS::Partition\"}, \":iam::111111111111:role/producer-publish-getstackoutputrole-abc\"]]}}}}}}}";
        let mut stages = vec![
            stage("Producer", "111111111111", "eu-west-1", producer),
            stage("Consumer", "222222222222", "us-east-1", consumer),
        ];
        assert_eq!(link(&mut stages, "hnb659fds"), vec![]);
        assert_eq!(stages[1].depends_on, vec![0]);
        assert!(
            matches!(stages[1].stack_refs[0].role, RefRole::Declared(ref s, _) if s == "Producer")
        );
    }

    #[test]
    fn every_problem_is_found_at_once() {
        let lookup = BootstrapRole::Lookup.arn(
            "hnb659fds",
            &Environment::new("111111111111", "us-east-1").unwrap(),
        );
        let consumer = format!(
            "Resources:\n  T:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Value: !GetStackOutput {{StackName: A, OutputName: Nope, RoleArn: '{lookup}'}}\n  U:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Value: !GetStackOutput {{StackName: A, OutputName: Url}}\n  W:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Value: !GetStackOutput {{StackName: A, OutputName: Url, RoleArn: 'arn:aws:iam::111111111111:role/other'}}\n  X:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Value: !GetStackOutput {{StackName: Elsewhere, OutputName: Url}}\n"
        );
        let mut stages = vec![
            stage("B", "222222222222", "us-east-1", &consumer),
            stage("A", "111111111111", "us-east-1", PRODUCER),
        ];
        let problems = link(&mut stages, "hnb659fds");
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(problems.len(), 3, "{messages:#?}");
        assert!(messages[0].starts_with("t.yml:5: Fn::GetStackOutput in Resources.T: stage 'A' (stack A) has no output 'Nope'"), "{}", messages[0]);
        assert_eq!(problems[0].fix, "use one of: Url");
        assert!(
            messages[1].contains("reads stack A in aws://222222222222/us-east-1"),
            "{}",
            messages[1]
        );
        assert!(
            problems[1]
                .fix
                .contains("--trust-for-stack-refs 222222222222"),
            "{}",
            problems[1].fix
        );
        assert!(
            messages[2]
                .contains("RoleArn arn:aws:iam::111111111111:role/other is not a role of the plan"),
            "{}",
            messages[2]
        );
        // A stack outside the plan is CloudFormation's to read: no dependency, no problem.
        assert_eq!(stages[0].stack_refs[3].stage, None);
        assert_eq!(stages[0].depends_on, vec![1]);
    }
}
