//! The pool over TLS against the testkit's TLS server: a URL is all it takes, the libpq
//! environment variables work the same, and `query_timeout` cancels over TLS.

use std::time::{Duration, Instant};

use tarn_testkit::{TestCerts, TlsRole, tls_server};

use crate::common::app_name;

fn tls_url(role: TlsRole, extra: &str) -> Option<String> {
    let server = tls_server().expect("TLS server")?;
    let certs = TestCerts::shared().unwrap();
    let params = server.tls_params(role, "postgres");
    let password = params.password.as_deref().unwrap_or_default();
    Some(format!(
        "postgres://{}:{password}@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}{extra}",
        params.user,
        params.port,
        certs.ca_cert().path().display()
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_over_verify_full_tls_with_channel_binding() {
    let Some(url) = tls_url(TlsRole::SslOnly, "&channel_binding=require") else {
        return;
    };
    let pool = tarn::Pool::builder()
        .url(&url)
        .application_name(&app_name("tls_pool"))
        .min_idle(0)
        .max_size(4)
        .build()
        .await
        .unwrap();
    let mut handles = Vec::new();
    for i in 0..16i32 {
        let pool = pool.clone();
        handles.push(tokio::spawn(async move {
            let row = pool
                .query_one(
                    "SELECT ssl, $1::int4 FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                    &[&i],
                )
                .await
                .unwrap();
            assert!(row.get::<_, bool>(0), "not TLS");
            assert_eq!(row.get::<_, i32>(1), i);
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(pool.config().ssl_mode(), tarn::SslMode::VerifyFull);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_configures_tls_like_libpq() {
    let Some(server) = tls_server().expect("TLS server") else {
        return;
    };
    let certs = TestCerts::shared().unwrap();
    let params = server.tls_params(TlsRole::Cert, "postgres");
    let vars = [
        ("PGHOST", "localhost".to_owned()),
        ("PGPORT", params.port.to_string()),
        ("PGUSER", params.user.clone()),
        ("PGDATABASE", "postgres".to_owned()),
        ("PGSSLMODE", "verify-full".to_owned()),
        (
            "PGSSLROOTCERT",
            certs.ca_cert().path().display().to_string(),
        ),
        (
            "PGSSLCERT",
            certs.client().cert().path().display().to_string(),
        ),
        (
            "PGSSLKEY",
            certs.client().key().path().display().to_string(),
        ),
    ];
    let config = tarn::Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap();
    let pool = tarn::Pool::builder()
        .config(config)
        .min_idle(0)
        .build()
        .await
        .unwrap();
    let user: String = pool
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(user, "cert_user");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_timeout_cancels_over_tls() {
    let Some(url) = tls_url(TlsRole::SslOnly, "") else {
        return;
    };
    let limit = Duration::from_millis(300);
    let pool = tarn::Pool::builder()
        .url(&url)
        .application_name(&app_name("tls_cancel"))
        .statement_timeout(None)
        .query_timeout(limit)
        .min_idle(0)
        .max_size(1)
        .build()
        .await
        .unwrap();
    let started = Instant::now();
    let err = pool.execute("SELECT pg_sleep(30)", &[]).await.unwrap_err();
    assert!(
        matches!(
            err,
            tarn::Error::QueryTimeout {
                cancelled: true,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        started.elapsed() < limit + tarn::CANCEL_GRACE,
        "{:?}",
        started.elapsed()
    );
    let one: i32 = pool.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_against_a_server_without_tls_fails_fast_and_names_the_mode() {
    let server = tarn_testkit::PgServer::shared().unwrap();
    let pool = tarn::Pool::builder()
        .url(&format!(
            "postgres://postgres@127.0.0.1:{}/postgres?sslmode=require",
            server.port()
        ))
        .min_idle(0)
        .acquire_timeout(Duration::from_secs(10))
        .build()
        .await
        .unwrap();
    let started = Instant::now();
    let err = pool.get().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let text = err.to_string();
    assert!(
        text.contains("does not support TLS") && text.contains("sslmode=require"),
        "{text}"
    );
}
