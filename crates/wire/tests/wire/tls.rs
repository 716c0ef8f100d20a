//! TLS against real servers: libpq's sslmode matrix (a server with `ssl=on`, one with
//! `ssl=off`, and a role that is only allowed over TLS), certificate checks (unknown CA, wrong
//! name, expired), client certificates, channel binding, and cancel over TLS.

use std::time::Duration;

use tarn_testkit::{
    ConnParams, PgServer, Role, ServerCert, TestCerts, TlsRole, TlsSetup, tls_server,
};
use tarn_wire::{ChannelBinding, Config, Connection, Error, SslMode, SslRootCert};

const TIMEOUT: Duration = Duration::from_secs(10);

fn config_for(params: &ConnParams, host: &str, mode: SslMode) -> Config {
    let mut config = Config::new();
    config
        .host(host)
        .port(params.port)
        .user(&params.user)
        .dbname(&params.dbname)
        .ssl_mode(mode)
        .connect_timeout(TIMEOUT);
    if let Some(password) = &params.password {
        config.password(password);
    }
    config
}

fn with_ca(mut config: Config) -> Config {
    let certs = TestCerts::shared().expect("test certificates");
    config.ssl_root_cert(SslRootCert::File(certs.ca_cert().path().to_owned()));
    config
}

/// Connects and reports whether the server sees the session as TLS.
async fn ssl_in_use(config: &Config) -> Result<bool, Error> {
    let mut conn = Connection::connect(config).await?;
    let row = conn
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

fn assert_refused(result: Result<bool, Error>, what: &str, phrase: &str) {
    match result {
        Ok(ssl) => panic!("{what}: connected (ssl = {ssl}), expected a refusal"),
        Err(e) => {
            assert!(!e.is_timeout(), "{what}: hung until the timeout: {e}");
            assert!(
                e.to_string().contains(phrase),
                "{what}: expected {phrase:?} in: {e}"
            );
        }
    }
}

#[tokio::test]
async fn the_sslmode_matrix_matches_libpq() {
    let Some(tls) = tls_server().expect("TLS server") else {
        return;
    };
    let plain = PgServer::shared().expect("plain server");
    let scram_tls = tls.params(Role::Scram, "postgres");
    let scram_plain = plain.params(Role::Scram, "postgres");
    let ssl_only = tls.tls_params(TlsRole::SslOnly, "postgres");
    // (mode, TLS server, plain server, TLS-only role): Some(ssl) connects, None is refused.
    let matrix = [
        (SslMode::Disable, Some(false), Some(false), None),
        (SslMode::Allow, Some(false), Some(false), Some(true)),
        (SslMode::Prefer, Some(true), Some(false), Some(true)),
        (SslMode::Require, Some(true), None, Some(true)),
        (SslMode::VerifyCa, Some(true), None, Some(true)),
        (SslMode::VerifyFull, Some(true), None, Some(true)),
    ];
    for (mode, on_tls, on_plain, only_tls) in matrix {
        for (params, want, label) in [
            (&scram_tls, on_tls, "ssl=on server"),
            (&scram_plain, on_plain, "ssl=off server"),
            (&ssl_only, only_tls, "hostssl-only role"),
        ] {
            let config = with_ca(config_for(params, "127.0.0.1", mode));
            let what = format!("sslmode={mode} against the {label}");
            let got = ssl_in_use(&config).await;
            match want {
                Some(ssl) => {
                    assert_eq!(got.unwrap_or_else(|e| panic!("{what}: {e}")), ssl, "{what}")
                }
                // With a root certificate set, require is verify-ca (as in libpq), and the
                // error names the mode in effect.
                None if label == "ssl=off server" => assert_refused(
                    got,
                    &what,
                    "the server does not support TLS, which sslmode=",
                ),
                None => assert_refused(got, &what, "no encryption"),
            }
        }
    }
}

#[tokio::test]
async fn verify_full_checks_the_ca_the_name_and_the_dates() {
    let Some(tls) = tls_server().expect("TLS server") else {
        return;
    };
    let certs = TestCerts::shared().unwrap();
    let params = tls.params(Role::Scram, "postgres");
    // The right CA, by name and by address.
    for host in ["localhost", "127.0.0.1"] {
        let config = with_ca(config_for(&params, host, SslMode::VerifyFull));
        assert!(ssl_in_use(&config).await.unwrap(), "{host}");
    }
    // An unrelated CA: refused in both verifying modes.
    for mode in [SslMode::VerifyCa, SslMode::VerifyFull] {
        let mut config = config_for(&params, "localhost", mode);
        config.ssl_root_cert(SslRootCert::File(certs.other_ca_cert().path().to_owned()));
        let got = ssl_in_use(&config).await;
        assert_refused(got, &format!("{mode} with another CA"), "UnknownIssuer");
    }

    let wrong_name = PgServer::builder()
        .tls(TlsSetup::with_server_cert(certs, ServerCert::WrongName))
        .start()
        .unwrap();
    let params = wrong_name.params(Role::Scram, "postgres");
    for host in ["localhost", "127.0.0.1"] {
        let config = with_ca(config_for(&params, host, SslMode::VerifyFull));
        assert_refused(
            ssl_in_use(&config).await,
            &format!("verify-full, certificate for another name, host {host}"),
            "not valid for name",
        );
        // verify-ca checks the chain only: it passes.
        let config = with_ca(config_for(&params, host, SslMode::VerifyCa));
        assert!(ssl_in_use(&config).await.unwrap(), "verify-ca, {host}");
    }

    let expired = PgServer::builder()
        .tls(TlsSetup::with_server_cert(certs, ServerCert::Expired))
        .start()
        .unwrap();
    let params = expired.params(Role::Scram, "postgres");
    for mode in [SslMode::VerifyCa, SslMode::VerifyFull] {
        let config = with_ca(config_for(&params, "localhost", mode));
        assert_refused(
            ssl_in_use(&config).await,
            &format!("{mode}, expired"),
            "certificate expired",
        );
    }
    // require without a root certificate verifies nothing, as in libpq...
    let config = config_for(&params, "localhost", SslMode::Require);
    assert!(ssl_in_use(&config).await.unwrap());
    // ...and with one it verifies the chain (libpq's promotion to verify-ca).
    let config = with_ca(config_for(&params, "localhost", SslMode::Require));
    assert_refused(
        ssl_in_use(&config).await,
        "require with a root, expired",
        "certificate expired",
    );
}

#[tokio::test]
async fn client_certificates_authenticate_the_cert_role() {
    let Some(tls) = tls_server().expect("TLS server") else {
        return;
    };
    let certs = TestCerts::shared().unwrap();
    let params = tls.tls_params(TlsRole::Cert, "postgres");
    let client = certs.client();
    let mut keys = vec![client.key().path().to_owned()];
    keys.extend(client.key_pkcs1().map(|k| k.path().to_owned()));
    for key in keys {
        let mut config = with_ca(config_for(&params, "localhost", SslMode::VerifyFull));
        config.ssl_client_cert(client.cert().path(), &key);
        assert!(ssl_in_use(&config).await.unwrap(), "{}", key.display());
    }
    let ec = certs.client_ec();
    let mut config = with_ca(config_for(&params, "localhost", SslMode::VerifyFull));
    config.ssl_client_cert(ec.cert().path(), ec.key().path());
    assert!(ssl_in_use(&config).await.unwrap(), "ECDSA client key");
    // Without a certificate the server refuses the role.
    let config = with_ca(config_for(&params, "localhost", SslMode::VerifyFull));
    let error = Connection::connect(&config).await.unwrap_err();
    assert_eq!(error.code().map(|c| c.as_str()), Some("28000"), "{error}");
    // A certificate from another CA fails the handshake.
    let untrusted = certs.untrusted_client();
    let mut config = with_ca(config_for(&params, "localhost", SslMode::VerifyFull));
    config.ssl_client_cert(untrusted.cert().path(), untrusted.key().path());
    let error = Connection::connect(&config).await.unwrap_err();
    assert!(!error.is_timeout(), "{error}");
    // A missing key file is a TLS setup error naming it.
    let mut config = with_ca(config_for(&params, "localhost", SslMode::VerifyFull));
    config.ssl_client_cert(client.cert().path(), "/nonexistent/client.key");
    let error = Connection::connect(&config).await.unwrap_err();
    assert!(
        error.is_tls() && error.to_string().contains("sslkey"),
        "{error}"
    );
}

#[tokio::test]
async fn channel_binding_require_needs_scram_plus_over_tls() {
    let Some(tls) = tls_server().expect("TLS server") else {
        return;
    };
    let plain = PgServer::shared().expect("plain server");
    // SCRAM over TLS: the server offers SCRAM-SHA-256-PLUS, and require succeeds only if the
    // exchange really was bound.
    for params in [
        tls.params(Role::Scram, "postgres"),
        tls.tls_params(TlsRole::SslOnly, "postgres"),
    ] {
        let mut config = with_ca(config_for(&params, "localhost", SslMode::VerifyFull));
        config.channel_binding(ChannelBinding::Require);
        assert!(ssl_in_use(&config).await.unwrap(), "{}", params.user);
        // prefer binds too, and disable does not need it.
        for binding in [ChannelBinding::Prefer, ChannelBinding::Disable] {
            config.channel_binding(binding);
            assert!(ssl_in_use(&config).await.unwrap());
        }
    }
    // Plain TCP, md5, and trust: refused before any password leaves the client.
    let cases = [
        (
            plain.params(Role::Scram, "postgres"),
            SslMode::Prefer,
            "needs TLS",
        ),
        (tls.params(Role::Md5, "postgres"), SslMode::Require, "md5"),
        (
            tls.params(Role::Superuser, "postgres"),
            SslMode::Require,
            "without channel binding",
        ),
    ];
    for (params, mode, phrase) in cases {
        let mut config = config_for(&params, "127.0.0.1", mode);
        config.channel_binding(ChannelBinding::Require);
        let error = Connection::connect(&config).await.unwrap_err();
        assert!(error.is_auth(), "{}: {error}", params.user);
        assert!(
            error.to_string().contains(phrase),
            "{}: {error}",
            params.user
        );
    }
}

#[tokio::test]
async fn cancel_over_tls_stops_a_running_statement() {
    let Some(tls) = tls_server().expect("TLS server") else {
        return;
    };
    let params = tls.tls_params(TlsRole::SslOnly, "postgres");
    let config = with_ca(config_for(&params, "localhost", SslMode::VerifyFull));
    let mut conn = Connection::connect(&config).await.unwrap();
    let token = conn.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        token.cancel_query().await
    });
    let error = tokio::time::timeout(TIMEOUT, conn.execute("SELECT pg_sleep(30)", &[]))
        .await
        .expect("the cancel arrived")
        .unwrap_err();
    canceller.await.unwrap().unwrap();
    assert_eq!(error.code().map(|c| c.as_str()), Some("57014"), "{error}");
    let one: i32 = conn.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
}

#[tokio::test]
async fn a_tls_connection_probes_and_closes_cleanly() {
    let Some(tls) = tls_server().expect("TLS server") else {
        return;
    };
    let params = tls.params(Role::Scram, "postgres");
    let config = with_ca(config_for(&params, "localhost", SslMode::VerifyFull));
    let mut conn = Connection::connect(&config).await.unwrap();
    assert!(!conn.peer_closed(), "an idle TLS connection is alive");
    let pid = conn.backend_pid();
    let mut admin = Connection::connect(&config).await.unwrap();
    admin
        .query("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + TIMEOUT;
    while !conn.peer_closed() {
        assert!(
            std::time::Instant::now() < deadline,
            "never saw the terminated backend"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    admin.close().await.unwrap();
}
