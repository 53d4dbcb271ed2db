//! Peering options CloudFormation cannot set: `AllowDnsResolutionFromRemoteVpc` must be changed
//! by each side's owner account (plain CloudFormation needs a Custom Resource per side for it).

use anyhow::Result;
use aws_config::SdkConfig;
use aws_sdk_ec2::types::{
    PeeringConnectionOptionsRequest, VpcPeeringConnection, VpcPeeringConnectionVpcInfo,
};

use crate::aws::Aws;
use crate::aws::errors::describe_sdk_error;
use crate::error::{ExitKind, fail, fail_fix};
use crate::model::env::Environment;
use crate::model::plan::Plan;
use crate::progress::StageProgress;

#[derive(Clone, Copy)]
enum Side {
    Requester,
    Accepter,
}

/// Sets DNS resolution on both sides of `pcx`, each with the deploy role of its owner account.
/// Sides already in the wanted state are left alone, so re-runs make no calls beyond one describe.
pub(crate) async fn set_dns_resolution(
    aws: &Aws,
    plan: &Plan,
    stage_env: &Environment,
    pcx: &str,
    enable: bool,
    progress: &StageProgress,
) -> Result<()> {
    let cfg = aws
        .role(
            &plan.roles_in(stage_env).deploy,
            stage_env,
            &plan.qualifier,
            &format!("read peering {pcx}"),
        )
        .await?;
    let peering = Peering {
        aws,
        plan,
        stage_env,
        pcx,
        cfg,
    };
    let conn = peering.describe().await?;
    let status = conn
        .status()
        .and_then(|s| s.code())
        .map(|c| c.as_str().to_string())
        .unwrap_or_default();
    if enable && status != "active" {
        return Err(fail_fix(
            ExitKind::Deploy,
            format!(
                "peering {pcx} is {status}: DNS resolution can only be set on an active peering"
            ),
            "make sure the peer account accepts it (PeerRoleArn in the template)",
        ));
    }
    for (side, info) in [
        (Side::Requester, conn.requester_vpc_info()),
        (Side::Accepter, conn.accepter_vpc_info()),
    ] {
        let Some(info) = info else { continue };
        let current = info
            .peering_options()
            .and_then(|o| o.allow_dns_resolution_from_remote_vpc())
            .unwrap_or(false);
        if current != enable {
            peering.set(side, info, enable, progress).await?;
        }
    }
    Ok(())
}

/// A peering connection, seen from the stage whose output holds its id.
struct Peering<'a> {
    aws: &'a Aws,
    plan: &'a Plan,
    stage_env: &'a Environment,
    pcx: &'a str,
    /// The deploy role of the stage's environment.
    cfg: SdkConfig,
}

impl Peering<'_> {
    async fn describe(&self) -> Result<VpcPeeringConnection> {
        let pcx = self.pcx;
        let described = self
            .aws
            .ec2(&self.cfg)
            .describe_vpc_peering_connections()
            .vpc_peering_connection_ids(pcx)
            .send()
            .await
            .map_err(|e| {
                fail(
                    ExitKind::Deploy,
                    format!("cannot read peering {pcx}: {}", describe_sdk_error(&e)),
                )
            })?;
        described
            .vpc_peering_connections()
            .first()
            .cloned()
            .ok_or_else(|| {
                fail(
                    ExitKind::Deploy,
                    format!("peering {pcx} does not exist in {}", self.stage_env),
                )
            })
    }

    /// Sets DNS resolution on one side, as the deploy role of that side's owner account.
    async fn set(
        &self,
        side: Side,
        info: &VpcPeeringConnectionVpcInfo,
        enable: bool,
        progress: &StageProgress,
    ) -> Result<()> {
        let pcx = self.pcx;
        let owner = info.owner_id().unwrap_or(&self.stage_env.account);
        let region = info.region().unwrap_or(&self.stage_env.region);
        let env = Environment::new(owner, region).map_err(|_| {
            fail(
                ExitKind::Deploy,
                format!("peering {pcx} names owner {owner} in {region}, which is not an account and region"),
            )
        })?;
        let side_cfg = if env == *self.stage_env {
            self.cfg.clone()
        } else {
            self.aws
                .role(
                    &self.plan.roles_in(&env).deploy,
                    &env,
                    &self.plan.qualifier,
                    &format!("change the options of peering {pcx} in {env}"),
                )
                .await?
        };
        let options = PeeringConnectionOptionsRequest::builder()
            .allow_dns_resolution_from_remote_vpc(enable)
            .build();
        let request = self
            .aws
            .ec2(&side_cfg)
            .modify_vpc_peering_connection_options()
            .vpc_peering_connection_id(pcx);
        let request = match side {
            Side::Requester => request.requester_peering_connection_options(options),
            Side::Accepter => request.accepter_peering_connection_options(options),
        };
        request.send().await.map_err(|e| {
            fail(
                ExitKind::Deploy,
                format!(
                    "cannot set DNS resolution on peering {pcx} in {env}: {}",
                    describe_sdk_error(&e)
                ),
            )
        })?;
        progress.line(&format!(
            "peering {pcx}: AllowDnsResolutionFromRemoteVpc={enable} on the {} side ({env})",
            match side {
                Side::Requester => "requester",
                Side::Accepter => "accepter",
            }
        ));
        Ok(())
    }
}
