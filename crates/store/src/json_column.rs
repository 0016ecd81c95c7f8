//! Values kept as JSON text in a column: written and read back in one way everywhere.

use crate::error::StoreError;

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A nullable JSON column: NULL is the type's default (an empty list, no terms).
pub(crate) fn from_optional_json<T: serde::de::DeserializeOwned + Default>(
    owner: impl std::fmt::Display,
    column: &str,
    raw: Option<&str>,
) -> Result<T, StoreError> {
    raw.map_or_else(
        || Ok(T::default()),
        |text| {
            serde_json::from_str(text)
                .map_err(|e| StoreError::Corrupt(format!("{owner}: {column}: {e}")))
        },
    )
}

/// Writes a value whose default is stored as NULL.
pub(crate) fn to_optional_json<T: serde::Serialize + Default + PartialEq>(
    value: &T,
) -> Result<Option<String>, StoreError> {
    if *value == T::default() {
        Ok(None)
    } else {
        to_json(value).map(Some)
    }
}
