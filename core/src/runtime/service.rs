//! Services that run beside an app (such as the metrics and health HTTP server of the
//! `kflow` facade).

use futures::future::BoxFuture;

use super::AppContext;
use crate::error::Result;

/// Something that runs beside an app while it runs (for example an HTTP server for
/// metrics and health): started with the app, stopped after the app stopped.
pub trait Service: Send + 'static {
    /// The service's name in logs and errors (default: its type name).
    fn name(&self) -> String {
        std::any::type_name::<Self>().to_string()
    }

    /// Starts the service with the running app's [`AppContext`] (health, units and
    /// partitions, pause and resume, commits). The returned task is aborted when the app
    /// has stopped; an error fails the app's start.
    fn start(self: Box<Self>, app: AppContext) -> BoxFuture<'static, Result<tokio::task::JoinHandle<()>>>;
}
