//! Integration tests for the `health-server` binary: each test starts it as a child process
//! against a testkit PostgreSQL and talks to it over real HTTP/1.1 on loopback.
//!
//! The service prints `listening on http://ADDR` on stdout once it is bound (it is started
//! with `PORT=0`), which is how a test finds it. Its stderr is drained into a buffer so a
//! chatty log can never block it, and shown when an assertion fails. Every child is killed
//! when its [`Service`] guard is dropped, so a failing test leaks no process.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tarn_testkit::{FaultProxy, ProxyMode, Role};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdout, Command};

/// Variables the child must not inherit from the test's environment: its database, pool and
/// listener settings are exactly what each test passes.
const CLEARED: &[&str] = &[
    "DATABASE_URL",
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGDATABASE",
    "PGAPPNAME",
    "PGOPTIONS",
    "PG_POOL_MAX",
    "PG_POOL_MIN",
    "PG_IDLE_TIMEOUT",
    "PG_CONNECTION_TIMEOUT",
    "PG_STATEMENT_TIMEOUT",
    "PG_QUERY_TIMEOUT",
    "PG_APP_NAME",
    "HOST",
    "PORT",
    "SHUTDOWN_TIMEOUT",
    "DEMO_SCHEMA",
    "RUST_LOG",
];

/// An empty directory of its own for the child's working directory, so no `.env` from the
/// checkout (or a parent) leaks in; removed on drop.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> WorkDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "health-server-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create a work dir");
        WorkDir(dir)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The service binary with a clean environment plus `vars`.
fn command(dir: &WorkDir, vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_health-server"));
    for var in CLEARED {
        cmd.env_remove(var);
    }
    // Every libpq variable (PGSSLMODE, PGSSLROOTCERT, ...) is read by the service too.
    for (var, _) in std::env::vars_os() {
        if var.to_str().is_some_and(|v| v.starts_with("PG")) {
            cmd.env_remove(var);
        }
    }
    cmd.env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("RUST_LOG", "info")
        .current_dir(&dir.0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (name, value) in vars {
        cmd.env(name, value);
    }
    cmd
}

/// A running service. Dropping it kills the process.
struct Service {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
    // Kept open so a late write to stdout never fails with a broken pipe.
    _stdout: BufReader<ChildStdout>,
    _dir: WorkDir,
}

impl Service {
    /// Starts the service and waits for its `listening on` line.
    async fn start(vars: &[(&str, &str)]) -> Service {
        let dir = WorkDir::new();
        let mut child = command(&dir, vars).spawn().expect("spawn health-server");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().expect("piped stderr");
        let sink = Arc::clone(&stderr);
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock().expect("stderr buffer").push_str(&text);
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        let read = tokio::time::timeout(Duration::from_secs(20), stdout.read_line(&mut line)).await;
        let addr = line
            .strip_prefix("listening on http://")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse::<SocketAddr>().ok());
        let Some(addr) = addr else {
            let _ = child.start_kill();
            panic!(
                "no `listening on` line ({read:?}, got {line:?}); stderr:\n{}",
                stderr.lock().expect("stderr buffer")
            );
        };
        Service {
            child,
            addr,
            stderr,
            _stdout: stdout,
            _dir: dir,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr buffer").clone()
    }

    async fn get(&self, path: &str) -> (u16, String) {
        match http_get(self.addr, path).await {
            Ok(answer) => answer,
            Err(e) => panic!("GET {path} failed: {e}; stderr:\n{}", self.stderr()),
        }
    }

    async fn get_json(&self, path: &str) -> (u16, Value) {
        let (status, body) = self.get(path).await;
        let json = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("GET {path}: {status} with non-JSON body {body:?}: {e}"));
        (status, json)
    }

    async fn metrics(&self) -> Metrics {
        let (status, body) = self.get("/metrics").await;
        assert_eq!(status, 200, "GET /metrics: {body}");
        Metrics::parse(&body)
    }

    /// Polls the health route until it answers 200, or panics after `within`.
    async fn wait_healthy(&self, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let (status, body) = self.get_json("/api/db/health").await;
            if status == 200 {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "not healthy within {within:?}: {status} {body}; stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends SIGTERM (through `kill`, so the tests need no signal crate).
    fn sigterm(&self) {
        let pid = self.child.id().expect("the service is running");
        let status = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid}: {status}");
    }

    async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => status.expect("wait for the service"),
            Err(_) => panic!(
                "the service did not exit within {within:?}; stderr:\n{}",
                self.stderr()
            ),
        }
    }
}

/// A minimal HTTP/1.1 GET: `Connection: close`, read to EOF, split status and body. Bounded so
/// a hung service fails the test instead of hanging it.
async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let bad = || std::io::Error::other(format!("not an HTTP response: {text:?}"));
        let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
        let status = head
            .lines()
            .next()
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|code| code.parse::<u16>().ok())
            .ok_or_else(bad)?;
        Ok((status, body.to_owned()))
    };
    tokio::time::timeout(Duration::from_secs(15), exchange)
        .await
        .map_err(|_| std::io::Error::other(format!("GET {path}: no answer within 15 s")))?
}

/// A scrape, as `name{labels}` -> value.
#[derive(Debug)]
struct Metrics(HashMap<String, f64>);

impl Metrics {
    fn parse(text: &str) -> Metrics {
        let values = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(|line| {
                let (key, value) = line.rsplit_once(' ').expect("`name value` sample line");
                let value = value
                    .parse::<f64>()
                    .unwrap_or_else(|_| panic!("sample value in {line:?}"));
                (key.to_owned(), value)
            })
            .collect();
        Metrics(values)
    }

    fn get(&self, key: &str) -> f64 {
        *self
            .0
            .get(key)
            .unwrap_or_else(|| panic!("metric {key} missing from {:?}", self.0.keys()))
    }
}

fn as_count(body: &Value, field: &str) -> u64 {
    body[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} should be a non-negative integer in {body}"))
}

fn app_name(test: &str) -> String {
    format!("hs_{test}_{}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_every_field_and_agrees_with_metrics() {
    let db = tarn_testkit::test_db().expect("test database");
    let url = db.url(Role::Superuser);
    let service = Service::start(&[
        ("DATABASE_URL", &url),
        ("PG_POOL_MAX", "5"),
        ("PG_POOL_MIN", "2"),
        ("RUST_LOG", "info,health_server::pool=debug"),
    ])
    .await;

    // Wait until the background refill has opened min_idle connections (not just started
    // them), so the pool is quiet.
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        let body = service.wait_healthy(Duration::from_secs(10)).await;
        let settled = as_count(&body, "poolSize") == 2 && as_count(&body, "idleCount") == 2;
        if settled || Instant::now() > deadline {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    assert_eq!(body["ok"], Value::Bool(true), "{body}");
    assert_eq!(body["database"].as_str(), Some(db.name()), "{body}");
    let timestamp = body["timestamp"].as_str().expect("timestamp is a string");
    let parsed = chrono::DateTime::parse_from_rfc3339(timestamp).expect("RFC 3339 timestamp");
    let skew = (chrono::Utc::now() - parsed.with_timezone(&chrono::Utc)).num_seconds();
    assert!(skew.abs() < 60, "server time {timestamp} is {skew} s off");
    assert!(timestamp.ends_with('Z'), "UTC, as toISOString: {timestamp}");
    assert!(body.get("error").is_none(), "no error when healthy: {body}");
    let (size, idle, waiting) = (
        as_count(&body, "poolSize"),
        as_count(&body, "idleCount"),
        as_count(&body, "waitingCount"),
    );
    assert_eq!(size, 2, "min_idle reached: {body}");
    assert_eq!(
        (idle, waiting),
        (2, 0),
        "nothing in use after the check: {body}"
    );

    let m = service.metrics().await;
    assert_eq!(m.get("tarn_pool_size"), size as f64);
    assert_eq!(m.get("tarn_pool_idle"), idle as f64);
    assert_eq!(m.get("tarn_pool_waiting"), waiting as f64);
    assert_eq!(m.get("tarn_pool_max_size"), 5.0);
    assert_eq!(
        m.get("tarn_pool_size"),
        m.get("tarn_pool_idle") + m.get("tarn_pool_in_use") + m.get("tarn_pool_connecting")
    );
    assert!(m.get("tarn_pool_gets_total") >= 1.0);
    assert!(m.get("tarn_pool_connections_created_total") >= 2.0);
    assert_eq!(m.get("tarn_pool_timeouts_total"), 0.0);
    assert_eq!(m.get("tarn_pool_connect_errors_total"), 0.0);
    assert_eq!(
        m.get("tarn_pool_connections_closed_total{reason=\"broken\"}"),
        0.0
    );
    // Every acquire is one histogram sample, fed by the pool's events.
    assert_eq!(
        m.get("tarn_pool_acquire_wait_seconds_count"),
        m.get("tarn_pool_gets_total")
    );
    assert_eq!(
        m.get("tarn_pool_acquire_wait_seconds_bucket{le=\"+Inf\"}"),
        m.get("tarn_pool_acquire_wait_seconds_count"),
        "rendered as a Prometheus histogram with buckets"
    );
    assert!(m.get("tarn_pool_connect_seconds_count") >= 2.0);

    // Pool events reach the log through `tracing`.
    let log = service.stderr();
    assert!(log.contains("connection opened"), "log:\n{log}");
    assert!(log.contains("connection acquired"), "log:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_over_verify_full_tls_from_database_url() {
    let Some(server) = tarn_testkit::tls_server().expect("TLS server") else {
        return;
    };
    let certs = tarn_testkit::TestCerts::shared().unwrap();
    let params = server.tls_params(tarn_testkit::TlsRole::SslOnly, "postgres");
    let url = format!(
        "postgres://{}:{}@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}&channel_binding=require",
        params.user,
        params.password.as_deref().unwrap_or_default(),
        params.port,
        certs.ca_cert().path().display()
    );
    let service = Service::start(&[("DATABASE_URL", &url), ("PG_POOL_MIN", "1")]).await;
    let body = service.wait_healthy(Duration::from_secs(10)).await;
    assert_eq!(body["ok"], Value::Bool(true), "{body}");
    assert_eq!(body["database"].as_str(), Some("postgres"), "{body}");

    // The same service with a CA that did not sign the server's certificate reports why.
    let url = url.replace(
        &certs.ca_cert().path().display().to_string(),
        &certs.other_ca_cert().path().display().to_string(),
    );
    let service = Service::start(&[("DATABASE_URL", &url), ("PG_POOL_MIN", "0")]).await;
    let (status, body) = service.get_json("/api/db/health").await;
    assert_eq!(status, 503, "{body}");
    let error = body["error"].as_str().expect("error is a string");
    assert!(error.contains("UnknownIssuer"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_serve_reads_and_health_lists_every_node() {
    let Some(set) = tokio::task::block_in_place(|| tarn_testkit::replica_set(1)).unwrap() else {
        return;
    };
    let writer = set.primary().params(Role::Superuser, "postgres").url();
    let replica = set
        .standby(0)
        .unwrap()
        .params(Role::Superuser, "postgres")
        .url();
    let service = Service::start(&[
        ("DATABASE_URL", &writer),
        ("DATABASE_REPLICA_URLS", &replica),
        ("DEMO_SCHEMA", "1"),
    ])
    .await;
    let body = service.wait_healthy(Duration::from_secs(10)).await;
    let nodes = body["nodes"].as_array().expect("nodes with replicas");
    assert_eq!(nodes.len(), 2, "{body}");
    assert_eq!(nodes[0]["role"], "writer", "{body}");
    assert_eq!(nodes[1]["role"], "replica", "{body}");
    assert_eq!(
        nodes[1]["name"].as_str(),
        Some(format!("127.0.0.1:{}", set.standby(0).unwrap().port()).as_str()),
        "{body}"
    );
    // The demo schema was created on the writer; once replayed, the replica serves the read.
    tokio::task::block_in_place(|| set.wait_caught_up()).unwrap();
    let (status, campaign) = service.get_json("/api/campaigns/1").await;
    assert_eq!(status, 200, "{campaign}");
    // With the replica stopped, health stays 200 (reads fall back to the writer) and says so.
    tokio::task::block_in_place(|| set.standby(0).unwrap().stop()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = service.get_json("/api/db/health").await;
        assert_eq!(status, 200, "{body}");
        if body["nodes"][1]["healthy"] == Value::Bool(false) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replica never showed as down: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, campaign) = service.get_json("/api/campaigns/1").await;
    assert_eq!(status, 200, "reads fell back to the writer: {campaign}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_route_runs_a_parameterized_query() {
    let db = tarn_testkit::test_db().expect("test database");
    let url = db.url(Role::Superuser);
    let service = Service::start(&[("DATABASE_URL", &url), ("DEMO_SCHEMA", "1")]).await;

    let (status, body) = service.get_json("/api/campaigns/7").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], 7, "{body}");
    assert_eq!(body["name"], "campaign 7", "{body}");
    assert_eq!(body["budgetCents"], 70_000, "{body}");
    assert!(body["createdAt"].is_string(), "{body}");

    let (status, body) = service.get_json("/api/campaigns/100000").await;
    assert_eq!((status, &body["ok"]), (404, &Value::Bool(false)), "{body}");
    let (status, body) = service.get_json("/api/campaigns/seven").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = service.get_json("/api/slow?ms=600000").await;
    assert_eq!(status, 400, "the demo sleep is bounded: {body}");
    let (status, body) = service.get_json("/api/slow?ms=10").await;
    assert_eq!(
        (status, &body["sleptMs"]),
        (200, &Value::from(10)),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_503_while_the_database_is_down_and_recovers_without_a_restart() {
    let Some(server) = tarn_testkit::controllable_server().expect("private server") else {
        return; // controllable_server printed why.
    };
    let url = server.params(Role::Superuser, "postgres").url();
    let acquire_timeout = Duration::from_millis(1000);
    let mut service = Service::start(&[
        ("DATABASE_URL", &url),
        ("PG_CONNECTION_TIMEOUT", "1000"),
        ("PG_POOL_MIN", "1"),
    ])
    .await;
    service.wait_healthy(Duration::from_secs(10)).await;

    tokio::task::block_in_place(|| server.stop()).expect("stop the server");
    for attempt in 0..2 {
        let started = Instant::now();
        let (status, body) = service.get_json("/api/db/health").await;
        let took = started.elapsed();
        assert_eq!(status, 503, "attempt {attempt}: {body}");
        assert_eq!(body["ok"], Value::Bool(false), "{body}");
        let error = body["error"].as_str().expect("error is a string");
        assert!(!error.is_empty(), "{body}");
        for field in ["poolSize", "idleCount", "waitingCount"] {
            as_count(&body, field);
        }
        assert!(body.get("database").is_none(), "{body}");
        // The acquire timeout, plus a margin for process scheduling on a busy machine.
        assert!(
            took < acquire_timeout + Duration::from_millis(1500),
            "attempt {attempt}: 503 took {took:?}"
        );
    }

    tokio::task::block_in_place(|| server.restart()).expect("restart the server");
    service.wait_healthy(Duration::from_secs(15)).await;
    assert!(
        service.child.try_wait().expect("poll the child").is_none(),
        "the same process recovered"
    );
    let m = service.metrics().await;
    assert!(
        m.get("tarn_pool_connect_errors_total") >= 1.0,
        "the outage shows in /metrics"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_slow_request_finish_then_closes_every_connection() {
    let db = tarn_testkit::test_db().expect("test database");
    let url = db.url(Role::Superuser);
    let app = app_name("sigterm");
    let mut service = Service::start(&[
        ("DATABASE_URL", &url),
        ("PG_APP_NAME", &app),
        ("SHUTDOWN_TIMEOUT", "5000"),
    ])
    .await;
    service.wait_healthy(Duration::from_secs(10)).await;

    let addr = service.addr;
    let slow = tokio::spawn(async move { http_get(addr, "/api/slow?ms=1000").await });
    // Wait until the slow request holds a connection.
    let deadline = Instant::now() + Duration::from_secs(5);
    while service.metrics().await.get("tarn_pool_in_use") < 1.0 {
        assert!(Instant::now() < deadline, "the slow request never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let backends = tokio::task::block_in_place(|| db.server().count_backends(&app)).expect("count");
    assert!(backends >= 1, "the service has backends before shutdown");

    let signalled = Instant::now();
    service.sigterm();
    // Stop accepting: the listener is closed while the slow request is still running.
    let mut refused = false;
    while signalled.elapsed() < Duration::from_millis(500) {
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "new connections are refused after SIGTERM");
    assert!(!slow.is_finished(), "the slow request was still in flight");

    let (status, body) = slow
        .await
        .expect("join")
        .expect("the slow request completes");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"sleptMs\":1000"), "{body}");
    let exit = service.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(exit.code(), Some(0), "stderr:\n{}", service.stderr());

    // Terminate has been sent on every connection; the backends go within moments.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left = tokio::task::block_in_place(|| db.server().count_backends(&app)).expect("count");
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} backends named {app} remain after exit"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The pool closed its connections itself (a Terminate each), not the process exit.
    let log = service.stderr();
    assert!(log.contains("reason=Closed"), "log:\n{log}");
    assert!(log.contains("shut down cleanly"), "log:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_503_within_the_acquire_timeout_when_the_database_goes_silent() {
    let db = tarn_testkit::test_db().expect("test database");
    let mut params = db.params(Role::Superuser);
    let upstream = tokio::net::lookup_host((params.host.as_str(), params.port))
        .await
        .expect("resolve the server")
        .next()
        .expect("an address");
    let proxy = FaultProxy::start(upstream).await.expect("proxy");
    params.host = proxy.addr().ip().to_string();
    params.port = proxy.port();
    let url = params.url();
    let acquire_timeout = Duration::from_millis(1000);
    let service = Service::start(&[
        ("DATABASE_URL", &url),
        ("PG_CONNECTION_TIMEOUT", "1000"),
        ("PG_POOL_MIN", "1"),
    ])
    .await;
    service.wait_healthy(Duration::from_secs(10)).await;

    // Connections stay open but nothing comes back: the worst case for a hang.
    proxy.set_mode(ProxyMode::Blackhole);
    for attempt in 0..2 {
        let started = Instant::now();
        let (status, body) = service.get_json("/api/db/health").await;
        let took = started.elapsed();
        assert_eq!(status, 503, "attempt {attempt}: {body}");
        assert!(body["error"].is_string(), "{body}");
        assert!(
            took < acquire_timeout + Duration::from_millis(1500),
            "attempt {attempt}: 503 after {took:?}, expected at most {acquire_timeout:?}"
        );
        if attempt == 0 {
            // The first probe ran on an open connection and really waited for an answer.
            assert!(
                took >= acquire_timeout - Duration::from_millis(50),
                "{took:?}"
            );
        }
    }
    // Routes that need no database keep answering.
    let started = Instant::now();
    service.metrics().await;
    assert!(started.elapsed() < Duration::from_millis(500));

    proxy.set_mode(ProxyMode::Pass);
    service.wait_healthy(Duration::from_secs(15)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_environment_value_stops_start_up_naming_the_variable() {
    // From the environment.
    for (var, value) in [
        ("PG_POOL_MAX", "abc"),
        ("PG_CONNECTION_TIMEOUT", "soon"),
        ("PORT", "http"),
    ] {
        let dir = WorkDir::new();
        let out = tokio::time::timeout(
            Duration::from_secs(10),
            command(&dir, &[(var, value)]).output(),
        )
        .await
        .expect("exits promptly")
        .expect("run health-server");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{var}={value} must not start");
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr.contains(var), "{var}={value}: stderr {stderr:?}");
        assert!(out.stdout.is_empty(), "it never listened");
    }

    // From a `.env` file in the working directory.
    let dir = WorkDir::new();
    std::fs::write(dir.0.join(".env"), "PG_POOL_MIN=lots\n").expect("write .env");
    let out = tokio::time::timeout(Duration::from_secs(10), command(&dir, &[]).output())
        .await
        .expect("exits promptly")
        .expect("run health-server");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr {stderr:?}");
    assert!(stderr.contains("PG_POOL_MIN"), "stderr {stderr:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_concurrent_requests_all_succeed_within_the_pool_bound() {
    let db = tarn_testkit::test_db().expect("test database");
    let url = db.url(Role::Superuser);
    let service = Service::start(&[
        ("DATABASE_URL", &url),
        ("DEMO_SCHEMA", "1"),
        ("PG_POOL_MAX", "4"),
        ("PG_POOL_MIN", "0"),
        ("PG_CONNECTION_TIMEOUT", "5000"),
    ])
    .await;
    service.wait_healthy(Duration::from_secs(10)).await;
    let addr = service.addr;

    // Scrape /metrics throughout the burst and keep the largest pool size seen.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let scraper = {
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let (mut peak, mut scrapes) = (0.0_f64, 0_u32);
            while !done.load(Ordering::Relaxed) {
                let (status, body) = http_get(addr, "/metrics").await.expect("scrape");
                assert_eq!(status, 200);
                let m = Metrics::parse(&body);
                assert!(m.get("tarn_pool_size") <= m.get("tarn_pool_max_size"));
                peak = peak.max(m.get("tarn_pool_size"));
                scrapes += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (peak, scrapes)
        })
    };

    // 60 requests at once: 48 quick queries and 12 that each hold a connection for 100 ms,
    // against a pool of 4, so callers must queue.
    let mut requests = Vec::new();
    for i in 0..60_u32 {
        let path = if i % 5 == 0 {
            "/api/slow?ms=100".to_owned()
        } else {
            format!("/api/campaigns/{}", i % 100 + 1)
        };
        requests.push(tokio::spawn(async move {
            (path.clone(), http_get(addr, &path).await)
        }));
    }
    for request in requests {
        let (path, answer) = request.await.expect("join");
        let (status, body) = answer.unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(status, 200, "{path}: {body}");
    }
    done.store(true, Ordering::Relaxed);
    let (peak, scrapes) = scraper.await.expect("scraper");

    let m = service.metrics().await;
    assert!(peak <= 4.0 && m.get("tarn_pool_size") <= 4.0, "peak {peak}");
    assert!(scrapes >= 2, "scraped during the burst ({scrapes} times)");
    assert_eq!(m.get("tarn_pool_timeouts_total"), 0.0);
    assert!(
        m.get("tarn_pool_gets_waited_total") >= 1.0,
        "the burst made callers wait, so the bound was exercised"
    );
    assert!(m.get("tarn_pool_gets_total") >= 60.0);
    let open = m.get("tarn_pool_connections_created_total") - closed_total(&m);
    assert!(open <= 4.0, "created minus closed: {open}");
}

fn closed_total(m: &Metrics) -> f64 {
    m.0.iter()
        .filter(|(k, _)| k.starts_with("tarn_pool_connections_closed_total"))
        .map(|(_, v)| v)
        .sum()
}
