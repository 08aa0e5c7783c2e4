//! Prices as exact decimals in a country's currency: held as integer minor
//! units (céntimos; Chilean pesos have none), parsed from and written as
//! decimal strings, never floats.

use std::fmt;

/// A currency and how many decimals its amounts have.
#[derive(Debug, PartialEq, Eq)]
pub struct Currency {
    /// ISO 4217 code.
    pub code: &'static str,
    /// Digits after the decimal point (ISO 4217's minor unit).
    pub minor_digits: u32,
}

pub static PEN: Currency = Currency {
    code: "PEN",
    minor_digits: 2,
};

pub static CLP: Currency = Currency {
    code: "CLP",
    minor_digits: 0,
};

/// An amount of a currency, exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    /// In the currency's minor unit.
    pub minor_units: u64,
    pub currency: &'static Currency,
}

/// Why an amount is not a price.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPrice {
    #[error("the currency is {expected} in this country, not {given}")]
    Currency {
        expected: &'static str,
        given: String,
    },
    #[error("the amount is a decimal string with at most {digits} decimals, such as \"{example}\"")]
    Amount { digits: u32, example: &'static str },
    #[error("the amount is at most {0}")]
    TooLarge(&'static str),
}

impl Price {
    /// The largest amount taken, in whole units: no consultation costs more.
    const MAX_WHOLE: u64 = 100_000_000;

    /// Parses `amount` (`"120.00"`, `"120"`, `"45000"`) in `currency`,
    /// which must be `expected`, the country's.
    ///
    /// # Errors
    /// Another currency; a malformed amount or one with more decimals than
    /// the currency has; an amount over 100 000 000.
    pub fn parse(
        expected: &'static Currency,
        amount: &str,
        currency: &str,
    ) -> Result<Self, InvalidPrice> {
        if currency != expected.code {
            return Err(InvalidPrice::Currency {
                expected: expected.code,
                given: currency.chars().take(8).collect(),
            });
        }
        let malformed = || InvalidPrice::Amount {
            digits: expected.minor_digits,
            example: if expected.minor_digits == 0 {
                "45000"
            } else {
                "120.00"
            },
        };
        let (whole, fraction) = match amount.split_once('.') {
            Some((whole, fraction)) => (whole, fraction),
            None => (amount, ""),
        };
        let digits_only = |text: &str| text.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || !digits_only(whole)
            || !digits_only(fraction)
            || (amount.contains('.') && fraction.is_empty())
            || fraction.len() > expected.minor_digits as usize
            || whole.len() > 12
        {
            return Err(malformed());
        }
        let whole: u64 = whole.parse().map_err(|_| malformed())?;
        if whole > Self::MAX_WHOLE {
            return Err(InvalidPrice::TooLarge("100000000"));
        }
        let scale = 10_u64.pow(expected.minor_digits);
        let padded = format!(
            "{fraction:0<width$}",
            width = expected.minor_digits as usize
        );
        let fraction: u64 = if padded.is_empty() {
            0
        } else {
            padded.parse().map_err(|_| malformed())?
        };
        let minor_units = whole * scale + fraction;
        if minor_units > Self::MAX_WHOLE * scale {
            return Err(InvalidPrice::TooLarge("100000000"));
        }
        Ok(Self {
            minor_units,
            currency: expected,
        })
    }
}

/// The amount as a decimal string with the currency's decimals (`"120.00"`, `"45000"`).
impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.currency.minor_digits;
        if digits == 0 {
            return write!(f, "{}", self.minor_units);
        }
        let scale = 10_u64.pow(digits);
        write!(
            f,
            "{}.{:0width$}",
            self.minor_units / scale,
            self.minor_units % scale,
            width = digits as usize
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact_in_the_currencys_decimals() {
        let cases = [
            (&PEN, "120.00", 12_000, "120.00"),
            (&PEN, "120", 12_000, "120.00"),
            (&PEN, "99.9", 9_990, "99.90"),
            (&PEN, "0.10", 10, "0.10"),
            (&CLP, "45000", 45_000, "45000"),
        ];
        for (currency, amount, minor_units, written) in cases {
            let price = Price::parse(currency, amount, currency.code).expect(amount);
            assert_eq!(price.minor_units, minor_units, "{amount}");
            assert_eq!(price.to_string(), written, "{amount}");
        }
    }

    #[test]
    fn what_is_not_an_exact_amount_of_the_countrys_currency_is_refused() {
        for (currency, amount, given) in [
            (&PEN, "120.001", "PEN"),
            (&PEN, "1e3", "PEN"),
            (&PEN, "-5.00", "PEN"),
            (&PEN, "12.", "PEN"),
            (&PEN, ".50", "PEN"),
            (&PEN, "", "PEN"),
            (&PEN, "120.00", "USD"),
            (&CLP, "45000.50", "CLP"),
            (&CLP, "45000", "PEN"),
            (&CLP, "200000000", "CLP"),
            (&PEN, "100000000.50", "PEN"),
        ] {
            assert!(
                Price::parse(currency, amount, given).is_err(),
                "{amount} {given}"
            );
        }
    }
}
