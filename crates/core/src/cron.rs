//! Cron schedules as CronJobs use them: the grammar of `robfig/cron/v3`'s
//! `ParseStandard` (five fields, names, ranges, steps, lists, the `@hourly`
//! family and `@every <duration>`, an optional `TZ=`/`CRON_TZ=` prefix) and
//! its next-activation search, including its handling of daylight saving
//! time. Both the API server (validation) and the CronJob controller
//! (scheduling) use it, so it lives here, without I/O beyond the time zone
//! database.
//!
//! Owns: parsing, error messages (those of the Go library, which users see in
//! validation errors and events), next-time computation, time zone lookup by
//! Go's `time.LoadLocation` rules. Does not own: which time a CronJob runs
//! (the controller).

use std::fmt;
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, Zoned, civil};

/// Marks a field written as `*` or `?` (it matters for day-of-month versus
/// day-of-week matching).
const STAR: u64 = 1 << 63;

/// A parse error, worded as `robfig/cron` words it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Error(pub String);

fn err(msg: impl Into<String>) -> Error {
    Error(msg.into())
}

/// Bounds and names of one field.
struct Field {
    min: u32,
    max: u32,
    names: &'static [(&'static str, u32)],
}

const MINUTES: Field = Field {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Field = Field {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Field = Field {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Field = Field {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
const DOW: Field = Field {
    min: 0,
    max: 6,
    names: &[
        ("sun", 0),
        ("mon", 1),
        ("tue", 2),
        ("wed", 3),
        ("thu", 4),
        ("fri", 5),
        ("sat", 6),
    ],
};

/// Bit sets of the allowed values of each field (bit n = value n).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Spec {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
}

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Spec(Spec),
    /// `@every d`: whole seconds, at least one.
    Every(Duration),
}

/// A parsed schedule.
#[derive(Clone, Debug)]
pub struct Schedule {
    kind: Kind,
    /// From a `TZ=` prefix; `None` means the caller's local zone.
    location: Option<TimeZone>,
}

/// Where the schedule's `TZ=` prefix ends and the time zone it names.
fn split_tz(spec: &str) -> Result<(Option<TimeZone>, &str), Error> {
    if !(spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=")) {
        return Ok((None, spec));
    }
    let eq = spec.find('=').unwrap_or(0);
    let Some(space) = spec.find(' ') else {
        // The Go library slices past the end here and panics; refuse instead.
        return Err(err(format!(
            "provided bad location {}: missing schedule",
            &spec[eq + 1..]
        )));
    };
    let name = &spec[eq + 1..space];
    let tz = load_location(name)
        .map_err(|e| err(format!("provided bad location {name}: {e}")))?
        .unwrap_or_else(TimeZone::system);
    Ok((Some(tz), spec[space..].trim()))
}

/// `time.LoadLocation`: `""` and `"UTC"` are UTC, `"Local"` is the local
/// zone (`Ok(None)`), anything else an IANA name in the system database or,
/// failing that, the bundled one. The error reads as Go's.
pub fn load_location(name: &str) -> Result<Option<TimeZone>, String> {
    if name.is_empty() || name == "UTC" {
        return Ok(Some(TimeZone::UTC));
    }
    if name == "Local" {
        return Ok(None);
    }
    if name.contains("..") || name.starts_with('/') || name.contains('\\') {
        return Err("time: invalid location name".into());
    }
    match TimeZone::get(name) {
        // Go looks names up as file paths: case matters.
        Ok(tz) if tz.iana_name().is_none_or(|n| n == name) => Ok(Some(tz)),
        _ => Err(format!("unknown time zone {name}")),
    }
}

/// `cron.ParseStandard`.
pub fn parse_standard(spec: &str) -> Result<Schedule, Error> {
    if spec.is_empty() {
        return Err(err("empty spec string"));
    }
    let (location, spec) = split_tz(spec)?;
    if spec.starts_with('@') {
        return Ok(Schedule {
            kind: descriptor(spec)?,
            location,
        });
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(err(format!(
            "expected exactly 5 fields, found {}: {}",
            fields.len(),
            fields.join(" ")
        )));
    }
    let spec = Spec {
        minute: field(fields[0], &MINUTES)?,
        hour: field(fields[1], &HOURS)?,
        dom: field(fields[2], &DOM)?,
        month: field(fields[3], &MONTHS)?,
        dow: field(fields[4], &DOW)?,
    };
    Ok(Schedule {
        kind: Kind::Spec(spec),
        location,
    })
}

fn all(f: &Field) -> u64 {
    bits(f.min, f.max, 1) | STAR
}

fn descriptor(d: &str) -> Result<Kind, Error> {
    let one = |v: u32| 1u64 << v;
    let spec = |minute, hour, dom, month, dow| {
        Kind::Spec(Spec {
            minute,
            hour,
            dom,
            month,
            dow,
        })
    };
    Ok(match d {
        "@yearly" | "@annually" => spec(one(0), one(0), one(1), one(1), all(&DOW)),
        "@monthly" => spec(one(0), one(0), one(1), all(&MONTHS), all(&DOW)),
        "@weekly" => spec(one(0), one(0), all(&DOM), all(&MONTHS), one(0)),
        "@daily" | "@midnight" => spec(one(0), one(0), all(&DOM), all(&MONTHS), all(&DOW)),
        "@hourly" => spec(one(0), all(&HOURS), all(&DOM), all(&MONTHS), all(&DOW)),
        _ => match d.strip_prefix("@every ") {
            Some(rest) => {
                let every = parse_go_duration(rest)
                    .map_err(|e| err(format!("failed to parse duration {d}: {e}")))?;
                // `cron.Every`: at least a second, whole seconds only.
                let secs = every.as_secs().max(1);
                Kind::Every(Duration::from_secs(secs))
            }
            None => return Err(err(format!("unrecognized descriptor: {d}"))),
        },
    })
}

fn field(expr: &str, f: &Field) -> Result<u64, Error> {
    let mut out = 0;
    for part in expr.split(',') {
        out |= range(part, f)?;
    }
    Ok(out)
}

fn bits(min: u32, max: u32, step: u32) -> u64 {
    if step == 1 {
        return (!(u64::MAX << (max + 1))) & (u64::MAX << min);
    }
    let mut b = 0;
    let mut i = min;
    while i <= max {
        b |= 1 << i;
        i += step;
    }
    b
}

/// One element of a list: `*`, `?`, `n`, `a-b`, each with an optional `/step`.
fn range(expr: &str, f: &Field) -> Result<u64, Error> {
    let mut slash = expr.split('/');
    let range_part = slash.next().unwrap_or_default();
    let step_part = slash.next();
    if slash.next().is_some() {
        return Err(err(format!("too many slashes: {expr}")));
    }
    let low_high: Vec<&str> = range_part.split('-').collect();
    let single = low_high.len() == 1;
    let (start, mut end, mut extra) = if low_high[0] == "*" || low_high[0] == "?" {
        (f.min, f.max, STAR)
    } else {
        let start = int_or_name(low_high[0], f)?;
        let end = match low_high.len() {
            1 => start,
            2 => int_or_name(low_high[1], f)?,
            _ => return Err(err(format!("too many hyphens: {expr}"))),
        };
        (start, end, 0)
    };
    let step = match step_part {
        None => 1,
        Some(s) => {
            let step = parse_int(s)?;
            // "N/step" means "N-max/step".
            if single {
                end = f.max;
            }
            if step > 1 {
                extra = 0;
            }
            step
        }
    };
    if start < f.min {
        return Err(err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            f.min
        )));
    }
    if end > f.max {
        return Err(err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            f.max
        )));
    }
    if start > end {
        return Err(err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        )));
    }
    if step == 0 {
        return Err(err(format!(
            "step of range should be a positive number: {expr}"
        )));
    }
    Ok(bits(start, end, step) | extra)
}

fn int_or_name(expr: &str, f: &Field) -> Result<u32, Error> {
    let lower = expr.to_ascii_lowercase();
    if let Some((_, v)) = f.names.iter().find(|(n, _)| *n == lower) {
        return Ok(*v);
    }
    parse_int(expr)
}

/// `strconv.Atoi` then a sign check, with the Go library's messages.
fn parse_int(expr: &str) -> Result<u32, Error> {
    let digits = expr.strip_prefix(['+', '-']).unwrap_or(expr);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(format!(
            "failed to parse int from {expr}: strconv.Atoi: parsing {expr:?}: invalid syntax"
        )));
    }
    let n: i64 = expr.parse().map_err(|_| {
        err(format!(
            "failed to parse int from {expr}: strconv.Atoi: parsing {expr:?}: value out of range"
        ))
    })?;
    if n < 0 {
        return Err(err(format!("negative number ({n}) not allowed: {expr}")));
    }
    // Anything this large is out of every field's range anyway.
    Ok(u32::try_from(n).unwrap_or(u32::MAX).min(1000))
}

/// Go's `time.ParseDuration` for what `@every` accepts: a sequence of
/// decimal numbers with units `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`. Negative
/// durations parse (and then count as less than a second).
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration {s:?}");
    let mut rest = s;
    let mut negative = false;
    if let Some(r) = rest.strip_prefix('-') {
        negative = true;
        rest = r;
    } else if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num == "." {
            return Err(invalid());
        }
        let value: f64 = num.parse().map_err(|_| invalid())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let nanos = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration {s:?}")),
            u => return Err(format!("time: unknown unit {u:?} in duration {s:?}")),
        };
        total += value * nanos;
    }
    if negative {
        return Ok(Duration::ZERO);
    }
    Ok(Duration::from_nanos(total as u64))
}

impl Schedule {
    /// The first activation strictly after `after`, searched in the
    /// schedule's `TZ=` zone or else in `local`. `None` when there is none
    /// within five years (e.g. `0 0 30 2 *`).
    pub fn next(&self, after: Timestamp, local: &TimeZone) -> Option<Timestamp> {
        match &self.kind {
            Kind::Every(d) => {
                // Runs on the second: drop the sub-second part of `after`.
                let base = Timestamp::from_second(after.as_second()).ok()?;
                let delay = i64::try_from(d.as_secs()).ok()?;
                base.checked_add(Span::new().seconds(delay)).ok()
            }
            Kind::Spec(spec) => {
                let tz = self.location.clone().unwrap_or_else(|| local.clone());
                next_spec(spec, after.to_zoned(tz))
            }
        }
    }

    /// Whether the schedule carries its own `TZ=` zone.
    pub fn has_location(&self) -> bool {
        self.location.is_some()
    }
}

fn has(set: u64, v: i8) -> bool {
    v >= 0 && set & (1u64 << v) != 0
}

fn day_matches(s: &Spec, t: &Zoned) -> bool {
    let dom = has(s.dom, t.day());
    let dow = has(s.dow, t.weekday().to_sunday_zero_offset());
    // A `*` in either field means both must match; otherwise either may.
    if s.dom & STAR != 0 || s.dow & STAR != 0 {
        dom && dow
    } else {
        dom || dow
    }
}

fn at(tz: &TimeZone, y: i16, mo: i8, d: i8, h: i8) -> Option<Zoned> {
    // Compatible disambiguation, as Go's `time.Date`: a wall time in a gap
    // moves forward, one in a fold takes the earlier instant.
    civil::date(y, mo, d)
        .at(h, 0, 0, 0)
        .to_zoned(tz.clone())
        .ok()
}

fn add(t: &Zoned, span: Span) -> Option<Zoned> {
    t.checked_add(span).ok()
}

fn truncate(t: &Zoned, unit: i64) -> Option<Zoned> {
    let s = t.timestamp().as_second();
    Timestamp::from_second(s - s.rem_euclid(unit))
        .ok()
        .map(|ts| ts.to_zoned(t.time_zone().clone()))
}

/// The field-by-field search of `robfig/cron`'s `SpecSchedule.Next`: move
/// the month, then the day, hour, minute and second forward to the first
/// allowed value, zeroing the smaller fields the first time one moves, and
/// start over when a field wraps.
fn next_spec(s: &Spec, t: Zoned) -> Option<Timestamp> {
    let tz = t.time_zone().clone();
    // The upcoming whole second.
    let base = t.timestamp().as_second() + 1;
    let mut t = Timestamp::from_second(base).ok()?.to_zoned(tz.clone());
    let mut added = false;
    let year_limit = t.year() + 5;
    'wrap: loop {
        if t.year() > year_limit {
            return None;
        }
        while !has(s.month, t.month()) {
            if !added {
                added = true;
                t = at(&tz, t.year(), t.month(), 1, 0)?;
            }
            t = add(&t, Span::new().months(1))?;
            if t.month() == 1 {
                continue 'wrap;
            }
        }
        while !day_matches(s, &t) {
            if !added {
                added = true;
                t = at(&tz, t.year(), t.month(), t.day(), 0)?;
            }
            t = add(&t, Span::new().days(1))?;
            // Where midnight does not exist (DST), the day starts at 01:00
            // or the previous 23:00: put it back on midnight.
            let h = i64::from(t.hour());
            if h != 0 {
                t = if h > 12 {
                    add(&t, Span::new().hours(24 - h))?
                } else {
                    add(&t, Span::new().hours(-h))?
                };
            }
            if t.day() == 1 {
                continue 'wrap;
            }
        }
        while !has(s.hour, t.hour()) {
            if !added {
                added = true;
                t = at(&tz, t.year(), t.month(), t.day(), t.hour())?;
            }
            t = add(&t, Span::new().hours(1))?;
            if t.hour() == 0 {
                continue 'wrap;
            }
        }
        while !has(s.minute, t.minute()) {
            if !added {
                added = true;
                t = truncate(&t, 60)?;
            }
            t = add(&t, Span::new().minutes(1))?;
            if t.minute() == 0 {
                continue 'wrap;
            }
        }
        // Standard schedules fire at second 0.
        while t.second() != 0 {
            if !added {
                added = true;
                t = truncate(&t, 1)?;
            }
            t = add(&t, Span::new().seconds(1))?;
            if t.second() == 0 {
                continue 'wrap;
            }
        }
        return Some(t.timestamp());
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Every(d) => write!(f, "@every {}s", d.as_secs()),
            Kind::Spec(s) => write!(
                f,
                "minute={:#x} hour={:#x} dom={:#x} month={:#x} dow={:#x}",
                s.minute, s.hour, s.dom, s.month, s.dow
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse()
            .unwrap_or_else(|e| panic!("bad timestamp {s}: {e}"))
    }

    fn next_utc(spec: &str, after: &str) -> Option<String> {
        let s = parse_standard(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
        s.next(ts(after), &TimeZone::UTC).map(|t| t.to_string())
    }

    #[test]
    fn next_times_in_utc() {
        let cases = [
            (
                "*/1 * * * *",
                "2024-01-01T00:00:30Z",
                "2024-01-01T00:01:00Z",
            ),
            ("* * * * *", "2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z"),
            (
                "*/15 * * * *",
                "2024-01-01T00:16:00Z",
                "2024-01-01T00:30:00Z",
            ),
            ("5 4 * * *", "2024-01-01T04:05:00Z", "2024-01-02T04:05:00Z"),
            ("0 0 1 * *", "2024-01-15T00:00:00Z", "2024-02-01T00:00:00Z"),
            (
                "30 8 * * mon-fri",
                "2024-06-07T09:00:00Z",
                "2024-06-10T08:30:00Z",
            ),
            (
                "0 12 * JAN,jul *",
                "2024-02-01T00:00:00Z",
                "2024-07-01T12:00:00Z",
            ),
            ("0 0 29 2 *", "2024-03-01T00:00:00Z", "2028-02-29T00:00:00Z"),
            (
                "10-20/5 * * * *",
                "2024-01-01T00:16:00Z",
                "2024-01-01T00:20:00Z",
            ),
            (
                "10/20 * * * *",
                "2024-01-01T00:31:00Z",
                "2024-01-01T00:50:00Z",
            ),
            // Day of month OR day of week when neither is `*`.
            ("0 0 13 * 5", "2024-09-01T00:00:00Z", "2024-09-06T00:00:00Z"),
            // `*/2` is not a star: OR semantics again.
            (
                "0 0 */2 * 1",
                "2024-09-01T00:00:00Z",
                "2024-09-02T00:00:00Z",
            ),
            ("@hourly", "2024-01-01T10:30:00Z", "2024-01-01T11:00:00Z"),
            ("@daily", "2024-01-01T10:30:00Z", "2024-01-02T00:00:00Z"),
            ("@midnight", "2024-01-01T10:30:00Z", "2024-01-02T00:00:00Z"),
            ("@weekly", "2024-01-01T10:30:00Z", "2024-01-07T00:00:00Z"),
            ("@monthly", "2024-01-01T10:30:00Z", "2024-02-01T00:00:00Z"),
            ("@yearly", "2024-01-01T10:30:00Z", "2025-01-01T00:00:00Z"),
            ("@annually", "2024-01-01T10:30:00Z", "2025-01-01T00:00:00Z"),
            (
                "@every 90s",
                "2024-01-01T10:30:00.5Z",
                "2024-01-01T10:31:30Z",
            ),
            (
                "@every 1h30m",
                "2024-01-01T10:30:00Z",
                "2024-01-01T12:00:00Z",
            ),
            ("? * * * ?", "2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z"),
        ];
        for (spec, after, want) in cases {
            assert_eq!(
                next_utc(spec, after).as_deref(),
                Some(want),
                "{spec} after {after}"
            );
        }
    }

    #[test]
    fn impossible_dates_have_no_next_time() {
        assert_eq!(next_utc("0 0 30 2 *", "2024-01-01T00:00:00Z"), None);
        assert_eq!(next_utc("59 23 31 4 *", "2024-01-01T00:00:00Z"), None);
    }

    #[test]
    fn parse_errors_read_as_robfig_cron() {
        let cases = [
            ("", "empty spec string"),
            ("* * * *", "expected exactly 5 fields, found 4: * * * *"),
            (
                "* * * * * *",
                "expected exactly 5 fields, found 6: * * * * * *",
            ),
            ("60 * * * *", "end of range (60) above maximum (59): 60"),
            ("* 24 * * *", "end of range (24) above maximum (23): 24"),
            ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
            ("* * * 13 *", "end of range (13) above maximum (12): 13"),
            ("* * * * 7", "end of range (7) above maximum (6): 7"),
            (
                "5-1 * * * *",
                "beginning of range (5) beyond end of range (1): 5-1",
            ),
            (
                "*/0 * * * *",
                "step of range should be a positive number: */0",
            ),
            ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
            ("*/2/3 * * * *", "too many slashes: */2/3"),
            ("@fortnightly", "unrecognized descriptor: @fortnightly"),
            (
                "x * * * *",
                "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax",
            ),
            (
                "@every 5x",
                "failed to parse duration @every 5x: time: unknown unit \"x\" in duration \"5x\"",
            ),
            (
                "TZ=Mars/Base * * * * *",
                "provided bad location Mars/Base: unknown time zone Mars/Base",
            ),
        ];
        for (spec, want) in cases {
            match parse_standard(spec) {
                Ok(s) => panic!("{spec:?} parsed as {s}"),
                Err(e) => assert_eq!(e.to_string(), want, "{spec:?}"),
            }
        }
    }

    fn zone(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn time_zone_prefix_and_local_zone() {
        let ny = zone("America/New_York");
        let s = parse_standard("TZ=America/New_York 0 9 * * *").unwrap_or_else(|e| panic!("{e}"));
        assert!(s.has_location());
        // 09:00 EST is 14:00 UTC, whatever the caller's zone.
        let got = s.next(ts("2024-01-10T15:00:00Z"), &TimeZone::UTC);
        assert_eq!(got, Some(ts("2024-01-11T14:00:00Z")));
        let plain = parse_standard("0 9 * * *").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            plain.next(ts("2024-07-10T15:00:00Z"), &ny),
            Some(ts("2024-07-11T13:00:00Z"))
        );
    }

    #[test]
    fn daylight_saving_gaps_and_folds() {
        let ny = zone("America/New_York");
        // 2024-03-10: 02:00 EST jumps to 03:00 EDT. 02:30 does not exist that
        // day and, as with robfig/cron, that day's run is skipped.
        let s = parse_standard("30 2 * * *").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.next(ts("2024-03-09T12:00:00Z"), &ny),
            Some(ts("2024-03-11T06:30:00Z"))
        );
        // 2024-11-03: 01:30 happens twice; the first (EDT, 05:30 UTC) runs.
        let s = parse_standard("30 1 * * *").unwrap_or_else(|e| panic!("{e}"));
        let first = s.next(ts("2024-11-02T12:00:00Z"), &ny);
        assert_eq!(first, Some(ts("2024-11-03T05:30:00Z")));
        // Daily at midnight across the spring change is still local midnight.
        let s = parse_standard("0 0 * * *").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.next(ts("2024-03-10T06:00:00Z"), &ny),
            Some(ts("2024-03-11T04:00:00Z"))
        );
        // Where midnight itself is skipped (Sao Paulo, 2018-11-04 00:00 ->
        // 01:00), robfig/cron skips that day's midnight run too.
        let sp = zone("America/Sao_Paulo");
        assert_eq!(
            s.next(ts("2018-11-03T12:00:00Z"), &sp),
            Some(ts("2018-11-05T02:00:00Z"))
        );
    }

    #[test]
    fn load_location_follows_go() {
        assert!(matches!(load_location(""), Ok(Some(_))));
        assert!(matches!(load_location("Local"), Ok(None)));
        assert!(matches!(load_location("Europe/Berlin"), Ok(Some(_))));
        assert_eq!(
            load_location("Not/AZone").err().as_deref(),
            Some("unknown time zone Not/AZone")
        );
        assert_eq!(
            load_location("../etc/passwd").err().as_deref(),
            Some("time: invalid location name")
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("").is_err());
    }
}
