//! The control rules as both services consult them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use clearance_domain::application::{ApplicationContent, PartyRole};
use clearance_domain::ids::OrganisationId;
use clearance_domain::policy::determine::{Export, determine};
use clearance_domain::policy::rules::PublishedRuleSet;
use clearance_domain::policy::{CountryGroups, Determination};
use clearance_domain::product::Product;
use clearance_store::Store;
use std::collections::HashMap;
use uuid::Uuid;

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

    /// The determination of every line of an application of `org` under the rules in force
    /// at `at`, with its certifications (none when the destination is missing: submission
    /// then reports the gap), and the versions of the products they were computed from.
    pub async fn determine_lines(
        &self,
        org: &OrganisationId,
        content: &ApplicationContent,
        at: DateTime<Utc>,
    ) -> ApiResult<(Vec<Determination>, Vec<(Uuid, i64)>)> {
        let Some(destination) = &content.destination else {
            return Ok((Vec::new(), Vec::new()));
        };
        let headquarters = content
            .parties
            .iter()
            .find(|p| p.role == PartyRole::EndUser)
            .and_then(|p| p.headquarters_country.clone());
        let products: HashMap<Uuid, Product> = self
            .store
            .get_products(org, &content.product_ids())
            .await
            .map_err(|e| ApiError::from_store("products", e))?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let published = self.published().await?;
        let versions = products.values().map(|p| (p.id, p.version)).collect();
        let determinations = content
            .lines
            .iter()
            .map(|line| {
                let product = products.get(&line.product_id).ok_or_else(|| {
                    ApiError::Internal(format!("line product {} vanished", line.product_id))
                })?;
                let export = Export {
                    item: product.controlled_item(),
                    classification: &product.spec.classification,
                    destination,
                    end_user_headquarters: headquarters.as_ref(),
                    transaction: content.transaction_kind,
                    certifications: Some(&content.certifications),
                };
                Ok(determine(&export, at, &published, &self.groups))
            })
            .collect::<ApiResult<Vec<_>>>()?;
        Ok((determinations, versions))
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
