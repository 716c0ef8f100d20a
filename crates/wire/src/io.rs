//! The socket and the message framing.
//!
//! [`Framed`] owns the stream and two reused `BytesMut` buffers. Writing: requests are encoded
//! into `write_buf` and sent with [`Framed::flush`], which advances the buffer as bytes go out,
//! so bytes not yet written survive a dropped future and a later flush sends exactly the rest.
//! Reading: [`Framed::next_message`] checks the 5-byte header (type byte, then an `i32` length
//! that counts itself) before anything else: a length below 4 or above the configured limit is a
//! protocol error, and the buffer only ever grows to what one valid message needs. Complete
//! messages are handed to `postgres_protocol`'s parser, which splits them off the buffer without
//! copying (`DataRow` bodies become `Bytes` slices of the read buffer).
//!
//! # Cancel safety
//! Both operations keep all progress in the buffers, never in the future: dropping either
//! future loses nothing, and the next call carries on where the last one stopped.

use std::io;

use bytes::{Buf, BytesMut};
use postgres_protocol::message::backend::Message;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;

use crate::error::Error;

/// The smallest free space kept in the read buffer before a read, so that small replies are
/// read in one system call without reallocating.
const READ_CHUNK: usize = 8 * 1024;

/// Buffers that grew beyond this for one large message are replaced once empty.
const RETAIN_LIMIT: usize = 1024 * 1024;

/// A connected socket of either family, or TLS over TCP.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
    /// Boxed: a TLS session is large and every other variant is a few words.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    /// Reads into the spare capacity of `buf` (no copy, no zeroing).
    fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>> {
        match self {
            Stream::Tcp(s) => tokio_util::io::poll_read_buf(Pin::new(s), cx, buf),
            #[cfg(unix)]
            Stream::Unix(s) => tokio_util::io::poll_read_buf(Pin::new(s), cx, buf),
            Stream::Tls(s) => tokio_util::io::poll_read_buf(Pin::new(&mut **s), cx, buf),
        }
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        match self {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, data),
            #[cfg(unix)]
            Stream::Unix(s) => Pin::new(s).poll_write(cx, data),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write(cx, data),
        }
    }

    /// Pushes out what a TLS session buffered; plain sockets buffer nothing.
    fn poll_flush_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
            _ => Poll::Ready(Ok(())),
        }
    }

    /// Reads what the socket already holds, without waiting: `WouldBlock` when nothing is
    /// there.
    fn try_read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_read_buf(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.try_read_buf(buf),
            Stream::Tls(s) => {
                // TLS has no non-blocking read of its own: poll once with a waker that does
                // nothing. Pending means nothing has arrived; a later real read registers a
                // real waker.
                let mut chunk = [0u8; 4096];
                let mut read = ReadBuf::new(&mut chunk);
                let mut cx = Context::from_waker(Waker::noop());
                match Pin::new(&mut **s).poll_read(&mut cx, &mut read) {
                    Poll::Ready(Ok(())) => {
                        buf.extend_from_slice(read.filled());
                        Ok(read.filled().len())
                    }
                    Poll::Ready(Err(e)) => Err(e),
                    Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
                }
            }
        }
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown().await,
            #[cfg(unix)]
            Stream::Unix(s) => s.shutdown().await,
            Stream::Tls(s) => s.shutdown().await,
        }
    }
}

/// A stream plus its read and write buffers.
#[derive(Debug)]
pub(crate) struct Framed {
    stream: Stream,
    pub(crate) read_buf: BytesMut,
    pub(crate) write_buf: BytesMut,
    max_message_size: usize,
}

impl Framed {
    /// The TLS session, if the stream is TLS (for channel binding).
    pub(crate) fn tls_session(&self) -> Option<&rustls::ClientConnection> {
        match &self.stream {
            Stream::Tls(s) => Some(s.get_ref().1),
            _ => None,
        }
    }

    pub(crate) fn new(stream: Stream, max_message_size: usize) -> Framed {
        Framed {
            stream,
            read_buf: BytesMut::with_capacity(READ_CHUNK),
            write_buf: BytesMut::with_capacity(1024),
            max_message_size,
        }
    }

    /// Writes everything in `write_buf`.
    ///
    /// Cancellation safety: bytes are removed from the buffer only once written, so after a
    /// drop the buffer holds exactly the unsent tail of the request.
    pub(crate) async fn flush(&mut self) -> Result<(), Error> {
        std::future::poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// [`flush`](Framed::flush) as a poll function, for streams that cannot hold a future.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        while self.write_buf.has_remaining() {
            match std::task::ready!(self.stream.poll_write(cx, &self.write_buf)) {
                Ok(0) => {
                    return Poll::Ready(Err(Error::closed("the server closed the connection")));
                }
                Ok(n) => self.write_buf.advance(n),
                Err(e) => return Poll::Ready(Err(Error::io(e))),
            }
        }
        // rustls buffers what it encrypts; a request must reach the server now.
        if let Err(e) = std::task::ready!(self.stream.poll_flush_tls(cx)) {
            return Poll::Ready(Err(Error::io(e)));
        }
        // One huge request (a large bytea parameter) should not pin its buffer for the
        // connection's lifetime.
        if self.write_buf.capacity() > RETAIN_LIMIT {
            self.write_buf = BytesMut::with_capacity(1024);
        }
        Poll::Ready(Ok(()))
    }

    /// Reads the next complete backend message.
    ///
    /// Cancellation safety: partial input stays in `read_buf`.
    pub(crate) async fn next_message(&mut self) -> Result<Message, Error> {
        std::future::poll_fn(|cx| self.poll_next_message(cx)).await
    }

    /// [`next_message`](Framed::next_message) as a poll function.
    pub(crate) fn poll_next_message(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Message, Error>> {
        loop {
            if let Some(message) = self.try_parse()? {
                return Poll::Ready(Ok(message));
            }
            if self.read_buf.is_empty() && self.read_buf.capacity() > RETAIN_LIMIT {
                // Likewise after one huge reply: start over with a normal-sized buffer.
                self.read_buf = BytesMut::with_capacity(READ_CHUNK);
            }
            if self.read_buf.capacity() - self.read_buf.len() < READ_CHUNK / 2 {
                self.read_buf.reserve(READ_CHUNK);
            }
            match std::task::ready!(self.stream.poll_read_buf(cx, &mut self.read_buf)) {
                Ok(0) => {
                    return Poll::Ready(Err(Error::closed(if self.read_buf.is_empty() {
                        "the server closed the connection"
                    } else {
                        "the server closed the connection in the middle of a message"
                    })));
                }
                Ok(_) => {}
                Err(e) => return Poll::Ready(Err(Error::io(e))),
            }
        }
    }

    /// Moves whatever the socket already holds into `read_buf`, without waiting. `Ok(true)`
    /// means the peer closed the connection.
    pub(crate) fn try_fill(&mut self) -> Result<bool, Error> {
        loop {
            if self.read_buf.capacity() - self.read_buf.len() < READ_CHUNK / 2 {
                self.read_buf.reserve(READ_CHUNK);
            }
            match self.stream.try_read_buf(&mut self.read_buf) {
                Ok(0) => return Ok(true),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(Error::io(e)),
            }
            // An idle connection is sent a few small messages at most; a flood is not idle.
            if self.read_buf.len() > self.max_message_size {
                return Err(Error::protocol(
                    "an idle connection received a flood of data",
                ));
            }
        }
    }

    /// Parses one message from the front of `read_buf` if it is complete.
    pub(crate) fn try_parse(&mut self) -> Result<Option<Message>, Error> {
        let Some(&[tag, l0, l1, l2, l3]) = self.read_buf.get(..5) else {
            return Ok(None);
        };
        let len = i32::from_be_bytes([l0, l1, l2, l3]);
        if len < 4 {
            return Err(Error::protocol(format!(
                "invalid message length {len} (type {:?})",
                char::from(tag)
            )));
        }
        // `len` counts itself but not the type byte; i32 -> usize is lossless once >= 4.
        let total = usize::try_from(len).unwrap_or(usize::MAX).saturating_add(1);
        if total > self.max_message_size {
            return Err(Error::protocol(format!(
                "message of {total} bytes (type {:?}) exceeds the limit of {} bytes",
                char::from(tag),
                self.max_message_size
            )));
        }
        if self.read_buf.len() < total {
            self.read_buf.reserve(total - self.read_buf.len());
            return Ok(None);
        }
        match Message::parse(&mut self.read_buf) {
            Ok(Some(message)) => Ok(Some(message)),
            // The whole message is buffered, so the parser cannot ask for more.
            Ok(None) => Err(Error::protocol(
                "message parser wanted more input than the length said",
            )),
            Err(e) => Err(Error::protocol_io(e)),
        }
    }

    pub(crate) async fn shutdown(&mut self) -> Result<(), Error> {
        self.stream.shutdown().await.map_err(Error::io)
    }
}
