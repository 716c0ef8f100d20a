//! `FaultProxy`: a loopback TCP proxy between a client and a server, with switches a test
//! flips to make the network misbehave.
//!
//! # How it works
//!
//! One accept task owns the listener and a `JoinSet` of connection tasks, so dropping the
//! proxy aborts everything. Each connection task owns both sockets and forwards bytes in both
//! directions, reading the current [`ProxyMode`] for every chunk. Resets are a generation
//! number in a `watch` channel: every connection task listens for a change, sets `SO_LINGER`
//! to zero on both sockets and drops them, so both peers see a RST rather than a clean close.
//! `Refuse` closes the listener itself (new connects get ECONNREFUSED) and binds the same
//! address again when the mode changes back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// Forward bytes as they come.
    Pass,
    /// Forward every chunk in each direction after this delay.
    Delay(Duration),
    /// Accept new connections but never connect them upstream, answer or close them; swallow
    /// whatever open connections send, in both directions. A peer waiting for a reply waits
    /// forever.
    Blackhole,
    /// Close the listening socket: new connects are refused. Open connections keep passing.
    Refuse,
}

struct Shared {
    mode: watch::Sender<ProxyMode>,
    /// A mode for the connections accepted before a cut-off (their sequence number is below
    /// it), overriding `mode` for them: a network blip that left the open connections
    /// half-open while new ones go through.
    open_mode: watch::Sender<Option<(u64, ProxyMode)>>,
    resets: watch::Sender<u64>,
    seen: AtomicU64,
    open: AtomicUsize,
}

/// A controllable TCP proxy on a loopback port. Dropping it closes every connection.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("mode", &*self.mode.borrow())
            .field("seen", &self.seen)
            .field("open", &self.open)
            .finish()
    }
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port that forwards to `upstream`, in [`ProxyMode::Pass`].
    /// Must be called inside a tokio runtime.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            mode: watch::Sender::new(ProxyMode::Pass),
            open_mode: watch::Sender::new(None),
            resets: watch::Sender::new(0),
            seen: AtomicU64::new(0),
            open: AtomicUsize::new(0),
        });
        let accept_task = tokio::spawn(accept_loop(listener, addr, upstream, shared.clone()));
        Ok(FaultProxy {
            addr,
            upstream,
            shared,
            accept_task,
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The server the proxy forwards to.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// Switches the mode; takes effect for the next chunk of every open connection and for the
    /// next connect.
    pub fn set_mode(&self, mode: ProxyMode) {
        self.shared.mode.send_replace(mode);
    }

    /// Applies `mode` to the connections open now only (from their next chunk); connections
    /// accepted later follow [`set_mode`](FaultProxy::set_mode). `Blackhole` makes the open
    /// connections half-open (the peer goes silent, nothing is closed) while new connects go
    /// through; `Delay` makes them slow. Replaces an earlier call's set of connections;
    /// [`clear_open_mode`](FaultProxy::clear_open_mode) undoes it.
    pub fn set_open_mode(&self, mode: ProxyMode) {
        let cutoff = self.shared.seen.load(Ordering::SeqCst);
        self.shared.open_mode.send_replace(Some((cutoff, mode)));
    }

    /// Ends [`set_open_mode`](FaultProxy::set_open_mode): every connection follows the
    /// global mode again.
    pub fn clear_open_mode(&self) {
        self.shared.open_mode.send_replace(None);
    }

    /// The current mode.
    pub fn mode(&self) -> ProxyMode {
        *self.shared.mode.borrow()
    }

    /// Resets every open connection (both peers see ECONNRESET). New connections are not
    /// affected.
    pub fn reset_all(&self) {
        self.shared
            .resets
            .send_modify(|generation| *generation += 1);
    }

    /// How many connections the proxy has accepted since it started.
    pub fn connections_seen(&self) -> u64 {
        self.shared.seen.load(Ordering::SeqCst)
    }

    /// How many accepted connections are still open.
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

async fn accept_loop(
    mut listener: TcpListener,
    addr: SocketAddr,
    upstream: SocketAddr,
    shared: Arc<Shared>,
) {
    // Owned here so that aborting this task aborts every connection task.
    let mut connections = JoinSet::new();
    let mut mode = shared.mode.subscribe();
    loop {
        if *mode.borrow_and_update() == ProxyMode::Refuse {
            drop(listener);
            while *mode.borrow_and_update() == ProxyMode::Refuse {
                if mode.changed().await.is_err() {
                    return;
                }
            }
            listener = match TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("tarn-testkit proxy: could not listen on {addr} again: {e}");
                    return;
                }
            };
        }
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                let sequence = shared.seen.fetch_add(1, Ordering::SeqCst);
                shared.open.fetch_add(1, Ordering::SeqCst);
                let shared = shared.clone();
                connections.spawn(async move {
                    serve(client, upstream, &shared, sequence).await;
                    shared.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
            changed = mode.changed() => if changed.is_err() { return },
            // Reap finished connection tasks so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve(client: TcpStream, upstream: SocketAddr, shared: &Shared, sequence: u64) {
    let mut resets = shared.resets.subscribe();
    resets.mark_unchanged();
    let _ = client.set_nodelay(true);
    if *shared.mode.borrow() == ProxyMode::Blackhole {
        // Hold the socket open, say nothing, until a reset (or the proxy is dropped).
        let _ = resets.changed().await;
        let _ = client.set_zero_linger();
        return;
    }
    let server = tokio::select! {
        s = TcpStream::connect(upstream) => match s {
            Ok(s) => s,
            Err(_) => { let _ = client.set_zero_linger(); return; }
        },
        _ = resets.changed() => { let _ = client.set_zero_linger(); return; }
    };
    let _ = server.set_nodelay(true);
    let (mut client, mut server) = (client, server);
    let reset = {
        let (mut client_read, mut client_write) = client.split();
        let (mut server_read, mut server_write) = server.split();
        tokio::select! {
            _ = async {
                tokio::join!(
                    pump(&mut client_read, &mut server_write, shared, sequence),
                    pump(&mut server_read, &mut client_write, shared, sequence),
                )
            } => false,
            _ = resets.changed() => true,
        }
    };
    if reset {
        let _ = client.set_zero_linger();
        let _ = server.set_zero_linger();
    }
}

/// Forwards one direction until it closes, then half-closes the other side.
async fn pump<R, W>(from: &mut R, to: &mut W, shared: &Shared, sequence: u64)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mode = match *shared.open_mode.borrow() {
            Some((cutoff, mode)) if sequence < cutoff => mode,
            _ => *shared.mode.borrow(),
        };
        match mode {
            ProxyMode::Blackhole => continue,
            ProxyMode::Delay(d) => tokio::time::sleep(d).await,
            ProxyMode::Pass | ProxyMode::Refuse => {}
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
