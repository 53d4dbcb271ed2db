//! `pipeline-run plan`: the dependency waves, as text, JSON or a GitHub Actions job matrix (no
//! AWS call).

use anyhow::Result;

use crate::cli::{GlobalArgs, PlanArgs, PlanFormat};
use crate::progress::{Reporter, print_out};
use crate::report::ci::{compact_json, github_plan_outputs};
use crate::report::listing::{Matrix, Waves, waves_text};

use super::shared::load_plan;

pub(super) async fn plan(g: &GlobalArgs, args: PlanArgs, reporter: &Reporter) -> Result<i32> {
    let plan = load_plan(g, reporter).await?;
    match args.format {
        PlanFormat::Text => print_out(&waves_text(&plan)),
        PlanFormat::Json => println!("{}", serde_json::to_string_pretty(&Waves::of(&plan))?),
        PlanFormat::GithubMatrix => {
            let matrix = Matrix::of(&plan);
            println!("{}", compact_json(&matrix));
            github_plan_outputs(&matrix);
        }
    }
    Ok(0)
}
