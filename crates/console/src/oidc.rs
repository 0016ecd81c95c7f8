//! Production sign-in through the organisation's OpenID Connect provider. The provider is
//! discovered on first use (and again after a failure), so a console started while the
//! provider is down signs people in once it is back. Sign-ins on their way through the
//! provider are remembered here for ten minutes, by their `state`, each usable once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clearance_auth::{OidcError, OidcProvider, OidcSettings, PendingSignIn, SignedIn};

/// How long a person has to come back from the provider.
const PENDING_LIFETIME: Duration = Duration::from_secs(600);
/// The most sign-ins in progress remembered; past it the oldest are forgotten, so a flood of
/// started sign-ins cannot grow memory without bound.
const MAX_PENDING: usize = 10_000;

pub struct OidcSignIn {
    settings: OidcSettings,
    provider: tokio::sync::OnceCell<OidcProvider>,
    pending: Mutex<HashMap<String, (PendingSignIn, Instant)>>,
}

impl OidcSignIn {
    pub fn new(settings: OidcSettings) -> OidcSignIn {
        OidcSignIn {
            settings,
            provider: tokio::sync::OnceCell::new(),
            pending: Mutex::new(HashMap::new()),
        }
    }

    async fn provider(&self) -> Result<&OidcProvider, OidcError> {
        self.provider
            .get_or_try_init(|| OidcProvider::discover(self.settings.clone()))
            .await
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, (PendingSignIn, Instant)>> {
        // A panic elsewhere while holding the lock leaves the map itself intact.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a sign-in: its state (for the browser's cookie) and the provider's URL.
    pub async fn begin(&self) -> Result<(String, String), OidcError> {
        let (pending, url) = self.provider().await?.begin()?;
        let state = pending.state.clone();
        let mut all = self.pending();
        let now = Instant::now();
        all.retain(|_, (_, started)| now.duration_since(*started) < PENDING_LIFETIME);
        if all.len() >= MAX_PENDING
            && let Some(oldest) = all
                .iter()
                .min_by_key(|(_, (_, started))| *started)
                .map(|(k, _)| k.clone())
        {
            all.remove(&oldest);
        }
        all.insert(state.clone(), (pending, now));
        Ok((state, url))
    }

    /// Finishes the sign-in `state` names with the provider's code; `None` when no such
    /// sign-in is in progress (unknown, used already, or older than ten minutes).
    pub async fn finish(&self, state: &str, code: &str) -> Option<Result<SignedIn, OidcError>> {
        let pending = {
            let (pending, started) = self.pending().remove(state)?;
            if started.elapsed() >= PENDING_LIFETIME {
                return None;
            }
            pending
        };
        Some(match self.provider().await {
            Ok(provider) => provider.finish(code, &pending).await,
            Err(e) => Err(e),
        })
    }

    /// Forgets a sign-in the provider ended with an error.
    pub fn abandon(&self, state: &str) {
        self.pending().remove(state);
    }
}
