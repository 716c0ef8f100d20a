//! [`CancelToken`]: cancels the query a connection is running, from anywhere.
//!
//! PostgreSQL cancels through a separate connection: the client opens a fresh socket to the
//! same server and sends a 16-byte `CancelRequest` carrying the backend's process id and
//! secret key (from `BackendKeyData`). The server answers nothing and closes the socket. The
//! cancelled query then fails with SQLSTATE 57014 on its own connection, which stays usable.

use std::fmt;
use std::net::SocketAddr;
#[cfg(unix)]
use std::path::PathBuf;
use std::time::Duration;

use bytes::BytesMut;
use postgres_protocol::message::frontend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::Error;

/// Where the connection's server is, as actually connected. A connection that used TLS is
/// cancelled over TLS too (as libpq does): the cancel key must not cross the network in clear
/// when the session did not.
#[derive(Debug, Clone)]
pub(crate) enum CancelTarget {
    Tcp(SocketAddr, Option<TlsTarget>),
    #[cfg(unix)]
    Unix(PathBuf),
}

/// How the cancel connection negotiates TLS: the same rustls configuration and server name as
/// the connection it cancels.
#[derive(Clone)]
pub(crate) struct TlsTarget {
    pub(crate) config: std::sync::Arc<rustls::ClientConfig>,
    pub(crate) name: rustls::pki_types::ServerName<'static>,
    pub(crate) direct: bool,
}

impl fmt::Debug for TlsTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTarget")
            .field("name", &self.name)
            .field("direct", &self.direct)
            .finish_non_exhaustive()
    }
}

/// Sends `CancelRequest` for one connection. `Clone + Send + Sync`; does not borrow the
/// connection, so another task can cancel a query that is running.
#[derive(Clone)]
pub struct CancelToken {
    target: CancelTarget,
    process_id: i32,
    secret_key: i32,
    timeout: Option<Duration>,
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("target", &self.target)
            .field("process_id", &self.process_id)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

impl CancelToken {
    pub(crate) fn new(
        target: CancelTarget,
        process_id: i32,
        secret_key: i32,
        timeout: Option<Duration>,
    ) -> CancelToken {
        CancelToken {
            target,
            process_id,
            secret_key,
            timeout,
        }
    }

    /// The process id of the backend this token cancels.
    pub fn process_id(&self) -> i32 {
        self.process_id
    }

    /// Asks the server to cancel whatever the connection is running. `Ok` means the request
    /// was delivered, not that a query was cancelled (the server never says): if the
    /// connection was idle nothing happens. Bounded by the config's connect timeout.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping it closes the fresh socket; the connection is not touched.
    pub async fn cancel_query(&self) -> Result<(), Error> {
        match self.timeout {
            Some(timeout) => tokio::time::timeout(timeout, self.send())
                .await
                .map_err(|_| Error::timeout("cancel request timed out"))?,
            None => self.send().await,
        }
    }

    async fn send(&self) -> Result<(), Error> {
        let mut buf = BytesMut::with_capacity(16);
        frontend::cancel_request(self.process_id, self.secret_key, &mut buf);
        match &self.target {
            CancelTarget::Tcp(addr, tls) => {
                let stream = tokio::net::TcpStream::connect(addr)
                    .await
                    .map_err(Error::io)?;
                stream.set_nodelay(true).map_err(Error::io)?;
                match tls {
                    None => {
                        let mut stream = stream;
                        deliver(&mut stream, &buf).await
                    }
                    Some(tls) => {
                        let mut stream = crate::connect::start_tls(stream, tls).await?;
                        deliver(&mut stream, &buf).await
                    }
                }
            }
            #[cfg(unix)]
            CancelTarget::Unix(path) => {
                let mut stream = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(Error::io)?;
                deliver(&mut stream, &buf).await
            }
        }
    }
}

/// Writes the request and waits for the server to close the socket, which it does once it
/// has read the request; returning earlier could race with the server's read.
async fn deliver<S>(stream: &mut S, request: &[u8]) -> Result<(), Error>
where
    S: AsyncReadExt + AsyncWriteExt + Unpin,
{
    stream.write_all(request).await.map_err(Error::io)?;
    stream.flush().await.map_err(Error::io)?;
    let mut sink = [0u8; 64];
    loop {
        match stream.read(&mut sink).await {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            // A reset after the request was written still means it was delivered; so does a
            // TLS session the server closed without close_notify (it never sends one here).
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof
                ) =>
            {
                return Ok(());
            }
            Err(e) => return Err(Error::io(e)),
        }
    }
}
