//! EventService, served by both services.

use std::pin::Pin;

use clearance_proto::v1::event_service_server::EventService;
use clearance_proto::v1::{Event, WatchEventsRequest};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::error::ApiError;

/// The event stream. Built with the outbox streaming work; until then it says so.
#[derive(Debug, Clone, Default)]
pub struct EventApi;

#[tonic::async_trait]
impl EventService for EventApi {
    type WatchEventsStream = Pin<Box<dyn Stream<Item = Result<Event, Status>> + Send + 'static>>;

    async fn watch_events(
        &self,
        _request: Request<WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        Err(ApiError::Unimplemented("WatchEvents").into())
    }
}
