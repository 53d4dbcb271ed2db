//! Durations written on the command line (`--stage-timeout 90s`, `30m`, `2h`, `1h30m`) and
//! rendered back the same way.

use std::time::Duration;

/// Parses a positive whole-number duration made of `<n>h`, `<n>m` and `<n>s` parts, in that
/// order (e.g. "90s", "30m", "2h", "1h30m").
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "'{text}' is not a duration: write a whole number with a unit, e.g. 90s, 30m, 2h or 1h30m"
        )
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut last_unit = u64::MAX;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        let unit = match rest[digits..].chars().next() {
            Some('h') => 3600,
            Some('m') => 60,
            Some('s') => 1,
            _ => return Err(bad()),
        };
        if unit >= last_unit {
            return Err(bad());
        }
        last_unit = unit;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        rest = &rest[digits + 1..];
    }
    if total == 0 {
        return Err(format!("'{text}' is zero: a timeout must be at least 1s"));
    }
    Ok(Duration::from_secs(total))
}

/// "1h30m", "90s" → "1m30s": whole seconds, largest units first.
pub(crate) fn render(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_render_back() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(render(Duration::from_secs(90)), "1m30s");
        assert_eq!(render(Duration::from_secs(3600)), "1h");
        assert_eq!(render(Duration::from_secs(5401)), "1h30m1s");
        for bad in [
            "", "90", "m", "1.5h", "30m1h", "1h1h", "5d", "5é", "-1s", "0s",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
