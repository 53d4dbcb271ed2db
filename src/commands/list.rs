//! `pipeline-run list`: stages, accounts, roles and dependency waves (no AWS call).

use anyhow::Result;

use crate::cli::{GlobalArgs, OutputFormat};
use crate::progress::{Reporter, print_out};
use crate::report::listing::{Listing, listing_text};

use super::shared::load_plan;

pub(super) async fn list(g: &GlobalArgs, reporter: &Reporter) -> Result<i32> {
    let plan = load_plan(g, reporter).await?;
    match g.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&Listing::of(&plan))?),
        OutputFormat::Text => print_out(&listing_text(&plan)),
    }
    Ok(0)
}
