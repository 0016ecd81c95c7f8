//! Row of `aggregate_positions`: per holder and product, the latest US figure and the units
//! shipped under licences carrying an aggregate cap. Shipments and reports lock it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "aggregate_positions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organisation_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub product_id: Uuid,
    pub us_units: i64,
    pub capped_units: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
