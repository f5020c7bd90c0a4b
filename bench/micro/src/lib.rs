//! Criterion micro-benchmarks of the hot paths (no library code here).
//!
//! - `benches/protocol.rs`: one WebSocket request/reply as the server handles it (parse and
//!   validate the client's text frame, step the environment, serialize the observation) and as
//!   the load generator handles it (format the request, parse the reply); the HTTP `/step` body.
//! - `benches/records.rs`: one `raw.jsonl` line, one cell summary, one cell appended to disk.
//!
//! Run: `cargo bench -p openenv-microbench`.
