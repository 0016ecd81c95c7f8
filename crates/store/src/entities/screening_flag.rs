//! Row of `screening_flags`: a screening hit on a case's party and its resolution.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "screening_flags")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub application_id: Uuid,
    pub party_index: i32,
    pub party_name: String,
    pub list_id: Uuid,
    pub entry_id: String,
    pub hit_json: String,
    pub status: String,
    pub raised_time: DateTimeUtc,
    pub decided_by: Option<String>,
    pub decided_time: Option<DateTimeUtc>,
    pub reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
