//! Worker processes: how one cell is spread over several load-generator processes.
//!
//! The protocol is line-oriented JSON over the worker's stdin/stdout, so the same worker can be
//! started locally (`openenv-bench scale --worker-stdio`, or the `openenv-loadgen-worker` binary:
//! both are [`serve_stdio`]), over ssh or by `srun` on another node:
//! - parent → worker stdin: one [`ShareSpec`] line; then closing stdin (or a `stop` line) means
//!   "interrupt" (the worker also stops on its own SIGINT);
//! - worker → parent stdout: [`WorkerMsg`] lines: `progress` every 100 ms, one `record` per
//!   session, then `done` with the worker's own CPU time, peak memory and event-loop lag.
//!
//! Every process aligns to the same intended start (`start_unix_ns`, wall clock), so across
//! nodes the clocks must be synchronized (NTP/PTP); the start delay each session saw is recorded.

use crate::error::LoadgenError;
use crate::meter::ProcessStats;
use crate::observe::{Counters, Counts};
use crate::record::SessionRecord;
use crate::share::run_share;
use crate::spec::ShareSpec;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines, Stdin};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::watch;

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
        let share = match read_share(&mut lines).await {
            Ok(s) => s,
            Err(code) => return code,
        };
        let (tx, rx) = watch::channel(false);
        let tx = Arc::new(tx);
        stop_on_stdin_end_or_signal(lines, tx.clone());
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

/// Stops the share when stdin ends or says `stop`, or on SIGINT, SIGTERM or SIGHUP (a signal
/// to the whole process group reaches the workers too: they report, not die).
fn stop_on_stdin_end_or_signal(mut lines: Lines<BufReader<Stdin>>, tx: Arc<watch::Sender<bool>>) {
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
    let signal = crate::signal::interrupted();
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

/// Starts a worker on `share`; its progress lands in `counters`. Dropping the returned stdin
/// interrupts the worker.
/// A worker still running after `deadline` (its sessions all have deadlines of their own, so
/// it is stuck) is killed and its missing sessions are recorded as lost.
pub(crate) async fn spawn(
    command: &[String],
    share: &ShareSpec,
    counters: Arc<Counters>,
    deadline: Duration,
) -> Result<(ChildStdin, tokio::task::JoinHandle<WorkerResult>), LoadgenError> {
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
    let stdout = child.stdout.take().expect("piped");
    let mut line = serde_json::to_string(share).expect("share serializes");
    line.push('\n');
    stdin
        .write_all(line.as_bytes())
        .await
        .map_err(|e| LoadgenError::Worker(format!("sending the share to {program}: {e}")))?;
    let task = tokio::spawn(async move {
        let mut res = WorkerResult::default();
        let mut lines = BufReader::new(stdout).lines();
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let Ok(next) = tokio::time::timeout_at(until, lines.next_line()).await else {
                res.error = Some(format!(
                    "worker still running {:.0} s after the cell started; killed",
                    deadline.as_secs_f64()
                ));
                let _ = child.start_kill();
                break;
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
        let waited = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        match waited.unwrap_or_else(|_| Err(std::io::Error::other("did not exit"))) {
            Ok(status) if !status.success() && res.error.is_none() => {
                res.error = Some(format!("worker exited with {status}"));
            }
            Err(e) if res.error.is_none() => res.error = Some(format!("waiting for worker: {e}")),
            _ => {}
        }
        res
    });
    Ok((stdin, task))
}
