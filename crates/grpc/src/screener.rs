//! Denied-party screening as the services consult it: the lists in force as one in-memory
//! index, rebuilt only when a list version is imported.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use clearance_domain::access::Principal;
use clearance_domain::screening::{Hit, PartyQuery, ScreeningIndex, screen_parties};
use clearance_domain::workflow::{Case, Context, ReviewSettings};
use clearance_store::{CaseTarget, Store, StoreError};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::respond::mutation;

/// The index is reused while the number of imported versions is unchanged: versions are
/// immutable and never removed, so a `COUNT(*)` tells a replica that another has imported.
/// The count is read at most once per `RECHECK` so that screening costs StartShipment no
/// query; an import through this process takes effect here at once, one on another replica
/// (or `clearance screening import`) within `RECHECK`.
#[derive(Clone)]
pub struct Screener {
    store: Store,
    threshold: f64,
    cache: Arc<tokio::sync::Mutex<Option<CachedIndex>>>,
}

/// How often the count of imported versions is read again.
const RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// The index, how many imported versions it was built from, and when that was last checked.
struct CachedIndex {
    count: u64,
    checked: std::time::Instant,
    index: Arc<ScreeningIndex>,
}

impl Screener {
    pub fn new(store: Store, threshold: f64) -> Self {
        Screener {
            store,
            threshold,
            cache: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// The index of every entry of the lists in force.
    pub async fn index(&self) -> ApiResult<Arc<ScreeningIndex>> {
        let failed = |e| ApiError::from_store("screening lists", e);
        // One check or rebuild at a time; callers meanwhile wait for it rather than each
        // doing it.
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.as_ref()
            && cached.checked.elapsed() < RECHECK
        {
            return Ok(cached.index.clone());
        }
        let count = self.store.screening_list_count().await.map_err(failed)?;
        if let Some(cached) = cache.as_mut()
            && cached.count == count
        {
            cached.checked = std::time::Instant::now();
            return Ok(cached.index.clone());
        }
        let in_force = self
            .store
            .screening_lists_in_force()
            .await
            .map_err(failed)?;
        let ids: Vec<_> = in_force.iter().map(|v| v.id).collect();
        let entries = self.store.screening_entries(&ids).await.map_err(failed)?;
        let index = tokio::task::spawn_blocking(move || ScreeningIndex::build(entries))
            .await
            .map_err(|e| ApiError::Internal(format!("building the screening index: {e}")))?;
        let index = Arc::new(index);
        // Versions imported between the count and the read are picked up next time.
        *cache = Some(CachedIndex {
            count,
            checked: std::time::Instant::now(),
            index: index.clone(),
        });
        Ok(index)
    }

    /// Reads the lists again at the next use (after an import through this process).
    pub async fn invalidate(&self) {
        *self.cache.lock().await = None;
    }

    /// The hits on each party, in order.
    pub async fn screen(&self, parties: &[PartyQuery]) -> ApiResult<Vec<Vec<Hit>>> {
        if parties.is_empty() {
            return Ok(Vec::new());
        }
        let index = self.index().await?;
        Ok(parties
            .iter()
            .map(|p| index.screen(p, self.threshold))
            .collect())
    }
}

/// What a run of screening again found: how many cases got new hits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rescreened {
    /// Cases under review.
    pub open_cases: usize,
    /// Approved cases behind active licences.
    pub licence_cases: usize,
}

/// Screens the parties of every open case and of every active licence (through the approved
/// case behind its current revision) against `index` and raises the hits not yet flagged, as
/// `importer` (whose import of `list_id` prompted it): one case step per case with new hits,
/// each idempotent under a request id made of the list version and the case, so a second run
/// raises nothing twice.
pub async fn rescreen_cases(
    store: &Store,
    index: &ScreeningIndex,
    threshold: f64,
    importer: &Principal,
    settings: Arc<ReviewSettings>,
    now: DateTime<Utc>,
    list_id: Uuid,
) -> Result<Rescreened, StoreError> {
    let run = Rescreen {
        store,
        index,
        threshold,
        importer,
        settings,
        now,
        list_id,
    };
    let mut found = Rescreened::default();
    let mut after = None;
    loop {
        let cases = store.open_cases(after, PAGE).await?;
        let Some(last) = cases.last() else {
            break;
        };
        after = Some(last.application.id);
        found.open_cases += run.flag_new_hits(cases).await;
    }
    let mut after = None;
    loop {
        let (last, cases) = store.licensing_cases(after, PAGE, now).await?;
        let Some(last) = last else {
            break;
        };
        after = Some(last);
        found.licence_cases += run.flag_new_hits(cases).await;
    }
    Ok(found)
}

/// One run of screening again.
struct Rescreen<'a> {
    store: &'a Store,
    index: &'a ScreeningIndex,
    threshold: f64,
    importer: &'a Principal,
    settings: Arc<ReviewSettings>,
    now: DateTime<Utc>,
    list_id: Uuid,
}

impl Rescreen<'_> {
    /// Raises each case's new hits; answers how many cases got some.
    async fn flag_new_hits(&self, cases: Vec<Case>) -> usize {
        let mut flagged = 0;
        for case in cases {
            let screened = screen_parties(
                self.index,
                &case.application.content.parties,
                self.threshold,
            );
            if case.new_hits(screened.clone()).is_empty() {
                continue;
            }
            let id = case.application.id;
            let request_id = format!("rescreen:{}:{id}", self.list_id);
            let m = mutation(
                self.importer,
                None,
                request_id.clone(),
                "rescreen",
                self.list_id.to_string(),
                self.now,
            );
            let (principal, settings, now) =
                (self.importer.clone(), self.settings.clone(), self.now);
            let decide = move |c: &Case| {
                let ctx = Context {
                    principal: &principal,
                    now,
                    request_id: &request_id,
                    settings: &settings,
                };
                c.rescreen(&ctx, screened.clone())
            };
            let target = CaseTarget {
                org: None,
                id,
                expected_version: case.application.version,
                pinned_products: &[],
                pinned_documents: &[],
            };
            match self
                .store
                .update_case(&m, target, decide, &|_| Vec::new())
                .await
            {
                Ok(_) => flagged += 1,
                // The case moved on meanwhile (a step, or another replica's run): the next
                // import or submission screens it again.
                Err(e) => tracing::warn!(case = %id, error = %e, "a case was not screened again"),
            }
        }
        flagged
    }
}

/// Cases read per page while screening again.
const PAGE: u64 = 200;
