//! Published rule-set versions: immutable rows, the built-in catalogue, publishing.

use chrono::{DateTime, Utc};
use clearance_domain::history::Change;
use clearance_domain::ids::Collection;
use clearance_domain::paging::PageRequest;
use clearance_domain::policy::CountryGroups;
use clearance_domain::policy::rules::{CompiledRuleSet, PublishedRuleSet, next_version};
use clearance_domain::{DomainError, history::canonical_json};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::connection::Store;
use crate::entities::rule_set;
use crate::error::{StoreError, is_unique_violation};
use crate::write::{Encoder, Mutation, Outcome, change_by};

/// Who installs the built-in catalogue, as recorded in history.
pub const CATALOGUE_PUBLISHER: &str = "clearance built-in catalogue";

fn to_domain(row: rule_set::Model, groups: &CountryGroups) -> Result<PublishedRuleSet, StoreError> {
    let corrupt = |what: String| StoreError::Corrupt(format!("rule set {}: {what}", row.id));
    let definition: clearance_domain::policy::RuleSetDefinition =
        serde_json::from_str(&row.definition_json).map_err(|e| corrupt(e.to_string()))?;
    let rule_set = definition
        .compile(groups)
        .map_err(|v| corrupt(v.to_string()))?;
    Ok(PublishedRuleSet {
        id: row.id,
        version: row.version,
        publish_time: row.publish_time,
        published_by: row.published_by,
        rule_set,
    })
}

fn definition_json(rule_set: &CompiledRuleSet, version: i64) -> Result<String, StoreError> {
    let mut definition = rule_set.definition.clone();
    definition.version = Some(version);
    let value =
        serde_json::to_value(&definition).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(canonical_json(&value))
}

async fn versions_of<C: ConnectionTrait>(
    conn: &C,
    key: &str,
    groups: &CountryGroups,
) -> Result<Vec<PublishedRuleSet>, StoreError> {
    rule_set::Entity::find()
        .filter(rule_set::Column::Key.eq(key))
        .order_by_asc(rule_set::Column::Version)
        .all(conn)
        .await?
        .into_iter()
        .map(|r| to_domain(r, groups))
        .collect()
}

async fn insert_version(
    txn: &DatabaseTransaction,
    rule_set: &CompiledRuleSet,
    version: i64,
    publisher: &str,
    now: DateTime<Utc>,
) -> Result<PublishedRuleSet, StoreError> {
    let id = Uuid::now_v7();
    let inserted = rule_set::Entity::insert(rule_set::ActiveModel {
        id: Set(id),
        key: Set(rule_set.definition.key.clone()),
        version: Set(version),
        effective_time: Set(rule_set.definition.effective_time),
        definition_json: Set(definition_json(rule_set, version)?),
        publish_time: Set(now),
        published_by: Set(publisher.to_owned()),
    })
    .exec_without_returning(txn)
    .await;
    match inserted {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            return Err(StoreError::Conflict(format!(
                "version {version} of '{}' was published concurrently; retry",
                rule_set.definition.key
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let mut definition = rule_set.definition.clone();
    definition.version = Some(version);
    Ok(PublishedRuleSet {
        id,
        version,
        publish_time: now,
        published_by: publisher.to_owned(),
        rule_set: CompiledRuleSet {
            definition,
            rules: rule_set.rules.clone(),
        },
    })
}

fn payload(p: &PublishedRuleSet) -> Result<serde_json::Value, StoreError> {
    crate::write::history_payload(&p.rule_set.definition)
}

impl Store {
    /// Every published version of every rule set, compiled against `groups`.
    pub async fn rule_sets(
        &self,
        groups: &CountryGroups,
    ) -> Result<Vec<PublishedRuleSet>, StoreError> {
        rule_set::Entity::find()
            .order_by_asc(rule_set::Column::Key)
            .order_by_asc(rule_set::Column::Version)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| to_domain(r, groups))
            .collect()
    }

    /// How many rule-set versions are published. Versions are immutable and never removed, so
    /// an unchanged count means an unchanged rule book: a cheap check before reusing one.
    pub async fn rule_set_count(&self) -> Result<u64, StoreError> {
        use sea_orm::PaginatorTrait;
        Ok(rule_set::Entity::find().count(&self.db).await?)
    }

    pub async fn get_rule_set(
        &self,
        id: Uuid,
        groups: &CountryGroups,
    ) -> Result<PublishedRuleSet, StoreError> {
        let row = rule_set::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound)?;
        to_domain(row, groups)
    }

    /// One page (plus one row) of published versions in id (publication) order, optionally of
    /// one key.
    pub async fn list_rule_sets(
        &self,
        key: Option<&str>,
        page: &PageRequest,
        groups: &CountryGroups,
    ) -> Result<Vec<PublishedRuleSet>, StoreError> {
        let mut query = rule_set::Entity::find();
        if let Some(key) = key {
            query = query.filter(rule_set::Column::Key.eq(key));
        }
        if let Some(after) = page.after {
            query = query.filter(rule_set::Column::Id.gt(after));
        }
        query
            .order_by_asc(rule_set::Column::Id)
            .limit(page.fetch_limit())
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| to_domain(r, groups))
            .collect()
    }

    /// Publishes the next version of the rule set's key, refusing an overlapping window.
    pub async fn publish_rule_set(
        &self,
        m: &Mutation,
        rule_set: &CompiledRuleSet,
        groups: &CountryGroups,
        encode: Encoder<'_, PublishedRuleSet>,
    ) -> Result<Outcome<PublishedRuleSet>, StoreError> {
        self.idempotent_write(m, encode, |txn| {
            let m = m.clone();
            let rule_set = rule_set.clone();
            let groups = groups.clone();
            Box::pin(async move {
                let existing = versions_of(txn, &rule_set.definition.key, &groups).await?;
                let version = next_version(&existing, &rule_set.definition)
                    .map_err(|v| StoreError::Domain(DomainError::Invalid(v)))?;
                let published = insert_version(txn, &rule_set, version, &m.actor, m.now).await?;
                let resource = Collection::RuleSets.name_of(published.id);
                crate::write::record_creation(
                    txn,
                    &m,
                    &resource,
                    change_by(&m, "rule_set.published", "", "", payload(&published)?),
                )
                .await?;
                Ok(published)
            })
        })
        .await
    }

    /// Installs the built-in versions that are not there yet (first start, or a release that
    /// adds versions). Returns how many were installed.
    pub async fn install_rule_sets(
        &self,
        built_in: &[CompiledRuleSet],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut installed = 0;
        for rule_set in built_in {
            let Some(version) = rule_set.definition.version else {
                continue;
            };
            let write = self.begin_write().await?;
            let exists = rule_set::Entity::find()
                .filter(rule_set::Column::Key.eq(rule_set.definition.key.as_str()))
                .filter(rule_set::Column::Version.eq(version))
                .one(&write.txn)
                .await?
                .is_some();
            if exists {
                write.txn.rollback().await?;
                continue;
            }
            let published =
                match insert_version(&write.txn, rule_set, version, CATALOGUE_PUBLISHER, now).await
                {
                    Ok(p) => p,
                    // Another replica installed it first.
                    Err(StoreError::Conflict(_)) => continue,
                    Err(e) => return Err(e),
                };
            let m = Mutation {
                actor: CATALOGUE_PUBLISHER.into(),
                organisation: None,
                idempotency_scope: "regulator".into(),
                previous_scope: None,
                request_id: format!("catalogue:{}:v{version}", rule_set.definition.key),
                method: "catalogue",
                request_sha256: String::new(),
                now,
            };
            let resource = Collection::RuleSets.name_of(published.id);
            let change = Change {
                reason: "built-in catalogue".into(),
                ..change_by(&m, "rule_set.published", "", "", payload(&published)?)
            };
            crate::write::record_creation(&write.txn, &m, &resource, change).await?;
            write.commit().await?;
            installed += 1;
        }
        Ok(installed)
    }
}
