//! Row of `appeals`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "appeals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub application_id: Uuid,
    pub denial_id: Uuid,
    pub denied_time: DateTimeUtc,
    pub grounds: String,
    pub documents_json: String,
    pub appellant: String,
    pub filed_time: DateTimeUtc,
    pub due_date: Date,
    pub decision_participants_json: String,
    pub outcome: Option<String>,
    pub decided_by: Option<String>,
    pub decided_time: Option<DateTimeUtc>,
    pub decision_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
