//! Worker processes: how one cell is spread over several load-generator processes.
//!
//! The protocol is line-oriented JSON over the worker's stdin/stdout, so the same worker can be
//! started locally (`openenv-bench scale --worker-stdio`, or the `openenv-loadgen-worker` binary:
//! both are [`serve_stdio`]), over ssh or by `srun` on another node (`scale --slurm`):
//! - parent → worker stdin: one [`ShareSpec`] line. With `barrier` set (what this version's
//!   parent sends) the worker answers `hello` (host, pid, cores) and waits: the parent sends
//!   `{"t":"clock"}` probes, each answered at once with the worker's wall clock, then one
//!   `{"t":"start","start_unix_ns":…}` line with the cell's start in the worker's own clock.
//!   Without `barrier` (an older parent) the worker starts at the share's `start_unix_ns`.
//!   Closing stdin (or a `stop` line) means "interrupt", before or after the start (the worker
//!   also stops on its own SIGINT, SIGTERM or SIGHUP);
//! - worker → parent stdout: [`WorkerMsg`] lines: `hello`, `clock` answers, `progress` every
//!   100 ms, one `record` per session, then `done` with the worker's own CPU time, peak memory
//!   and event-loop lag.
//!
//! One intended start across nodes: the parent starts every worker of a cell at once and waits
//! until each has said `hello` and answered its clock probes (the barrier), then picks one start
//! time and sends it to every worker, corrected by that worker's clock offset. The offset is
//! NTP's estimate from the probe with the shortest round trip (worker clock minus the midpoint
//! of send and receive), so skew between nodes is removed to within half that round trip; each
//! host's offset and round trip go to `run.json` (`loadgen_hosts`). Each session's start delay
//! is measured on its own host's clocks.
//!
//! A worker that does not say `hello` within the start deadline (the cell's `--timeout`), or
//! stays silent for [`SILENCE_LIMIT`] while running (its `progress` comes every 100 ms: a
//! vanished node), or is still running after the cell's deadline, is stopped (SIGTERM to the
//! process we started, SIGKILL 2 s later); its unreported sessions become `WorkerLost`, the rest
//! of the cell goes on.

use crate::error::LoadgenError;
use crate::meter::ProcessStats;
use crate::observe::{Counters, Counts};
use crate::record::SessionRecord;
use crate::share::{run_share, unix_ns};
use crate::spec::ShareSpec;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines, Stdin};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::watch;

/// A running worker whose stdout says nothing for this long is taken for lost (a vanished node:
/// `srun` may take minutes to notice). Its progress line comes every 100 ms.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(30);

/// Clock probes per worker at the barrier (the shortest round trip wins).
const CLOCK_PROBES: usize = 3;

/// What a parent sends a worker after the share (besides `stop`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "lowercase")]
pub enum ParentMsg {
    /// Answer with `clock`: the worker's wall clock now.
    Clock,
    /// Start the share at this time of the worker's own wall clock.
    Start { start_unix_ns: i64 },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "lowercase")]
pub enum WorkerMsg {
    Progress {
        launched: usize,
        connected: usize,
        done: usize,
        failed: usize,
    },
    Record(Box<SessionRecord>),
    Done(ProcessStats),
    Error {
        message: String,
    },
    /// The worker is up and holds its share (barrier only).
    Hello {
        host: String,
        pid: u32,
        #[serde(default)]
        cores: u64,
    },
    /// The answer to a clock probe: the worker's wall clock, Unix nanoseconds.
    Clock {
        unix_ns: i64,
    },
}

impl From<Counts> for WorkerMsg {
    fn from(c: Counts) -> WorkerMsg {
        WorkerMsg::Progress {
            launched: c.launched,
            connected: c.connected,
            done: c.done,
            failed: c.failed,
        }
    }
}

fn emit(out: &mut impl Write, msg: &WorkerMsg) -> std::io::Result<()> {
    let mut line = serde_json::to_string(msg).expect("message serializes");
    line.push('\n');
    out.write_all(line.as_bytes())
}

/// The worker process's whole life: read a share on stdin, run it, report on stdout. Returns
/// the process exit code (0: ran, 1: failed, 2: no or bad share). `openenv-bench scale
/// --worker-stdio` and the `openenv-loadgen-worker` binary are this function.
pub fn serve_stdio() -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("worker: cannot start runtime: {e}");
            return 1;
        }
    };
    let code = rt.block_on(async {
        openenv_sys::raise_nofile_limit();
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        let mut share = match read_share(&mut lines).await {
            Ok(s) => s,
            Err(code) => return code,
        };
        let (tx, rx) = watch::channel(false);
        let tx = Arc::new(tx);
        let mut signal = Box::pin(crate::signal::interrupted());
        if share.barrier {
            let hello = WorkerMsg::Hello {
                host: crate::share::local_host(),
                pid: std::process::id(),
                cores: openenv_sys::cores() as u64,
            };
            if emit(&mut std::io::stdout().lock(), &hello).is_err() {
                return 1;
            }
            let start = tokio::select! {
                s = await_start(&mut lines) => s,
                _ = &mut signal => None,
            };
            match start {
                Some(ns) => share.cell.start_unix_ns = ns,
                // Stopped before the start: every session is recorded as interrupted.
                None => {
                    share.cell.start_unix_ns = unix_ns(SystemTime::now());
                    tx.send_replace(true);
                }
            }
        }
        stop_on_stdin_end_or_signal(lines, tx.clone(), signal);
        let counters = Arc::new(Counters::default());
        let progress = tokio::spawn(report_progress(counters.clone()));
        let result = run_share(share, counters, rx).await;
        progress.abort();
        let code = report_result(result);
        drop(tx);
        code
    });
    // tokio's stdin reader sits in a blocking thread until the parent closes our stdin; the
    // parent waits for our exit first, so do not wait for that thread.
    rt.shutdown_background();
    code
}

/// The first stdin line: the share. Err(exit code) when there is none or it does not parse.
async fn read_share(lines: &mut Lines<BufReader<Stdin>>) -> Result<ShareSpec, i32> {
    match lines.next_line().await {
        Ok(Some(l)) => serde_json::from_str(&l).map_err(|e| {
            let message = format!("bad share spec: {e}");
            let _ = emit(&mut std::io::stdout(), &WorkerMsg::Error { message });
            2
        }),
        _ => {
            eprintln!("worker: no share spec on stdin");
            Err(2)
        }
    }
}

/// The barrier, worker side: answers clock probes until the `start` line (its time), or None
/// when stdin ends or says `stop` first.
async fn await_start(lines: &mut Lines<BufReader<Stdin>>) -> Option<i64> {
    loop {
        let line = lines.next_line().await.ok()??;
        if line.trim() == "stop" {
            return None;
        }
        match serde_json::from_str::<ParentMsg>(&line) {
            Ok(ParentMsg::Clock) => {
                let now = WorkerMsg::Clock {
                    unix_ns: unix_ns(SystemTime::now()),
                };
                emit(&mut std::io::stdout().lock(), &now).ok()?;
            }
            Ok(ParentMsg::Start { start_unix_ns }) => return Some(start_unix_ns),
            // Something this version does not know: not ours to act on.
            Err(_) => {}
        }
    }
}

/// Stops the share when stdin ends or says `stop`, or on SIGINT, SIGTERM or SIGHUP (a signal
/// to the whole process group reaches the workers too: they report, not die).
fn stop_on_stdin_end_or_signal(
    mut lines: Lines<BufReader<Stdin>>,
    tx: Arc<watch::Sender<bool>>,
    signal: std::pin::Pin<Box<impl std::future::Future<Output = ()> + Send + 'static>>,
) {
    let on_stdin = tx.clone();
    tokio::spawn(async move {
        loop {
            match lines.next_line().await {
                Ok(Some(l)) if l.trim() != "stop" => continue,
                _ => break,
            }
        }
        on_stdin.send_replace(true);
    });
    tokio::spawn(async move {
        signal.await;
        tx.send_replace(true);
    });
}

/// A `progress` line every 100 ms until stdout is gone (or the task is aborted).
async fn report_progress(counters: Arc<Counters>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        let msg = WorkerMsg::from(counters.counts());
        if emit(&mut std::io::stdout().lock(), &msg).is_err() {
            break;
        }
    }
}

/// Every record, then `done` (or one `error`); the exit code.
fn report_result(result: Result<(Vec<SessionRecord>, ProcessStats), LoadgenError>) -> i32 {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, stdout.lock());
    let code = match result {
        Ok((records, stats)) => {
            for r in records {
                if emit(&mut out, &WorkerMsg::Record(Box::new(r))).is_err() {
                    return 1;
                }
            }
            let _ = emit(&mut out, &WorkerMsg::Done(stats));
            0
        }
        Err(e) => {
            let message = e.to_string();
            let _ = emit(&mut out, &WorkerMsg::Error { message });
            1
        }
    };
    let _ = out.flush();
    code
}

/// What the parent got from one worker.
#[derive(Debug, Default)]
pub(crate) struct WorkerResult {
    pub records: Vec<SessionRecord>,
    pub stats: Option<ProcessStats>,
    pub error: Option<String>,
}

/// What a worker said at the barrier.
#[derive(Debug, Clone, Default)]
pub(crate) struct Hello {
    pub host: String,
    pub pid: u32,
    pub cores: u64,
    /// Its clock minus ours, nanoseconds.
    pub offset_ns: i64,
    /// Round trip of the probe the offset comes from.
    pub rtt: Duration,
}

/// A worker that passed the barrier: it holds its share and waits for the start.
pub(crate) struct Ready {
    pub hello: Hello,
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

/// A worker that did not pass the barrier (stopped if it was running).
#[derive(Debug)]
pub(crate) struct NotReady {
    pub why: String,
}

/// Starts a worker on `share` (with `barrier` set) and waits until it has said `hello` and
/// answered its clock probes, at most `deadline`. Err only when the program cannot be started
/// at all (a bad `--worker-command`, no `srun`): that stops the grid. A worker that starts but
/// fails the barrier (exits, says something else, or stays silent) is stopped and returned as
/// [`NotReady`]: its share is lost, the cell goes on.
pub(crate) async fn start(
    command: Vec<String>,
    share: ShareSpec,
    deadline: Duration,
) -> Result<Result<Ready, NotReady>, LoadgenError> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| LoadgenError::Worker("empty worker command".into()))?;
    let mut child: Child = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| LoadgenError::Worker(format!("cannot start {program}: {e}")))?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let until = tokio::time::Instant::now() + deadline;
    let handshake = async {
        let mut line = serde_json::to_string(&share).expect("share serializes");
        line.push('\n');
        // A worker that exits at once closes its stdin: its exit status tells more than EPIPE.
        if stdin.write_all(line.as_bytes()).await.is_err() {
            return Err(None);
        }
        let hello = match next_msg(&mut lines).await? {
            WorkerMsg::Hello { host, pid, cores } => Hello {
                host,
                pid,
                cores,
                ..Hello::default()
            },
            WorkerMsg::Error { message } => return Err(Some(message)),
            other => {
                return Err(Some(format!(
                    "said {other:?} before hello: not a worker of this version"
                )))
            }
        };
        probe_clock(&mut stdin, &mut lines, hello).await
    };
    let outcome = tokio::time::timeout_at(until, handshake).await;
    let timed_out = outcome.is_err();
    let why = match outcome {
        Ok(Ok(hello)) => {
            return Ok(Ok(Ready {
                hello,
                child,
                stdin,
                lines,
            }))
        }
        Ok(Err(Some(why))) => why,
        Ok(Err(None)) => match exit_status(&mut child).await {
            Some(why) => why,
            None => "worker closed its output before hello".into(),
        },
        Err(_) => format!(
            "worker did not say hello within {:.0} s (the start deadline, --timeout)",
            deadline.as_secs_f64()
        ),
    };
    let why = match terminate(&mut child).await {
        Some(pid) if timed_out => format!("{why}; stopped (pid {pid})"),
        _ => why,
    };
    Ok(Err(NotReady { why }))
}

/// The next protocol line; Err(None) at the end of the output, Err(Some) for an unreadable one.
async fn next_msg(lines: &mut Lines<BufReader<ChildStdout>>) -> Result<WorkerMsg, Option<String>> {
    match lines.next_line().await {
        Ok(Some(l)) => serde_json::from_str::<WorkerMsg>(&l)
            .map_err(|e| Some(format!("unreadable worker line ({e}): {:.80}", l))),
        Ok(None) => Err(None),
        Err(e) => Err(Some(format!("reading worker output: {e}"))),
    }
}

/// [`CLOCK_PROBES`] round trips; the offset of the shortest (NTP's estimate: the worker read
/// its clock about half-way through the round trip).
async fn probe_clock(
    stdin: &mut ChildStdin,
    lines: &mut Lines<BufReader<ChildStdout>>,
    mut hello: Hello,
) -> Result<Hello, Option<String>> {
    let mut probe = serde_json::to_string(&ParentMsg::Clock).expect("serializes");
    probe.push('\n');
    let mut best: Option<(Duration, i64)> = None;
    for _ in 0..CLOCK_PROBES {
        let sent = unix_ns(SystemTime::now());
        let t = std::time::Instant::now();
        if stdin.write_all(probe.as_bytes()).await.is_err() {
            return Err(None);
        }
        let theirs = match next_msg(lines).await? {
            WorkerMsg::Clock { unix_ns } => unix_ns,
            other => return Err(Some(format!("answered a clock probe with {other:?}"))),
        };
        let rtt = t.elapsed();
        let offset = theirs - (sent + rtt.as_nanos() as i64 / 2);
        if best.is_none_or(|(r, _)| rtt < r) {
            best = Some((rtt, offset));
        }
    }
    let (rtt, offset) = best.expect("at least one probe");
    hello.rtt = rtt;
    hello.offset_ns = offset;
    Ok(hello)
}

/// "worker exited with …" once the process has ended (waits up to 2 s for it).
async fn exit_status(child: &mut Child) -> Option<String> {
    match tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
        Ok(Ok(status)) if !status.success() => Some(format!("worker exited with {status}")),
        Ok(Ok(_)) => Some("worker exited (0) without reporting".into()),
        _ => None,
    }
}

/// Stops the process we started, by its pid: SIGTERM (so `srun` tears its job step down on the
/// node), SIGKILL if it is still there 2 s later. Returns its pid if it was still running.
async fn terminate(child: &mut Child) -> Option<u32> {
    if let Ok(Some(_)) = child.try_wait() {
        return None;
    }
    let pid = child.id()?;
    // SAFETY: kill(2) on the pid of our own child, which has not been reaped (try_wait above).
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    if tokio::time::timeout(Duration::from_secs(2), child.wait())
        .await
        .is_err()
    {
        let _ = child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    }
    Some(pid)
}

impl Ready {
    /// Sends the cell's start (`start_unix_ns` of our clock, in the worker's) and collects the
    /// worker's lines into `counters` and the result. Dropping the returned stdin interrupts
    /// the worker. A worker silent for [`SILENCE_LIMIT`], or still running `deadline` after the
    /// start, is stopped; its missing sessions are then recorded as lost by the caller.
    pub(crate) async fn run(
        self,
        start_unix_ns: i64,
        counters: Arc<Counters>,
        deadline: Duration,
    ) -> (ChildStdin, tokio::task::JoinHandle<WorkerResult>) {
        let Ready {
            hello,
            mut child,
            mut stdin,
            mut lines,
        } = self;
        let start = ParentMsg::Start {
            start_unix_ns: start_unix_ns.saturating_add(hello.offset_ns),
        };
        let mut line = serde_json::to_string(&start).expect("serializes");
        line.push('\n');
        // If this fails the worker is gone: its output ends and its sessions are lost.
        let _ = stdin.write_all(line.as_bytes()).await;
        let task = tokio::spawn(async move {
            let mut res = WorkerResult::default();
            let until = tokio::time::Instant::now() + deadline;
            let mut stuck = None;
            loop {
                let silent = tokio::time::Instant::now() + SILENCE_LIMIT;
                let next = match tokio::time::timeout_at(until.min(silent), lines.next_line()).await
                {
                    Ok(next) => next,
                    Err(_) if silent < until => {
                        stuck = Some(format!(
                            "worker on {} (pid {}) silent for {:.0} s: lost (a vanished node?)",
                            hello.host,
                            hello.pid,
                            SILENCE_LIMIT.as_secs_f64()
                        ));
                        break;
                    }
                    Err(_) => {
                        stuck = Some(format!(
                            "worker on {} still running {:.0} s after the cell started",
                            hello.host,
                            deadline.as_secs_f64()
                        ));
                        break;
                    }
                };
                match next {
                    Ok(Some(l)) => match serde_json::from_str::<WorkerMsg>(&l) {
                        Ok(WorkerMsg::Progress {
                            launched,
                            connected,
                            done,
                            failed,
                        }) => counters.store(Counts {
                            launched,
                            connected,
                            done,
                            failed,
                        }),
                        Ok(WorkerMsg::Record(r)) => res.records.push(*r),
                        Ok(WorkerMsg::Done(s)) => res.stats = Some(s),
                        Ok(WorkerMsg::Error { message }) => res.error = Some(message),
                        Ok(WorkerMsg::Hello { .. } | WorkerMsg::Clock { .. }) => {}
                        Err(e) => {
                            res.error = Some(format!("unreadable worker line ({e})"));
                        }
                    },
                    Ok(None) => break,
                    Err(e) => {
                        res.error = Some(format!("reading worker output: {e}"));
                        break;
                    }
                }
            }
            if let Some(why) = stuck {
                let why = match terminate(&mut child).await {
                    Some(pid) => format!("{why}; stopped (pid {pid})"),
                    None => why,
                };
                res.error = Some(why);
                return res;
            }
            let waited = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
            match waited.unwrap_or_else(|_| Err(std::io::Error::other("did not exit"))) {
                Ok(status) if !status.success() && res.error.is_none() => {
                    res.error = Some(format!("worker exited with {status}"));
                }
                Err(e) if res.error.is_none() => {
                    res.error = Some(format!("waiting for worker: {e}"))
                }
                _ => {}
            }
            res
        });
        (stdin, task)
    }
}
