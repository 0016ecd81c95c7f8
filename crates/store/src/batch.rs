//! Writes sent together: on PostgreSQL one statement (each write a data-modifying CTE), so a
//! write transaction's inserts and updates cost one round trip; on SQLite one after another,
//! which costs nothing more in-process.
//!
//! Every write in a batch sees the database as it was before the batch, and no two may change
//! the same row (PostgreSQL would apply only one of them); callers merge such writes first.

use sea_orm::sea_query::{
    Alias, CommonTableExpression, Expr, InsertStatement, Query, UpdateStatement, WithClause,
};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend};

use crate::error::StoreError;

enum Write {
    Insert(InsertStatement),
    Update(UpdateStatement),
}

struct Step {
    write: Write,
    /// The rows the write must affect, and the error when it does not.
    guard: Option<(u64, StoreError)>,
}

/// Inserts and updates to run in order, some guarded by how many rows they must affect.
#[derive(Default)]
pub(crate) struct Batch {
    steps: Vec<Step>,
}

impl Batch {
    pub(crate) fn new() -> Batch {
        Batch::default()
    }

    pub(crate) fn insert(&mut self, statement: InsertStatement) {
        self.steps.push(Step {
            write: Write::Insert(statement),
            guard: None,
        });
    }

    pub(crate) fn update(&mut self, statement: UpdateStatement) {
        self.steps.push(Step {
            write: Write::Update(statement),
            guard: None,
        });
    }

    /// An update that must affect exactly `rows` rows; otherwise the batch fails with
    /// `refusal` (and the caller's transaction rolls back, undoing the rest).
    pub(crate) fn guarded_update(
        &mut self,
        statement: UpdateStatement,
        rows: u64,
        refusal: StoreError,
    ) {
        self.steps.push(Step {
            write: Write::Update(statement),
            guard: Some((rows, refusal)),
        });
    }

    /// Runs every write; the first guard that does not hold fails the batch.
    pub(crate) async fn execute(self, txn: &DatabaseTransaction) -> Result<(), StoreError> {
        let affected = match txn.get_database_backend() {
            DbBackend::Postgres if self.steps.len() > 1 => one_statement(txn, &self.steps).await?,
            _ => {
                let mut affected = Vec::with_capacity(self.steps.len());
                for step in &self.steps {
                    let result = match &step.write {
                        Write::Insert(s) => txn.execute(s).await?,
                        Write::Update(s) => txn.execute(s).await?,
                    };
                    affected.push(result.rows_affected());
                }
                affected
            }
        };
        for (step, rows) in self.steps.into_iter().zip(affected) {
            if let Some((expected, refusal)) = step.guard
                && rows != expected
            {
                return Err(refusal);
            }
        }
        Ok(())
    }
}

/// `WITH w0 AS (INSERT … RETURNING 1), w1 AS (UPDATE … RETURNING 1) SELECT (SELECT count(*)
/// FROM w0) AS n0, …`: every write runs exactly once, and the counts say what each affected.
async fn one_statement(txn: &DatabaseTransaction, steps: &[Step]) -> Result<Vec<u64>, StoreError> {
    let mut with = WithClause::new();
    let mut counts = Query::select();
    for (i, step) in steps.iter().enumerate() {
        let name = format!("w{i}");
        let returning = Query::returning().expr(Expr::val(1));
        let mut cte = CommonTableExpression::new();
        cte.table_name(Alias::new(&name));
        match &step.write {
            Write::Insert(s) => cte.query(s.clone().returning(returning).to_owned()),
            Write::Update(s) => cte.query(s.clone().returning(returning).to_owned()),
        };
        with.cte(cte);
        // The names are ours, never input.
        counts.expr_as(
            Expr::cust(format!("(SELECT count(*) FROM \"{name}\")")),
            Alias::new(format!("n{i}")),
        );
    }
    let row = txn
        .query_one(&with.query(counts))
        .await?
        .ok_or_else(|| StoreError::Corrupt("a batch of writes returned no counts".into()))?;
    (0..steps.len())
        .map(|i| {
            let n: i64 = row.try_get("", &format!("n{i}"))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .collect()
}
