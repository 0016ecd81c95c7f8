//! Creating and dropping whole PostgreSQL databases, for isolated test runs.

use sea_orm::{ConnectionTrait, Database};

use crate::error::StoreError;

fn checked_name(name: &str) -> Result<&str, StoreError> {
    // Database names cannot be bound as parameters, so only plain identifiers are allowed.
    if !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        Ok(name)
    } else {
        Err(StoreError::Corrupt(format!(
            "unsafe database name '{name}'"
        )))
    }
}

/// Creates database `name` on the server that `admin_url` points at.
pub async fn create_postgres_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
    let name = checked_name(name)?;
    let db = Database::connect(admin_url).await?;
    db.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await?;
    db.close().await?;
    Ok(())
}

/// Drops database `name`, disconnecting anyone still on it.
pub async fn drop_postgres_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
    let name = checked_name(name)?;
    let db = Database::connect(admin_url).await?;
    db.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await?;
    db.close().await?;
    Ok(())
}

/// Runs one SQL statement against `database_url` outside the application's code paths: for
/// operators' maintenance and for tests that must tamper with stored rows.
pub async fn execute_statement(database_url: &str, sql: &str) -> Result<u64, StoreError> {
    let db = Database::connect(database_url).await?;
    let result = db.execute_unprepared(sql).await?;
    db.close().await?;
    Ok(result.rows_affected())
}
