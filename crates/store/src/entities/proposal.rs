//! Row of `proposals`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "proposals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub application_id: Uuid,
    pub decision: String,
    pub reason: String,
    pub granted_quantities_json: String,
    pub conditions_json: String,
    pub validity_months: i32,
    pub value_tolerance_percent: i64,
    pub proposer: String,
    pub create_time: DateTimeUtc,
    pub outcome: String,
    pub resolved_by: Option<String>,
    pub resolved_time: Option<DateTimeUtc>,
    pub resolution_reason: Option<String>,
    pub justification: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
