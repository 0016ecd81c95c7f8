//! Row of `information_requests`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "information_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub application_id: Uuid,
    pub question: String,
    pub asked_by: String,
    pub asked_time: DateTimeUtc,
    pub response_due_date: Date,
    pub answer: Option<String>,
    pub answer_documents_json: String,
    pub answered_by: Option<String>,
    pub answered_time: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
