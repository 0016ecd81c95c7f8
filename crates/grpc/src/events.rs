//! EventService, served by both services: every committed change the caller may see, in
//! commit order, resumable from a cursor.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clearance_domain::Violations;
use clearance_domain::access::Principal;
use clearance_domain::error::reason;
use clearance_domain::events::exporter_payload;
use clearance_proto::v1::event_service_server::EventService;
use clearance_proto::v1::{Event, WatchEventsRequest};
use clearance_store::Store;
use tokio::sync::{mpsc, watch};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::convert::timestamp;
use crate::error::ApiError;

/// Events read per query.
const BATCH: u64 = 200;
/// How long an idle stream waits before looking again.
const POLL: Duration = Duration::from_millis(200);

/// Streams the outbox.
#[derive(Clone)]
pub struct EventApi {
    store: Store,
    /// Ends open streams when the server shuts down.
    stopped: watch::Receiver<bool>,
    /// Streams whose task is still running.
    open: Arc<AtomicUsize>,
    /// Open streams per caller, and how many one caller may hold.
    per_caller: Arc<Mutex<HashMap<String, usize>>>,
    streams_per_caller: usize,
    /// Each open stream's position (its last event sent), for the lag metric.
    positions: Arc<Mutex<HashMap<u64, i64>>>,
    next_stream: Arc<AtomicU64>,
}

/// Open streams a caller may hold unless configured otherwise.
pub const DEFAULT_STREAMS_PER_CALLER: usize = 8;

impl EventApi {
    pub fn new(store: Store, stopped: watch::Receiver<bool>) -> Self {
        EventApi {
            store,
            stopped,
            open: Arc::new(AtomicUsize::new(0)),
            per_caller: Arc::new(Mutex::new(HashMap::new())),
            streams_per_caller: DEFAULT_STREAMS_PER_CALLER,
            positions: Arc::new(Mutex::new(HashMap::new())),
            next_stream: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The position of the open stream furthest behind, if any stream is open.
    pub fn slowest_position(&self) -> Option<i64> {
        self.positions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .min()
            .copied()
    }

    /// At most `n` open streams per caller; another is RESOURCE_EXHAUSTED.
    pub fn with_streams_per_caller(mut self, n: usize) -> Self {
        self.streams_per_caller = n.max(1);
        self
    }

    /// How many streams are being served now; a stream's task ends when its client goes.
    pub fn open_streams(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

/// Counts a stream's task as open, in all and for its caller, until it ends, however it ends.
struct OpenStream {
    open: Arc<AtomicUsize>,
    per_caller: Arc<Mutex<HashMap<String, usize>>>,
    caller: String,
    positions: Arc<Mutex<HashMap<u64, i64>>>,
    id: u64,
}

impl OpenStream {
    /// Opens a stream for `caller`, unless it holds `limit` already.
    fn new(api: &EventApi, caller: String, position: i64) -> Result<Self, ApiError> {
        {
            // A poisoned lock only means another stream panicked; the counts are still whole.
            let mut per_caller = api.per_caller.lock().unwrap_or_else(|e| e.into_inner());
            let held = per_caller.entry(caller.clone()).or_insert(0);
            if *held >= api.streams_per_caller {
                return Err(ApiError::ResourceExhausted {
                    reason: reason::TOO_MANY_STREAMS,
                    message: format!(
                        "{caller} has {held} event streams open, the most allowed; close one first"
                    ),
                    retry_after: Duration::from_secs(5),
                });
            }
            *held += 1;
        }
        api.open.fetch_add(1, Ordering::SeqCst);
        let id = api.next_stream.fetch_add(1, Ordering::Relaxed);
        let stream = OpenStream {
            open: api.open.clone(),
            per_caller: api.per_caller.clone(),
            caller,
            positions: api.positions.clone(),
            id,
        };
        stream.reached(position);
        Ok(stream)
    }

    /// Records that the stream has sent everything up to `position`.
    fn reached(&self, position: i64) {
        self.positions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(self.id, position);
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::SeqCst);
        self.positions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
        let mut per_caller = self.per_caller.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(held) = per_caller.get_mut(&self.caller) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                per_caller.remove(&self.caller);
            }
        }
    }
}

const CURSOR_TAG: &[u8] = b"ev1";

/// The opaque cursor of a stream position.
pub fn encode_cursor(position: i64) -> String {
    let mut bytes = CURSOR_TAG.to_vec();
    bytes.extend_from_slice(&position.to_be_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The position a cursor names; empty is the beginning.
pub fn decode_cursor(cursor: &str) -> Result<i64, Violations> {
    if cursor.is_empty() {
        return Ok(0);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .filter(|b| b.len() == CURSOR_TAG.len() + 8 && b.starts_with(CURSOR_TAG))
        .ok_or_else(|| Violations::single("after_cursor", "is not a cursor this service issued"))?;
    let mut position = [0u8; 8];
    position.copy_from_slice(&bytes[CURSOR_TAG.len()..]);
    Ok(i64::from_be_bytes(position))
}

fn scope(principal: &Principal) -> Option<String> {
    principal
        .organisation
        .as_ref()
        .map(|o| o.as_str().to_owned())
}

#[tonic::async_trait]
impl EventService for EventApi {
    type WatchEventsStream = Pin<Box<dyn Stream<Item = Result<Event, Status>> + Send + 'static>>;

    async fn watch_events(
        &self,
        request: Request<WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        let principal = crate::principal(&request)?;
        let WatchEventsRequest {
            after_cursor,
            start_at_end,
        } = request.get_ref();
        let mut position = match (after_cursor.is_empty(), *start_at_end) {
            (_, false) => decode_cursor(after_cursor).map_err(ApiError::from)?,
            (true, true) => self
                .store
                .latest_event_position()
                .await
                .map_err(|e| ApiError::from_store("events", e))?,
            (false, true) => {
                return Err(ApiError::from(Violations::single(
                    "start_at_end",
                    "cannot be combined with after_cursor: resume from the cursor, or start at the end",
                ))
                .into());
            }
        };
        let organisation = scope(&principal);
        let store = self.store.clone();
        let mut stopped = self.stopped.clone();
        let mut numbered = store.events_numbered();
        let (tx, rx) = mpsc::channel(BATCH as usize);
        let open = OpenStream::new(self, crate::limits::caller_key(&principal), position)?;
        tokio::spawn(async move {
            loop {
                if *stopped.borrow() {
                    return;
                }
                let batch = match store
                    .events_after(position, organisation.as_deref(), BATCH)
                    .await
                {
                    Ok(batch) => batch,
                    Err(e) => {
                        let _ = tx
                            .send(Err(Status::from(ApiError::from_store("events", e))))
                            .await;
                        return;
                    }
                };
                let idle = batch.is_empty();
                if let Some(last) = batch.last() {
                    open.reached(last.position);
                }
                for event in batch {
                    position = event.position;
                    // Exporters receive only what the regulator has decided to tell them.
                    let payload_json = if organisation.is_some() {
                        match exporter_payload(&event.event_type, &event.payload_json) {
                            Some(payload) => payload,
                            None => continue,
                        }
                    } else {
                        event.payload_json
                    };
                    let message = Event {
                        cursor: encode_cursor(event.position),
                        r#type: event.event_type,
                        resource: event.resource,
                        create_time: Some(timestamp(&event.create_time)),
                        payload_json,
                    };
                    if tx.send(Ok(message)).await.is_err() {
                        return; // the client went away
                    }
                }
                if idle {
                    tokio::select! {
                        _ = tokio::time::sleep(POLL) => {}
                        // Events of this process were numbered: look now, not at the next poll.
                        _ = numbered.changed() => {}
                        _ = stopped.changed() => return,
                        // The client went away: stop polling for it.
                        _ = tx.closed() => return,
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stream_stops_polling_when_its_client_goes() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("events.db").display());
        let store = Store::connect(&url, 2).await.unwrap();
        store.migrate().await.unwrap();
        let (_stop, stopped) = watch::channel(false);
        let api = EventApi::new(store, stopped);
        let mut request = Request::new(WatchEventsRequest::default());
        request.extensions_mut().insert(Principal {
            subject: "auditor".into(),
            roles: vec![clearance_domain::access::Role::Auditor],
            organisation: None,
            agency: None,
        });
        let stream = api.watch_events(request).await.unwrap().into_inner();
        assert_eq!(api.open_streams(), 1);
        drop(stream);
        for _ in 0..100 {
            if api.open_streams() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the stream's task kept polling after its client went away");
    }

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(decode_cursor(&encode_cursor(42)).unwrap(), 42);
        assert_eq!(decode_cursor("").unwrap(), 0);
        assert!(decode_cursor("42").is_err());
    }
}
