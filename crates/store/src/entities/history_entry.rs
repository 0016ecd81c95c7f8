//! Row of `history_entries`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "history_entries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub resource: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub sequence: i64,
    pub organisation_id: String,
    pub action: String,
    pub actor: String,
    pub create_time: DateTimeUtc,
    pub from_state: String,
    pub to_state: String,
    pub reason: String,
    pub request_id: String,
    pub payload_json: String,
    pub payload_sha256: String,
    pub previous_entry_sha256: String,
    pub entry_sha256: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
