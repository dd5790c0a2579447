//! `resource.Quantity`: parsing the serialized form (`100m`, `1.5Gi`, `2e3`)
//! into integers the way `k8s.io/apimachinery/pkg/api/resource` reads them.
//!
//! Owns: the grammar (sign, digits, optional fraction, one suffix: binary SI
//! `Ki`..`Ei`, decimal SI `n`..`E`, or a decimal exponent `e3`/`E-2`) and the
//! conversions upstream uses everywhere a quantity becomes a number:
//! [`Quantity::value`] and [`Quantity::milli_value`], both rounding up
//! (`Quantity.Value()` / `MilliValue()` round toward +infinity) and saturating
//! at the limits of `i64`; and [`Amount`], the exact value at upstream's nano
//! precision with its format, for sums, comparisons and the canonical string
//! form (`Quantity.String()`: `1500m`, `1Gi`, `2k`).

use std::fmt;

/// Why a quantity string could not be parsed; the message is upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `resource.ErrFormatWrong`.
    #[error(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )]
    Format,
    /// `resource.ErrSuffix`.
    #[error("unable to parse quantity's suffix")]
    Suffix,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A parsed quantity: `digits` (all digits of the number, the decimal point
/// removed) × 10^-`fraction_digits` × the suffix's multiplier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    negative: bool,
    /// The digits as an integer; saturates (numbers that large saturate `i64`
    /// anyway after scaling).
    digits: u128,
    fraction_digits: u32,
    multiplier: Multiplier,
    /// Whether the suffix was a decimal exponent (`e3`), which the
    /// canonical form keeps.
    exponent_suffix: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Multiplier {
    /// × 2^n
    Binary(u32),
    /// × 10^n
    Decimal(i32),
}

/// How a quantity is written out (`resource.Format`), decided by the suffix
/// it was parsed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `Ki`, `Mi`, ...: powers of 1024.
    BinarySI,
    /// No suffix or `n`, `u`, `m`, `k`, `M`, ...: powers of 1000.
    DecimalSI,
    /// `e3`, `E-2`.
    DecimalExponent,
}

impl Quantity {
    /// Parses the serialized form.
    pub fn parse(s: &str) -> Result<Quantity> {
        let s = s.trim();
        if s.is_empty() {
            return Err(Error::Format);
        }
        let (negative, rest) = match s.as_bytes()[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, suffix) = rest.split_at(number_end);
        if number.is_empty() || number == "." {
            return Err(Error::Format);
        }
        let mut digits: u128 = 0;
        let mut fraction_digits = 0u32;
        let mut seen_point = false;
        let mut any_digit = false;
        for c in number.bytes() {
            if c == b'.' {
                if seen_point {
                    return Err(Error::Format);
                }
                seen_point = true;
                continue;
            }
            any_digit = true;
            let d = u128::from(c - b'0');
            match digits.checked_mul(10).and_then(|v| v.checked_add(d)) {
                Some(v) => {
                    digits = v;
                    if seen_point {
                        fraction_digits += 1;
                    }
                }
                // Too many digits to matter: drop further fraction digits,
                // saturate integer ones.
                None if seen_point => {}
                None => digits = u128::MAX,
            }
        }
        if !any_digit {
            return Err(Error::Format);
        }
        let multiplier = parse_suffix(suffix)?;
        Ok(Quantity {
            negative,
            digits,
            fraction_digits,
            multiplier,
            // A lone `E` is exa, a decimal SI suffix.
            exponent_suffix: suffix.len() > 1 && suffix.starts_with(['e', 'E']),
        })
    }

    /// The value rounded up to an integer (`Quantity.Value()`).
    pub fn value(&self) -> i64 {
        self.scaled(0)
    }

    /// The value in thousandths rounded up (`Quantity.MilliValue()`), as CPU
    /// requests are counted.
    pub fn milli_value(&self) -> i64 {
        self.scaled(3)
    }

    /// Whether the quantity is zero.
    pub fn is_zero(&self) -> bool {
        self.digits == 0
    }

    /// -1, 0 or 1 as the quantity is negative, zero or positive
    /// (`Quantity.Sign()`); `-0` is zero.
    pub fn sign(&self) -> i8 {
        match (self.digits == 0, self.negative) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        }
    }

    /// The format the quantity keeps when written out again.
    pub fn format(&self) -> Format {
        match self.multiplier {
            Multiplier::Binary(_) => Format::BinarySI,
            Multiplier::Decimal(_) if self.exponent_suffix => Format::DecimalExponent,
            Multiplier::Decimal(_) => Format::DecimalSI,
        }
    }

    /// The exact value at nano precision, as upstream keeps it: a parsed
    /// quantity finer than 1n is rounded away from zero to whole nanos.
    pub fn amount(&self) -> Amount {
        let mut num = self.digits;
        let mut ten_exp = 9 - self.fraction_digits as i32;
        match self.multiplier {
            Multiplier::Binary(n) => num = num.saturating_mul(1u128 << n),
            Multiplier::Decimal(n) => ten_exp += n,
        }
        let magnitude = if ten_exp >= 0 {
            num.saturating_mul(pow10(ten_exp as u32))
        } else {
            let den = pow10((-ten_exp) as u32);
            if den == u128::MAX {
                u128::from(num > 0)
            } else {
                num.div_ceil(den)
            }
        };
        let magnitude = i128::try_from(magnitude).unwrap_or(i128::MAX);
        Amount {
            nanos: if self.negative { -magnitude } else { magnitude },
            format: self.format(),
        }
    }

    /// value × 10^`exp10`, rounded toward +infinity, saturating.
    fn scaled(&self, exp10: i32) -> i64 {
        // magnitude = digits × mul / 10^fraction_digits × 10^exp10, as a fraction
        // num / den computed in u128 with saturation.
        let mut num = self.digits;
        let mut den: u128 = 1;
        let mut ten_exp = exp10 - self.fraction_digits as i32;
        match self.multiplier {
            Multiplier::Binary(n) => num = num.saturating_mul(1u128 << n),
            Multiplier::Decimal(n) => ten_exp += n,
        }
        if ten_exp >= 0 {
            num = num.saturating_mul(pow10(ten_exp as u32));
        } else {
            den = pow10((-ten_exp) as u32);
        }
        if self.negative {
            // Rounding toward +infinity truncates a negative value.
            let q = if den == u128::MAX { 0 } else { num / den };
            if q >= i64::MAX as u128 {
                i64::MIN
            } else {
                -(q as i64)
            }
        } else {
            let q = if den == u128::MAX {
                u128::from(num > 0)
            } else {
                num.div_ceil(den)
            };
            if q >= i64::MAX as u128 {
                i64::MAX
            } else {
                q as i64
            }
        }
    }
}

/// 10^n, saturating at `u128::MAX`.
fn pow10(n: u32) -> u128 {
    10u128.checked_pow(n).unwrap_or(u128::MAX)
}

fn parse_suffix(suffix: &str) -> Result<Multiplier> {
    Ok(match suffix {
        "" => Multiplier::Decimal(0),
        "Ki" => Multiplier::Binary(10),
        "Mi" => Multiplier::Binary(20),
        "Gi" => Multiplier::Binary(30),
        "Ti" => Multiplier::Binary(40),
        "Pi" => Multiplier::Binary(50),
        "Ei" => Multiplier::Binary(60),
        "n" => Multiplier::Decimal(-9),
        "u" => Multiplier::Decimal(-6),
        "m" => Multiplier::Decimal(-3),
        "k" => Multiplier::Decimal(3),
        "M" => Multiplier::Decimal(6),
        "G" => Multiplier::Decimal(9),
        "T" => Multiplier::Decimal(12),
        "P" => Multiplier::Decimal(15),
        "E" => Multiplier::Decimal(18),
        s if s.starts_with(['e', 'E']) => {
            let exp = &s[1..];
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::Suffix);
            }
            let n: i32 = exp.parse().map_err(|_| Error::Suffix)?;
            Multiplier::Decimal(n)
        }
        _ => return Err(Error::Suffix),
    })
}

impl std::str::FromStr for Quantity {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Quantity::parse(s)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.value())
    }
}

/// `Quantity.MaxMilliValue`: the largest value whose thousandths fit `i64`.
pub const MAX_MILLI_VALUE: i64 = i64::MAX / 1000;

const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// A quantity as a number: nanos (10^-9) with the format it is written in.
/// What upstream's `Quantity` does arithmetic and comparisons on.
#[derive(Debug, Clone, Copy)]
pub struct Amount {
    nanos: i128,
    format: Format,
}

impl Amount {
    /// Zero, written in `format`.
    pub fn zero(format: Format) -> Amount {
        Amount { nanos: 0, format }
    }

    /// `resource.NewQuantity(n, DecimalSI)`: a count.
    pub fn from_int(n: i64) -> Amount {
        Amount {
            nanos: i128::from(n) * NANOS_PER_UNIT,
            format: Format::DecimalSI,
        }
    }

    /// Parses a serialized quantity (`500m`, `1Gi`).
    pub fn parse(s: &str) -> Result<Amount> {
        Ok(Quantity::parse(s)?.amount())
    }

    /// Whether the amount is below zero.
    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    /// Whether the amount is above zero.
    pub fn is_positive(&self) -> bool {
        self.nanos > 0
    }

    /// The value in thousandths, as `NewMilliQuantity` builds it.
    pub fn from_milli(milli: i64, format: Format) -> Amount {
        Amount {
            nanos: i128::from(milli) * 1_000_000,
            format,
        }
    }

    /// The format it is written in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether the amount is zero.
    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// `Quantity.Value()`: rounded up to an integer, saturating.
    pub fn value(&self) -> i64 {
        saturate(div_ceil(self.nanos, NANOS_PER_UNIT))
    }

    /// `Quantity.MilliValue()`: thousandths rounded up, saturating.
    pub fn milli_value(&self) -> i64 {
        saturate(div_ceil(self.nanos, 1_000_000))
    }

    /// `Quantity.Add`: the sum keeps the format of `self` unless `self` is
    /// zero, as upstream's does.
    pub fn add(&mut self, other: Amount) {
        if self.nanos == 0 {
            self.format = other.format;
        }
        self.nanos = self.nanos.saturating_add(other.nanos);
    }

    /// The sum, as [`Amount::add`].
    pub fn plus(&self, other: &Amount) -> Amount {
        let mut sum = *self;
        sum.add(*other);
        sum
    }

    /// `Quantity.Sub`, with the format rule of [`Amount::add`].
    pub fn minus(&self, other: &Amount) -> Amount {
        Amount {
            nanos: self.nanos.saturating_sub(other.nanos),
            format: if self.nanos == 0 {
                other.format
            } else {
                self.format
            },
        }
    }
}

impl PartialEq for Amount {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Amount {}

impl PartialOrd for Amount {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// `Quantity.Cmp`: by value, whatever the format.
impl Ord for Amount {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

fn div_ceil(n: i128, d: i128) -> i128 {
    let q = n / d;
    if n % d > 0 { q + 1 } else { q }
}

fn saturate(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

/// `Quantity.String()`: the canonical form (`CanonicalizeBytes`). Binary
/// quantities stay binary only when they are whole and at least 1Ki in size;
/// decimal ones are written as the smallest integer mantissa with an
/// exponent that is a multiple of 3.
impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0");
        }
        if self.nanos < 0 {
            f.write_str("-")?;
        }
        let nanos = self.nanos.unsigned_abs();
        let whole = nanos.is_multiple_of(NANOS_PER_UNIT as u128);
        if self.format == Format::BinarySI && whole && nanos >= 1024 * NANOS_PER_UNIT as u128 {
            let mut units = nanos / NANOS_PER_UNIT as u128;
            let mut exp = 0usize;
            while units.is_multiple_of(1024) && exp < 6 {
                units /= 1024;
                exp += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][exp];
            return write!(f, "{units}{suffix}");
        }
        let mut mantissa = nanos;
        let mut exp: i32 = -9;
        while mantissa.is_multiple_of(10) {
            mantissa /= 10;
            exp += 1;
        }
        // Go's remainder keeps the sign of the dividend.
        match exp % 3 {
            1 | -2 => {
                mantissa *= 10;
                exp -= 1;
            }
            2 | -1 => {
                mantissa *= 100;
                exp -= 2;
            }
            _ => {}
        }
        if self.format == Format::DecimalExponent {
            return if exp == 0 {
                write!(f, "{mantissa}")
            } else {
                write!(f, "{mantissa}e{exp}")
            };
        }
        let suffix = match exp {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            0 => "",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            18 => "E",
            // Beyond exa: written with an exponent rather than lose digits.
            _ => return write!(f, "{mantissa}e{exp}"),
        };
        write!(f, "{mantissa}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_of_zero_negative_and_positive() {
        let cases: &[(&str, i8)] = &[
            ("0", 0),
            ("-0", 0),
            ("0.000", 0),
            ("0Mi", 0),
            ("1n", 1),
            ("100m", 1),
            ("-1n", -1),
            ("-2Gi", -1),
        ];
        for (input, want) in cases {
            let q = Quantity::parse(input).expect("valid quantity");
            assert_eq!(q.sign(), *want, "{input}");
        }
    }

    #[test]
    fn values_round_up_like_upstream() {
        let cases: &[(&str, i64, i64)] = &[
            // (input, Value(), MilliValue())
            ("0", 0, 0),
            ("1", 1, 1000),
            ("100m", 1, 100),
            ("1500m", 2, 1500),
            ("0.5", 1, 500),
            ("2.25", 3, 2250),
            ("1Ki", 1024, 1_024_000),
            ("1Mi", 1 << 20, (1 << 20) * 1000),
            ("1.5Gi", 3 << 29, (3i64 << 29) * 1000),
            ("128974848", 128_974_848, 128_974_848_000),
            ("129e6", 129_000_000, 129_000_000_000),
            ("129M", 129_000_000, 129_000_000_000),
            ("123Mi", 128_974_848, 128_974_848_000),
            ("1k", 1000, 1_000_000),
            ("1n", 1, 1),
            ("1u", 1, 1),
            ("1000u", 1, 1),
            ("1000000n", 1, 1),
            ("5E-3", 1, 5),
            ("1e3", 1000, 1_000_000),
            ("+2", 2, 2000),
            ("-1", -1, -1000),
            ("-100m", 0, -100),
            ("8Ei", i64::MAX, i64::MAX),
            (".5", 1, 500),
        ];
        for (input, value, milli) in cases {
            let q = Quantity::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(q.value(), *value, "Value() of {input}");
            assert_eq!(q.milli_value(), *milli, "MilliValue() of {input}");
        }
    }

    #[test]
    fn canonical_form_like_quantity_string() {
        let cases: &[(&str, &str)] = &[
            ("0", "0"),
            ("0Mi", "0"),
            ("1", "1"),
            ("1000m", "1"),
            ("0.5", "500m"),
            ("1.5", "1500m"),
            ("100m", "100m"),
            ("1500", "1500"),
            ("1000", "1k"),
            ("2000000", "2M"),
            ("1Gi", "1Gi"),
            ("1024Mi", "1Gi"),
            ("1.5Gi", "1536Mi"),
            ("1536", "1536"),
            ("0.5Ki", "512"),
            ("1.5Ki", "1536"),
            ("128974848", "128974848"),
            ("1e3", "1e3"),
            ("1.5e3", "1500"),
            ("1E-3", "1e-3"),
            ("1n", "1n"),
            ("0.1n", "1n"),
            ("1u", "1u"),
            ("12k", "12k"),
            ("-1", "-1"),
            ("-100m", "-100m"),
        ];
        for (input, want) in cases {
            let q = Quantity::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(q.amount().to_string(), *want, "String() of {input}");
        }
    }

    #[test]
    fn sums_keep_the_first_nonzero_format() {
        let amount = |s: &str| Quantity::parse(s).expect("valid quantity").amount();
        let mut sum = amount("1Gi");
        sum.add(amount("512Mi"));
        assert_eq!(sum.to_string(), "1536Mi");
        let mut sum = Amount::zero(Format::DecimalSI);
        sum.add(amount("1Gi"));
        sum.add(amount("1Gi"));
        assert_eq!(sum.to_string(), "2Gi");
        let mut sum = amount("500m");
        sum.add(amount("1"));
        assert_eq!(sum.to_string(), "1500m");
        assert_eq!(sum.milli_value(), 1500);
        assert_eq!(sum.value(), 2);
        assert!(amount("1Gi") > amount("1G"));
        assert_eq!(amount("1000m"), amount("1"));
    }

    #[test]
    fn rejects_malformed_input() {
        for input in [
            "", "m", "1.2.3", "1Qi", "1e", "1e+", "abc", ".", "1 Gi", "1KiB",
        ] {
            assert!(
                Quantity::parse(input).is_err(),
                "{input:?} should not parse"
            );
        }
    }
}
