//! Limits on what is read before any AWS call, so that a file cannot exhaust memory or time:
//! a size limit per kind of file (checked before the file is read whole), and a budget on the
//! nodes a YAML document expands to through its aliases (checked before it is deserialized).

use std::cell::Cell;
use std::fmt;
use std::io::Read;
use std::path::Path;

use serde::de::{DeserializeSeed, EnumAccess, IgnoredAny, MapAccess, SeqAccess, VariantAccess};

/// A stage file: a few hundred lines describe a large pipeline, and the scale test plans a 5 MB
/// file of 40,000 stages quickly (tests/it/bad_input.rs); 16 MiB leaves room above that and
/// keeps a runaway generated file (or `/dev/zero`) from being read whole.
pub(crate) const STAGE_FILE_LIMIT: u64 = 16 * 1024 * 1024;

/// A template: CloudFormation accepts at most 1 MB from S3 (`TemplateURL`; an inline
/// `TemplateBody` is at most 51,200 bytes, `model::template::TEMPLATE_BODY_LIMIT`), so a larger
/// file could never be deployed.
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html>
pub(crate) const TEMPLATE_FILE_LIMIT: u64 = 1024 * 1024;

/// A cloud assembly's `manifest.json` or `*.assets.json`: they list stacks and assets, with
/// metadata; 16 MiB holds thousands of stacks (CDK's own files are kilobytes per stack).
pub(crate) const ASSEMBLY_JSON_LIMIT: u64 = 16 * 1024 * 1024;

/// Nodes a YAML document may expand to beyond its size in bytes. Without aliases every node
/// takes at least about one byte of text, so a file without aliases always fits; an alias
/// repeats its anchor's whole node tree, and a few hundred aliases of a large anchor (the
/// "billion laughs" shape) would otherwise take gigabytes and minutes to build.
pub(crate) const YAML_NODE_ALLOWANCE: usize = 100_000;

/// The node budget of a YAML text.
pub(crate) fn yaml_node_budget(text: &str) -> usize {
    YAML_NODE_ALLOWANCE + text.len()
}

/// The file is larger than its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TooLarge {
    pub(crate) size: u64,
    pub(crate) limit: u64,
}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the file is {} bytes, over the limit of {} bytes",
            self.size, self.limit
        )
    }
}

/// Reads `path` whole unless it is larger than `limit`; the size is checked before reading, and
/// the read itself stops after `limit` bytes (a special file has no size to check).
pub(crate) fn read_limited(path: &Path, limit: u64) -> std::io::Result<Result<Vec<u8>, TooLarge>> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    if size > limit {
        return Ok(Err(TooLarge { size, limit }));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Ok(Err(TooLarge {
            size: bytes.len() as u64,
            limit,
        }));
    }
    Ok(Ok(bytes))
}

/// A YAML document that expands, through its aliases, to more nodes than its budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AliasBlowup {
    pub(crate) budget: usize,
    /// The line of the first alias (`*name`) in the text, if one is found.
    pub(crate) alias_line: Option<usize>,
}

impl fmt::Display for AliasBlowup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "its aliases expand it to more than {} YAML nodes (the limit is {YAML_NODE_ALLOWANCE} plus one per byte of the file)",
            self.budget
        )?;
        if let Some(line) = self.alias_line {
            write!(f, "; the first alias is at line {line}")?;
        }
        Ok(())
    }
}

impl AliasBlowup {
    /// What to do about it.
    pub(crate) const FIX: &'static str = "write the repeated part out where it is needed, or reference smaller anchors fewer times (each `*alias` repeats its anchor's whole content)";
}

/// Counts the nodes serde_yaml produces for `text` (aliases expanded, as deserializing does)
/// and stops as soon as the budget is spent, so a blow-up costs no more than the budget. Errors
/// other than the budget's are left to the real parse, which reports them with its own words.
pub(crate) fn check_yaml_expansion(text: &str) -> Result<(), AliasBlowup> {
    // Every alias is written `*name`: a text without a `*` has none, and costs no second pass.
    if !text.contains('*') {
        return Ok(());
    }
    let budget = yaml_node_budget(text);
    let counter = Counter {
        left: &Cell::new(budget),
        spent: &Cell::new(false),
    };
    let spent = counter.spent;
    let _ = counter.deserialize(serde_yaml::Deserializer::from_str(text));
    if spent.get() {
        return Err(AliasBlowup {
            budget,
            alias_line: first_alias_line(text),
        });
    }
    Ok(())
}

/// The line of the first `*name` that stands where a YAML node starts (after a space, `[`, `{`,
/// `,`, `-`, `:` or at the start of a line), outside comments and quotes. A heuristic for the
/// message only; the budget itself is counted by serde_yaml.
fn first_alias_line(text: &str) -> Option<usize> {
    for (n, line) in text.lines().enumerate() {
        let (mut quote, mut prev) = (None::<char>, ' ');
        for c in line.chars() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '#' && prev.is_whitespace() => break,
                None if c == '\'' || c == '"' => quote = Some(c),
                None if c == '*' && (prev.is_whitespace() || "[{,-:".contains(prev)) => {
                    return Some(n + 1);
                }
                None => {}
            }
            prev = c;
        }
    }
    None
}

/// Deserializes any YAML node, counting it and its children against a budget.
#[derive(Clone, Copy)]
struct Counter<'a> {
    left: &'a Cell<usize>,
    spent: &'a Cell<bool>,
}

impl Counter<'_> {
    fn tick<E: serde::de::Error>(self) -> Result<(), E> {
        match self.left.get().checked_sub(1) {
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
            None => {
                self.spent.set(true);
                Err(E::custom("YAML node budget spent"))
            }
        }
    }
}

impl<'de> DeserializeSeed<'de> for Counter<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

macro_rules! scalars {
    ($($name:ident: $t:ty),*) => {
        $(fn $name<E: serde::de::Error>(self, _: $t) -> Result<(), E> { self.tick() })*
    };
}

impl<'de> serde::de::Visitor<'de> for Counter<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }
    scalars!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_i128: i128,
        visit_u128: u128, visit_f64: f64, visit_str: &str, visit_bytes: &[u8]);
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.tick()
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        self.tick()
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.deserialize(d)
    }
    fn visit_newtype_struct<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.tick()?;
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.tick()?;
        while map.next_key_seed(self)?.is_some() {
            map.next_value_seed(self)?;
        }
        Ok(())
    }
    /// A tagged node (`!Ref x`): the tag and its content.
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        self.tick()?;
        let (IgnoredAny, variant) = data.variant::<IgnoredAny>()?;
        variant.newtype_variant_seed(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `keys` keys under one anchor, referenced `refs` times: `keys * refs` nodes once expanded.
    fn alias_bomb(keys: usize, refs: usize) -> String {
        let mut text = String::from("Resources:\n  R:\n    Type: AWS::SNS::Topic\nBase: &b\n");
        for k in 0..keys {
            text.push_str(&format!("  k{k}: v\n"));
        }
        text.push_str("Copies:\n");
        for r in 0..refs {
            text.push_str(&format!("  c{r}: *b\n"));
        }
        text
    }

    #[test]
    fn an_alias_bomb_is_refused_naming_the_first_alias_line() {
        let text = alias_bomb(1_500, 1_500);
        let err = check_yaml_expansion(&text).unwrap_err();
        assert_eq!(err.budget, YAML_NODE_ALLOWANCE + text.len());
        assert_eq!(err.alias_line, Some(4 + 1_500 + 2));
    }

    #[test]
    fn aliases_within_the_budget_and_files_without_aliases_pass() {
        check_yaml_expansion(&alias_bomb(20, 20)).unwrap();
        // Dense, alias-free text (with a `*`, so it is counted): about one node per two bytes.
        let dense = format!("['*', {}]", vec!["1"; 300_000].join(","));
        check_yaml_expansion(&dense).unwrap();
        // Not YAML at all: left to the parser.
        check_yaml_expansion("a: [").unwrap();
    }

    #[test]
    fn tagged_nodes_are_counted_with_their_content() {
        let text = "a: !Sub [x, {b: c}]\n";
        let left = Cell::new(100);
        let counter = Counter {
            left: &left,
            spent: &Cell::new(false),
        };
        counter
            .deserialize(serde_yaml::Deserializer::from_str(text))
            .unwrap();
        // map, key a, tag, seq, x, map, b, c
        assert_eq!(100 - left.get(), 8);
    }

    #[test]
    fn the_first_alias_skips_comments_quotes_and_plain_stars() {
        assert_eq!(
            first_alias_line("a: '*x'\nb: 2*3 # *y\nc: [1, *z]\n"),
            Some(3)
        );
        assert_eq!(first_alias_line("a: \"*x\"\n"), None);
    }

    #[test]
    fn a_file_over_its_limit_is_refused_before_it_is_read() {
        let dir = std::env::temp_dir().join(format!("pr-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big");
        std::fs::write(&path, vec![b'x'; 11]).unwrap();
        assert_eq!(
            read_limited(&path, 10).unwrap(),
            Err(TooLarge {
                size: 11,
                limit: 10
            })
        );
        assert_eq!(read_limited(&path, 11).unwrap().unwrap().len(), 11);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
