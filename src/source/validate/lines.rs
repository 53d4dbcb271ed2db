//! Where something is written in the stage file. The parsed YAML keeps no positions, so lines
//! are found from the text: the line of a `key:` (or `key: value`) at or after a known line.

use std::collections::HashMap;

/// Every `key:` of the file with its line, so finding where something is written costs a binary
/// search: scanning the file for each stage made a 5 MB stage file take many minutes.
#[derive(Default)]
pub(super) struct LineIndex {
    by_key: HashMap<String, Vec<usize>>,
    by_key_value: HashMap<(String, String), Vec<usize>>,
}

impl LineIndex {
    pub(super) fn new(text: &str) -> Self {
        let mut index = LineIndex::default();
        for (i, l) in text.lines().enumerate() {
            let l = l.trim_start().trim_start_matches("- ").trim_start();
            // Each colon may end the key (keys themselves may contain colons).
            for (p, _) in l.match_indices(':') {
                let key = &l[..p];
                let value = l[p + 1..].trim().trim_matches(|c| c == '"' || c == '\'');
                index.by_key.entry(key.to_string()).or_default().push(i + 1);
                index
                    .by_key_value
                    .entry((key.to_string(), value.to_string()))
                    .or_default()
                    .push(i + 1);
            }
        }
        index
    }

    /// Line of the first `key: value` (or `- key: value`) at or after `from` whose value is
    /// `value`; any value when `value` is None.
    pub(super) fn line_of(&self, key: &str, value: Option<&str>, from: usize) -> Option<usize> {
        let lines = match value {
            None => self.by_key.get(key)?,
            Some(v) => self.by_key_value.get(&(key.to_string(), v.to_string()))?,
        };
        lines.get(lines.partition_point(|&l| l < from)).copied()
    }
}

/// The line of the `nth` `key:` at or after line `from`, by scanning the text (for the one
/// problem of a file that does not parse, where no index is built).
pub(super) fn key_line(text: &str, key: &str, from: usize, nth: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .filter(|(_, l)| {
            l.trim_start()
                .trim_start_matches("- ")
                .trim_start()
                .strip_prefix(key)
                .is_some_and(|r| r.starts_with(':'))
        })
        .nth(nth - 1)
        .map(|(i, _)| i + 1)
}
