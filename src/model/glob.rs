//! Stack patterns as `cdk deploy` matches them against hierarchical ids (`Beta/Api`): the CDK CLI
//! uses picomatch with its defaults, so `*` and `?` stay within one path segment, `**` as a whole
//! segment spans any number of segments, `[a-z]` / `[^a]` are classes, `{a,b}` alternatives, `\`
//! escapes, a leading `!` negates, matching is case-sensitive, and a wildcard never matches a
//! segment starting with `.` (picomatch's `dot: false`). Extglobs (`+(a|b)`, `@(a)`, …) are
//! refused rather than misread.

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    /// `!pattern`: selects what does not match.
    pub(crate) negated: bool,
    /// The brace alternatives, each a list of segments.
    alternatives: Vec<Vec<Segment>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**`: any number of segments (none included).
    Globstar,
    Tokens(Vec<Token>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    /// `?`: one character.
    One,
    /// `*`: any characters.
    Star,
    /// `[...]`: one character of the ranges (or of none, negated).
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// Why a pattern is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PatternError {
    Empty,
    Extglob,
}

impl Pattern {
    pub(crate) fn parse(text: &str) -> Result<Pattern, PatternError> {
        let body = text.trim_start_matches('!');
        let negated = (text.len() - body.len()) % 2 == 1;
        if body.is_empty() {
            return Err(PatternError::Empty);
        }
        let chars: Vec<char> = body.chars().collect();
        if chars
            .windows(2)
            .any(|w| "+@!*?".contains(w[0]) && w[1] == '(')
        {
            return Err(PatternError::Extglob);
        }
        let alternatives = expand_braces(&chars)
            .iter()
            .map(|alt| segments(alt))
            .collect();
        Ok(Pattern {
            negated,
            alternatives,
        })
    }

    /// Whether `id` matches the pattern itself (negation not applied).
    pub(crate) fn matches_body(&self, id: &str) -> bool {
        let id: Vec<&str> = id.split('/').collect();
        self.alternatives.iter().any(|alt| match_segments(alt, &id))
    }

    /// Whether the pattern selects `id` (negation applied).
    #[cfg(test)]
    pub(crate) fn selects(&self, id: &str) -> bool {
        self.matches_body(id) != self.negated
    }
}

/// `{a,b}` alternatives expanded (nested braces too); a brace without a comma, or unclosed,
/// stays literal.
fn expand_braces(chars: &[char]) -> Vec<Vec<char>> {
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '{' => {
                if let Some((end, parts)) = brace_group(chars, i) {
                    let mut out = Vec::new();
                    for part in parts {
                        for rest in expand_braces(&chars[end + 1..]) {
                            let mut alt = chars[..i].to_vec();
                            alt.extend(&part);
                            alt.extend(rest);
                            out.extend(expand_braces(&alt));
                        }
                    }
                    return out;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    vec![chars.to_vec()]
}

/// The closing brace of the group opening at `start`, and its comma-separated parts (at depth
/// one); None unless closed and with at least one comma.
fn brace_group(chars: &[char], start: usize) -> Option<(usize, Vec<Vec<char>>)> {
    let mut depth = 0;
    let mut parts = vec![Vec::new()];
    let mut i = start;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if i + 1 < chars.len() => {
                parts.last_mut()?.extend([c, chars[i + 1]]);
                i += 2;
                continue;
            }
            '{' => {
                depth += 1;
                if depth == 1 {
                    i += 1;
                    continue;
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return (parts.len() > 1).then_some((i, parts));
                }
            }
            ',' if depth == 1 => {
                parts.push(Vec::new());
                i += 1;
                continue;
            }
            _ => {}
        }
        parts.last_mut()?.push(c);
        i += 1;
    }
    None
}

fn segments(chars: &[char]) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut current: Vec<char> = Vec::new();
    let mut i = 0;
    while i <= chars.len() {
        match chars.get(i) {
            Some('\\') if i + 1 < chars.len() => {
                current.extend([chars[i], chars[i + 1]]);
                i += 2;
                continue;
            }
            Some('/') | None => {
                out.push(if current == ['*', '*'] {
                    Segment::Globstar
                } else {
                    Segment::Tokens(tokens(&current))
                });
                current.clear();
            }
            Some(&c) => current.push(c),
        }
        i += 1;
    }
    out
}

fn tokens(chars: &[char]) -> Vec<Token> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                out.push(Token::Char(chars[i + 1]));
                i += 1;
            }
            '?' => out.push(Token::One),
            '*' => {
                if out.last() != Some(&Token::Star) {
                    out.push(Token::Star);
                }
            }
            '[' => match class(chars, i) {
                Some((end, token)) => {
                    out.push(token);
                    i = end;
                }
                None => out.push(Token::Char('[')),
            },
            c => out.push(Token::Char(c)),
        }
        i += 1;
    }
    out
}

/// The class opening at `start`: its closing bracket and the token (a `]` right after the
/// opening, or after `^`, is a member).
fn class(chars: &[char], start: usize) -> Option<(usize, Token)> {
    let mut i = start + 1;
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let first = i;
    let mut ranges = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        if c == ']' && i > first {
            return Some((i, Token::Class { negated, ranges }));
        }
        if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|&e| e != ']') {
            ranges.push((c, chars[i + 2]));
            i += 3;
        } else {
            ranges.push((c, c));
            i += 1;
        }
    }
    None
}

fn match_segments(pattern: &[Segment], id: &[&str]) -> bool {
    match pattern.split_first() {
        None => id.is_empty(),
        Some((Segment::Globstar, rest)) => (0..=id.len())
            .take_while(|&k| k == 0 || !id[k - 1].starts_with('.'))
            .any(|k| match_segments(rest, &id[k..])),
        Some((Segment::Tokens(tokens), rest)) => match id.split_first() {
            Some((first, others)) => {
                let chars: Vec<char> = first.chars().collect();
                let wild_first = matches!(
                    tokens.first(),
                    Some(Token::Star | Token::One | Token::Class { .. })
                );
                !(wild_first && first.starts_with('.'))
                    && match_tokens(tokens, &chars)
                    && match_segments(rest, others)
            }
            None => false,
        },
    }
}

/// Within one segment; a lone `*` needs at least one character (picomatch: `Beta/*` does not
/// match `Beta/`).
fn match_tokens(tokens: &[Token], text: &[char]) -> bool {
    if tokens == [Token::Star] {
        return !text.is_empty();
    }
    match_from(tokens, text)
}

fn match_from(tokens: &[Token], text: &[char]) -> bool {
    match tokens.split_first() {
        None => text.is_empty(),
        Some((Token::Star, rest)) => (0..=text.len()).any(|k| match_from(rest, &text[k..])),
        Some((token, rest)) => match text.split_first() {
            Some((&c, others)) => one(token, c) && match_from(rest, others),
            None => false,
        },
    }
}

fn one(token: &Token, c: char) -> bool {
    match token {
        Token::Char(t) => *t == c,
        Token::One => true,
        Token::Class { negated, ranges } => {
            ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
        }
        Token::Star => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDS: &[&str] = &[
        "A",
        "B",
        "Beta/Api",
        "Beta/Db",
        "Beta/x/Deep",
        ".Hidden",
        "Beta/.h",
        "Prod-Api",
        "Stack1",
        "stack1",
        "a.b",
    ];

    fn selected(pattern: &str) -> Vec<&'static str> {
        let p = Pattern::parse(pattern).unwrap();
        IDS.iter().copied().filter(|id| p.selects(id)).collect()
    }

    /// Each expectation was taken from picomatch 4 (`picomatch(pattern)(id)`), what the CDK CLI
    /// matches hierarchical ids with.
    #[test]
    fn patterns_select_what_picomatch_selects() {
        let cases: &[(&str, &[&str])] = &[
            ("*", &["A", "B", "Prod-Api", "Stack1", "stack1", "a.b"]),
            ("Beta/*", &["Beta/Api", "Beta/Db"]),
            (
                "**",
                &[
                    "A",
                    "B",
                    "Beta/Api",
                    "Beta/Db",
                    "Beta/x/Deep",
                    "Prod-Api",
                    "Stack1",
                    "stack1",
                    "a.b",
                ],
            ),
            ("Beta/**", &["Beta/Api", "Beta/Db", "Beta/x/Deep"]),
            ("*/*", &["Beta/Api", "Beta/Db"]),
            ("Beta", &[]),
            ("B*", &["B"]),
            (
                "!Beta/*",
                &[
                    "A",
                    "B",
                    "Beta/x/Deep",
                    ".Hidden",
                    "Beta/.h",
                    "Prod-Api",
                    "Stack1",
                    "stack1",
                    "a.b",
                ],
            ),
            ("Stack?", &["Stack1"]),
            ("[AB]", &["A", "B"]),
            ("{A,B}", &["A", "B"]),
            ("Beta/{Api,Db}", &["Beta/Api", "Beta/Db"]),
            ("**/Api", &["Beta/Api"]),
            ("*Api", &["Prod-Api"]),
            ("stack1", &["stack1"]),
            ("Prod-*", &["Prod-Api"]),
            ("Beta/", &[]),
            ("B?ta/Api", &["Beta/Api"]),
        ];
        for (pattern, expected) in cases {
            assert_eq!(selected(pattern), *expected, "pattern {pattern}");
        }
    }

    #[test]
    fn the_edges_follow_picomatch_too() {
        let is = |p: &str, id: &str| Pattern::parse(p).unwrap().selects(id);
        assert!(is("**/Api", "Api"));
        assert!(is("Beta/**", "Beta"));
        assert!(is("Beta/**/Deep", "Beta/Deep") && is("Beta/**/Deep", "Beta/x/Deep"));
        assert!(!is("Beta**", "Beta/Api") && is("Beta**", "BetaX"));
        assert!(!is("a/**/b", "a/.x/b") && !is("**", ".Hidden") && is(".*", ".Hidden"));
        assert!(!is("?Hidden", ".Hidden") && is("*.b", "a.b"));
        assert!(!is("[^A]", "A") && is("[a-c]", "b") && is("[A-Z]*", "Beta"));
        assert!(is("\\*", "*") && is("\\{a,b}", "{a,b}") && is("{a}", "{a}"));
        assert!(is("a{,b}", "a") && is("{a,{b,c}}", "c") && is("{A,B}/*", "A/x"));
        assert!(is("!!A", "A") && !is("A", "a") && !is("*", ""));
        assert_eq!(Pattern::parse("+(A|B)"), Err(PatternError::Extglob));
        assert_eq!(Pattern::parse("@(A)"), Err(PatternError::Extglob));
        assert_eq!(Pattern::parse("!"), Err(PatternError::Empty));
    }
}
