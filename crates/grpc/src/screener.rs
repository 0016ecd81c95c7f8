//! Denied-party screening as the services consult it: the lists in force as one in-memory
//! index, rebuilt only when a list version is imported.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use clearance_domain::access::Principal;
use clearance_domain::screening::{Hit, PartyQuery, ScreeningIndex, screen_parties};
use clearance_domain::workflow::{Case, Context, ReviewSettings};
use clearance_store::{CaseTarget, Store, StoreError};

use crate::error::{ApiError, ApiResult};
use crate::respond::mutation;

/// The index is reused while the number of imported versions is unchanged: versions are
/// immutable and never removed, so a `COUNT(*)` tells a replica that another has imported.
/// The count is read at most once per `RECHECK` so that screening costs StartShipment no
/// query; an import through this process takes effect here at once, one on another replica
/// (or `clearance screening import`) within `RECHECK`.
///
/// A refresh (the count, and a rebuild when it changed) runs once, detached from every caller
/// (single flight): callers wait for it with their own deadline, and one that gives up leaves
/// it running for the next. A shipment never meets an index older than a list import it
/// follows: while a rebuild runs, callers wait for it.
#[derive(Clone)]
pub struct Screener {
    store: Store,
    threshold: f64,
    state: Arc<tokio::sync::Mutex<IndexState>>,
    /// Wakes the screening sweep when a list version is imported through this process.
    imported: Arc<tokio::sync::Notify>,
}

/// How often the count of imported versions is read again.
const RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// The index, how many imported versions it was built from, and when that was last checked.
#[derive(Clone)]
struct CachedIndex {
    count: i64,
    checked: std::time::Instant,
    index: Arc<ScreeningIndex>,
    /// The generation of the refresh that read the count.
    generation: u64,
}

/// What a refresh answers its waiters.
type Refreshed = Option<Result<(Arc<ScreeningIndex>, i64), RefreshFailure>>;

#[derive(Clone, Debug)]
enum RefreshFailure {
    Unavailable(String),
    Internal(String),
}

impl From<RefreshFailure> for ApiError {
    fn from(f: RefreshFailure) -> Self {
        match f {
            RefreshFailure::Unavailable(cause) => ApiError::Unavailable(cause),
            RefreshFailure::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

/// The cache and the refresh under way. Each import through the process starts a new
/// generation: an index (or a refresh) of an older one may predate the import and is never
/// answered after it.
#[derive(Default)]
struct IndexState {
    generation: u64,
    cached: Option<CachedIndex>,
    /// The latest refresh started, with its generation.
    refreshing: Option<(u64, tokio::sync::watch::Receiver<Refreshed>)>,
}

impl Screener {
    pub fn new(store: Store, threshold: f64) -> Self {
        Screener {
            store,
            threshold,
            state: Arc::default(),
            imported: Arc::default(),
        }
    }

    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// The index of every entry of the lists in force.
    pub async fn index(&self) -> ApiResult<Arc<ScreeningIndex>> {
        Ok(self.index_with_count().await?.0)
    }

    /// The index and how many list versions had been imported when it was built (at least:
    /// a version imported meanwhile may be in it too).
    pub async fn index_with_count(&self) -> ApiResult<(Arc<ScreeningIndex>, i64)> {
        let mut waiting = {
            let mut state = self.state.lock().await;
            if let Some(cached) = state.cached.as_ref()
                && cached.checked.elapsed() < RECHECK
                && cached.generation == state.generation
            {
                return Ok((cached.index.clone(), cached.count));
            }
            match &state.refreshing {
                Some((generation, refreshing)) if *generation == state.generation => {
                    refreshing.clone()
                }
                _ => self.start_refresh(&mut state),
            }
        };
        let refreshed = waiting
            .wait_for(Option::is_some)
            .await
            .map_err(|_| ApiError::Internal("the screening index refresh ended unanswered".into()))?
            .clone();
        match refreshed {
            Some(Ok(found)) => Ok(found),
            Some(Err(failure)) => Err(failure.into()),
            None => Err(ApiError::Internal(
                "the screening index refresh ended unanswered".into(),
            )),
        }
    }

    /// Starts the one refresh, detached; its result goes into the cache whether or not anyone
    /// still waits.
    fn start_refresh(&self, state: &mut IndexState) -> tokio::sync::watch::Receiver<Refreshed> {
        let (tx, rx) = tokio::sync::watch::channel(None);
        let generation = state.generation;
        state.refreshing = Some((generation, rx.clone()));
        let previous = state.cached.clone();
        let (store, shared) = (self.store.clone(), self.state.clone());
        tokio::spawn(async move {
            let result = refresh(&store, previous, generation).await;
            let mut state = shared.lock().await;
            if let Ok(fresh) = &result
                && state
                    .cached
                    .as_ref()
                    .is_none_or(|c| c.generation <= generation)
            {
                state.cached = Some(fresh.clone());
            }
            if state
                .refreshing
                .as_ref()
                .is_some_and(|(g, _)| *g == generation)
            {
                state.refreshing = None;
            }
            let _ = tx.send(Some(result.map(|c| (c.index, c.count))));
        });
        rx
    }

    /// After an import through this process: read the lists again now (not at the next
    /// shipment), and wake the screening sweep.
    pub async fn invalidate(&self) {
        {
            let mut state = self.state.lock().await;
            // What was read before now may predate the import, a refresh under way too.
            state.generation += 1;
            self.start_refresh(&mut state);
        }
        self.imported.notify_one();
    }

    /// Waits until a list version is imported through this process, or `timeout` passes.
    pub async fn imported_or(&self, timeout: std::time::Duration) {
        let _ = tokio::time::timeout(timeout, self.imported.notified()).await;
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

/// Reads the count of imported versions and rebuilds the index when it changed.
async fn refresh(
    store: &Store,
    previous: Option<CachedIndex>,
    generation: u64,
) -> Result<CachedIndex, RefreshFailure> {
    let failed = |e: StoreError| match ApiError::from_store("screening lists", e) {
        ApiError::Unavailable(cause) | ApiError::DeadlineExceeded(cause) => {
            RefreshFailure::Unavailable(cause)
        }
        other => RefreshFailure::Internal(other.to_string()),
    };
    let count = store.imported_screening_lists().await.map_err(failed)?;
    if let Some(previous) = previous
        && previous.count == count
    {
        return Ok(CachedIndex {
            checked: std::time::Instant::now(),
            generation,
            ..previous
        });
    }
    let started = std::time::Instant::now();
    let in_force = store.screening_lists_in_force().await.map_err(failed)?;
    let ids: Vec<_> = in_force.iter().map(|v| v.id).collect();
    let entries = store.screening_entries(&ids).await.map_err(failed)?;
    let index = tokio::task::spawn_blocking(move || ScreeningIndex::build(entries))
        .await
        .map_err(|e| RefreshFailure::Internal(format!("building the screening index: {e}")))?;
    tracing::info!(
        lists = count,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "screening index rebuilt"
    );
    // Versions imported between the count and the read are in the index already, and picked
    // up as a count change next time.
    Ok(CachedIndex {
        count,
        checked: std::time::Instant::now(),
        index: Arc::new(index),
        generation,
    })
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rescreened {
    /// The count of list versions the cases were screened against.
    pub through: i64,
    /// Open cases screened.
    pub open_cases: usize,
    /// Cases behind licences screened.
    pub licence_cases: usize,
    /// Cases with new hits raised.
    pub flagged: usize,
    /// Cases that moved while they were screened, left for the next sweep.
    pub left: usize,
}

impl Rescreened {
    /// Whether the sweep screened anything at all.
    pub fn is_empty(&self) -> bool {
        self.open_cases + self.licence_cases + self.left == 0
    }
}

/// The one who screens cases again, on the record of every hit it raises.
pub fn screening_principal() -> Principal {
    Principal {
        subject: "clearance screening".into(),
        roles: vec![clearance_domain::access::Role::PolicyAdmin],
        organisation: None,
        agency: None,
    }
}

/// The screening sweep: brings every open case, and every case behind a licence that may
/// still ship, up to the list versions imported. A case whose parties hit a new entry gets the
/// hit raised (a case step, idempotent per list count and case, retried when the case moved
/// meanwhile); one without records the count it was screened against. Decisions wait for it
/// (`check_screened`), so the sweep is run until a pass leaves nothing behind: at start, after
/// every import and every few seconds on every replica; two replicas sweeping at once only
/// repeat a read (each write is guarded).
pub async fn screen_cases_behind(
    store: &Store,
    screener: &Screener,
    settings: Arc<ReviewSettings>,
    now: DateTime<Utc>,
) -> ApiResult<Rescreened> {
    let (index, through) = screener.index_with_count().await?;
    let failed = |e| ApiError::from_store("cases", e);
    let run = Rescreen {
        store,
        index: &index,
        threshold: screener.threshold(),
        principal: screening_principal(),
        settings,
        now,
        through,
    };
    let mut found = Rescreened {
        through,
        ..Rescreened::default()
    };
    let mut after = None;
    loop {
        let cases = store
            .open_cases_behind_screening(through, after, PAGE)
            .await
            .map_err(failed)?;
        let Some(last) = cases.last() else {
            break;
        };
        after = Some(last.application.id);
        found.open_cases += cases.len();
        run.screen(cases, &mut found).await.map_err(failed)?;
    }
    let marked = store
        .licence_cases_screened_through()
        .await
        .map_err(failed)?;
    if marked < through {
        let left_before = found.left;
        let mut after = None;
        loop {
            let (last, cases) = store
                .licensing_cases(after, PAGE, now)
                .await
                .map_err(failed)?;
            let Some(last) = last else {
                break;
            };
            after = Some(last);
            let behind: Vec<Case> = cases
                .into_iter()
                .filter(|c| c.screening_currency.screened_through < through)
                .collect();
            found.licence_cases += behind.len();
            run.screen(behind, &mut found).await.map_err(failed)?;
        }
        if found.left == left_before {
            store
                .mark_licence_cases_screened(through)
                .await
                .map_err(failed)?;
        }
    }
    Ok(found)
}

/// Sweeps until nothing is behind, on every replica: at start, when a list version is imported
/// through this process, and every `interval` (imports elsewhere). Progress goes to the log.
pub async fn run_screening_sweeps(
    store: Store,
    screener: Screener,
    settings: Arc<ReviewSettings>,
    clock: Arc<dyn crate::Clock>,
    interval: std::time::Duration,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        match screen_cases_behind(&store, &screener, settings.clone(), clock.now()).await {
            Ok(found) if found.is_empty() => {}
            Ok(found) => {
                tracing::info!(
                    lists = found.through,
                    open_cases = found.open_cases,
                    licence_cases = found.licence_cases,
                    flagged = found.flagged,
                    left_for_next_sweep = found.left,
                    "cases screened against the lists imported"
                );
                if found.left > 0 {
                    // Cases moved while screened: sweep again at once (after a breath).
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
                        _ = stopped.changed() => return,
                    }
                    continue;
                }
            }
            Err(e) => tracing::warn!(error = %e, "screening sweep failed; trying again"),
        }
        tokio::select! {
            _ = screener.imported_or(interval) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// One sweep's way of screening a page of cases.
struct Rescreen<'a> {
    store: &'a Store,
    index: &'a ScreeningIndex,
    threshold: f64,
    principal: Principal,
    settings: Arc<ReviewSettings>,
    now: DateTime<Utc>,
    through: i64,
}

impl Rescreen<'_> {
    /// Screens each case: raises its new hits, or records that it has none.
    async fn screen(&self, cases: Vec<Case>, found: &mut Rescreened) -> Result<(), StoreError> {
        let mut nothing_new = Vec::new();
        for case in cases {
            let screened = screen_parties(
                self.index,
                &case.application.content.parties,
                self.threshold,
            );
            if case.new_hits(screened.clone()).is_empty() {
                nothing_new.push(case.application.id);
                continue;
            }
            match self.raise_hits(case, screened).await {
                Ok(()) => found.flagged += 1,
                Err(StoreError::StaleEtag { .. } | StoreError::Conflict(_)) => found.left += 1,
                Err(e) => return Err(e),
            }
        }
        self.store.mark_screened(&nothing_new, self.through).await
    }

    /// Raises a case's new hits, re-reading it when it moved meanwhile (a few times; then the
    /// next sweep takes it).
    async fn raise_hits(
        &self,
        mut case: Case,
        screened: Vec<clearance_domain::screening::PartyScreening>,
    ) -> Result<(), StoreError> {
        let id = case.application.id;
        let request_id = format!("rescreen:{}:{id}", self.through);
        let mut attempts = 0;
        loop {
            let m = mutation(
                &self.principal,
                None,
                request_id.clone(),
                "rescreen",
                self.through.to_string(),
                self.now,
            );
            let (principal, settings, now, through) = (
                self.principal.clone(),
                self.settings.clone(),
                self.now,
                self.through,
            );
            let (screened, request_id) = (screened.clone(), request_id.clone());
            let decide = move |c: &Case| {
                let ctx = Context {
                    principal: &principal,
                    now,
                    request_id: &request_id,
                    settings: &settings,
                };
                c.rescreen(&ctx, screened.clone(), through)
            };
            let target = CaseTarget {
                org: None,
                id,
                expected_version: case.application.version,
                pinned_products: &[],
                pinned_documents: &[],
                screening_gate: false,
            };
            match self
                .store
                .update_case(&m, target, decide, &|_| Vec::new())
                .await
            {
                Ok(_) => return Ok(()),
                Err(StoreError::StaleEtag { .. } | StoreError::Conflict(_)) if attempts < 4 => {
                    attempts += 1;
                    case = self.store.get_case(None, id).await?;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Cases read per page while screening again.
const PAGE: u64 = 200;
