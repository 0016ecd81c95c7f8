//! Row of `referrals`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "referrals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub application_id: Uuid,
    pub version: i64,
    pub agency: String,
    pub lines_json: String,
    pub referred_by: String,
    pub referred_time: DateTimeUtc,
    pub due_date: Date,
    pub advice_json: Option<String>,
    pub adviser: Option<String>,
    pub advice_time: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
