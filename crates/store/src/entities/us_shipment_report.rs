//! Row of `us_shipment_reports`: a holder's figure of units of a product shipped to US
//! customers for US end use. Rows are only inserted; the latest is in force.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "us_shipment_reports")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organisation_id: String,
    pub product_id: Uuid,
    pub units: i64,
    pub reported_by: String,
    pub report_time: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
