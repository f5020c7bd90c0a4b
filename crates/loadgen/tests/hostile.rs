//! The HTTP client against hostile servers: a tiny TCP server on 127.0.0.1 that answers every
//! request with the given bytes. A bad reply is the session's `InvalidReply`, never a panic, a
//! lost worker or unbounded memory (issue 13, items 3 and 13).

use openenv_loadgen::{run_cell, CellParams, FailureClass, GridSpec, Mode, NullObserver};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How the server answers once it has read a request head.
#[derive(Clone, Copy)]
enum Answer {
    Bytes(&'static [u8]),
    /// A chunked 200 whose body never ends (4 KiB chunks until the client goes away).
    EndlessChunks,
    /// A 200 without length whose body never ends.
    EndlessUnframed,
}

async fn hostile(answer: Answer) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut b = [0u8; 4096];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut b).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&b[..n]),
                    }
                }
                match answer {
                    Answer::Bytes(bytes) => {
                        let _ = tcp.write_all(bytes).await;
                        // Hold the connection open: the client must decide on the bytes alone.
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                    Answer::EndlessChunks | Answer::EndlessUnframed => {
                        let head: &[u8] = if matches!(answer, Answer::EndlessChunks) {
                            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                        } else {
                            b"HTTP/1.1 200 OK\r\n\r\n"
                        };
                        if tcp.write_all(head).await.is_err() {
                            return;
                        }
                        let mut chunk = Vec::new();
                        if matches!(answer, Answer::EndlessChunks) {
                            chunk.extend_from_slice(b"1000\r\n");
                        }
                        chunk.extend_from_slice(&[b'x'; 4096]);
                        if matches!(answer, Answer::EndlessChunks) {
                            chunk.extend_from_slice(b"\r\n");
                        }
                        // Bounded: 1 GiB at most, stops as soon as the client closes.
                        for _ in 0..(1 << 18) {
                            if tcp.write_all(&chunk).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    url
}

/// One HTTP cell of 2 sessions against `url`; their records.
async fn cell(url: String) -> Vec<openenv_loadgen::SessionRecord> {
    let g = GridSpec {
        urls: vec![url],
        timeout: 20.0,
        ..GridSpec::default()
    };
    let cell = CellParams {
        mode: Mode::Http,
        wait: 0.0,
        batch_size: 2,
        repetition: 0,
    };
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    run_cell(&g, &cell, &mut NullObserver, stop)
        .await
        .unwrap()
        .records
}

async fn assert_invalid(answer: Answer, says: &str) {
    let t = Instant::now();
    let records = cell(hostile(answer).await).await;
    assert_eq!(records.len(), 2);
    for r in &records {
        assert_eq!(r.error_type, Some(FailureClass::InvalidReply), "{r:?}");
        let msg = r.error_message.as_deref().unwrap_or("");
        assert!(msg.contains(says), "{msg}");
    }
    // Decided on the bytes, not by the 20 s timeout.
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
}

#[tokio::test]
async fn a_chunk_size_of_u64_max_is_an_invalid_reply() {
    assert_invalid(
        Answer::Bytes(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffff\r\n"),
        "over",
    )
    .await;
}

#[tokio::test]
async fn a_huge_content_length_is_an_invalid_reply() {
    assert_invalid(
        Answer::Bytes(b"HTTP/1.1 200 OK\r\ncontent-length: 99999999999999\r\n\r\n"),
        "over",
    )
    .await;
}

#[tokio::test]
async fn an_endless_chunked_body_is_cut_at_the_cap() {
    assert_invalid(Answer::EndlessChunks, "over").await;
}

#[tokio::test]
async fn an_endless_unframed_body_is_cut_at_the_cap() {
    assert_invalid(Answer::EndlessUnframed, "over").await;
}

#[tokio::test]
async fn an_endless_chunk_size_line_is_an_invalid_reply() {
    assert_invalid(
        // A size line of 8 KiB zeros without its CRLF: refused, not buffered forever.
        Answer::Bytes(Box::leak(
            format!(
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n{}",
                "0".repeat(8192)
            )
            .into_bytes()
            .into_boxed_slice(),
        )),
        "chunk size line",
    )
    .await;
}
