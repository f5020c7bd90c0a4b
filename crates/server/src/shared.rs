//! State shared by every connection of one server worker.

use crate::config::ServerConfig;
use crate::env::ServerIdentity;
use crate::metrics::Metrics;
use openenv_protocol::inbound::Limits;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{watch, Notify};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Where the worker is in its life. Sessions watch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    Running,
    /// Stop accepting; idle sessions close with 1001; in-flight steps finish.
    Draining,
    /// The grace period is over: close everything now.
    Force,
}

pub(crate) struct Shared {
    pub cfg: ServerConfig,
    pub limits: Limits,
    pub who: ServerIdentity,
    pub metrics: Metrics,
    pub ws_config: WebSocketConfig,
    active: AtomicUsize,
    /// Connections accepted so far (the memory trimmer watches it).
    pub accepted: std::sync::atomic::AtomicU64,
    /// Connections and sessions still running (drain waits for 0).
    tasks: AtomicUsize,
    tasks_done: Notify,
    phase_tx: watch::Sender<Phase>,
    phase_rx: watch::Receiver<Phase>,
}

impl Shared {
    pub fn new(cfg: ServerConfig, who: ServerIdentity) -> Arc<Shared> {
        let (phase_tx, phase_rx) = watch::channel(Phase::Running);
        let max = cfg.max_message_size;
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(cfg.ws_read_buffer_size)
            .write_buffer_size(cfg.ws_write_buffer_size)
            .max_write_buffer_size(
                cfg.ws_max_write_buffer_size
                    .max(cfg.ws_write_buffer_size + 1),
            )
            .max_message_size(Some(max))
            .max_frame_size(Some(max));
        Arc::new(Shared {
            limits: Limits {
                max_wait_seconds: cfg.max_wait_seconds,
            },
            cfg,
            who,
            metrics: Metrics::default(),
            ws_config,
            active: AtomicUsize::new(0),
            accepted: Default::default(),
            tasks: AtomicUsize::new(0),
            tasks_done: Notify::new(),
            phase_tx,
            phase_rx,
        })
    }

    pub fn active_sessions(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Take a session slot, or `Err(active)` at capacity.
    pub fn try_acquire_slot(self: &Arc<Self>) -> Result<Slot, usize> {
        let max = self.cfg.max_concurrent_envs;
        let mut cur = self.active.load(Ordering::Relaxed);
        loop {
            if max != 0 && cur >= max {
                return Err(cur);
            }
            match self.active.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.metrics.sessions_opened.fetch_add(1, Ordering::Relaxed);
                    return Ok(Slot(self.clone()));
                }
                Err(now) => cur = now,
            }
        }
    }

    /// Count a running connection or session until the guard drops.
    pub fn task_guard(self: &Arc<Self>) -> TaskGuard {
        self.tasks.fetch_add(1, Ordering::AcqRel);
        TaskGuard(self.clone())
    }

    /// A handler panicked and was answered with an internal error. (The panic itself is
    /// logged by the panic hook: `serve` installs a one-line, rate-limited one.)
    pub fn internal_error(&self) {
        self.metrics.internal_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn phase_rx(&self) -> watch::Receiver<Phase> {
        self.phase_rx.clone()
    }

    pub fn phase(&self) -> Phase {
        *self.phase_rx.borrow()
    }

    pub fn set_phase(&self, p: Phase) {
        self.phase_tx.send_if_modified(|cur| {
            if p > *cur {
                *cur = p;
                true
            } else {
                false
            }
        });
    }

    /// Resolve when no connection or session is left.
    pub async fn all_tasks_done(&self) {
        loop {
            let notified = self.tasks_done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.tasks.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Resolve once the phase is at least `p` (or the worker is gone).
pub(crate) async fn reached(rx: &mut watch::Receiver<Phase>, p: Phase) {
    let _ = rx.wait_for(|cur| *cur >= p).await;
}

/// A held session slot (one environment); released on drop.
pub(crate) struct Slot(Arc<Shared>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
        self.0
            .metrics
            .sessions_closed
            .fetch_add(1, Ordering::Relaxed);
    }
}

pub(crate) struct TaskGuard(Arc<Shared>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        if self.0.tasks.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.tasks_done.notify_waiters();
        }
    }
}
