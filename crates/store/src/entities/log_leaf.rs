//! Row of `log_leaves`: a history entry as a leaf of the audit log.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "log_leaves")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The leaf's place in the tree, given by the sequencer after commit.
    pub log_index: Option<i64>,
    pub resource: String,
    pub sequence: i64,
    pub entry_sha256: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
