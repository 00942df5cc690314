//! The devices of the live figures: each one plain HTTP/1.1 over a TCP connection of its own,
//! a request written as bytes and the answer searched for the row the write added.
//!
//! Why not reqwest: the devices run on the same two cores as the gateway, and with reqwest they
//! took 15–17 µs of CPU per delivery against the gateway's 14–24 µs (hyper's client, a task per
//! connection, decoding each chunk), so a figure of 10,000 deliveries measured the client about
//! as much as the gateway. Real devices do that work on their own hardware. Like `wrk` for the
//! push figures, the devices here do the least a client can: write the request, read the bytes.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// One device's connection to the gateway at `base` (`http://127.0.0.1:PORT`), from `source`.
pub struct Device {
    stream: TcpStream,
    received: Vec<u8>,
    /// Where the next search for a wanted text starts (what was searched before cannot match).
    searched: usize,
}

impl Device {
    /// Connects and sends `GET path` with the bearer `token`; the answer is read by
    /// [`Device::wait_for`].
    pub async fn request(
        base: &str,
        source: IpAddr,
        path: &str,
        token: &str,
    ) -> std::io::Result<Self> {
        let mut device = Self::connect(base, source).await?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
        );
        device.stream.write_all(request.as_bytes()).await?;
        Ok(device)
    }

    async fn connect(base: &str, source: IpAddr) -> std::io::Result<Self> {
        let address: SocketAddr = base
            .trim_start_matches("http://")
            .parse()
            .map_err(std::io::Error::other)?;
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source, 0))?;
        let stream = socket.connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            received: Vec::with_capacity(1024),
            searched: 0,
        })
    }

    /// Reads until `wanted` has arrived: true then, false when the connection closed or
    /// `patience` passed first.
    pub async fn wait_for(&mut self, wanted: &[u8], patience: Duration) -> bool {
        tokio::time::timeout(patience, self.read_until(wanted))
            .await
            .unwrap_or(false)
    }

    async fn read_until(&mut self, wanted: &[u8]) -> bool {
        loop {
            if let Some(found) = self.received[self.searched..]
                .windows(wanted.len())
                .position(|window| window == wanted)
            {
                self.searched += found + wanted.len();
                return true;
            }
            // A match may still begin in the last `wanted.len() - 1` bytes, but never before
            // the end of what an earlier wait found.
            self.searched = self
                .searched
                .max(self.received.len().saturating_sub(wanted.len() - 1));
            if self.received.len() == self.received.capacity() {
                self.received.reserve(self.received.len());
            }
            match self.stream.read_buf(&mut self.received).await {
                Ok(0) | Err(_) => return false,
                Ok(_) => {}
            }
        }
    }
}
