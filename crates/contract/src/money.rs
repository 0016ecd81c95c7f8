//! Money as people read it: an amount in minor units of an ISO 4217 currency, written in major
//! units with thousands separators.

/// How many minor units a currency's major unit has, as a power of ten (ISO 4217).
pub fn minor_digits(code: &str) -> u32 {
    match code {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// `minor_units` of currency `code` in major units with thousands separators, e.g.
/// `USD 1,200,000.00`; a code that is not a currency gets two decimals.
pub fn format_money(code: &str, minor_units: i64) -> String {
    let digits = minor_digits(code);
    let scale = 10u128.pow(digits);
    let magnitude = minor_units.unsigned_abs() as u128;
    let (major, minor) = (magnitude / scale, magnitude % scale);
    let grouped = major
        .to_string()
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(",");
    let sign = if minor_units < 0 { "-" } else { "" };
    if digits == 0 {
        format!("{code} {sign}{grouped}")
    } else {
        format!(
            "{code} {sign}{grouped}.{minor:0width$}",
            width = digits as usize
        )
    }
}
