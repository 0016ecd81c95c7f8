//! Row of `licence_lines`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "licence_lines")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub licence_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub line_index: i32,
    pub product_id: Uuid,
    pub granted_quantity: i64,
    pub granted_value_minor_units: i64,
    pub currency_code: String,
    pub remaining_quantity: i64,
    pub remaining_value_minor_units: i64,
    pub value_tolerance_minor_units: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
