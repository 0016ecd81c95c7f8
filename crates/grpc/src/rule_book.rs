//! The control rules as both services consult them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use clearance_domain::policy::determine::{Export, determine};
use clearance_domain::policy::rules::PublishedRuleSet;
use clearance_domain::policy::{CountryGroups, Determination};
use clearance_store::Store;

use crate::error::{ApiError, ApiResult};

/// Published rule sets (read from the store on each use, so a publish on any replica takes
/// effect at once) and the country groups they refer to.
#[derive(Clone)]
pub struct RuleBook {
    store: Store,
    groups: Arc<CountryGroups>,
}

impl RuleBook {
    pub fn new(store: Store, groups: Arc<CountryGroups>) -> Self {
        RuleBook { store, groups }
    }

    pub fn groups(&self) -> &CountryGroups {
        &self.groups
    }

    /// Every published version of every rule set.
    pub async fn published(&self) -> ApiResult<Vec<PublishedRuleSet>> {
        self.store
            .rule_sets(&self.groups)
            .await
            .map_err(|e| ApiError::from_store("rule sets", e))
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
