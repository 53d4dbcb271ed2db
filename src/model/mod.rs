//! The leaf model: accounts, regions, roles, naming, asset specs, templates, address ranges, the
//! validated plan and dependency order. No I/O and no SDK; every other module depends on it.

pub(crate) mod assets;
pub(crate) mod cidr;
pub(crate) mod duration;
pub(crate) mod env;
pub(crate) mod glob;
pub(crate) mod graph;
pub(crate) mod plan;
pub(crate) mod resolve;
pub(crate) mod roles;
pub(crate) mod selection;
pub(crate) mod stack_links;
pub(crate) mod stack_refs;
pub(crate) mod template;
