//! A TCP connection with a receive buffer, where every read and write has a deadline so a
//! stalled server ends the run with an error instead of hanging it.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::Error;
use crate::frame::FrameError;

/// How long any one read or write may take. Generous: a loaded two-core machine doing
/// fsyncs can stall for a second, but never for this long unless the server is stuck.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// A client connection and the bytes received but not yet consumed.
pub struct Wire {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
}

impl Wire {
    /// Connects to `addr`, which the caller has checked is loopback.
    pub async fn connect(addr: SocketAddr) -> Result<Self, Error> {
        let stream = timeout(IO_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| Error::Timeout("connect"))??;

        // Commands are written whole, and every latency measured waits on a reply, so
        // Nagle's algorithm could only add delay.
        stream.set_nodelay(true)?;
        Ok(Wire {
            stream,
            buf: Vec::with_capacity(16 * 1024),
            start: 0,
        })
    }

    /// The received bytes not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Marks the first `n` buffered bytes as consumed.
    pub fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// Reads at least one more byte into the buffer.
    pub async fn fill(&mut self) -> Result<(), Error> {
        // Move the unconsumed tail to the front so the buffer does not grow without bound
        // over a long run of small responses.
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        if self.buf.capacity() - self.buf.len() < 8 * 1024 {
            self.buf.reserve(64 * 1024);
        }

        let n = timeout(IO_TIMEOUT, self.stream.read_buf(&mut self.buf))
            .await
            .map_err(|_| Error::Timeout("read"))??;
        if n == 0 {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Writes all of `bytes`.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), Error> {
        timeout(IO_TIMEOUT, self.stream.write_all(bytes))
            .await
            .map_err(|_| Error::Timeout("write"))??;
        Ok(())
    }

    /// Reads until `frame` finds a whole unit at the start of the buffer and returns what
    /// it found; the caller consumes it.
    pub async fn next<T>(
        &mut self,
        frame: impl Fn(&[u8]) -> Result<Option<T>, FrameError>,
    ) -> Result<T, Error> {
        loop {
            if let Some(found) = frame(self.buffered())? {
                return Ok(found);
            }
            self.fill().await?;
        }
    }

    /// Reads one line and returns it, line end included, as lossy text for messages.
    pub async fn line(&mut self) -> Result<String, Error> {
        let n = self.next(crate::frame::line).await?;
        let text = String::from_utf8_lossy(&self.buffered()[..n]).into_owned();
        self.consume(n);
        Ok(text)
    }
}
