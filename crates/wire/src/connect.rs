//! Opening a connection: socket, `StartupMessage`, authentication, and the startup
//! parameters up to the first `ReadyForQuery`.
//!
//! Message flow:
//! ```text
//! client                              server
//!   StartupMessage(user, database,
//!     application_name, options,
//!     client_encoding=UTF8)      ──►
//!                                ◄──  AuthenticationOk | Cleartext | MD5(salt) | SASL(mechs)
//!   PasswordMessage / SASL...    ──►  (per method; SCRAM takes two exchanges)
//!                                ◄──  AuthenticationOk
//!                                ◄──  ParameterStatus*, BackendKeyData, ReadyForQuery
//! ```
//! The whole sequence, DNS and TCP connect included, runs under the config's connect timeout.
//! Every value is checked for NUL bytes before anything is sent. The authentication policy is
//! checked before any password material leaves the client. For SCRAM the iteration count in
//! the server's first message is capped before the (CPU-expensive) key derivation runs, and
//! the server's final signature must verify before `AuthenticationOk` is accepted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{
    ChannelBinding as SaslBinding, SCRAM_SHA_256, SCRAM_SHA_256_PLUS, ScramSha256,
};
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::cancel::{CancelTarget, TlsTarget};
use crate::config::{AuthMethod, Config, Host, LoadBalanceHosts, TargetSessionAttrs};
use crate::connection::{Connection, TransactionStatus};
use crate::error::Error;
use crate::io::{Framed, Stream};
use crate::statement::StatementCache;
use crate::tls::{ChannelBinding as BindingMode, SslMode, SslNegotiation};

static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

impl Connection {
    /// Connects and authenticates, trying each configured host in order (or in random order
    /// with [`LoadBalanceHosts::Random`]) until one accepts and matches the
    /// [`TargetSessionAttrs`], as libpq does.
    ///
    /// Each host gets the whole connect timeout (DNS, TCP, TLS, startup, authentication and
    /// the session check), as in libpq. If every host fails, the error is the last host's
    /// (so [`Error::code`] gives e.g. 28P01 for a wrong password), naming it, and its
    /// `Display` lists why each other host was skipped.
    ///
    /// # Cancel safety
    /// Dropping the future drops the half-open socket; nothing else is left behind.
    pub async fn connect(config: &Config) -> Result<Connection, Error> {
        check_config(config)?;
        connect_any(config).await
    }
}

/// Refuses configurations that cannot work, before any socket is opened.
fn check_config(config: &Config) -> Result<(), Error> {
    if config.hosts.is_empty() {
        return Err(Error::config("no host configured"));
    }
    if config.ports.len() != 1 && config.ports.len() != config.hosts.len() {
        return Err(Error::config(format!(
            "{} ports for {} hosts: give one port for all, or one per host",
            config.ports.len(),
            config.hosts.len()
        )));
    }
    let Some(user) = &config.user else {
        return Err(Error::config("no user configured"));
    };
    let values = [
        ("user", Some(user.as_str())),
        ("dbname", config.dbname.as_deref()),
        ("application_name", config.application_name.as_deref()),
        ("options", config.options.as_deref()),
    ];
    for (name, value) in values {
        if value.is_some_and(|v| v.contains('\0')) {
            return Err(Error::config(format!("{name} contains a NUL byte")));
        }
    }
    if config.password.as_ref().is_some_and(|p| p.contains(&0)) {
        return Err(Error::config("password contains a NUL byte"));
    }
    Ok(())
}

/// `host:port` (or the socket path) of one host, as errors name it.
pub(crate) fn host_label(host: &Host, port: u16) -> String {
    match host {
        Host::Tcp(name) if name.contains(':') => format!("[{name}]:{port}"),
        Host::Tcp(name) => format!("{name}:{port}"),
        Host::Unix(dir) => dir.join(format!(".s.PGSQL.{port}")).display().to_string(),
    }
}

/// Tries the hosts (in order or shuffled), in one pass per kind of session wanted:
/// `prefer-standby` first looks for a standby, then takes any server.
async fn connect_any(config: &Config) -> Result<Connection, Error> {
    let mut targets = config.targets();
    if config.load_balance_hosts == LoadBalanceHosts::Random {
        fastrand::shuffle(&mut targets);
    }
    let passes: &[TargetSessionAttrs] = match config.target_session_attrs {
        TargetSessionAttrs::PreferStandby => {
            &[TargetSessionAttrs::Standby, TargetSessionAttrs::Any]
        }
        ref other => std::slice::from_ref(other),
    };
    let mut failures: Vec<(String, Error)> = Vec::new();
    for want in passes {
        for (host, port) in &targets {
            let label = host_label(host, *port);
            let attempt = async {
                let mut conn = connect_host(config, host, *port).await?;
                match session_matches(&mut conn, *want).await? {
                    Ok(()) => Ok(conn),
                    Err(why) => {
                        // Cancellation safety: dropping this drops the connection.
                        let _ = conn.close().await;
                        Err(Error::session_mismatch(format!(
                            "{why} (target_session_attrs={})",
                            want.as_str()
                        )))
                    }
                }
            };
            let result = match config.connect_timeout {
                Some(limit) => tokio::time::timeout(limit, attempt)
                    .await
                    .unwrap_or_else(|_| {
                        Err(Error::timeout(format!("connect timed out after {limit:?}")))
                    }),
                None => attempt.await,
            };
            match result {
                Ok(conn) => return Ok(conn),
                Err(e) => failures.push((label, e)),
            }
        }
    }
    Err(Error::hosts_failed(failures))
}

/// Whether the session `conn` opened is of the kind wanted, checked as libpq does: from the
/// `in_hot_standby` and `default_transaction_read_only` parameters the server reports
/// (PostgreSQL 14 and later), else with `SHOW transaction_read_only` or
/// `pg_is_in_recovery()`. `Ok(Err(why))` is a mismatch.
async fn session_matches(
    conn: &mut Connection,
    want: TargetSessionAttrs,
) -> Result<Result<(), &'static str>, Error> {
    if want == TargetSessionAttrs::Any {
        return Ok(Ok(()));
    }
    if let Some(verdict) = want.judge(conn) {
        return Ok(verdict);
    }
    // An older server: ask. One round trip, only on connect.
    let sql = match want {
        TargetSessionAttrs::ReadWrite | TargetSessionAttrs::ReadOnly => {
            "SHOW transaction_read_only"
        }
        _ => "SELECT CASE WHEN pg_is_in_recovery() THEN 'on' ELSE 'off' END",
    };
    let on = conn.simple_query(sql).await?.iter().any(|m| match m {
        crate::row::SimpleQueryMessage::Row(row) => row.get(0) == Some("on"),
        _ => false,
    });
    Ok(match (want, on) {
        (TargetSessionAttrs::ReadWrite, true) => Err("the session is read-only"),
        (TargetSessionAttrs::ReadOnly, false) => Err("the session is read-write"),
        (TargetSessionAttrs::Primary, true) => Err("the server is a standby"),
        (TargetSessionAttrs::Standby, false) => Err("the server is not a standby"),
        _ => Ok(()),
    })
}

/// How one connect attempt uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsPlan {
    /// Plain TCP (or a unix socket).
    Off,
    /// TLS if the server offers it, plain if it says no.
    IfOffered,
    /// TLS or fail.
    Required,
}

/// Connects to one host, with libpq's retries between plain and TLS: `allow` tries plain and
/// retries with TLS if the server refuses the plain connection; `prefer` tries TLS (when
/// offered) and retries plain if the server refuses the TLS connection or the handshake
/// fails. Stricter modes never fall back.
async fn connect_host(config: &Config, host: &Host, port: u16) -> Result<Connection, Error> {
    if !matches!(host, Host::Tcp(_)) {
        return attempt(config, host, port, TlsPlan::Off)
            .await
            .map_err(|e| e.error);
    }
    if config.tls.mode != SslMode::Disable {
        // Unusable TLS settings (no root certificate for verify-full, an unreadable key) fail
        // here, before any socket is opened.
        config.tls.build()?;
    }
    let plain = |e: Failed| e.error;
    match config.tls.mode {
        SslMode::Disable => attempt(config, host, port, TlsPlan::Off)
            .await
            .map_err(plain),
        SslMode::Allow => match attempt(config, host, port, TlsPlan::Off).await {
            Err(e) if e.error.is_db() => attempt(config, host, port, TlsPlan::Required)
                .await
                .map_err(plain),
            other => other.map_err(plain),
        },
        SslMode::Prefer => match attempt(config, host, port, TlsPlan::IfOffered).await {
            Err(e) if e.error.is_tls() || (e.error.is_db() && e.tls) => {
                attempt(config, host, port, TlsPlan::Off)
                    .await
                    .map_err(plain)
            }
            other => other.map_err(plain),
        },
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
            attempt(config, host, port, TlsPlan::Required)
                .await
                .map_err(plain)
        }
    }
}

/// A failed attempt, and whether it had got as far as TLS (`prefer` retries plain then).
struct Failed {
    error: Error,
    tls: bool,
}

impl From<Error> for Failed {
    fn from(error: Error) -> Failed {
        Failed { error, tls: false }
    }
}

/// One connect attempt: socket, TLS per `plan`, startup and authentication.
async fn attempt(
    config: &Config,
    host: &Host,
    port: u16,
    plan: TlsPlan,
) -> Result<Connection, Failed> {
    let (stream, target) = match host {
        Host::Tcp(name) => {
            let addrs = tokio::net::lookup_host((name.as_str(), port))
                .await
                .map_err(Error::io)?;
            let mut last_error = None;
            let mut connected = None;
            for addr in addrs {
                match TcpStream::connect(addr).await {
                    Ok(stream) => {
                        connected = Some((stream, addr));
                        break;
                    }
                    Err(e) => last_error = Some(e),
                }
            }
            let Some((stream, addr)) = connected else {
                return Err(match last_error {
                    Some(e) => Error::io(e),
                    None => Error::config(format!("host {name} resolved to no address")),
                }
                .into());
            };
            stream.set_nodelay(true).map_err(Error::io)?;
            if let Some(idle) = config.keepalive {
                let keepalive = socket2::TcpKeepalive::new().with_time(idle);
                socket2::SockRef::from(&stream)
                    .set_tcp_keepalive(&keepalive)
                    .map_err(Error::io)?;
            }
            if plan == TlsPlan::Off {
                (Stream::Tcp(stream), CancelTarget::Tcp(addr, None))
            } else {
                let built = config.tls.build()?;
                let target = TlsTarget {
                    config: built.config,
                    name: crate::tls::server_name(name)?,
                    direct: config.tls.negotiation == SslNegotiation::Direct,
                };
                match negotiate(stream, &target, plan, built.effective).await? {
                    Negotiated::Tls(tls) => {
                        (Stream::Tls(tls), CancelTarget::Tcp(addr, Some(target)))
                    }
                    Negotiated::Plain(stream) => {
                        (Stream::Tcp(stream), CancelTarget::Tcp(addr, None))
                    }
                }
            }
        }
        #[cfg(unix)]
        Host::Unix(dir) => {
            let path = dir.join(format!(".s.PGSQL.{port}"));
            let stream = tokio::net::UnixStream::connect(&path)
                .await
                .map_err(Error::io)?;
            (Stream::Unix(stream), CancelTarget::Unix(path))
        }
        #[cfg(not(unix))]
        Host::Unix(_) => {
            return Err(Error::config("unix sockets are not supported on this platform").into());
        }
    };

    let mut connection = Connection {
        framed: Framed::new(stream, config.max_message_size),
        id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
        parameters: HashMap::new(),
        process_id: 0,
        secret_key: 0,
        transaction_status: TransactionStatus::Idle,
        pending_ready: 0,
        last_request_simple: true,
        copy_fail_owed: false,
        broken: false,
        cache: StatementCache::new(config.statement_cache_capacity),
        types: HashMap::new(),
        named_statements: config.named_statements,
        next_statement: 0,
        pending_closes: Vec::new(),
        round_trips: 0,
        notice_callback: config.notice_callback.clone(),
        notifications: std::collections::VecDeque::new(),
        notifications_dropped: 0,
        cancel_target: target,
        connect_timeout: config.connect_timeout,
    };
    let tls = connection.framed.tls_session().is_some();
    match startup(&mut connection, config).await {
        Ok(()) => Ok(connection),
        Err(error) => Err(Failed { error, tls }),
    }
}

async fn startup(conn: &mut Connection, config: &Config) -> Result<(), Error> {
    let user = config.user.as_deref().unwrap_or_default();
    let mut params: Vec<(&str, &str)> = vec![("user", user), ("client_encoding", "UTF8")];
    if let Some(dbname) = &config.dbname {
        params.push(("database", dbname));
    }
    if let Some(name) = &config.application_name {
        params.push(("application_name", name));
    }
    if let Some(options) = &config.options {
        params.push(("options", options));
    }
    frontend::startup_message(params, &mut conn.framed.write_buf).map_err(Error::encode)?;
    // The startup sequence ends with one ReadyForQuery, like a request with one Sync; the
    // startup exchange is not counted as a round trip.
    conn.pending_ready = 1;
    conn.flush().await?;

    authenticate(conn, config).await.map_err(|e| {
        // PgBouncer (and other poolers) refuse startup parameters they do not track, such as
        // `options`, with 08P01 before authenticating: say what to change.
        match e.as_db_error() {
            Some(db)
                if db.code().as_str() == "08P01"
                    && db.message().contains("unsupported startup parameter") =>
            {
                e.with_message(
                    "a connection pooler in front of the server refused a startup parameter: \
                     send no `options` (in tarn: transaction_pooler / pgbouncer=true, or no \
                     startup statement_timeout), or add the parameter to PgBouncer's \
                     ignore_startup_parameters",
                )
            }
            _ => e,
        }
    })?;

    loop {
        match conn.recv().await? {
            Message::BackendKeyData(body) => {
                conn.process_id = body.process_id();
                conn.secret_key = body.secret_key();
            }
            Message::ReadyForQuery(_) => return Ok(()),
            Message::ErrorResponse(body) => {
                let error = conn.db_error(&body);
                conn.broken = true;
                return Err(error);
            }
            _ => return Err(conn.protocol_error("unexpected message during startup")),
        }
    }
}

/// Runs the authentication exchange up to `AuthenticationOk`.
async fn authenticate(conn: &mut Connection, config: &Config) -> Result<(), Error> {
    let policy = config.auth_policy;
    let binding = config.tls.channel_binding;
    let user = config.user.as_deref().unwrap_or_default();
    // Set once the method's exchange is complete, so an early AuthenticationOk (trust) is
    // recognised and checked against the policy, and a SCRAM exchange cannot be skipped.
    let mut method_done = false;
    // Set once a SCRAM exchange bound to the TLS channel has completed.
    let mut bound = false;
    loop {
        match conn.recv().await? {
            Message::AuthenticationOk => {
                if !method_done && !policy.allows(AuthMethod::Trust) {
                    conn.broken = true;
                    return Err(Error::auth(
                        "the server accepted the connection without authentication, which the auth policy refuses",
                    ));
                }
                if binding == BindingMode::Require && !bound {
                    conn.broken = true;
                    return Err(Error::auth(
                        "channel_binding=require, but the server authenticated the client without channel binding",
                    ));
                }
                return Ok(());
            }
            Message::AuthenticationCleartextPassword => {
                refuse_unbound(conn, binding, "cleartext password")?;
                let password = password_for(conn, config, AuthMethod::Cleartext)?;
                send_password(conn, &password).await?;
                method_done = true;
            }
            Message::AuthenticationMd5Password(body) => {
                refuse_unbound(conn, binding, "md5")?;
                let password = password_for(conn, config, AuthMethod::Md5)?;
                let hash = md5_hash(user.as_bytes(), &password, body.salt());
                send_password(conn, hash.as_bytes()).await?;
                method_done = true;
            }
            Message::AuthenticationSasl(body) => {
                let mut mechanisms = body.mechanisms();
                let (mut scram, mut plus) = (false, false);
                loop {
                    match mechanisms.next() {
                        Ok(Some(m)) if m == SCRAM_SHA_256 => scram = true,
                        Ok(Some(m)) if m == SCRAM_SHA_256_PLUS => plus = true,
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(_) => return Err(conn.protocol_error("malformed SASL mechanism list")),
                    }
                }
                // Channel binding data: the hash of the server's certificate, over TLS only.
                let end_point = conn
                    .framed
                    .tls_session()
                    .and_then(|tls| tls.peer_certificates())
                    .and_then(|certs| certs.first())
                    .and_then(|cert| crate::tls::tls_server_end_point(cert));
                let tls = conn.framed.tls_session().is_some();
                let (mechanism, channel) = match (binding, plus, end_point) {
                    (BindingMode::Prefer | BindingMode::Require, true, Some(data)) => {
                        (SCRAM_SHA_256_PLUS, SaslBinding::tls_server_end_point(data))
                    }
                    (BindingMode::Require, _, _) => {
                        conn.broken = true;
                        return Err(Error::auth(if tls {
                            "channel_binding=require, but the server does not offer SCRAM-SHA-256-PLUS"
                        } else {
                            "channel_binding=require needs TLS, and this connection is not TLS"
                        }));
                    }
                    // The client could bind but the server did not offer it ("y").
                    (BindingMode::Prefer, _, _) if tls && scram => {
                        (SCRAM_SHA_256, SaslBinding::unrequested())
                    }
                    _ if scram => (SCRAM_SHA_256, SaslBinding::unsupported()),
                    _ => {
                        conn.broken = true;
                        return Err(Error::auth("the server offers no supported SASL mechanism"));
                    }
                };
                let password = password_for(conn, config, AuthMethod::ScramSha256)?;
                scram_exchange(conn, config, &password, mechanism, channel).await?;
                bound = mechanism == SCRAM_SHA_256_PLUS;
                method_done = true;
            }
            Message::ErrorResponse(body) => {
                let error = conn.db_error(&body);
                conn.broken = true;
                return Err(error);
            }
            Message::AuthenticationKerberosV5
            | Message::AuthenticationScmCredential
            | Message::AuthenticationGss
            | Message::AuthenticationSspi
            | Message::AuthenticationGssContinue(_) => {
                conn.broken = true;
                return Err(Error::auth(
                    "the server asks for an unsupported authentication method",
                ));
            }
            _ => return Err(conn.protocol_error("unexpected message during authentication")),
        }
    }
}

/// With `channel_binding=require`, a password method without binding is refused before any
/// password material is sent.
fn refuse_unbound(conn: &mut Connection, binding: BindingMode, method: &str) -> Result<(), Error> {
    if binding == BindingMode::Require {
        conn.broken = true;
        return Err(Error::auth(format!(
            "channel_binding=require, but the server asks for {method} authentication, which has no channel binding"
        )));
    }
    Ok(())
}

/// The password for `method`, after checking the policy allows it.
fn password_for(
    conn: &mut Connection,
    config: &Config,
    method: AuthMethod,
) -> Result<Vec<u8>, Error> {
    conn.broken = true;
    if !config.auth_policy.allows(method) {
        return Err(Error::auth(format!(
            "the server asks for {method:?} authentication, which the auth policy refuses"
        )));
    }
    let Some(password) = &config.password else {
        return Err(Error::auth(format!(
            "the server asks for {method:?} authentication but no password is configured"
        )));
    };
    conn.broken = false;
    Ok(password.clone())
}

async fn send_password(conn: &mut Connection, password: &[u8]) -> Result<(), Error> {
    frontend::password_message(password, &mut conn.framed.write_buf).map_err(Error::encode)?;
    conn.flush().await
}

/// SCRAM-SHA-256 (or -PLUS, bound to the TLS channel): client-first, server-first,
/// client-final, server-final.
async fn scram_exchange(
    conn: &mut Connection,
    config: &Config,
    password: &[u8],
    mechanism: &str,
    channel: SaslBinding,
) -> Result<(), Error> {
    let mut scram = ScramSha256::new(password, channel);
    frontend::sasl_initial_response(mechanism, scram.message(), &mut conn.framed.write_buf)
        .map_err(Error::encode)?;
    conn.flush().await?;

    let server_first = match conn.recv().await? {
        Message::AuthenticationSaslContinue(body) => body,
        Message::ErrorResponse(body) => {
            let error = conn.db_error(&body);
            conn.broken = true;
            return Err(error);
        }
        _ => return Err(conn.protocol_error("expected SASL continue")),
    };
    check_iterations(server_first.data(), config.max_scram_iterations)
        .inspect_err(|_| conn.broken = true)?;
    scram.update(server_first.data()).map_err(|e| {
        conn.broken = true;
        Error::auth_cause("invalid SCRAM server-first message", e)
    })?;
    frontend::sasl_response(scram.message(), &mut conn.framed.write_buf).map_err(Error::encode)?;
    conn.flush().await?;

    match conn.recv().await? {
        Message::AuthenticationSaslFinal(body) => scram.finish(body.data()).map_err(|e| {
            conn.broken = true;
            Error::auth_cause("the server's SCRAM signature did not verify", e)
        }),
        Message::ErrorResponse(body) => {
            let error = conn.db_error(&body);
            conn.broken = true;
            Err(error)
        }
        _ => Err(conn.protocol_error("expected SASL final")),
    }
}

/// What the server agreed to after `SSLRequest`.
enum Negotiated {
    Tls(Box<TlsStream<TcpStream>>),
    Plain(TcpStream),
}

/// Asks for TLS (`SSLRequest`, or nothing with direct negotiation) and runs the handshake.
/// `N` is a plain connection if the plan allows it and an error otherwise.
async fn negotiate(
    mut tcp: TcpStream,
    target: &TlsTarget,
    plan: TlsPlan,
    mode: SslMode,
) -> Result<Negotiated, Error> {
    if !target.direct {
        match ssl_request(&mut tcp).await? {
            true => {}
            false if plan == TlsPlan::IfOffered => return Ok(Negotiated::Plain(tcp)),
            false => {
                return Err(Error::tls(format!(
                    "the server does not support TLS, which sslmode={mode} requires"
                )));
            }
        }
    }
    handshake(tcp, target, mode).await.map(Negotiated::Tls)
}

/// Sends `SSLRequest` and reads the one-byte answer: true for `S`, false for `N`.
///
/// After `S`, nothing may already be waiting: bytes the server (or a man in the middle) sent
/// before the handshake would otherwise be read as if they had come over TLS.
async fn ssl_request(tcp: &mut TcpStream) -> Result<bool, Error> {
    let mut request = bytes::BytesMut::with_capacity(8);
    frontend::ssl_request(&mut request);
    tcp.write_all(&request).await.map_err(Error::io)?;
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).await.map_err(Error::io)?;
    match answer[0] {
        b'S' => {
            let mut extra = [0u8; 1];
            match tcp.try_read(&mut extra) {
                Ok(0) => Err(Error::closed(
                    "the server closed the connection after accepting TLS",
                )),
                Ok(_) => Err(Error::protocol(
                    "the server sent data after accepting TLS but before the handshake; \
                     refused (it could be taken as if it came over TLS)",
                )),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(true),
                Err(e) => Err(Error::io(e)),
            }
        }
        b'N' => Ok(false),
        b'E' => Err(Error::protocol(
            "the server answered SSLRequest with an error (a server too old for TLS negotiation)",
        )),
        other => Err(Error::protocol(format!(
            "unexpected answer {:?} to SSLRequest",
            char::from(other)
        ))),
    }
}

/// The TLS handshake and certificate checks; nothing else is sent before they pass.
async fn handshake(
    tcp: TcpStream,
    target: &TlsTarget,
    mode: SslMode,
) -> Result<Box<TlsStream<TcpStream>>, Error> {
    tokio_rustls::TlsConnector::from(target.config.clone())
        .connect(target.name.clone(), tcp)
        .await
        .map(Box::new)
        .map_err(|e| Error::tls_cause(format!("TLS handshake failed (sslmode={mode})"), e))
}

/// TLS for a cancel request: the same negotiation as the connection it cancels, which used
/// TLS, so `N` is an error.
pub(crate) async fn start_tls(
    mut tcp: TcpStream,
    target: &TlsTarget,
) -> Result<TlsStream<TcpStream>, Error> {
    if !target.direct && !ssl_request(&mut tcp).await? {
        return Err(Error::tls("the server refused TLS for the cancel request"));
    }
    handshake(tcp, target, SslMode::Require).await.map(|b| *b)
}

/// Reads `i=` from a SCRAM server-first message and refuses counts above `max`.
fn check_iterations(server_first: &[u8], max: u32) -> Result<(), Error> {
    let text = std::str::from_utf8(server_first)
        .map_err(|_| Error::auth("SCRAM server-first message is not UTF-8"))?;
    let iterations = text
        .split(',')
        .find_map(|field| field.strip_prefix("i="))
        .ok_or_else(|| Error::auth("SCRAM server-first message has no iteration count"))?;
    let iterations: u32 = iterations
        .parse()
        .map_err(|_| Error::auth("SCRAM iteration count is not a number"))?;
    if iterations > max {
        return Err(Error::auth(format!(
            "the server asks for {iterations} SCRAM iterations, more than the limit of {max}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iteration_cap() {
        assert!(check_iterations(b"r=abc,s=c2FsdA==,i=4096", 100_000).is_ok());
        assert!(check_iterations(b"r=abc,s=c2FsdA==,i=4000000000", 100_000).is_err());
        assert!(check_iterations(b"r=abc,s=c2FsdA==", 100_000).is_err());
        assert!(check_iterations(b"r=abc,s=c2FsdA==,i=-1", 100_000).is_err());
        assert!(check_iterations(&[0xff, 0xfe], 100_000).is_err());
    }

    #[test]
    fn nul_bytes_are_refused_before_connecting() {
        let mut config = Config::new();
        config.host("127.0.0.1").user("a\0b");
        assert!(check_config(&config).is_err());
        let mut config = Config::new();
        config.host("127.0.0.1").user("app").options("-c x=\0");
        assert!(check_config(&config).is_err());
        let mut config = Config::new();
        config.host("127.0.0.1").user("app").password("se\0cret");
        let error = check_config(&config).unwrap_err();
        assert!(!format!("{error} {error:?}").contains("cret"));
    }
}
