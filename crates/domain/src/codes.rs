//! ISO code lists: countries (ISO 3166-1 alpha-2) and currencies (ISO 4217).

use crate::validation::Violations;

/// Officially assigned ISO 3166-1 alpha-2 codes.
const ISO_3166_ALPHA_2: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL \
BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO \
DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM \
HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR \
LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL \
NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ \
SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA \
VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// Active ISO 4217 alphabetic currency codes.
const ISO_4217: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL \
BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP \
GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW \
KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO \
NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD \
SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG \
XOF XPF YER ZAR ZMW ZWG";

fn listed(list: &str, code: &str) -> bool {
    list.split_ascii_whitespace().any(|c| c == code)
}

/// An ISO 3166-1 alpha-2 country code, upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct CountryCode(String);

impl CountryCode {
    /// Accepts an assigned code in any case ("cn" → "CN").
    pub fn parse(field: &str, raw: &str) -> Result<Self, Violations> {
        let code = raw.trim().to_ascii_uppercase();
        if code.is_empty() {
            return Err(Violations::single(field, "is required"));
        }
        if code.len() == 2 && listed(ISO_3166_ALPHA_2, &code) {
            Ok(Self(code))
        } else {
            Err(Violations::single(
                field,
                format!(
                    "'{}' is not an ISO 3166-1 alpha-2 country code",
                    crate::validation::quote(raw)
                ),
            ))
        }
    }

    /// Like [`CountryCode::parse`], but an empty value is simply absent.
    pub fn parse_optional(field: &str, raw: &str) -> Result<Option<Self>, Violations> {
        if raw.trim().is_empty() {
            Ok(None)
        } else {
            Self::parse(field, raw).map(Some)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An ISO 4217 alphabetic currency code, upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct CurrencyCode(String);

impl CurrencyCode {
    pub fn parse(field: &str, raw: &str) -> Result<Self, Violations> {
        let code = raw.trim().to_ascii_uppercase();
        if code.is_empty() {
            return Err(Violations::single(field, "is required"));
        }
        if code.len() == 3 && listed(ISO_4217, &code) {
            Ok(Self(code))
        } else {
            Err(Violations::single(
                field,
                format!(
                    "'{}' is not an ISO 4217 currency code",
                    crate::validation::quote(raw)
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Digits of the minor unit (ISO 4217 exponent): 2 for most, 0 for JPY and KRW, 3 for
    /// the dinars of Bahrain, Iraq, Jordan, Kuwait, Libya and Tunisia and for OMR.
    pub fn minor_digits(&self) -> u32 {
        minor_digits(&self.0)
    }

    /// `minor_units` written for people: `USD 1,200,000.00`, `JPY 5,000`.
    pub fn format(&self, minor_units: i64) -> String {
        format_money(&self.0, minor_units)
    }
}

pub use clearance_contract::money::{format_money, minor_digits};

impl<'de> serde::Deserialize<'de> for CountryCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        CountryCode::parse("country", &raw).map_err(serde::de::Error::custom)
    }
}

impl<'de> serde::Deserialize<'de> for CurrencyCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        CurrencyCode::parse("currency", &raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod money_tests {
    use super::format_money;

    #[test]
    fn money_is_written_in_major_units_with_the_currency() {
        assert_eq!(format_money("USD", 120_000_000), "USD 1,200,000.00");
        assert_eq!(format_money("USD", 5), "USD 0.05");
        assert_eq!(format_money("USD", -250_000), "USD -2,500.00");
        assert_eq!(format_money("JPY", 5_000), "JPY 5,000");
        assert_eq!(format_money("KWD", 1_234_567), "KWD 1,234.567");
        assert_eq!(
            format_money("USD", i64::MIN),
            "USD -92,233,720,368,547,758.08"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_codes_are_normalised_to_upper_case() {
        assert_eq!(CountryCode::parse("c", "cn").unwrap().as_str(), "CN");
    }

    #[test]
    fn unassigned_country_codes_are_refused() {
        assert!(CountryCode::parse("c", "XX").is_err());
        assert!(CountryCode::parse("c", "CHN").is_err());
        assert!(CountryCode::parse("c", "").is_err());
    }

    #[test]
    fn the_lists_hold_the_expected_number_of_codes() {
        assert_eq!(ISO_3166_ALPHA_2.split_ascii_whitespace().count(), 249);
        assert!(CurrencyCode::parse("c", "usd").is_ok());
        assert!(CurrencyCode::parse("c", "XYZ").is_err());
    }
}
