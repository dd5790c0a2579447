//! `resource.Quantity`: parsing the serialized form (`100m`, `1.5Gi`, `2e3`)
//! into integers the way `k8s.io/apimachinery/pkg/api/resource` reads them.
//!
//! Owns: the grammar (sign, digits, optional fraction, one suffix: binary SI
//! `Ki`..`Ei`, decimal SI `n`..`E`, or a decimal exponent `e3`/`E-2`) and the
//! conversions upstream uses everywhere a quantity becomes a number:
//! [`Quantity::value`] and [`Quantity::milli_value`], both rounding up
//! (`Quantity.Value()` / `MilliValue()` round toward +infinity) and saturating
//! at the limits of `i64`. Does not own: the canonical string form.

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
    /// Written with an `e`/`E` exponent suffix.
    exponent_suffix: bool,
}

/// `resource.Format`: how a quantity is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuffixFormat {
    /// `Ki`, `Mi`, ...
    BinarySi,
    /// `m`, `k`, `M`, ... or none.
    DecimalSi,
    /// `e3`, `E-2`.
    DecimalExponent,
}

/// `div_ceil` for the non-negative `i128`s of [`Quantity::nano_value`]
/// (`i128::div_ceil` is not stable).
trait DivCeil {
    fn div_ceil_i128(self, d: i128) -> i128;
}

impl DivCeil for i128 {
    fn div_ceil_i128(self, d: i128) -> i128 {
        let q = self / d;
        if self % d > 0 { q + 1 } else { q }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Multiplier {
    /// × 2^n
    Binary(u32),
    /// × 10^n
    Decimal(i32),
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
            exponent_suffix: suffix.starts_with(['e', 'E']),
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

    /// The exact value in billionths (the smallest unit a quantity keeps),
    /// rounded toward +infinity, or `None` when it does not fit an `i128`
    /// (far beyond any quantity a resource list holds).
    pub fn nano_value(&self) -> Option<i128> {
        let mut num = i128::try_from(self.digits).ok()?;
        let mut ten_exp = 9 - self.fraction_digits as i32;
        match self.multiplier {
            Multiplier::Binary(n) => num = num.checked_mul(1i128.checked_shl(n)?)?,
            Multiplier::Decimal(n) => ten_exp += n,
        }
        let magnitude = if ten_exp >= 0 {
            num.checked_mul(10i128.checked_pow(ten_exp as u32)?)?
        } else {
            match 10i128.checked_pow((-ten_exp) as u32) {
                // Rounded up as upstream rounds a quantity to nano precision.
                Some(den) if self.negative => num / den,
                Some(den) => num.div_ceil_i128(den),
                None if self.negative => 0,
                None => i128::from(num > 0),
            }
        };
        Some(if self.negative { -magnitude } else { magnitude })
    }

    /// Whether the quantity was written with a binary suffix (`Ki`..`Ei`),
    /// a decimal exponent (`1e3`) or else in decimal SI: upstream keeps
    /// the format to print sums in the same style.
    pub fn suffix_format(&self) -> SuffixFormat {
        match self.multiplier {
            Multiplier::Binary(_) => SuffixFormat::BinarySi,
            Multiplier::Decimal(_) if self.exponent_suffix => SuffixFormat::DecimalExponent,
            Multiplier::Decimal(_) => SuffixFormat::DecimalSi,
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
