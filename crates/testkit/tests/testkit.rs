//! The testkit's own tests: servers start, authenticate each role by its method, survive
//! restart and kill, clean up after themselves; the proxy's switches do what they say.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tarn_testkit::{FaultProxy, PgServer, ProxyMode, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.split_whitespace().nth(2) == Some("Z"))
}

fn private() -> Option<PgServer> {
    tarn_testkit::controllable_server().expect("a private server starts")
}

#[test]
fn two_servers_run_at_once() {
    let (Some(a), Some(b)) = (private(), private()) else {
        return;
    };
    assert_ne!(a.port(), b.port());
    a.psql("postgres", "CREATE TABLE only_in_a (x int)")
        .unwrap();
    assert_eq!(
        a.psql(
            "postgres",
            "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'"
        )
        .unwrap(),
        "1"
    );
    assert_eq!(
        b.psql(
            "postgres",
            "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'"
        )
        .unwrap(),
        "0"
    );
}

#[test]
fn each_role_authenticates_by_its_method_over_tcp_and_unix_socket() {
    let server = PgServer::shared().unwrap();
    if !server.has_auth_roles() {
        eprintln!("skipped: the auth roles exist only on servers the testkit starts");
        return;
    }
    for role in Role::ALL {
        for tcp in [true, false] {
            let mut params = server.params(role, "postgres");
            if tcp {
                params.socket_dir = None;
            }
            let who = server
                .psql_as(&params, "SELECT current_user")
                .unwrap_or_else(|e| {
                    panic!("{role:?} (tcp: {tcp}) with the right password was refused: {e}")
                });
            assert_eq!(who, role.user());
            if role.password().is_some() {
                params.password = Some("wrong".into());
                let err = server
                    .psql_as(&params, "SELECT 1")
                    .expect_err("a wrong password must be refused");
                assert!(
                    err.to_string().contains("password authentication failed"),
                    "{role:?} (tcp: {tcp}): {err}"
                );
            }
        }
    }
    // The hba lines really bind each role to its method: the md5 role's stored secret is md5.
    let stored = server
        .psql("postgres", "SELECT rolname, left(rolpassword, 3) FROM pg_authid WHERE rolname LIKE '%_user' ORDER BY 1")
        .unwrap();
    assert_eq!(stored, "md5_user|md5\npass_user|SCR\nscram_user|SCR");
}

#[test]
fn test_databases_are_isolated() {
    let a = tarn_testkit::test_db().unwrap();
    let b = tarn_testkit::test_db().unwrap();
    assert_ne!(a.name(), b.name());
    a.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
        .unwrap();
    assert_eq!(a.psql("SELECT count(*) FROM t").unwrap(), "1");
    assert!(b.psql("SELECT count(*) FROM t").is_err());
    assert!(a.url(Role::Superuser).ends_with(&format!("/{}", a.name())));
}

#[test]
fn restart_keeps_data_and_port() {
    let Some(server) = private() else { return };
    let port = server.port();
    server
        .psql(
            "postgres",
            "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)",
        )
        .unwrap();
    server.stop().unwrap();
    assert!(
        server.psql("postgres", "SELECT 1").is_err(),
        "a stopped server answers"
    );
    server.restart().unwrap();
    assert_eq!(server.port(), port);
    assert_eq!(server.psql("postgres", "SELECT x FROM kept").unwrap(), "42");
}

#[test]
fn kill_then_restart_recovers() {
    let Some(server) = private() else { return };
    server
        .psql(
            "postgres",
            "CREATE TABLE survived (x int); INSERT INTO survived VALUES (7)",
        )
        .unwrap();
    let pid = server.pid().unwrap();
    server.kill().unwrap();
    assert!(!process_alive(pid), "postmaster {pid} survived SIGKILL");
    assert!(server.psql("postgres", "SELECT 1").is_err());
    server.restart().unwrap();
    assert_eq!(
        server.psql("postgres", "SELECT x FROM survived").unwrap(),
        "7"
    );
}

#[test]
fn terminate_backends_ends_sessions_by_application_name() {
    let db = tarn_testkit::test_db().unwrap();
    let server = db.server();
    let mut session = server
        .psql_command(&db.params(Role::Superuser))
        .env("PGAPPNAME", "testkit_victim")
        .args(["-X", "-c", "SELECT pg_sleep(60)"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.count_backends("testkit_victim").unwrap() == 0 {
        assert!(Instant::now() < deadline, "the session never showed up");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(server.terminate_backends("testkit_victim").unwrap(), 1);
    let status = session.wait().unwrap();
    assert!(
        !status.success(),
        "psql should fail when its backend is terminated"
    );
    assert_eq!(server.count_backends("testkit_victim").unwrap(), 0);
}

#[test]
fn drop_stops_the_server_and_removes_its_dir() {
    let Some(server) = private() else { return };
    let pid = server.pid().unwrap();
    let dir = server.dir().unwrap();
    assert!(dir.join("data").is_dir());
    assert!(process_alive(pid));
    drop(server);
    assert!(!process_alive(pid), "postmaster {pid} outlived Drop");
    assert!(!dir.exists(), "{} outlived Drop", dir.display());
}

#[test]
fn the_shared_server_is_removed_when_its_process_exits() {
    if std::env::var("DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        eprintln!("skipped: with DATABASE_URL no server is started");
        return;
    }
    // `tarn-pg check` starts the shared server and exits without dropping it, like a test
    // binary: only the reaper is left to clean up.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tarn-pg"))
        .arg("check")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
            .to_owned()
    };
    let pid: u32 = field("pid").parse().unwrap();
    let dir = field("dir");
    let deadline = Instant::now() + Duration::from_secs(20);
    while process_alive(pid) || Path::new(&dir).exists() {
        assert!(
            Instant::now() < deadline,
            "20 s after its process exited, the shared server (pid {pid}, dir {dir}) is still there"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An SSLRequest: the smallest message a PostgreSQL server answers (with `N`, no TLS here).
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

async fn ssl_request(stream: &mut TcpStream) -> std::io::Result<u8> {
    stream.write_all(&SSL_REQUEST).await?;
    let mut answer = [0u8; 1];
    stream.read_exact(&mut answer).await?;
    Ok(answer[0])
}

fn server_addr() -> std::net::SocketAddr {
    let server = PgServer::shared().unwrap();
    format!("{}:{}", server.host(), server.port())
        .parse()
        .unwrap()
}

#[tokio::test]
async fn proxy_passes_delays_and_counts() {
    let proxy = FaultProxy::start(server_addr()).await.unwrap();
    let mut a = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(ssl_request(&mut a).await.unwrap(), b'N');

    let delay = Duration::from_millis(100);
    proxy.set_mode(ProxyMode::Delay(delay));
    let mut b = TcpStream::connect(proxy.addr()).await.unwrap();
    let started = Instant::now();
    assert_eq!(ssl_request(&mut b).await.unwrap(), b'N');
    // Both directions are delayed.
    assert!(started.elapsed() >= 2 * delay, "{:?}", started.elapsed());
    assert_eq!(proxy.connections_seen(), 2);
    assert_eq!(proxy.open_connections(), 2);
}

#[tokio::test]
async fn proxy_blackhole_holds_connections_open_without_answering() {
    let proxy = FaultProxy::start(server_addr()).await.unwrap();
    proxy.set_mode(ProxyMode::Blackhole);
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    stream.write_all(&SSL_REQUEST).await.unwrap();
    let mut answer = [0u8; 1];
    // Neither an answer nor a close: the read is still pending when we give up on it.
    let read = tokio::time::timeout(Duration::from_millis(300), stream.read(&mut answer)).await;
    assert!(read.is_err(), "the blackhole answered or closed: {read:?}");
    assert_eq!(proxy.open_connections(), 1);

    // An already open connection goes silent too once the mode flips.
    proxy.set_mode(ProxyMode::Pass);
    let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(ssl_request(&mut open).await.unwrap(), b'N');
    proxy.set_mode(ProxyMode::Blackhole);
    open.write_all(&SSL_REQUEST).await.unwrap();
    let read = tokio::time::timeout(Duration::from_millis(300), open.read(&mut answer)).await;
    assert!(
        read.is_err(),
        "an open connection still got through: {read:?}"
    );
}

#[tokio::test]
async fn proxy_can_silence_open_connections_while_new_ones_pass() {
    let proxy = FaultProxy::start(server_addr()).await.unwrap();
    let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(ssl_request(&mut open).await.unwrap(), b'N');
    proxy.set_open_mode(ProxyMode::Blackhole);
    // The connection that was open goes silent (half-open: not closed)...
    open.write_all(&SSL_REQUEST).await.unwrap();
    let mut answer = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_millis(300), open.read(&mut answer)).await;
    assert!(read.is_err(), "the silenced connection answered: {read:?}");
    // ...while a new one goes through.
    let mut fresh = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(ssl_request(&mut fresh).await.unwrap(), b'N');
    // Cleared: new connections follow the global mode, as before.
    proxy.clear_open_mode();
    let mut other = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(ssl_request(&mut other).await.unwrap(), b'N');
}

#[tokio::test]
async fn proxy_resets_open_connections() {
    let proxy = FaultProxy::start(server_addr()).await.unwrap();
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(ssl_request(&mut stream).await.unwrap(), b'N');
    proxy.reset_all();
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("a reset connection must not hang");
    match read {
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
        Ok(n) => panic!("expected a reset, read {n} bytes"),
    }
    // The proxy itself still works.
    let mut again = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(ssl_request(&mut again).await.unwrap(), b'N');
}

#[tokio::test]
async fn proxy_refuses_then_accepts_again() {
    let proxy = FaultProxy::start(server_addr()).await.unwrap();
    proxy.set_mode(ProxyMode::Refuse);
    // The switch is applied by the accept task; give it a moment to close the listener.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpStream::connect(proxy.addr()).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
            // A connect that raced the switch sat in the closing listener's backlog.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("expected a refused connect, got {e}"),
            Ok(_) => {
                assert!(Instant::now() < deadline, "connects are still accepted");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    proxy.set_mode(ProxyMode::Pass);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut stream = loop {
        match TcpStream::connect(proxy.addr()).await {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(10)).await
            }
            Err(e) => panic!("the proxy did not listen again: {e}"),
        }
    };
    assert_eq!(ssl_request(&mut stream).await.unwrap(), b'N');
}

#[test]
fn missing_binaries_give_an_error_that_says_how_to_install_them() {
    // A child process, so TARN_PG_BIN and PATH can be changed without touching other tests.
    if std::env::var("TARN_TESTKIT_CHILD").is_ok() {
        return;
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tarn-pg"))
        .arg("up")
        .env("TARN_PG_BIN", "/nonexistent")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("TARN_PG_BIN=/nonexistent"), "{stderr}");
    assert!(stderr.contains("apt-get install postgresql"), "{stderr}");
}

/// PgBouncer in front of a testkit server. These tests fail (with the install hint) when
/// pgbouncer is not installed: CI installs it, and a skip there would hide a broken setup.
mod pgbouncer {
    use std::collections::BTreeMap;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
    use std::time::{Duration, Instant};

    use tarn_testkit::{AuthType, PgBouncer, PgServer, PoolMode, Role};

    use super::process_alive;

    /// A client session held open by a `psql` that reads queries from a pipe.
    struct Session {
        child: Child,
        stdin: ChildStdin,
        stdout: BufReader<ChildStdout>,
    }

    impl Session {
        fn open(mut cmd: Command) -> Session {
            let mut child = cmd
                .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap();
            let stdin = child.stdin.take().unwrap();
            let stdout = BufReader::new(child.stdout.take().unwrap());
            Session {
                child,
                stdin,
                stdout,
            }
        }

        /// Runs one single-row, single-column query and returns its value.
        fn query(&mut self, sql: &str) -> String {
            writeln!(self.stdin, "{sql};").unwrap();
            self.stdin.flush().unwrap();
            let mut line = String::new();
            self.stdout.read_line(&mut line).unwrap();
            assert!(!line.is_empty(), "psql ended instead of answering {sql:?}");
            line.trim().to_owned()
        }
    }

    impl Drop for Session {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn row<'a>(
        rows: &'a [BTreeMap<String, String>],
        key: &str,
        value: &str,
    ) -> &'a BTreeMap<String, String> {
        rows.iter()
            .find(|r| r.get(key).map(String::as_str) == Some(value))
            .unwrap_or_else(|| panic!("no row with {key}={value} in {rows:#?}"))
    }

    fn config(bouncer: &PgBouncer, key: &str) -> String {
        let rows = bouncer.show("CONFIG").unwrap();
        row(&rows, "key", key)["value"].clone()
    }

    /// With one server connection per pool and a client holding a session open, a second
    /// client gets a server connection in transaction mode (the same one: the first is idle
    /// between transactions) and waits until `query_wait_timeout` in session mode.
    #[test]
    fn pool_mode_shows_in_behaviour_and_on_the_admin_console() {
        let db = tarn_testkit::test_db().unwrap();
        for mode in [PoolMode::Transaction, PoolMode::Session] {
            let bouncer = PgBouncer::builder(db.server())
                .pool_mode(mode)
                .default_pool_size(1)
                .query_wait_timeout(Duration::from_secs(2))
                .start()
                .unwrap();
            assert_eq!(bouncer.pool_mode(), mode);
            let params = bouncer.params(Role::Superuser, db.name());
            let mut first = Session::open(bouncer.psql_command(&params));
            let first_pid = first.query("SELECT pg_backend_pid()");

            let started = Instant::now();
            let second = bouncer.psql_as(&params, "SELECT pg_backend_pid()");
            match mode {
                PoolMode::Transaction => {
                    let second_pid = second.unwrap();
                    assert_eq!(
                        second_pid, first_pid,
                        "transaction mode: both clients should share the pool's one server connection"
                    );
                }
                _ => {
                    let err = second.expect_err("session mode: the second client must wait");
                    assert!(err.to_string().contains("query_wait_timeout"), "{err}");
                    assert!(started.elapsed() >= Duration::from_millis(1900));
                }
            }
            // The first client's session is intact.
            assert_eq!(first.query("SELECT pg_backend_pid()"), first_pid);

            let pools = bouncer.show("POOLS").unwrap();
            let pool = row(&pools, "database", db.name());
            assert_eq!(pool["pool_mode"], mode.as_str(), "{pool:?}");
            assert_eq!(pool["user"], "postgres");
            assert_eq!(config(&bouncer, "pool_mode"), mode.as_str());
        }
    }

    #[test]
    fn statement_mode_refuses_transactions() {
        let server = PgServer::shared().unwrap();
        let bouncer = PgBouncer::builder(server)
            .pool_mode(PoolMode::Statement)
            .start()
            .unwrap();
        assert_eq!(
            bouncer
                .psql(Role::Superuser, "postgres", "SELECT 1")
                .unwrap(),
            "1"
        );
        // Separate messages: one query string with BEGIN and COMMIT in it is one statement.
        let out = bouncer
            .psql_command(&bouncer.params(Role::Superuser, "postgres"))
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                "BEGIN",
                "-c",
                "SELECT 1",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            stderr.contains("transaction blocks not allowed"),
            "{stderr}"
        );
    }

    #[test]
    fn roles_authenticate_through_it_and_wrong_passwords_are_refused() {
        let server = PgServer::shared().unwrap();
        if !server.has_auth_roles() {
            eprintln!("skipped: the auth roles exist only on servers the testkit starts");
            return;
        }
        for auth in [
            AuthType::ScramSha256,
            AuthType::Md5,
            AuthType::Plain,
            AuthType::Trust,
        ] {
            let bouncer = PgBouncer::builder(server)
                .pool_mode(PoolMode::Transaction)
                .auth_type(auth)
                .start()
                .unwrap();
            assert_eq!(bouncer.auth_type(), auth);
            for role in Role::ALL {
                let mut params = bouncer.params(role, "postgres");
                let who = bouncer
                    .psql_as(&params, "SELECT current_user")
                    .unwrap_or_else(|e| panic!("{auth:?}: {role:?} was refused: {e}"));
                assert_eq!(who, role.user(), "{auth:?}");
                if role.password().is_none() {
                    continue;
                }
                params.password = Some("wrong".into());
                let refused = bouncer.psql_as(&params, "SELECT 1");
                match auth {
                    AuthType::Trust => {
                        refused.unwrap_or_else(|e| panic!("trust asked {role:?} for more: {e}"));
                    }
                    _ => {
                        let err = refused.expect_err("a wrong password must be refused");
                        // PgBouncer's words for a failed SCRAM exchange differ from md5's.
                        let expected = if auth == AuthType::ScramSha256 {
                            "SASL authentication failed"
                        } else {
                            "password authentication failed"
                        };
                        assert!(
                            err.to_string().contains(expected),
                            "{auth:?} {role:?}: {err}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn urls_point_at_the_bouncer_and_hide_nothing_they_should_not() {
        let server = PgServer::shared().unwrap();
        let bouncer = PgBouncer::start(server).unwrap();
        assert_eq!(bouncer.host(), "127.0.0.1");
        assert_ne!(bouncer.port(), server.port());
        assert_eq!(
            bouncer.url(Role::Scram, "some_db"),
            format!(
                "postgres://scram_user:scram_password@127.0.0.1:{}/some_db",
                bouncer.port()
            )
        );
        let params = bouncer.params(Role::Md5, "x");
        assert_eq!(params.socket_dir, None);
        assert!(!format!("{params:?}").contains("md5_password"));
        assert!(!format!("{bouncer:?}").contains("password"));
    }

    /// A stock PgBouncer refuses the `options` startup parameter (where clients put `-c
    /// statement_timeout=...`); listed in `ignore_startup_parameters` it is dropped, not
    /// passed on.
    #[test]
    fn stock_pgbouncer_refuses_the_options_startup_parameter() {
        let server = PgServer::shared().unwrap();
        let with_options = |bouncer: &PgBouncer| {
            bouncer
                .psql_command(&bouncer.params(Role::Superuser, "postgres"))
                .env("PGOPTIONS", "-c statement_timeout=1234")
                .args(["-X", "-A", "-t", "-c", "SHOW statement_timeout"])
                .stdin(Stdio::null())
                .output()
                .unwrap()
        };
        let stock = PgBouncer::builder(server)
            .pool_mode(PoolMode::Transaction)
            .start()
            .unwrap();
        let out = with_options(&stock);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            stderr.contains("unsupported startup parameter: options"),
            "{stderr}"
        );

        let lenient = PgBouncer::builder(server)
            .pool_mode(PoolMode::Transaction)
            .ignore_startup_parameters(["options", "extra_float_digits"])
            .start()
            .unwrap();
        let out = with_options(&lenient);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    }

    #[test]
    fn settings_reach_its_config() {
        let server = PgServer::shared().unwrap();
        let bouncer = PgBouncer::builder(server)
            .pool_mode(PoolMode::Transaction)
            .default_pool_size(8)
            .max_client_conn(500)
            .max_db_connections(12)
            .query_wait_timeout(Duration::from_millis(1500))
            .setting("server_idle_timeout", "7")
            .start()
            .unwrap();
        for (key, value) in [
            ("default_pool_size", "8"),
            ("max_client_conn", "500"),
            ("max_db_connections", "12"),
            ("query_wait_timeout", "1.5"),
            ("server_idle_timeout", "7"),
            ("listen_addr", "127.0.0.1"),
            // PgBouncer's own defaults are kept.
            ("ignore_startup_parameters", ""),
            ("server_reset_query", "DISCARD ALL"),
        ] {
            assert_eq!(config(&bouncer, key), value, "{key}");
        }
        assert!(
            std::fs::read_to_string(bouncer.log_path())
                .unwrap()
                .contains("process up: PgBouncer")
        );
        // Bad input is an error, not a panic or a broken config file.
        let err = PgBouncer::builder(server)
            .setting("pool_mode\nlisten_addr", "*")
            .start()
            .unwrap_err();
        assert!(err.to_string().contains("not a setting name"), "{err}");
    }

    #[test]
    fn drop_stops_it_frees_its_port_and_removes_its_dir() {
        let server = PgServer::shared().unwrap();
        let bouncer = PgBouncer::start(server).unwrap();
        let (pid, dir, port) = (
            bouncer.pid().unwrap(),
            bouncer.dir().to_owned(),
            bouncer.port(),
        );
        assert!(process_alive(pid));
        assert!(dir.join("pgbouncer.ini").is_file());
        assert!(TcpListener::bind(("127.0.0.1", port)).is_err());
        drop(bouncer);
        assert!(!process_alive(pid), "pgbouncer {pid} outlived Drop");
        assert!(!dir.exists(), "{} outlived Drop", dir.display());
        TcpListener::bind(("127.0.0.1", port)).expect("the port is free after Drop");
    }

    /// PgBouncer 1.18 refuses to start on an unknown or invalid setting; the error quotes its log.
    #[test]
    fn a_pgbouncer_that_cannot_start_says_why() {
        let server = PgServer::shared().unwrap();
        let err = PgBouncer::builder(server)
            .setting("no_such_setting", "1")
            .start()
            .unwrap_err()
            .to_string();
        assert!(err.contains("exited during start-up"), "{err}");
        assert!(err.contains("pgbouncer log"), "{err}");
        assert!(
            err.contains("unknown parameter: pgbouncer/no_such_setting"),
            "{err}"
        );
    }

    const LEAK_CHILD: &str = "TARN_TESTKIT_LEAK_PGBOUNCER";

    /// Run only as the child of the next test: starts a PgBouncer, prints its pid and dir and
    /// leaks it, so only the reaper is left to clean up when this process exits.
    #[test]
    fn leak_child() {
        if std::env::var_os(LEAK_CHILD).is_none() {
            return;
        }
        // No server is needed for PgBouncer to start; nothing listens on port 1.
        let server = PgServer::external("postgres://postgres@127.0.0.1:1/postgres").unwrap();
        let bouncer = PgBouncer::start(&server).unwrap();
        println!("pid={}", bouncer.pid().unwrap());
        println!("dir={}", bouncer.dir().display());
        std::mem::forget(bouncer);
    }

    #[test]
    fn a_pgbouncer_is_removed_when_its_process_exits() {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["pgbouncer::leak_child", "--exact", "--nocapture"])
            .env(LEAK_CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let field = |name: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("no {name} in {stdout}"))
                .to_owned()
        };
        let pid: u32 = field("pid").parse().unwrap();
        let dir = field("dir");
        let deadline = Instant::now() + Duration::from_secs(20);
        while process_alive(pid) || std::path::Path::new(&dir).exists() {
            assert!(
                Instant::now() < deadline,
                "20 s after its process exited, pgbouncer (pid {pid}, dir {dir}) is still there"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// TLS servers and certificates, checked with libpq (`psql`): the sslmode matrix, the TLS-only
/// roles, client certificates, channel binding, a wrong name, an unknown CA, an expired
/// certificate.
mod tls {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::Path;

    use tarn_testkit::{
        ConnParams, PgServer, Role, ServerCert, TestCerts, TlsRole, TlsSetup, WRONG_NAME,
    };

    /// libpq settings for one connection, beyond host, port, user, password and database.
    #[derive(Default, Clone, Copy)]
    struct Ssl<'a> {
        mode: &'a str,
        root: Option<&'a Path>,
        cert: Option<&'a Path>,
        key: Option<&'a Path>,
        channel_binding: Option<&'a str>,
    }

    impl<'a> Ssl<'a> {
        fn mode(mode: &'a str) -> Self {
            Ssl {
                mode,
                ..Ssl::default()
            }
        }

        fn verify_full(certs: &'a TestCerts) -> Self {
            Ssl {
                mode: "verify-full",
                root: Some(certs.ca_cert().path()),
                ..Ssl::default()
            }
        }

        fn client(self, client: &'a tarn_testkit::ClientCert) -> Self {
            Ssl {
                cert: Some(client.cert().path()),
                key: Some(client.key().path()),
                ..self
            }
        }
    }

    /// Runs `sql` through `psql` over TCP to `host`; psql's stderr on failure.
    fn libpq(
        server: &PgServer,
        mut params: ConnParams,
        host: &str,
        ssl: Ssl<'_>,
        sql: &str,
    ) -> Result<String, String> {
        params.socket_dir = None;
        params.host = host.to_owned();
        let mut cmd = server.psql_command(&params);
        cmd.env("PGSSLMODE", ssl.mode);
        // An explicit path that does not exist: no default ~/.postgresql file sneaks in.
        let none = Path::new("/nonexistent/tarn-testkit");
        cmd.env("PGSSLROOTCERT", ssl.root.unwrap_or(none))
            .env("PGSSLCERT", ssl.cert.unwrap_or(none))
            .env("PGSSLKEY", ssl.key.unwrap_or(none));
        if let Some(binding) = ssl.channel_binding {
            cmd.env("PGCHANNELBINDING", binding);
        }
        let out = cmd
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }

    const SSL_IN_USE: &str = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

    fn shared() -> Option<(&'static PgServer, &'static TestCerts)> {
        let server = tarn_testkit::tls_server().expect("the shared TLS server starts")?;
        Some((server, TestCerts::shared().unwrap()))
    }

    /// Asserts that the connection failed with `expected` in psql's message; returns it.
    fn refused(result: Result<String, String>, expected: &str, what: &str) -> String {
        match result {
            Ok(out) => panic!("{what}: connected ({out}), expected a refusal"),
            Err(e) => {
                assert!(
                    e.contains(expected),
                    "{what}: expected {expected:?} in: {e}"
                );
                eprintln!("{what}: {e}");
                e
            }
        }
    }

    #[test]
    fn verify_full_by_name_and_by_ip_and_every_role_on_tls_and_plain() {
        let Some((server, certs)) = shared() else {
            return;
        };
        assert!(server.tls_enabled());
        let admin = server.params(Role::Superuser, "postgres");
        for host in ["localhost", "127.0.0.1"] {
            let out = libpq(
                server,
                admin.clone(),
                host,
                Ssl::verify_full(certs),
                SSL_IN_USE,
            );
            assert_eq!(out.as_deref(), Ok("t"), "verify-full to {host}");
        }
        // Without a root certificate, `prefer` and `require` encrypt without verifying;
        // `disable` stays plain.
        for (mode, ssl) in [("prefer", "t"), ("require", "t"), ("disable", "f")] {
            let out = libpq(
                server,
                admin.clone(),
                "127.0.0.1",
                Ssl::mode(mode),
                SSL_IN_USE,
            );
            assert_eq!(out.as_deref(), Ok(ssl), "sslmode={mode}");
        }
        // The auth-matrix roles log in by their methods over TLS and over plain TCP alike.
        for role in Role::ALL {
            for (mode, ssl) in [("verify-full", "t"), ("disable", "f")] {
                let tls = Ssl {
                    mode,
                    ..Ssl::verify_full(certs)
                };
                let out = libpq(
                    server,
                    server.params(role, "postgres"),
                    "localhost",
                    tls,
                    "SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                );
                assert_eq!(
                    out,
                    Ok(format!("{}|{ssl}", role.user())),
                    "{role:?} sslmode={mode}"
                );
            }
        }
    }

    #[test]
    fn scram_over_tls_binds_the_channel() {
        let Some((server, certs)) = shared() else {
            return;
        };
        let scram = server.params(Role::Scram, "postgres");
        let bound = Ssl {
            channel_binding: Some("require"),
            ..Ssl::verify_full(certs)
        };
        assert_eq!(
            libpq(server, scram.clone(), "localhost", bound, "SELECT 1").as_deref(),
            Ok("1")
        );
        let ssl_only = server.tls_params(TlsRole::SslOnly, "postgres");
        assert_eq!(
            libpq(server, ssl_only, "localhost", bound, "SELECT 1").as_deref(),
            Ok("1")
        );
        // Plain TCP has no channel to bind to.
        let plain = Ssl {
            channel_binding: Some("require"),
            ..Ssl::mode("disable")
        };
        refused(
            libpq(server, scram, "localhost", plain, "SELECT 1"),
            "channel binding required",
            "channel_binding=require without TLS",
        );
    }

    #[test]
    fn the_ssl_only_role_is_refused_without_tls() {
        let Some((server, certs)) = shared() else {
            return;
        };
        let params = server.tls_params(TlsRole::SslOnly, "postgres");
        assert_eq!(params.user, "ssl_only_user");
        assert_eq!(params.password.as_deref(), Some("ssl_only_password"));
        assert_eq!(
            libpq(
                server,
                params.clone(),
                "127.0.0.1",
                Ssl::verify_full(certs),
                "SELECT current_user"
            )
            .as_deref(),
            Ok("ssl_only_user")
        );
        refused(
            libpq(
                server,
                params.clone(),
                "127.0.0.1",
                Ssl::mode("disable"),
                "SELECT 1",
            ),
            "no encryption",
            "ssl_only_user with sslmode=disable",
        );
        let mut wrong = params.clone();
        wrong.password = Some("wrong".into());
        refused(
            libpq(
                server,
                wrong,
                "127.0.0.1",
                Ssl::verify_full(certs),
                "SELECT 1",
            ),
            "password authentication failed",
            "ssl_only_user with a wrong password",
        );
        // Nor on the unix socket.
        let mut socket = params;
        socket.socket_dir = server.socket_dir().map(Path::to_path_buf);
        let err = server
            .psql_as(&socket, "SELECT 1")
            .expect_err("ssl_only_user on the unix socket");
        assert!(err.to_string().contains("rejects connection"), "{err}");
    }

    #[test]
    fn cert_user_logs_in_with_its_certificate_only() {
        let Some((server, certs)) = shared() else {
            return;
        };
        let params = server.tls_params(TlsRole::Cert, "postgres");
        assert_eq!(
            (params.user.as_str(), params.password.as_deref()),
            ("cert_user", None)
        );
        assert_eq!(certs.client().user(), "cert_user");
        let full = Ssl::verify_full(certs);
        let pkcs1 = certs
            .client()
            .key_pkcs1()
            .expect("the RSA client key in PKCS#1");
        assert!(pkcs1.pem().starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        assert!(
            certs
                .client()
                .key()
                .pem()
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
        // The RSA key in PKCS#8 and in PKCS#1, and an ECDSA key.
        for (what, ssl) in [
            ("rsa pkcs8", full.client(certs.client())),
            (
                "rsa pkcs1",
                Ssl {
                    key: Some(pkcs1.path()),
                    ..full.client(certs.client())
                },
            ),
            ("ecdsa", full.client(certs.client_ec())),
        ] {
            let out = libpq(
                server,
                params.clone(),
                "localhost",
                ssl,
                "SELECT current_user || ' ' || client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            );
            assert_eq!(
                out.as_deref(),
                Ok("cert_user /O=tarn tests/CN=cert_user"),
                "{what}"
            );
        }
        refused(
            libpq(server, params.clone(), "localhost", full, "SELECT 1"),
            "requires a valid client certificate",
            "cert_user without a certificate",
        );
        refused(
            libpq(
                server,
                params.clone(),
                "localhost",
                Ssl::mode("disable"),
                "SELECT 1",
            ),
            "no encryption",
            "cert_user without TLS",
        );
        // Someone else's certificate (the common name is not the user).
        refused(
            libpq(
                server,
                params.clone(),
                "localhost",
                full.client(certs.client_cert_and_password()),
                "SELECT 1",
            ),
            "certificate authentication failed for user \"cert_user\"",
            "cert_user with cert_password_user's certificate",
        );
        // A certificate from a CA the server does not trust ends the handshake.
        refused(
            libpq(
                server,
                params,
                "localhost",
                full.client(certs.untrusted_client()),
                "SELECT 1",
            ),
            "unknown ca",
            "cert_user with a certificate of the other CA",
        );
    }

    #[test]
    fn cert_and_password_user_needs_both() {
        let Some((server, certs)) = shared() else {
            return;
        };
        let params = server.tls_params(TlsRole::CertAndPassword, "postgres");
        let with_cert = Ssl::verify_full(certs).client(certs.client_cert_and_password());
        assert_eq!(
            libpq(
                server,
                params.clone(),
                "localhost",
                with_cert,
                "SELECT current_user"
            )
            .as_deref(),
            Ok("cert_password_user")
        );
        refused(
            libpq(
                server,
                params.clone(),
                "localhost",
                Ssl::verify_full(certs),
                "SELECT 1",
            ),
            "requires a valid client certificate",
            "cert_password_user without a certificate",
        );
        let mut wrong = params.clone();
        wrong.password = Some("wrong".into());
        refused(
            libpq(server, wrong, "localhost", with_cert, "SELECT 1"),
            "password authentication failed",
            "cert_password_user with a wrong password",
        );
        // verify-full: the certificate must name this user. The client is told only that
        // "password authentication failed" (the message names the line's method); the server
        // log says why.
        refused(
            libpq(
                server,
                params,
                "localhost",
                Ssl::verify_full(certs).client(certs.client()),
                "SELECT 1",
            ),
            "password authentication failed for user \"cert_password_user\"",
            "cert_password_user with cert_user's certificate",
        );
        let log = std::fs::read_to_string(server.log_path().unwrap()).unwrap();
        assert!(
            log.contains(
                "certificate validation (clientcert=verify-full) failed for user \"cert_password_user\": CN mismatch"
            ),
            "{log}"
        );
    }

    #[test]
    fn an_unknown_ca_fails_verification() {
        let Some((server, certs)) = shared() else {
            return;
        };
        let other = Ssl {
            root: Some(certs.other_ca_cert().path()),
            ..Ssl::verify_full(certs)
        };
        for mode in ["verify-ca", "verify-full"] {
            refused(
                libpq(
                    server,
                    server.params(Role::Superuser, "postgres"),
                    "localhost",
                    Ssl { mode, ..other },
                    "SELECT 1",
                ),
                "certificate verify failed",
                &format!("{mode} with the other CA"),
            );
        }
    }

    fn private_with(which: ServerCert) -> Option<PgServer> {
        if std::env::var("DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
            eprintln!("skipped: TLS servers are started by the testkit only");
            return None;
        }
        let certs = TestCerts::shared().unwrap();
        let setup = TlsSetup::with_server_cert(certs, which);
        assert_eq!(setup.server_cert(), which);
        Some(PgServer::builder().tls(setup).start().unwrap())
    }

    #[test]
    fn a_wrong_name_fails_verify_full_only() {
        let Some(server) = private_with(ServerCert::WrongName) else {
            return;
        };
        let certs = TestCerts::shared().unwrap();
        let admin = server.params(Role::Superuser, "postgres");
        for host in ["localhost", "127.0.0.1"] {
            let err = refused(
                libpq(
                    &server,
                    admin.clone(),
                    host,
                    Ssl::verify_full(certs),
                    "SELECT 1",
                ),
                &format!("server certificate for \"{WRONG_NAME}\""),
                &format!("verify-full to {host}"),
            );
            assert!(
                err.contains(&format!("does not match host name \"{host}\"")),
                "{err}"
            );
        }
        let verify_ca = Ssl {
            mode: "verify-ca",
            ..Ssl::verify_full(certs)
        };
        assert_eq!(
            libpq(&server, admin, "localhost", verify_ca, SSL_IN_USE).as_deref(),
            Ok("t")
        );
    }

    #[test]
    fn an_expired_certificate_fails_verification() {
        let Some(server) = private_with(ServerCert::Expired) else {
            return;
        };
        let certs = TestCerts::shared().unwrap();
        let admin = server.params(Role::Superuser, "postgres");
        for mode in ["verify-ca", "verify-full"] {
            refused(
                libpq(
                    &server,
                    admin.clone(),
                    "localhost",
                    Ssl {
                        mode,
                        ..Ssl::verify_full(certs)
                    },
                    "SELECT 1",
                ),
                "certificate verify failed",
                &format!("{mode} against the expired certificate"),
            );
        }
        // libpq does not say why; the alert it sends the server does.
        let log = std::fs::read_to_string(server.log_path().unwrap()).unwrap();
        assert!(log.contains("certificate expired"), "{log}");
        assert_eq!(
            libpq(
                &server,
                admin,
                "localhost",
                Ssl::mode("require"),
                SSL_IN_USE
            )
            .as_deref(),
            Ok("t")
        );
    }

    #[test]
    fn the_shared_server_stays_plain() {
        let server = PgServer::shared().unwrap();
        if !server.is_controllable() {
            eprintln!("skipped: DATABASE_URL's server may or may not speak TLS");
            return;
        }
        assert!(!server.tls_enabled());
        refused(
            libpq(
                server,
                server.params(Role::Superuser, "postgres"),
                "127.0.0.1",
                Ssl::mode("require"),
                "SELECT 1",
            ),
            "server does not support SSL",
            "sslmode=require against the plain shared server",
        );
    }

    #[test]
    fn a_tls_replica_set_streams_over_tls_and_every_node_has_its_own_certificate_copy() {
        if std::env::var("DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
            eprintln!("skipped: with DATABASE_URL no replica set is started");
            return;
        }
        let certs = TestCerts::shared().unwrap();
        let set = tarn_testkit::ReplicaSet::builder()
            .node_settings(PgServer::builder().tls(TlsSetup::new(certs)))
            .replication_slots(false)
            .start()
            .unwrap();
        let (primary, standby) = (set.primary(), set.standby(0).unwrap());
        assert!(standby.tls_enabled());
        // The WAL receiver (libpq, `sslmode=prefer` from `pg_basebackup -R`) uses TLS.
        assert_eq!(
            primary
                .psql(
                    "postgres",
                    "SELECT application_name, ssl FROM pg_stat_replication JOIN pg_stat_ssl \
                     USING (pid)"
                )
                .unwrap(),
            "standby_0|t"
        );
        // No slots: none on the primary, none named on the standby.
        assert_eq!(
            primary
                .psql("postgres", "SELECT count(*) FROM pg_replication_slots")
                .unwrap(),
            "0"
        );
        assert_eq!(
            standby.psql("postgres", "SHOW primary_slot_name").unwrap(),
            ""
        );
        // The standby presents its own copy of the certificate, and the TLS roles log in.
        let cert_file = standby.psql("postgres", "SHOW ssl_cert_file").unwrap();
        assert!(
            Path::new(&cert_file).starts_with(standby.dir().unwrap()),
            "{cert_file}"
        );
        let ssl_only = standby.tls_params(TlsRole::SslOnly, "postgres");
        assert_eq!(
            libpq(
                standby,
                ssl_only,
                "localhost",
                Ssl::verify_full(certs),
                SSL_IN_USE
            )
            .unwrap(),
            "t"
        );
        let cert = standby.tls_params(TlsRole::Cert, "postgres");
        assert_eq!(
            libpq(
                standby,
                cert,
                "127.0.0.1",
                Ssl::verify_full(certs).client(certs.client()),
                "SELECT current_user"
            )
            .unwrap(),
            "cert_user"
        );
    }

    #[test]
    fn keys_are_private_and_the_server_owns_its_copy() {
        let Some((server, certs)) = shared() else {
            return;
        };
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        for key in [
            certs.ca_key(),
            certs.server_key(),
            certs.client().key(),
            certs.client().key_pkcs1().unwrap(),
            certs.client_ec().key(),
        ] {
            assert_eq!(mode(key.path()), 0o600, "{key:?}");
        }
        assert_eq!(mode(certs.ca_cert().path()), 0o644);
        let tls = server.dir().unwrap().join("tls");
        let key = tls.join("server.key");
        assert_eq!(mode(&key), 0o600);
        assert_eq!(
            std::fs::read_to_string(&key).unwrap(),
            certs.server_key().pem()
        );
        // The server runs as `postgres` when the tests run as root, and owns its key.
        let owner = std::fs::metadata(&key).unwrap().uid();
        let data_owner = std::fs::metadata(server.dir().unwrap().join("data"))
            .unwrap()
            .uid();
        assert_eq!(owner, data_owner);
        if nix::unistd::geteuid().is_root() {
            assert_ne!(owner, 0, "the server key is still root's");
        }
    }

    #[test]
    fn a_dropped_set_removes_its_dir() {
        let certs = TestCerts::generate().unwrap();
        let dir = certs.dir().to_path_buf();
        assert!(certs.server_cert().path().starts_with(&dir));
        assert!(
            certs
                .client()
                .cert()
                .pem()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        assert!(certs.client_ec().key_pkcs1().is_none());
        drop(certs);
        assert!(!dir.exists(), "{} outlived Drop", dir.display());
    }
}

/// Streaming replication: a primary with standbys made by `pg_basebackup -R`, read-only
/// standbys, catch-up, apply delay, failover (promote, follow, rebuild), cleanup.
mod replication {
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    use tarn_testkit::{Node, PgServer, ReplicaSet, Role};

    use super::process_alive;

    fn replica_set(standbys: usize) -> Option<ReplicaSet> {
        let started = Instant::now();
        let set = tarn_testkit::replica_set(standbys).expect("a replica set starts")?;
        eprintln!(
            "a primary and {standbys} standbys started in {:?}",
            started.elapsed()
        );
        Some(set)
    }

    fn sql(server: &PgServer, query: &str) -> String {
        server
            .psql("postgres", query)
            .unwrap_or_else(|e| panic!("{query}: {e}"))
    }

    /// Polls `query` on `server` until it prints `want`, for at most `within`.
    fn wait_for(server: &PgServer, query: &str, want: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let got = sql(server, query);
            if got == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{query} still printed {got:?}, not {want:?}, after {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `query` on `server` as the superuser and returns psql's stderr, with the SQLSTATE
    /// (`VERBOSITY=verbose`); panics if it succeeds.
    fn failure(server: &PgServer, query: &str) -> String {
        let out = server
            .psql_command(&server.params(Role::Superuser, "postgres"))
            .args(["-X", "-v", "VERBOSITY=verbose", "-c", query])
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "{query} succeeded on port {}",
            server.port()
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    #[test]
    fn standbys_replay_the_primary_refuse_writes_and_lag_on_demand() {
        let Some(set) = replica_set(2) else { return };
        let primary = set.primary();
        assert_eq!(set.standbys().len(), 2);
        assert!(set.standby(2).is_err());

        // Roles: who is in recovery, who is read-only, who streams from whom.
        assert!(!set.is_in_recovery(Node::Primary).unwrap());
        assert_eq!(sql(primary, "SHOW transaction_read_only"), "off");
        for (i, standby) in set.standbys().iter().enumerate() {
            assert_ne!(standby.port(), primary.port());
            assert!(set.is_in_recovery(i).unwrap());
            assert_eq!(sql(standby, "SELECT pg_is_in_recovery()"), "t");
            assert_eq!(sql(standby, "SHOW transaction_read_only"), "on");
            assert_eq!(set.upstream(i), Some(Node::Primary));
        }
        assert_eq!(set.upstream(Node::Primary), None);
        assert_eq!(
            sql(
                primary,
                "SELECT application_name, state FROM pg_stat_replication ORDER BY 1"
            ),
            "standby_0|streaming\nstandby_1|streaming"
        );
        assert_eq!(
            sql(
                primary,
                "SELECT slot_name, slot_type, active FROM pg_replication_slots ORDER BY 1"
            ),
            "standby_0|physical|t\nstandby_1|physical|t"
        );
        assert!(
            set.promote(Node::Primary)
                .unwrap_err()
                .to_string()
                .contains("recovery is not in progress")
        );

        // The same roles, passwords and pg_hba.conf on every node.
        let hba = "SELECT line_number, type, database, user_name, address, auth_method \
                   FROM pg_hba_file_rules ORDER BY line_number";
        let primary_hba = sql(primary, hba);
        assert!(primary_hba.contains("{replication}|{postgres}|127.0.0.1|trust"));
        for standby in set.standbys() {
            assert_eq!(sql(standby, hba), primary_hba);
            for role in Role::ALL {
                for tcp in [true, false] {
                    let mut params = standby.params(role, "postgres");
                    if tcp {
                        params.socket_dir = None;
                    }
                    assert_eq!(
                        standby.psql_as(&params, "SELECT current_user").unwrap(),
                        role.user(),
                        "{role:?} over {} on port {}",
                        if tcp { "TCP" } else { "the unix socket" },
                        standby.port()
                    );
                }
            }
        }

        // A row written on the primary reaches both standbys; writes there fail with 25006.
        sql(
            primary,
            "CREATE TABLE t (id int, what text); INSERT INTO t VALUES (1, 'first')",
        );
        set.wait_caught_up().unwrap();
        for standby in set.standbys() {
            assert_eq!(sql(standby, "SELECT what FROM t WHERE id = 1"), "first");
            let err = failure(standby, "INSERT INTO t VALUES (2, 'on a standby')");
            assert!(err.contains("25006"), "{err}");
            assert!(err.contains("read-only transaction"), "{err}");
        }

        // An apply delay holds a commit back on that standby only, for the delay.
        let delay = Duration::from_millis(1500);
        set.set_apply_delay(1, delay).unwrap();
        assert_eq!(
            sql(set.standby(1).unwrap(), "SHOW recovery_min_apply_delay"),
            "1500ms"
        );
        let before_commit = Instant::now();
        let lsn = sql(
            primary,
            "INSERT INTO t VALUES (3, 'delayed'); SELECT pg_current_wal_lsn()",
        );
        let (prompt, delayed) = (set.standby(0).unwrap(), set.standby(1).unwrap());
        wait_for(
            delayed,
            &format!("SELECT pg_last_wal_receive_lsn() >= '{lsn}'"),
            "t",
            Duration::from_secs(10),
        );
        // Visible already is a failure only if the delay has not passed yet (a machine slow
        // enough to take the whole delay for two psql calls proves nothing either way).
        let early = sql(delayed, "SELECT count(*) FROM t WHERE id = 3");
        let looked_after = before_commit.elapsed();
        assert!(
            early == "0" || looked_after >= delay,
            "the delayed standby showed the row after {looked_after:?}"
        );
        if early != "0" {
            eprintln!("inconclusive: the first look came {looked_after:?} after the commit");
        }
        wait_for(
            prompt,
            "SELECT count(*) FROM t WHERE id = 3",
            "1",
            Duration::from_secs(10),
        );
        wait_for(
            delayed,
            "SELECT count(*) FROM t WHERE id = 3",
            "1",
            Duration::from_secs(10),
        );
        let held = before_commit.elapsed();
        assert!(
            held >= delay,
            "the delayed standby showed the row after {held:?}"
        );
        eprintln!("with a {delay:?} apply delay, the row showed after {held:?}");

        // A long delay, then reset: what was held back is applied at once.
        set.set_apply_delay(1, Duration::from_secs(600)).unwrap();
        let lsn = sql(
            primary,
            "INSERT INTO t VALUES (4, 'held back'); SELECT pg_current_wal_lsn()",
        );
        wait_for(
            delayed,
            &format!("SELECT pg_last_wal_receive_lsn() >= '{lsn}'"),
            "t",
            Duration::from_secs(10),
        );
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(sql(delayed, "SELECT count(*) FROM t WHERE id = 4"), "0");
        let reset = Instant::now();
        set.set_apply_delay(1, Duration::ZERO).unwrap();
        assert_eq!(sql(delayed, "SHOW recovery_min_apply_delay"), "0");
        set.wait_caught_up().unwrap();
        assert_eq!(sql(delayed, "SELECT what FROM t WHERE id = 4"), "held back");
        assert!(reset.elapsed() < Duration::from_secs(10));

        // A crash of the primary: either standby can be promoted (here the one that lagged).
        primary.kill().unwrap();
        assert!(primary.pid().is_none());
        set.promote(1).unwrap();
        sql(delayed, "INSERT INTO t VALUES (5, 'after the crash')");
        assert_eq!(sql(delayed, "SELECT count(*) FROM t"), "4");
        assert!(set.is_in_recovery(0).unwrap(), "standby 0 stays a standby");
    }

    #[test]
    fn failover_promote_follow_rebuild_then_drop_removes_everything() {
        let Some(set) = replica_set(2) else { return };
        let primary = set.primary();
        let (new_primary, other) = (set.standby(0).unwrap(), set.standby(1).unwrap());
        let url = set.url(Role::Scram, "postgres");
        assert_eq!(
            url,
            format!(
                "postgres://scram_user:scram_password@127.0.0.1:{},127.0.0.1:{},127.0.0.1:{}/postgres",
                primary.port(),
                new_primary.port(),
                other.port()
            )
        );
        sql(primary, "CREATE TABLE t (id int); INSERT INTO t VALUES (1)");
        set.wait_caught_up().unwrap();

        // Failover: stop the primary, promote standby 0, write on it.
        primary.stop().unwrap();
        let promoting = Instant::now();
        set.promote(0).unwrap();
        eprintln!("standby 0 was promoted in {:?}", promoting.elapsed());
        assert!(!set.is_in_recovery(0).unwrap());
        assert_eq!(set.upstream(0), None);
        assert_eq!(sql(new_primary, "SHOW transaction_read_only"), "off");
        sql(new_primary, "INSERT INTO t VALUES (2)");
        assert_eq!(sql(new_primary, "SELECT count(*) FROM t"), "2");

        // Standby 1 does not follow by itself: still in recovery, read-only, without the new
        // row, retrying the stopped primary. `wait_caught_up` skips it.
        set.wait_caught_up().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        assert!(set.is_in_recovery(1).unwrap());
        assert_eq!(set.upstream(1), Some(Node::Primary));
        assert_eq!(sql(other, "SELECT count(*) FROM t"), "1");
        assert!(failure(other, "INSERT INTO t VALUES (3)").contains("25006"));
        let log = std::fs::read_to_string(other.log_path().unwrap()).unwrap();
        assert!(
            log.contains("could not connect to the primary server"),
            "{log}"
        );

        // Pointed at the new primary, it follows it onto the new timeline.
        let following = Instant::now();
        set.follow(1, 0).unwrap();
        eprintln!(
            "standby 1 followed the new primary in {:?}",
            following.elapsed()
        );
        assert_eq!(set.upstream(1), Some(Node::Standby(0)));
        set.wait_caught_up().unwrap();
        assert_eq!(sql(other, "SELECT count(*) FROM t"), "2");
        assert_eq!(
            sql(other, "SELECT received_tli FROM pg_stat_wal_receiver"),
            "2"
        );

        // The old primary comes back as a standby of the new one, on its old port.
        let port = primary.port();
        let rebuilding = Instant::now();
        set.rebuild_as_standby_of(Node::Primary, 0).unwrap();
        eprintln!(
            "the old primary was rebuilt as a standby in {:?}",
            rebuilding.elapsed()
        );
        assert_eq!(primary.port(), port);
        assert!(set.is_in_recovery(Node::Primary).unwrap());
        assert_eq!(set.upstream(Node::Primary), Some(Node::Standby(0)));
        assert_eq!(
            sql(
                new_primary,
                "SELECT application_name, state FROM pg_stat_replication ORDER BY 1"
            ),
            "primary|streaming\nstandby_1|streaming"
        );
        let mut params = primary.params(Role::Md5, "postgres");
        params.socket_dir = None;
        assert_eq!(
            primary.psql_as(&params, "SELECT current_user").unwrap(),
            "md5_user"
        );
        sql(new_primary, "INSERT INTO t VALUES (3)");
        set.wait_caught_up().unwrap();
        for (node, server) in set.nodes() {
            assert_eq!(sql(server, "SELECT count(*) FROM t"), "3", "on {node}");
        }

        // Drop stops every node and removes every dir.
        let nodes: Vec<(u32, PathBuf)> = set
            .nodes()
            .map(|(_, server)| (server.pid().unwrap(), server.dir().unwrap()))
            .collect();
        drop(set);
        for (pid, dir) in nodes {
            assert!(!process_alive(pid), "postmaster {pid} outlived Drop");
            assert!(!dir.exists(), "{} outlived Drop", dir.display());
        }
    }

    #[test]
    fn a_replica_set_is_removed_when_its_process_exits() {
        if std::env::var("DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
            eprintln!("skipped: with DATABASE_URL no replica set is started");
            return;
        }
        // `tarn-pg check-replicas` starts a primary and a standby and exits without dropping
        // them: only the reapers are left to clean up.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tarn-pg"))
            .arg("check-replicas")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let values = |name: &str| -> Vec<String> {
            stdout
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("{name}=")))
                .map(str::to_owned)
                .collect()
        };
        let (pids, dirs) = (values("pid"), values("dir"));
        assert_eq!((pids.len(), dirs.len()), (2, 2), "{stdout}");
        let deadline = Instant::now() + Duration::from_secs(20);
        for (pid, dir) in pids.iter().zip(&dirs) {
            let pid: u32 = pid.parse().unwrap();
            while process_alive(pid) || std::path::Path::new(dir).exists() {
                assert!(
                    Instant::now() < deadline,
                    "20 s after its process exited, a node (pid {pid}, dir {dir}) is still there"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}
