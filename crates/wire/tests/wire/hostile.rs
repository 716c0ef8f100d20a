//! Hostile input: a fake server on a loopback listener writes crafted bytes. Every case must
//! end in a clean error (never a panic, a hang, or a huge allocation).

use std::time::Duration;

use tarn_wire::{AuthPolicy, Config, Connection, Error};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn handshake() -> Vec<u8> {
    let mut out = msg(b'R', &0i32.to_be_bytes());
    out.extend(msg(b'S', b"server_version\x0015.0\x00"));
    let mut key = 42i32.to_be_bytes().to_vec();
    key.extend_from_slice(&7i32.to_be_bytes());
    out.extend(msg(b'K', &key));
    out.extend(msg(b'Z', b"I"));
    out
}

/// The `SSLRequest` code (1234.5679), as the body of an 8-byte packet.
const SSL_REQUEST_CODE: [u8; 4] = [0x04, 0xd2, 0x16, 0x2f];

/// Reads the startup message, answering `N` (no TLS, like a server with `ssl=off`) to an
/// `SSLRequest` in front of it.
async fn read_startup(stream: &mut TcpStream) -> Vec<u8> {
    loop {
        let len = stream.read_i32().await.unwrap();
        let mut body = vec![0; len as usize - 4];
        stream.read_exact(&mut body).await.unwrap();
        if body == SSL_REQUEST_CODE {
            stream.write_all(b"N").await.unwrap();
            continue;
        }
        return body;
    }
}

async fn read_message(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let tag = stream.read_u8().await.ok()?;
    let len = stream.read_i32().await.ok()?;
    let mut body = vec![0; len as usize - 4];
    stream.read_exact(&mut body).await.ok()?;
    Some((tag, body))
}

/// What the fake server does after reading the startup message.
enum Script {
    /// Writes these bytes, then reads until the client hangs up.
    Reply(Vec<u8>),
    /// Completes the handshake, waits for one request, writes these bytes.
    AfterQuery(Vec<u8>),
    /// Writes these bytes, then closes the socket.
    ReplyAndClose(Vec<u8>),
}

/// Serves one connection with `script`; returns a config pointing at it. The join handle
/// yields every message tag the client sent after startup.
async fn fake_server(script: Script) -> (Config, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        read_startup(&mut stream).await;
        let mut seen = Vec::new();
        match script {
            Script::Reply(bytes) => stream.write_all(&bytes).await.unwrap(),
            Script::ReplyAndClose(bytes) => {
                stream.write_all(&bytes).await.unwrap();
                return seen;
            }
            Script::AfterQuery(bytes) => {
                stream.write_all(&handshake()).await.unwrap();
                if let Some((tag, _)) = read_message(&mut stream).await {
                    seen.push(tag);
                }
                let _ = stream.write_all(&bytes).await;
            }
        }
        while let Some((tag, _)) = read_message(&mut stream).await {
            seen.push(tag);
        }
        seen
    });
    let mut config = Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user("fake")
        .password("fake-secret")
        .connect_timeout(Duration::from_secs(5));
    (config, handle)
}

async fn connect_error(script: Script) -> Error {
    let (config, _server) = fake_server(script).await;
    let error = Connection::connect(&config).await.unwrap_err();
    assert!(!error.is_timeout(), "the client hung: {error}");
    assert!(!format!("{error} {error:?}").contains("fake-secret"));
    error
}

/// Completes the handshake, runs a query, and returns its error; the connection must be
/// broken afterwards and refuse further use.
async fn query_error(reply: Vec<u8>) -> Error {
    let (config, _server) = fake_server(Script::AfterQuery(reply)).await;
    let mut conn = Connection::connect(&config).await.unwrap();
    assert_eq!(conn.backend_pid(), 42);
    assert_eq!(conn.parameter("server_version"), Some("15.0"));
    let error = tokio::time::timeout(Duration::from_secs(5), conn.simple_query("SELECT 1"))
        .await
        .expect("no hang")
        .unwrap_err();
    assert!(conn.is_broken(), "{error}");
    assert!(conn.simple_query("SELECT 1").await.unwrap_err().is_closed());
    error
}

#[tokio::test]
async fn oversized_length_is_refused_without_allocating() {
    let error = connect_error(Script::Reply(vec![b'R', 0x7f, 0xff, 0xff, 0xff])).await;
    assert!(error.is_protocol(), "{error}");
    let error = query_error(vec![b'D', 0x40, 0, 0, 0]).await;
    assert!(error.is_protocol(), "{error}");

    // The limit is configurable: a 4 KiB ParameterStatus over a 1 KiB limit.
    let (mut config, _server) = fake_server(Script::Reply({
        let mut body = b"x\0".to_vec();
        body.extend(std::iter::repeat_n(b'y', 4096));
        body.push(0);
        msg(b'S', &body)
    }))
    .await;
    config.max_message_size(1024);
    let error = Connection::connect(&config).await.unwrap_err();
    assert!(error.is_protocol(), "{error}");
}

#[tokio::test]
async fn length_below_four_is_refused() {
    for len in [0i32, 2, 3, -1, i32::MIN] {
        let mut bytes = vec![b'R'];
        bytes.extend_from_slice(&len.to_be_bytes());
        let error = connect_error(Script::Reply(bytes)).await;
        assert!(error.is_protocol(), "len {len}: {error}");
    }
    let error = query_error(vec![b'C', 0, 0, 0, 1]).await;
    assert!(error.is_protocol(), "{error}");
}

#[tokio::test]
async fn unknown_message_type_is_refused() {
    let error = connect_error(Script::Reply(msg(b'!', b""))).await;
    assert!(error.is_protocol(), "{error}");
    let error = query_error(msg(b'~', b"junk")).await;
    assert!(error.is_protocol(), "{error}");
    // An authentication request code that does not exist.
    let error = connect_error(Script::Reply(msg(b'R', &99i32.to_be_bytes()))).await;
    assert!(error.is_protocol(), "{error}");
}

#[tokio::test]
async fn error_response_without_sqlstate_is_a_protocol_error() {
    let body = b"SERROR\0Mboom\0\0";
    let error = connect_error(Script::Reply(msg(b'E', body))).await;
    assert!(error.is_protocol(), "{error}");
    assert!(error.code().is_none());
    let error = query_error(msg(b'E', body)).await;
    assert!(error.is_protocol(), "{error}");
    // Fields that are not NUL-terminated.
    let error = query_error(msg(b'E', b"SERROR\0C12345")).await;
    assert!(error.is_protocol(), "{error}");
}

#[tokio::test]
async fn malformed_bodies_are_refused() {
    // A DataRow whose value claims 1000 bytes in a 10-byte body.
    let mut reply = msg(b'T', &{
        let mut b = 1u16.to_be_bytes().to_vec();
        b.extend_from_slice(b"a\0");
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&0i16.to_be_bytes());
        b.extend_from_slice(&25u32.to_be_bytes());
        b.extend_from_slice(&(-1i16).to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.extend_from_slice(&0i16.to_be_bytes());
        b
    });
    let mut row = 1u16.to_be_bytes().to_vec();
    row.extend_from_slice(&1000i32.to_be_bytes());
    row.extend_from_slice(b"abcd");
    reply.extend(msg(b'D', &row));
    let error = query_error(reply).await;
    assert!(error.is_protocol(), "{error}");

    // A DataRow before any RowDescription.
    let error = query_error(msg(b'D', &0u16.to_be_bytes())).await;
    assert!(error.is_protocol(), "{error}");

    // ReadyForQuery with an unknown status byte.
    let error = query_error(msg(b'Z', b"X")).await;
    assert!(error.is_protocol(), "{error}");

    // A message body longer than its content (trailing bytes).
    let error = query_error(msg(b'Z', b"II")).await;
    assert!(error.is_protocol(), "{error}");
}

#[tokio::test]
async fn truncated_message_then_close_is_a_closed_error() {
    let mut bytes = msg(b'R', &0i32.to_be_bytes());
    bytes.extend_from_slice(&[b'S', 0, 0, 0, 100, b'x']);
    let error = connect_error(Script::ReplyAndClose(bytes)).await;
    assert!(error.is_closed(), "{error}");
    let error = connect_error(Script::ReplyAndClose(Vec::new())).await;
    assert!(error.is_closed(), "{error}");
}

#[tokio::test]
async fn refused_auth_method_sends_no_password() {
    let (mut config, server) = fake_server(Script::Reply(msg(b'R', &3i32.to_be_bytes()))).await;
    config.require_auth(AuthPolicy::scram_only());
    let error = Connection::connect(&config).await.unwrap_err();
    assert!(error.is_auth(), "{error}");
    let seen = server.await.unwrap();
    assert!(
        !seen.contains(&b'p'),
        "a password message was sent: {seen:?}"
    );

    // md5 is refused the same way.
    let mut md5 = 5i32.to_be_bytes().to_vec();
    md5.extend_from_slice(b"salt");
    let (mut config, server) = fake_server(Script::Reply(msg(b'R', &md5))).await;
    config.require_auth(AuthPolicy::scram_only());
    assert!(Connection::connect(&config).await.unwrap_err().is_auth());
    assert!(!server.await.unwrap().contains(&b'p'));

    // Trust refused: the server says Ok without asking.
    let (mut config, _server) = fake_server(Script::Reply(handshake())).await;
    config.require_auth(AuthPolicy::scram_only());
    assert!(Connection::connect(&config).await.unwrap_err().is_auth());
}

#[tokio::test]
async fn scram_iteration_count_is_capped() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        read_startup(&mut stream).await;
        let mut sasl = 10i32.to_be_bytes().to_vec();
        sasl.extend_from_slice(b"SCRAM-SHA-256\0\0");
        stream.write_all(&msg(b'R', &sasl)).await.unwrap();
        let (tag, body) = read_message(&mut stream).await.unwrap();
        assert_eq!(tag, b'p');
        // SASLInitialResponse: mechanism\0, i32 length, "n,,n=,r=<nonce>".
        let text = String::from_utf8_lossy(&body).into_owned();
        let nonce = text.split("r=").nth(1).unwrap().to_owned();
        let first = format!("r={nonce}server,s=c2FsdHNhbHQ=,i=2000000000");
        let mut cont = 11i32.to_be_bytes().to_vec();
        cont.extend_from_slice(first.as_bytes());
        stream.write_all(&msg(b'R', &cont)).await.unwrap();
        while read_message(&mut stream).await.is_some() {}
    });
    let mut config = Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user("fake")
        .password("pw");
    let started = std::time::Instant::now();
    let error = Connection::connect(&config).await.unwrap_err();
    assert!(error.is_auth(), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the key derivation ran"
    );
    server.await.unwrap();
}

#[tokio::test]
async fn scram_exchange_cannot_be_skipped() {
    // The server asks for SCRAM, then says Ok without proving it knows the password.
    let mut sasl = 10i32.to_be_bytes().to_vec();
    sasl.extend_from_slice(b"SCRAM-SHA-256\0\0");
    let mut bytes = msg(b'R', &sasl);
    bytes.extend(handshake());
    let error = connect_error(Script::Reply(bytes)).await;
    assert!(error.is_protocol() || error.is_auth(), "{error}");
}

#[tokio::test]
async fn silent_server_hits_the_connect_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(stream);
    });
    let mut config = Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user("fake")
        .connect_timeout(Duration::from_millis(300));
    let error = Connection::connect(&config).await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
}

/// A fake SCRAM server that answers the client-first message properly, then sends `final`
/// as its server-final message followed by AuthenticationOk.
async fn scram_server(final_message: &'static str) -> Config {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        read_startup(&mut stream).await;
        let mut sasl = 10i32.to_be_bytes().to_vec();
        sasl.extend_from_slice(b"SCRAM-SHA-256\0\0");
        stream.write_all(&msg(b'R', &sasl)).await.unwrap();
        let (_, body) = read_message(&mut stream).await.unwrap();
        let text = String::from_utf8_lossy(&body).into_owned();
        let nonce = text.split("r=").nth(1).unwrap().to_owned();
        let first = format!("r={nonce}server,s=c2FsdHNhbHQ=,i=4096");
        let mut cont = 11i32.to_be_bytes().to_vec();
        cont.extend_from_slice(first.as_bytes());
        stream.write_all(&msg(b'R', &cont)).await.unwrap();
        // The client-final message with its proof; a real server would check it.
        read_message(&mut stream).await.unwrap();
        let mut fin = 12i32.to_be_bytes().to_vec();
        fin.extend_from_slice(final_message.as_bytes());
        let mut reply = msg(b'R', &fin);
        reply.extend(handshake());
        let _ = stream.write_all(&reply).await;
        while read_message(&mut stream).await.is_some() {}
    });
    let mut config = Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user("fake")
        .password("pw");
    config
}

#[tokio::test]
async fn scram_server_signature_is_verified_before_accepting_ok() {
    // A server that does not know the password cannot produce the right signature; the
    // AuthenticationOk that follows must not be accepted.
    let config = scram_server("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").await;
    let error = Connection::connect(&config).await.unwrap_err();
    assert!(error.is_auth(), "{error}");
    let config = scram_server("e=invalid-proof").await;
    assert!(Connection::connect(&config).await.unwrap_err().is_auth());
    let config = scram_server("garbage").await;
    assert!(Connection::connect(&config).await.unwrap_err().is_auth());
}

#[tokio::test]
async fn bytes_sent_before_the_tls_handshake_are_refused() {
    // The server (or a man in the middle) accepts TLS and appends bytes in the same write:
    // they would be taken as if they had come over TLS (the CVE-2021-23222 class of bug).
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 8];
        stream.read_exact(&mut request).await.unwrap();
        assert_eq!(request[4..], SSL_REQUEST_CODE);
        let mut injected = b"S".to_vec();
        injected.extend(handshake());
        stream.write_all(&injected).await.unwrap();
        // Whatever the client does next, it must not be a startup message in clear.
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut rest)).await;
        rest
    });
    let mut config = Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user("fake")
        .password("fake-secret")
        .ssl_mode(tarn_wire::SslMode::Require)
        .connect_timeout(Duration::from_secs(5));
    let error = Connection::connect(&config).await.unwrap_err();
    assert!(error.is_protocol(), "{error}");
    assert!(
        error.to_string().contains("before the handshake"),
        "{error}"
    );
    let sent = server.await.unwrap();
    assert!(
        sent.is_empty(),
        "the client sent {} bytes after the injection",
        sent.len()
    );
}

#[tokio::test]
async fn no_tls_with_require_fails_and_never_falls_back_to_plain() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 8];
        stream.read_exact(&mut request).await.unwrap();
        stream.write_all(b"N").await.unwrap();
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut rest)).await;
        rest
    });
    let mut config = Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user("fake")
        .password("fake-secret")
        .ssl_mode(tarn_wire::SslMode::Require)
        .connect_timeout(Duration::from_secs(5));
    let error = Connection::connect(&config).await.unwrap_err();
    assert!(error.is_tls(), "{error}");
    assert!(
        error.to_string().contains("does not support TLS"),
        "{error}"
    );
    assert!(error.to_string().contains("sslmode=require"), "{error}");
    assert!(
        server.await.unwrap().is_empty(),
        "nothing may follow a refused SSLRequest"
    );
}

#[tokio::test]
async fn verify_modes_without_a_root_certificate_fail_before_connecting() {
    // Nothing listens on this port: the error must come from the settings, not a socket.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut config = Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user("fake")
        .ssl_mode(tarn_wire::SslMode::VerifyFull);
    let error = Connection::connect(&config).await.unwrap_err();
    assert!(error.is_tls(), "{error}");
    assert!(error.to_string().contains("sslrootcert"), "{error}");
}
