//! Noticing a client that has gone at the next write to it.
//!
//! A client that closes its connection sends a FIN; the first write after it still succeeds
//! (the kernel buffers it and the peer answers with a reset), so a live stream would only fail
//! at its second heartbeat after the client left, holding its descriptor and counting in
//! `syncgate_live_streams_open` meanwhile. Each write here first peeks at the socket: an end of
//! stream (or a reset) fails the write at once, and the connection, its stream and its gauge
//! are dropped. The peek costs nothing while the socket has nothing to read (tokio answers from
//! its readiness state without a system call). A client that half-closes its side while still
//! waiting for an answer is not an HTTP/1.1 client this gateway serves.

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use std::io::{Error, ErrorKind, IoSlice, Result as IoResult};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

pub struct PeerGone<A>(pub A);

impl<A: Acceptor<Io = TcpStream>> Acceptor for PeerGone<A> {
    type Io = Watched;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.0.local_addr()
    }

    async fn accept(&mut self) -> IoResult<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let (stream, local, remote, scheme) = self.0.accept().await?;
        Ok((Watched(stream), local, remote, scheme))
    }
}

/// A connection whose writes fail once the client has closed it.
pub struct Watched(TcpStream);

impl Watched {
    /// `Err` when the client has closed its side or reset the connection.
    fn check_peer(&self, cx: &mut Context<'_>) -> IoResult<()> {
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        match self.0.poll_peek(cx, &mut buf) {
            Poll::Ready(Ok(0)) => Err(Error::new(
                ErrorKind::BrokenPipe,
                "the client closed the connection",
            )),
            Poll::Ready(Err(error)) => Err(error),
            Poll::Ready(Ok(_)) | Poll::Pending => Ok(()),
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<IoResult<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<IoResult<usize>> {
        self.check_peer(cx)?;
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<IoResult<usize>> {
        self.check_peer(cx)?;
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<IoResult<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<IoResult<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
