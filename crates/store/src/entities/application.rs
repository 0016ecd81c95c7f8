//! Row of `applications`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "applications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organisation_id: String,
    pub reference: String,
    pub destination_country_code: Option<String>,
    pub end_use_statement: String,
    pub state: String,
    pub version: i64,
    pub create_time: DateTimeUtc,
    pub update_time: DateTimeUtc,
    pub submit_time: Option<DateTimeUtc>,
    pub assignee: Option<String>,
    pub due_date: Option<Date>,
    pub review_policy: Option<String>,
    /// Set on an application that asks to amend this licence.
    pub amends_licence_id: Option<Uuid>,
    pub amendment_reasons: Option<String>,
    pub amendment_valid_until: Option<DateTimeUtc>,
    /// How many list versions had been imported when the parties were last screened.
    pub screened_through: i64,
    /// `EXPORT`, `REEXPORT`, `EXPORT_FROM_ABROAD` or `IN_COUNTRY_TRANSFER`.
    pub transaction_kind: String,
    /// The certifications as JSON; NULL: none.
    pub certifications_json: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
