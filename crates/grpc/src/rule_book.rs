//! The control rules as both services consult them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use clearance_domain::policy::determine::{Export, determine};
use clearance_domain::policy::rules::PublishedRuleSet;
use clearance_domain::policy::{CountryGroups, Determination};
use clearance_store::Store;

use crate::error::{ApiError, ApiResult};

/// Published rule sets and the country groups they refer to.
///
/// The compiled rule book is cached and reused while the number of published versions is
/// unchanged: versions are immutable and never removed, so one `COUNT(*)` per use tells a
/// replica that another has published, and a publish on any replica takes effect at once.
#[derive(Clone)]
pub struct RuleBook {
    store: Store,
    groups: Arc<CountryGroups>,
    cache: Arc<std::sync::Mutex<Option<CachedBook>>>,
}

/// The compiled rule book and how many published versions it holds.
type CachedBook = (u64, Arc<Vec<PublishedRuleSet>>);

impl RuleBook {
    pub fn new(store: Store, groups: Arc<CountryGroups>) -> Self {
        RuleBook {
            store,
            groups,
            cache: Arc::new(std::sync::Mutex::new(None)),
        }
    }

    pub fn groups(&self) -> &CountryGroups {
        &self.groups
    }

    /// Every published version of every rule set.
    pub async fn published(&self) -> ApiResult<Arc<Vec<PublishedRuleSet>>> {
        let failed = |e| ApiError::from_store("rule sets", e);
        let count = self.store.rule_set_count().await.map_err(failed)?;
        // A poisoned lock only means another call panicked; the cached value is still whole.
        let cached = self.cache.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some((known, book)) = cached
            && known == count
        {
            return Ok(book);
        }
        let book = Arc::new(self.store.rule_sets(&self.groups).await.map_err(failed)?);
        // Versions published between the count and the read are simply picked up next time.
        let read = book.len() as u64;
        *self.cache.lock().unwrap_or_else(|e| e.into_inner()) = Some((read, book.clone()));
        Ok(book)
    }

    /// The determination for `export` at `at` under the published rules.
    pub async fn determine(
        &self,
        export: &Export<'_>,
        at: DateTime<Utc>,
    ) -> ApiResult<Determination> {
        let published = self.published().await?;
        Ok(determine(export, at, &published, &self.groups))
    }
}
