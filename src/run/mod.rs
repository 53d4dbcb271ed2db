//! Running a plan: the shared run `context`, the generic dependency `schedule`r and the plan's
//! `stages` run through it, per-`stage` deploys (assets, `stack` change sets, `outputs` across
//! accounts, `peering` DNS), `destroy`, `rollback` (a stuck stack brought back) and `bootstrap`; each stage's `outcome`; `lookup_diff`, the template-level diff
//! through the lookup role when the deploy role is refused.

pub(crate) mod assets;
pub(crate) mod bootstrap;
pub(crate) mod context;
pub(crate) mod destroy;
pub(crate) mod interrupt;
pub(crate) mod lookup_diff;
pub(crate) mod outcome;
pub(crate) mod outputs;
pub(crate) mod peering;
pub(crate) mod rollback;
pub(crate) mod schedule;
pub(crate) mod secrets;
pub(crate) mod stack;
pub(crate) mod stack_refs;
pub(crate) mod stage;
pub(crate) mod stages;
