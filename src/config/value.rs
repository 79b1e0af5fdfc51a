//! Turning the text of one pgpool.conf value into a typed value, and back into text, exactly as
//! pgpool does (spec/config.md §3): booleans by prefix (garbage counts as true), integers with
//! C `strtol` base-0 semantics and optional units, floats with `atof`, enums case-insensitively,
//! lists split on their separator. Error messages are pgpool's, word for word.

use super::error::ConfigError;
use super::params::{EnumValue, Unit};

/// Parse a boolean the way PostgreSQL's `parse_bool_with_len` does: any prefix of `true`,
/// `false`, `yes`, `no`; `on`/`off` with at least two letters; `1`/`0`. Returns `None` when the
/// text is none of those (pgpool then treats it as true, see [`parse_bool_lenient`]).
pub fn parse_bool(text: &str) -> Option<bool> {
    let t = text.to_ascii_lowercase();
    let prefix_of = |word: &str, min: usize| t.len() >= min && word.starts_with(t.as_str());
    match t.as_bytes().first() {
        Some(b't') if prefix_of("true", 1) => Some(true),
        Some(b'f') if prefix_of("false", 1) => Some(false),
        Some(b'y') if prefix_of("yes", 1) => Some(true),
        Some(b'n') if prefix_of("no", 1) => Some(false),
        Some(b'o') if prefix_of("on", 2) => Some(true),
        Some(b'o') if prefix_of("off", 2) => Some(false),
        Some(b'1') if t.len() == 1 => Some(true),
        Some(b'0') if t.len() == 1 => Some(false),
        _ => None,
    }
}

/// pgpool's quirk (verified on 4.3.5): an unrecognised boolean is not an error but `true`.
pub fn parse_bool_lenient(text: &str) -> bool {
    parse_bool(text).unwrap_or(true)
}

/// Result of C `strtol(s, &end, 0)`: the value (saturated on overflow), bytes consumed
/// (0 = no number), and whether it overflowed a 64-bit long.
fn strtol0(s: &[u8]) -> (i64, usize, bool) {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let (radix, start) = if s.get(i) == Some(&b'0')
        && matches!(s.get(i + 1), Some(b'x' | b'X'))
        && s.get(i + 2).is_some_and(|c| c.is_ascii_hexdigit())
    {
        (16u32, i + 2)
    } else if s.get(i) == Some(&b'0') {
        (8, i)
    } else {
        (10, i)
    };
    let mut j = start;
    let mut acc: i128 = 0;
    let mut overflow = false;
    while j < s.len() {
        let Some(d) = (s[j] as char).to_digit(radix) else {
            break;
        };
        acc = acc * radix as i128 + d as i128;
        if acc > i64::MAX as i128 + 1 {
            overflow = true;
            acc = i64::MAX as i128 + 1;
        }
        j += 1;
    }
    if j == start {
        return (0, 0, false);
    }
    let v = if neg { -acc } else { acc };
    if v > i64::MAX as i128 || v < i64::MIN as i128 {
        overflow = true;
    }
    (
        v.clamp(i64::MIN as i128, i64::MAX as i128) as i64,
        j,
        overflow,
    )
}

/// The longest prefix of `s` that C `strtod` would read as a decimal number (leading white space
/// allowed); returns the value and bytes consumed (0 = no number).
fn strtod(s: &[u8]) -> (f64, usize) {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c') {
        i += 1;
    }
    let num_start = i;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        i += 1;
    }
    let int_start = i;
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < s.len() && s[i] == b'.' {
        let f = i + 1;
        let mut k = f;
        while k < s.len() && s[k].is_ascii_digit() {
            k += 1;
        }
        digits += k - f;
        if digits > 0 {
            i = k;
        }
    }
    if digits == 0 {
        return (0.0, 0);
    }
    if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
        let mut k = i + 1;
        if k < s.len() && (s[k] == b'+' || s[k] == b'-') {
            k += 1;
        }
        let e = k;
        while k < s.len() && s[k].is_ascii_digit() {
            k += 1;
        }
        if k > e {
            i = k;
        }
    }
    let text = std::str::from_utf8(&s[num_start..i]).unwrap_or("0");
    (text.parse::<f64>().unwrap_or(0.0), i)
}

/// C `atof`: the leading number of the text, 0 for garbage.
pub fn atof(text: &str) -> f64 {
    strtod(text.as_bytes()).0
}

/// Units a unit-bearing integer accepts, with the factor to the given base unit.
fn unit_factor(base: Unit, unit: &str) -> Option<f64> {
    const TIME_MS: &[(&str, f64)] = &[
        ("us", 0.001),
        ("ms", 1.0),
        ("s", 1000.0),
        ("min", 60_000.0),
        ("h", 3_600_000.0),
        ("d", 86_400_000.0),
    ];
    const MEM_B: &[(&str, f64)] = &[
        ("B", 1.0),
        ("kB", 1024.0),
        ("MB", 1024.0 * 1024.0),
        ("GB", 1024.0 * 1024.0 * 1024.0),
        ("TB", 1024.0 * 1024.0 * 1024.0 * 1024.0),
    ];
    let (table, base_factor) = match base {
        Unit::None => return None,
        Unit::Ms => (TIME_MS, 1.0),
        Unit::S => (TIME_MS, 1000.0),
        Unit::Min => (TIME_MS, 60_000.0),
        Unit::B => (MEM_B, 1.0),
        Unit::Kb => (MEM_B, 1024.0),
    };
    table
        .iter()
        .find(|(u, _)| *u == unit)
        .map(|(_, f)| f / base_factor)
}

/// The next smaller unit's factor (relative to the base unit), for rounding fractional input:
/// `1.5min` on a seconds parameter rounds to whole seconds.
fn smaller_unit_factor(base: Unit, unit: &str) -> Option<f64> {
    let smaller = match unit {
        "ms" => "us",
        "s" => "ms",
        "min" => "s",
        "h" => "min",
        "d" => "h",
        "kB" => "B",
        "MB" => "kB",
        "GB" => "MB",
        "TB" => "GB",
        _ => return None,
    };
    unit_factor(base, smaller)
}

/// The hint pgpool gives when a unit is not accepted.
pub fn unit_hint(base: Unit) -> Option<&'static str> {
    match base {
        Unit::None => None,
        Unit::Ms | Unit::S | Unit::Min => Some(
            "Valid units for this parameter are \"us\", \"ms\", \"s\", \"min\", \"h\", and \"d\".",
        ),
        Unit::B | Unit::Kb => {
            Some("Valid units for this parameter are \"B\", \"kB\", \"MB\", \"GB\", and \"TB\".")
        }
    }
}

fn invalid(name: &str, text: &str, hint: Option<&str>) -> ConfigError {
    ConfigError::invalid(format!(
        "invalid value for parameter \"{name}\": \"{text}\""
    ))
    .with_hint(hint.map(str::to_owned))
}

/// Parse an integer parameter value (spec/config.md §3.2): strtol base 0, strtod fallback,
/// optional unit, range check. `wide` = int64 parameter (range beyond 32 bits).
pub fn parse_int(
    name: &str,
    text: &str,
    unit: Unit,
    min: i64,
    max: i64,
    wide: bool,
) -> Result<i64, ConfigError> {
    let bytes = text.as_bytes();
    let (ival, used, overflow) = strtol0(bytes);
    if used == 0 {
        // strtol found nothing; strtod may still find ".5" and the like.
        let (_, dused) = strtod(bytes);
        if dused == 0 {
            return Err(invalid(name, text, None));
        }
    }
    let narrow_overflow = !wide && (ival > i32::MAX as i64 || ival < i32::MIN as i64);
    let stop = bytes.get(used).copied();
    let (mut val, mut end) = (ival as f64, used);
    let mut is_float = false;
    if used == 0 || overflow || matches!(stop, Some(b'.' | b'e' | b'E')) || narrow_overflow {
        let (d, dused) = strtod(bytes);
        val = d;
        end = dused;
        is_float = true;
    }
    let mut rest = &bytes[end..];
    while let Some((c, r)) = rest.split_first() {
        if c.is_ascii_whitespace() {
            rest = r;
        } else {
            break;
        }
    }
    if !rest.is_empty() {
        if unit == Unit::None {
            return Err(invalid(name, text, None));
        }
        let letters = rest.iter().take_while(|c| c.is_ascii_alphabetic()).count();
        let tail_ok = rest[letters..].iter().all(|c| c.is_ascii_whitespace());
        let ustr = std::str::from_utf8(&rest[..letters]).unwrap_or("");
        let factor = if letters <= 3 && tail_ok {
            unit_factor(unit, ustr)
        } else {
            None
        };
        let Some(factor) = factor else {
            return Err(invalid(name, text, unit_hint(unit)));
        };
        let mut cvalue = val * factor;
        if let Some(small) = smaller_unit_factor(unit, ustr) {
            if small >= 1.0 {
                cvalue = (cvalue / small).round_ties_even() * small;
            }
        }
        val = cvalue;
        is_float = true;
    }
    let limit = if wide {
        i64::MAX as f64
    } else {
        i32::MAX as f64
    };
    let result = if is_float {
        let r = val.round_ties_even();
        if !r.is_finite() || r > limit || r < -limit - 1.0 {
            return Err(invalid(name, text, Some("Value exceeds allowed range.")));
        }
        r as i64
    } else {
        if narrow_overflow {
            return Err(invalid(name, text, Some("Value exceeds allowed range.")));
        }
        ival
    };
    if result < min || result > max {
        return Err(ConfigError::invalid(format!(
            "{result} is outside the valid range for parameter \"{name}\" ({min} .. {max})"
        )));
    }
    Ok(result)
}

/// Parse `backend_weightN` (spec §3.4): `atof`, garbage is 0, range-checked.
pub fn parse_real(name: &str, text: &str, min: f64, max: f64) -> Result<f64, ConfigError> {
    let v = atof(text);
    if v < min || v > max {
        return Err(ConfigError::invalid(format!(
            "{v:.6} is outside the valid range for parameter \"{name}\" ({min:.6} .. {max:.6})"
        )));
    }
    Ok(v)
}

/// Parse an enum value case-insensitively; the error hint lists the non-hidden names.
pub fn parse_enum(name: &str, text: &str, values: &[EnumValue]) -> Result<i32, ConfigError> {
    values
        .iter()
        .find(|v| v.name.eq_ignore_ascii_case(text))
        .map(|v| v.code)
        .ok_or_else(|| {
            let names: Vec<&str> = values
                .iter()
                .filter(|v| !v.hidden)
                .map(|v| v.name)
                .collect();
            invalid(
                name,
                text,
                Some(&format!("Available values: {}.", names.join(", "))),
            )
        })
}

/// The name an enum code is displayed as: the first table entry with that code.
pub fn enum_name(values: &[EnumValue], code: i32) -> &'static str {
    values
        .iter()
        .find(|v| v.code == code)
        .map_or("", |v| v.name)
}

/// Split a plain list the way pgpool's `strtok` loop does: runs of separators collapse, empty
/// items vanish, each item is trimmed of white space.
pub fn split_list(raw: &str, sep: char) -> Vec<String> {
    raw.split(sep)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Split `primary_routing_query_pattern_list` (spec §3.7): `;` separates items, a backslash
/// protects the next character (and is kept), `\'` becomes `'`, a trailing `;` is optional.
pub fn split_escaped_semicolons(raw: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\'') => cur.push('\''),
                Some(n) => {
                    cur.push('\\');
                    cur.push(n);
                }
                None => cur.push('\\'),
            },
            ';' => {
                if !cur.is_empty() {
                    items.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        items.push(cur);
    }
    items
}

/// Display of a unit-bearing integer for PGPOOL SHOW (spec §3.2): the largest unit that divides
/// the value exactly, no space; zero or negative values bare.
pub fn display_with_unit(value: i64, unit: Unit) -> String {
    // (unit name, size in the base unit) from largest to smallest, only whole multiples.
    let table: &[(&str, i64)] = match unit {
        Unit::None => &[],
        Unit::Ms => &[
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("min", 60_000),
            ("s", 1000),
            ("ms", 1),
        ],
        Unit::S => &[("d", 86_400), ("h", 3600), ("min", 60), ("s", 1)],
        Unit::Min => &[("d", 1440), ("h", 60), ("min", 1)],
        Unit::B => &[
            ("TB", 1 << 40),
            ("GB", 1 << 30),
            ("MB", 1 << 20),
            ("kB", 1 << 10),
            ("B", 1),
        ],
        Unit::Kb => &[("TB", 1 << 30), ("GB", 1 << 20), ("MB", 1 << 10), ("kB", 1)],
    };
    if value <= 0 || table.is_empty() {
        return value.to_string();
    }
    for (name, size) in table {
        if value % size == 0 {
            return format!("{}{}", value / size, name);
        }
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(text: &str, unit: Unit) -> Result<i64, String> {
        parse_int("p", text, unit, i32::MIN as i64, i32::MAX as i64, false).map_err(|e| {
            format!(
                "{}{}",
                e,
                e.hint().map(|h| format!(" / {h}")).unwrap_or_default()
            )
        })
    }

    #[test]
    fn booleans_by_prefix_and_garbage_is_true() {
        for t in ["t", "TR", "true", "y", "YES", "on", "On", "1"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for t in ["f", "fal", "n", "NO", "off", "OF", "0"] {
            assert_eq!(parse_bool(t), Some(false), "{t}");
        }
        for t in ["o", "", "garbage", "11", "truex", "2"] {
            assert_eq!(parse_bool(t), None, "{t}");
        }
        assert!(parse_bool_lenient("garbage"));
        assert!(!parse_bool_lenient("off"));
    }

    #[test]
    fn integers_follow_strtol_base_zero() {
        assert_eq!(int("010", Unit::None), Ok(8));
        assert_eq!(int("0x10", Unit::None), Ok(16));
        assert_eq!(int("0600", Unit::None), Ok(384));
        assert_eq!(int("-5", Unit::None), Ok(-5));
        assert_eq!(int("  12  ", Unit::None), Ok(12));
        assert_eq!(int("1.5e1", Unit::None), Ok(15));
        assert_eq!(int("2.5", Unit::None), Ok(2));
        assert_eq!(
            int("08", Unit::None),
            Err("invalid value for parameter \"p\": \"08\"".into())
        );
        assert_eq!(
            int("abc", Unit::None),
            Err("invalid value for parameter \"p\": \"abc\"".into())
        );
        assert_eq!(
            int("10x", Unit::None),
            Err("invalid value for parameter \"p\": \"10x\"".into())
        );
        assert_eq!(
            int("99999999999", Unit::None),
            Err(
                "invalid value for parameter \"p\": \"99999999999\" / Value exceeds allowed range."
                    .into()
            )
        );
    }

    #[test]
    fn units_convert_and_round() {
        assert_eq!(int("1min", Unit::S), Ok(60));
        assert_eq!(int("1.5min", Unit::S), Ok(90));
        assert_eq!(int("10 s", Unit::S), Ok(10));
        assert_eq!(int("1d", Unit::Min), Ok(1440));
        assert_eq!(int("10MB", Unit::Kb), Ok(10240));
        assert_eq!(int("64MB", Unit::B), Ok(67108864));
        assert_eq!(int("1500ms", Unit::S), Ok(2));
        assert_eq!(int("3GB", Unit::Kb), Ok(3145728));
        let hint =
            "Valid units for this parameter are \"us\", \"ms\", \"s\", \"min\", \"h\", and \"d\".";
        assert_eq!(
            int("10xyz", Unit::S),
            Err(format!(
                "invalid value for parameter \"p\": \"10xyz\" / {hint}"
            ))
        );
        assert!(int("10S", Unit::S).is_err());
        assert!(int("10mins", Unit::S).is_err());
        assert_eq!(
            int("10s", Unit::None),
            Err("invalid value for parameter \"p\": \"10s\"".into())
        );
    }

    #[test]
    fn range_errors_are_worded_like_pgpool() {
        let e = parse_int(
            "num_init_children",
            "0",
            Unit::None,
            1,
            i32::MAX as i64,
            false,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "0 is outside the valid range for parameter \"num_init_children\" (1 .. 2147483647)"
        );
        let e = parse_real("backend_weight0", "-1", 0.0, 1e8).unwrap_err();
        assert_eq!(
            e.to_string(),
            "-1.000000 is outside the valid range for parameter \"backend_weight0\" (0.000000 .. 100000000.000000)"
        );
        assert_eq!(parse_real("w", "garbage", 0.0, 1e8).ok(), Some(0.0));
        assert_eq!(parse_real("w", "0.5e1", 0.0, 1e8).ok(), Some(5.0));
    }

    #[test]
    fn unit_display_uses_largest_exact_unit() {
        assert_eq!(display_with_unit(300, Unit::S), "5min");
        assert_eq!(display_with_unit(20, Unit::S), "20s");
        assert_eq!(display_with_unit(10240, Unit::Kb), "10MB");
        assert_eq!(display_with_unit(67108864, Unit::B), "64MB");
        assert_eq!(display_with_unit(409600, Unit::B), "400kB");
        assert_eq!(display_with_unit(1440, Unit::Min), "1d");
        assert_eq!(display_with_unit(10000, Unit::Ms), "10s");
        assert_eq!(display_with_unit(0, Unit::S), "0");
        assert_eq!(display_with_unit(-1, Unit::S), "-1");
    }

    #[test]
    fn lists_split_like_strtok() {
        assert_eq!(
            split_list("ABORT; DISCARD ALL", ';'),
            vec!["ABORT", "DISCARD ALL"]
        );
        assert_eq!(split_list(",,a, b ,,", ','), vec!["a", "b"]);
        assert!(split_list("", ',').is_empty());
        assert_eq!(
            split_escaped_semicolons(r"a\;b;it\'s;c;"),
            vec![r"a\;b", "it's", "c"]
        );
    }
}
