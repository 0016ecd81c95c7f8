//! What the command tests share: a fresh PostgreSQL database for one test.

/// A database created for one test on the PostgreSQL at `DATABASE_URL` (default: the local
/// server); drop it when done.
pub struct FreshDatabase {
    /// Where the test's processes connect.
    pub url: String,
    admin: String,
    name: String,
}

impl FreshDatabase {
    /// A new database named `{prefix}_{uuid}`; `None`, with a notice, when no PostgreSQL
    /// answers (a failure under `CI=true`, where one must).
    pub async fn create(prefix: &str) -> Option<FreshDatabase> {
        let admin = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("{prefix}_{}", uuid::Uuid::now_v7().simple());
        if let Err(e) = clearance_store::create_postgres_database(&admin, &name).await {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "PostgreSQL is required under CI=true: {e}"
            );
            eprintln!("NOTICE: skipping a PostgreSQL test: {e}");
            return None;
        }
        let server = admin.rsplit_once('/').map_or(admin.as_str(), |(s, _)| s);
        let url = format!("{server}/{name}");
        Some(FreshDatabase { url, admin, name })
    }

    /// Drops the database; one still in use (a process slow to let go) is left with a notice,
    /// not a failure of the test.
    pub async fn drop_database(self) {
        if let Err(e) = clearance_store::drop_postgres_database(&self.admin, &self.name).await {
            eprintln!(
                "NOTICE: the test database {} was left behind: {e}",
                self.name
            );
        }
    }
}
