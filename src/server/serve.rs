//! The accept loop: each connection is served by hyper's HTTP/1.1 connection, whose requests go
//! to the app (a poem endpoint), until the shutdown signal; then every connection finishes its
//! request under way and closes, for at most `server.shutdown_timeout`.
//!
//! Not poem's `Server`: it serves each connection through hyper-util's protocol-sniffing
//! connection, which holds HTTP/2's state in the same future, and one such task took about 30 KB
//! of memory — most of what an open live stream cost (19,000 streams are 19,000 connections).
//! An HTTP/1.1 connection's task holds a fraction of that.

use poem::endpoint::BoxEndpoint;
use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, EndpointExt};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// What a response body is, between poem and hyper.
type ResponseBody = http_body_util::combinators::BoxBody<hyper::body::Bytes, std::io::Error>;

/// Serves `app` on the connections `acceptor` accepts until `shutdown` completes, then lets
/// open connections finish the request under way for up to `timeout` and drops the rest.
pub async fn serve<A, E>(
    mut acceptor: A,
    app: E,
    shutdown: impl Future<Output = ()>,
    timeout: Duration,
) where
    A: Acceptor,
    A::Io: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    E: Endpoint + 'static,
{
    let app: Arc<BoxEndpoint<'static>> = Arc::new(app.map_to_response().boxed());
    let (stopping, stop) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = acceptor.accept() => {
                // Failures are the client's (a reset before accept) or passing (out of file
                // descriptors, where the acceptor pauses): go on accepting.
                let Ok((io, local, remote, scheme)) = accepted else { continue };
                connections.spawn(connection(io, app.clone(), (local, remote, scheme), stop.clone()));
            }
            // A finished connection's task is collected at once: until then it keeps its memory.
            Some(finished) = connections.join_next(), if !connections.is_empty() => {
                log_panic(finished);
            }
        }
    }
    let _ = stopping.send(true);
    let drained = tokio::time::timeout(timeout, async {
        while let Some(finished) = connections.join_next().await {
            log_panic(finished);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "shutdown timeout reached: closing the connections still open"
        );
        connections.shutdown().await;
    }
}

/// Serves one connection; when `stop` turns true, finishes the request under way and closes.
async fn connection<Io>(
    io: Io,
    app: Arc<BoxEndpoint<'static>>,
    peer: (LocalAddr, RemoteAddr, Scheme),
    mut stop: watch::Receiver<bool>,
) where
    Io: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    // Boxed: hyper keeps room for the request under way for as long as the connection lives, and
    // a live stream's connection lives for hours (the response's body streams on without it).
    let service = hyper::service::service_fn(move |request| {
        let app = app.clone();
        let (local, remote, scheme) = peer.clone();
        Box::pin(async move {
            let request = poem::Request::from((request, local, remote, scheme));
            let response = app.get_response(request).await;
            Ok::<_, Infallible>(hyper::Response::<ResponseBody>::from(response))
        })
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(io), service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        // A connection ends when the client closes it or sends something that is not HTTP/1.1
        // (hyper answers that with a 400 itself): nothing more to do either way.
        _ = connection.as_mut() => return,
        _ = stop.wait_for(|stop| *stop) => {}
    }
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}

fn log_panic(finished: Result<(), tokio::task::JoinError>) {
    if let Err(error) = finished
        && error.is_panic()
    {
        tracing::error!(%error, "a connection's task panicked");
    }
}
