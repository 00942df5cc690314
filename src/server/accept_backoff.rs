//! Accepting connections without spinning when the process runs out of file descriptors.
//!
//! poem's accept loop asks again at once when `accept` fails; while the connection waiting in
//! the backlog cannot get a descriptor (`EMFILE`), every call fails, and the loop would burn a
//! core until a descriptor frees. This acceptor pauses briefly after such a failure (and says
//! so in the log, at most every ten seconds).

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use std::io::Result as IoResult;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// How long to wait before accepting again after running out of descriptors.
const PAUSE: Duration = Duration::from_millis(100);

pub struct Backoff<A>(pub A);

impl<A: Acceptor> Acceptor for Backoff<A> {
    type Io = A::Io;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.0.local_addr()
    }

    async fn accept(&mut self) -> IoResult<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let accepted = self.0.accept().await;
        if let Err(error) = &accepted
            && is_out_of_resources(error)
        {
            warn_now_and_then(error);
            tokio::time::sleep(PAUSE).await;
        }
        accepted
    }
}

fn is_out_of_resources(error: &std::io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

fn warn_now_and_then(error: &std::io::Error) {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = chrono::Utc::now().timestamp();
    if now - LAST.load(Ordering::Relaxed) >= 10 {
        LAST.store(now, Ordering::Relaxed);
        tracing::warn!(
            %error,
            "cannot accept connections: out of file descriptors (raise `ulimit -n`); retrying"
        );
    }
}
