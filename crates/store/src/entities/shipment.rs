//! Row of `shipments`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "shipments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organisation_id: String,
    pub licence_id: Option<Uuid>,
    pub state: String,
    pub no_licence_required: bool,
    pub determinations_json: String,
    pub destination_country_code: String,
    pub end_user_json: String,
    pub erp_reference: String,
    pub shipment_time: DateTimeUtc,
    pub cancel_time: Option<DateTimeUtc>,
    pub cancel_reason: Option<String>,
    pub create_time: DateTimeUtc,
    pub transaction_kind: String,
    /// The third-party test report as JSON; NULL: none given.
    pub test_report_json: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
