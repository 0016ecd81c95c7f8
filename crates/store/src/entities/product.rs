//! Row of `products`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "products")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organisation_id: String,
    pub display_name: String,
    pub part_number: String,
    pub classification: String,
    pub datacenter: bool,
    pub total_processing_performance: i64,
    pub die_area_mm2: i64,
    pub memory_bandwidth_gbps: i64,
    pub io_bandwidth_gbps: i64,
    /// `YYYY-MM-DD`: commercially available in the United States since.
    pub us_available_since: Option<String>,
    pub version: i64,
    pub create_time: DateTimeUtc,
    pub update_time: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
