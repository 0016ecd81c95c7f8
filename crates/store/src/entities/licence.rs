//! Row of `licences`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "licences")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub number: String,
    pub organisation_id: String,
    pub application_id: Uuid,
    pub destination_country_code: String,
    pub parties_json: String,
    pub conditions_json: String,
    pub valid_from: DateTimeUtc,
    pub valid_until: DateTimeUtc,
    pub value_tolerance_percent: i64,
    pub state: String,
    pub revision: i64,
    pub version: i64,
    pub create_time: DateTimeUtc,
    pub update_time: DateTimeUtc,
    /// The end user's comparison key (`Licence::end_user_key`); NULL on rows issued before
    /// it was stored.
    pub end_user_key: Option<String>,
    /// The transaction kind the licence covers.
    pub transaction_kind: String,
    /// Shipment conditions and cap as JSON; NULL: none.
    pub terms_json: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
