//! State shared by every connection of one server worker.

use crate::config::ServerConfig;
use crate::env::BenchEnv;
use crate::env::ServerIdentity;
use crate::metrics::Metrics;
use openenv_protocol::inbound::Limits;
use openenv_protocol::mcp::{Closing, SessionBook};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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
    /// Sessions made by `POST /mcp` `openenv/session/create` (openenv 0.10's HTTP MCP sessions),
    /// by id. Each holds a capacity slot until `openenv/session/close`; `env` is `None` while a
    /// `/ws?session_id=` connection runs it. Per worker process.
    held: Mutex<HashMap<String, Held>>,
}

pub(crate) struct Held {
    env: Option<BenchEnv>,
    /// `openenv/session/close` came while attached: closed when the WebSocket ends.
    closing: bool,
}

/// Most sessions held outside a WebSocket per worker process (with MAX_CONCURRENT_ENVS=0 the
/// capacity would not bound them).
const MAX_HELD: usize = 10_000;

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
            held: Mutex::new(HashMap::new()),
        })
    }

    pub fn active_sessions(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Take a session slot, or `Err(active)` at capacity.
    pub fn try_acquire_slot(self: &Arc<Self>) -> Result<Slot, usize> {
        self.count_session()?;
        Ok(Slot(self.clone()))
    }

    /// Count one more session against the capacity, or `Err(active)` at capacity.
    fn count_session(&self) -> Result<(), usize> {
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
                    return Ok(());
                }
                Err(now) => cur = now,
            }
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gives back the capacity slot of a held session.
    fn release_held(&self) {
        self.active.fetch_sub(1, Ordering::AcqRel);
        self.metrics.sessions_closed.fetch_add(1, Ordering::Relaxed);
    }

    /// The environment of held session `id` for a WebSocket to run, or 0.10's error message.
    pub fn attach(&self, id: &str) -> Result<BenchEnv, String> {
        match self.held().get_mut(id) {
            None => Err(format!("Unknown session_id: {id}")),
            Some(h) => h
                .env
                .take()
                .ok_or_else(|| format!("Session {id} already has an attached WebSocket")),
        }
    }

    /// The WebSocket of held session `id` ended: hold `env` again, or close the session (it was
    /// closed meanwhile, or `env` is lost).
    pub fn detach(&self, id: &str, env: Option<BenchEnv>) {
        let mut held = self.held();
        let Some(h) = held.get_mut(id) else { return };
        match env {
            Some(env) if !h.closing => h.env = Some(env),
            _ => {
                held.remove(id);
                drop(held);
                self.release_held();
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

impl SessionBook for Shared {
    fn create(&self) -> Result<String, (usize, usize)> {
        let mut held = self.held();
        if held.len() >= MAX_HELD {
            return Err((held.len(), MAX_HELD));
        }
        // Counted while held; `release_held` gives it back (a `Slot` kept in `held` would be a
        // reference cycle through its `Arc<Shared>`).
        self.count_session()
            .map_err(|active| (active, self.cfg.max_concurrent_envs))?;
        let env = BenchEnv::new();
        let id = env.session_id();
        held.insert(
            id.clone(),
            Held {
                env: Some(env),
                closing: false,
            },
        );
        Ok(id)
    }

    fn close(&self, id: &str) -> Closing {
        let mut held = self.held();
        match held.get_mut(id) {
            None => Closing::Unknown,
            Some(h) if h.env.is_none() => {
                h.closing = true;
                Closing::WhenDetached
            }
            Some(_) => {
                held.remove(id);
                drop(held);
                self.release_held();
                Closing::Closed
            }
        }
    }

    fn contains(&self, id: &str) -> bool {
        self.held().contains_key(id)
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
