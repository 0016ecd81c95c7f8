//! Human references: `CL-2026-000002` (applications) and `CLL-2026-000001` (licences), a
//! prefix, a year and six digits.

/// The prefix of application references (`CL-2026-000001`).
pub const APPLICATION_PREFIX: &str = "CL";
/// The prefix of licence numbers (`CLL-2026-000001`).
pub const LICENCE_PREFIX: &str = "CLL";

/// `raw` in its canonical (upper-case) form when it is a reference with `prefix`, in any case.
pub fn canonical_reference(prefix: &str, raw: &str) -> Option<String> {
    let upper = raw.trim().to_ascii_uppercase();
    let well_formed = upper
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(year, number)| {
            year.len() == 4
                && number.len() == 6
                && year.bytes().all(|b| b.is_ascii_digit())
                && number.bytes().all(|b| b.is_ascii_digit())
        });
    well_formed.then_some(upper)
}

/// Whether `raw` looks like a reference with `prefix` (for clients deciding how to look it up).
pub fn is_reference(prefix: &str, raw: &str) -> bool {
    canonical_reference(prefix, raw).is_some()
}
