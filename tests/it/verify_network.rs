//! Network verification end to end against the local AWS, whose SSM answers `ping` from the
//! emulated network: the reference pipeline's six expectations, a removed return route seen by
//! both the static analysis and the ping, an instance SSM cannot reach, and an account whose
//! network cannot be read.

use crate::common::*;
use serde_json::Value;

fn deploy_reference(aws: &Aws) -> Value {
    aws.bootstrap_both();
    let r = aws.run(&[
        "deploy",
        "--all",
        "-f",
        &reference_file(),
        "--output",
        "json",
    ]);
    assert_eq!(r.code, 0, "deploy + verify failed:\n{}", r.stderr);
    r.json()
}

fn check<'a>(verification: &'a Value, name: &str) -> &'a Value {
    verification["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {verification}"))
}

#[tokio::test]
async fn the_reference_network_verifies_and_a_removed_return_route_fails_statically_and_live() {
    let aws = aws();
    let deployed = deploy_reference(&aws);
    let v = &deployed["verification"];
    assert_eq!(v["checks"].as_array().unwrap().len(), 6);
    for c in v["checks"].as_array().unwrap() {
        assert_eq!(c["ok"], true, "{c}");
        assert_eq!(c["static_verdict"], c["expect"], "{c}");
        assert_eq!(c["live_verdict"], c["expect"], "{c}");
    }
    let a_to_c = check(v, "A → C (not transitive)");
    assert_eq!(a_to_c["expect"], "unreachable");
    assert_eq!(a_to_c["ping_summary"], "0/3 received, 100% loss");
    assert!(
        a_to_c["static_reason"]
            .as_str()
            .unwrap()
            .contains("transitive peering via vpc-"),
        "{a_to_c}"
    );
    assert_eq!(check(v, "B → C")["ping_summary"], "3/3 received, 0% loss");

    // Account B's admin removes VpcCRoutes' route back to VPC B.
    let rtb = stack_output(&aws, "admin-b", "VpcC", "VpcCRouteTableId").await;
    let ec2 = aws_sdk_ec2::Client::new(&aws.sdk("admin-b").await);
    ec2.delete_route()
        .route_table_id(&rtb)
        .destination_cidr_block("10.1.0.0/16")
        .send()
        .await
        .unwrap();

    let r = aws.run(&["verify", "-f", &reference_file(), "--output", "json"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    let json = r.json();
    let v = &json["verification"];
    for name in ["B → C", "C → B"] {
        let c = check(v, name);
        assert_eq!(c["ok"], false, "{c}");
        assert_eq!(c["static_verdict"], "unreachable", "{c}");
        assert_eq!(c["live_verdict"], "unreachable", "{c}");
        let problem = c["problem"].as_str().unwrap();
        assert!(
            problem.contains("ping got no reply")
                && problem.contains(&format!("no route to 10.1.1.10 in {rtb}")),
            "{problem}"
        );
    }
    for name in [
        "A → B",
        "B → A",
        "A → C (not transitive)",
        "C → A (not transitive)",
    ] {
        assert_eq!(check(v, name)["ok"], true, "{name}");
    }
    assert!(
        r.stderr.contains("B → C: FAIL — expected reachable"),
        "{}",
        r.stderr
    );

    // The static analysis alone reaches the same verdict.
    let r = aws.run(&[
        "verify",
        "--static-only",
        "-f",
        &reference_file(),
        "--output",
        "json",
    ]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    let json = r.json();
    let c = check(&json["verification"], "B → C");
    assert_eq!(c["live_verdict"], "skipped");
    assert!(
        c["problem"].as_str().unwrap().starts_with(
            "expected reachable, static analysis says unreachable: return path: no route"
        ),
        "{c}"
    );
}

#[tokio::test]
async fn a_stopped_source_instance_is_undeliverable_not_unreachable() {
    let aws = aws();
    deploy_reference(&aws);
    let instance_c = stack_output(&aws, "admin-b", "VpcC", "InstanceCId").await;
    let ec2 = aws_sdk_ec2::Client::new(&aws.sdk("admin-b").await);
    ec2.stop_instances()
        .instance_ids(&instance_c)
        .send()
        .await
        .unwrap();

    let r = aws.run(&["verify", "-f", &reference_file(), "--output", "json"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    let json = r.json();
    let v = &json["verification"];
    // Even the expected-unreachable check fails: a ping that never ran proves nothing.
    for name in ["C → B", "C → A (not transitive)"] {
        let c = check(v, name);
        assert_eq!(c["ok"], false, "{c}");
        assert_eq!(c["live_outcome"], "undeliverable", "{c}");
        assert_eq!(c["live_verdict"], "unknown", "{c}");
        assert!(
            c["problem"].as_str().unwrap().contains(&format!(
                "instance {instance_c} is not managed by SSM or its agent is offline"
            )),
            "{c}"
        );
    }
    let b_to_c = check(v, "B → C");
    assert_eq!(b_to_c["live_verdict"], "unreachable");
    assert!(
        b_to_c["static_reason"]
            .as_str()
            .unwrap()
            .ends_with("is stopped, not running"),
        "{b_to_c}"
    );
}

#[tokio::test]
async fn an_unreadable_account_leaves_the_static_verdict_unknown_and_the_pings_decide() {
    let aws = aws();
    deploy_reference(&aws);
    // The same pipeline plus a stage in an account that was never bootstrapped: its network
    // cannot be read, so no static verdict can be trusted.
    let scratch = Scratch::new("verify-unreadable");
    let reference = std::fs::read_to_string(repo().join(reference_file())).unwrap();
    let templates = repo().join("pipelines/templates");
    let file = reference
        .replace(
            "accounts:\n",
            "accounts:\n  D:\n    id: \"333333333333\"\n    region: ap-northeast-1\n",
        )
        .replace(
            "\nverify:",
            "\n  - name: Elsewhere\n    account: D\n    template: templates/vpc-c-routes.yml\n    parameters:\n      VpcCRouteTableId: rtb-0\n      PeeringConnectionId: pcx-0\n      VpcBCidr: 10.1.0.0/16\n\nverify:",
        );
    std::os::unix::fs::symlink(&templates, scratch.0.join("templates")).unwrap();
    let path = scratch.write("pipeline.yml", &file);

    let r = aws.run(&[
        "verify",
        "-f",
        &path.display().to_string(),
        "--output",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("static analysis unavailable: cannot read the EC2 network of aws://333333333333/ap-northeast-1"),
        "{}",
        r.stderr
    );
    let json = r.json();
    for c in json["verification"]["checks"].as_array().unwrap() {
        assert_eq!(c["static_verdict"], "unknown", "{c}");
        assert!(
            c["static_reason"]
                .as_str()
                .unwrap()
                .starts_with("unknown (cannot read the EC2 network of aws://333333333333/"),
            "{c}"
        );
        assert_eq!(c["live_verdict"], c["expect"], "{c}");
        assert_eq!(c["ok"], true, "{c}");
    }
}
