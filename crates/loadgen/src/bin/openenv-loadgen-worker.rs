//! A load-generator worker process: reads one share on stdin, runs it, reports on stdout (the
//! protocol of `openenv_loadgen::worker`). The same as `openenv-bench scale --worker-stdio`,
//! without the CLI: the engine's own tests start this one.

fn main() -> std::process::ExitCode {
    let code = openenv_loadgen::worker::serve_stdio();
    std::process::ExitCode::from(code.clamp(0, 255) as u8)
}
