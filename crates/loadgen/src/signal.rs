//! The signals that interrupt a run: SIGINT (Ctrl-C), SIGTERM (what `timeout`, `docker stop`
//! and SLURM send) and SIGHUP (a closed terminal). All three stop the run the same way: the cell
//! in flight is recorded, none of its sessions is lost.

use std::future::Future;
use tokio::signal::unix::{signal, SignalKind};

/// Installs the handlers now (inside a tokio runtime) and returns a future that resolves at
/// the first SIGINT, SIGTERM or SIGHUP received from then on. A signal whose handler cannot be
/// installed keeps its default action.
pub fn interrupted() -> impl Future<Output = ()> + Send + 'static {
    let kinds = [
        SignalKind::interrupt(),
        SignalKind::terminate(),
        SignalKind::hangup(),
    ];
    let mut streams: Vec<_> = kinds.into_iter().filter_map(|k| signal(k).ok()).collect();
    async move {
        if streams.is_empty() {
            return std::future::pending().await;
        }
        futures_util::future::select_all(streams.iter_mut().map(|s| Box::pin(s.recv()))).await;
    }
}
