//! Row of `shipment_lines`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "shipment_lines")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub shipment_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub line_index: i32,
    pub product_id: Uuid,
    pub licence_line_index: Option<i32>,
    pub quantity: i64,
    pub value_minor_units: i64,
    pub currency_code: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
