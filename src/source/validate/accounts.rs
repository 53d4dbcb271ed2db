//! `accounts:` (with the `PIPELINE_RUN_ACCOUNT_<ALIAS>` / `PIPELINE_RUN_REGION_<ALIAS>`
//! overrides) and the account and region each stage deploys to.
//!
//! An alias stays declared even when its id or region is invalid: that problem is reported once
//! here, and stages using the alias get no second one ("not declared"). Only valid parts make an
//! `Environment`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use super::Known;
use super::problems::Cx;
use crate::model::env::{AccountId, Environment, Region};
use crate::source::stagefile::{AccountEntry, StageEntry};

/// Where environment overrides come from (the process environment in production).
pub(crate) trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

pub(crate) struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// A declared account alias as this run sees it, or where a stage deploys.
#[derive(Debug, Clone)]
pub(super) struct Account {
    /// As given (after overrides), valid or not: for `${accounts.ALIAS.id}` and messages.
    pub(super) id: String,
    pub(super) region: String,
    /// Both parts valid; None once their problems are reported.
    pub(super) env: Option<Environment>,
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "aws://{}/{}", self.id, self.region)
    }
}

/// Every alias under `accounts:`, with its id and region checked.
pub(super) fn accounts(
    cx: &mut Cx,
    env: &dyn Env,
    raw: &BTreeMap<String, AccountEntry>,
) -> BTreeMap<String, Account> {
    if raw.is_empty() {
        cx.at(cx.line_of("accounts", None, 1))
            .field("accounts")
            .report(
                "no accounts are declared",
                "add e.g. `A: {id: \"111111111111\", region: ap-northeast-1}` under accounts",
            );
    }
    raw.iter()
        .map(|(alias, entry)| (alias.clone(), account(cx, env, alias, entry)))
        .collect()
}

fn account(cx: &mut Cx, env: &dyn Env, alias: &str, entry: &AccountEntry) -> Account {
    let upper = env_suffix(alias);
    let alias_line = cx.line_of(alias, None, 1).unwrap_or(1);
    let id = Overridable::read(env, &format!("PIPELINE_RUN_ACCOUNT_{upper}"), &entry.id);
    let region = Overridable::read(env, &format!("PIPELINE_RUN_REGION_{upper}"), &entry.region);
    let account = AccountId::new(&id.value);
    if account.is_err() {
        cx.at(id.line(cx, "id", alias_line))
            .field(format!("accounts.{alias}.id"))
            .report(
                format!("'{}'{} is not an AWS account id", id.value, id.source()),
                "use the 12-digit account id, quoted (e.g. \"111111111111\")",
            );
    }
    let valid_region = Region::new(&region.value);
    if valid_region.is_err() {
        cx.at(region.line(cx, "region", alias_line))
            .field(format!("accounts.{alias}.region"))
            .report(
                format!(
                    "'{}'{} is not an AWS region name",
                    region.value,
                    region.source()
                ),
                "use a region such as ap-northeast-1 or us-east-1",
            );
    }
    Account {
        env: match (account, valid_region) {
            (Ok(account), Ok(region)) => Some(Environment { account, region }),
            _ => None,
        },
        id: id.value,
        region: region.value,
    }
}

/// A value of the stage file, or of the environment variable that overrides it.
struct Overridable {
    value: String,
    /// The variable it came from.
    from: Option<String>,
}

impl Overridable {
    fn read(env: &dyn Env, var: &str, written: &str) -> Overridable {
        match env.var(var) {
            Some(value) => Overridable {
                value,
                from: Some(var.to_string()),
            },
            None => Overridable {
                value: written.to_string(),
                from: None,
            },
        }
    }

    /// ` (from VAR)` for a value from the environment.
    fn source(&self) -> String {
        self.from
            .as_ref()
            .map(|var| format!(" (from {var})"))
            .unwrap_or_default()
    }

    /// The line of `key` under the alias; none for a value from the environment.
    fn line(&self, cx: &Cx, key: &str, alias_line: usize) -> Option<usize> {
        match self.from {
            Some(_) => None,
            None => cx.line_of(key, None, alias_line),
        }
    }
}

/// Where stage `s` deploys: its account alias, in its own `region:` if that is valid. None (and
/// a problem) if the alias is not declared.
pub(super) fn target(cx: &mut Cx, known: &Known, s: &StageEntry) -> Option<Account> {
    let Some(account) = known.accounts.get(&s.account) else {
        let declared: Vec<&str> = known.accounts.keys().map(String::as_str).collect();
        cx.in_stage(&s.name, "account").field("account").report(
            format!("account '{}' is not declared under `accounts:`", s.account),
            format!(
                "use one of: {} — or declare it under `accounts:`",
                declared.join(", ")
            ),
        );
        return None;
    };
    let Some(region) = &s.region else {
        return Some(account.clone());
    };
    match Region::new(region) {
        Ok(region) => Some(Account {
            id: account.id.clone(),
            region: region.to_string(),
            env: account.env.as_ref().map(|e| e.in_region(region)),
        }),
        Err(_) => {
            cx.in_stage(&s.name, "region").field("region").report(
                format!("'{region}' is not an AWS region name"),
                "use a region such as ap-northeast-1 or us-east-1",
            );
            Some(account.clone())
        }
    }
}

/// `PIPELINE_RUN_ACCOUNT_<suffix>`: the alias upper-cased, other characters as `_`.
fn env_suffix(alias: &str) -> String {
    alias
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}
