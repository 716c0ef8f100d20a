//! The auth matrix: trust, cleartext, md5 and SCRAM-SHA-256, right and wrong password, over
//! TCP and the unix socket; the client-side auth policy; secrets kept out of output.

use tarn_wire::{AuthMethod, AuthPolicy, Config, Connection, SqlState};

use crate::support::{Role, db};

/// Connects with `config` and checks the session runs as `role`.
async fn assert_connects(config: &Config, role: Role) {
    let mut conn = Connection::connect(config)
        .await
        .unwrap_or_else(|e| panic!("{role:?} via {:?}: {e}", config.get_hosts()));
    let row = conn
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), role.user());
    assert!(conn.backend_pid() != 0);
    assert!(conn.parameter("server_version").is_some());
    conn.close().await.unwrap();
}

#[tokio::test]
async fn right_password_connects_for_every_method_over_tcp_and_unix() {
    let db = db();
    if !db.has_auth_roles() {
        println!("skipped: the server has no auth roles (DATABASE_URL)");
        return;
    }
    for role in Role::ALL {
        assert_connects(&db.config(role), role).await;
        if let Some(config) = db.unix_config(role) {
            assert_connects(&config, role).await;
        }
    }
}

#[tokio::test]
async fn wrong_password_is_28p01_for_every_password_method() {
    let db = db();
    if !db.has_auth_roles() {
        println!("skipped: the server has no auth roles (DATABASE_URL)");
        return;
    }
    for role in [Role::Cleartext, Role::Md5, Role::Scram] {
        let mut configs = vec![db.config(role)];
        configs.extend(db.unix_config(role));
        for mut config in configs {
            config.password("definitely-wrong-secret");
            let error = Connection::connect(&config).await.unwrap_err();
            assert_eq!(
                error.code(),
                Some(&SqlState::INVALID_PASSWORD),
                "{role:?}: {error}"
            );
            assert!(error.is_db());
            let db_error = error.as_db_error().unwrap();
            assert_eq!(db_error.severity(), "FATAL");
            assert!(
                db_error.message().contains(role.user()),
                "{}",
                db_error.message()
            );
            let shown = format!("{error} {error:?}");
            assert!(!shown.contains("definitely-wrong-secret"), "{shown}");
        }
    }
}

#[tokio::test]
async fn missing_password_is_a_clean_auth_error() {
    let db = db();
    if !db.has_auth_roles() {
        println!("skipped: the server has no auth roles (DATABASE_URL)");
        return;
    }
    for role in [Role::Cleartext, Role::Md5, Role::Scram] {
        let mut config = Config::new();
        config
            .host("127.0.0.1")
            .port(db.config(role).get_port())
            .user(role.user());
        config.dbname(db.config(role).get_dbname().unwrap());
        let error = Connection::connect(&config).await.unwrap_err();
        assert!(error.is_auth(), "{role:?}: {error}");
    }
}

#[tokio::test]
async fn trust_ignores_the_password() {
    let db = db();
    let mut config = db.config(Role::Superuser);
    config.password("anything");
    assert_connects(&config, Role::Superuser).await;
}

#[tokio::test]
async fn auth_policy_refuses_weak_methods_before_sending_a_password() {
    let db = db();
    if !db.has_auth_roles() {
        println!("skipped: the server has no auth roles (DATABASE_URL)");
        return;
    }
    for role in [Role::Cleartext, Role::Md5] {
        let mut config = db.config(role);
        config.require_auth(AuthPolicy::scram_only());
        let error = Connection::connect(&config).await.unwrap_err();
        assert!(error.is_auth(), "{role:?}: {error}");
        assert!(error.code().is_none());
    }
    // SCRAM passes the strict policy.
    let mut config = db.config(Role::Scram);
    config.require_auth(AuthPolicy::scram_only());
    assert_connects(&config, Role::Scram).await;
    // Trust is refused when not allowed.
    let mut config = db.config(Role::Superuser);
    config.require_auth(AuthPolicy::only(&[AuthMethod::ScramSha256]));
    assert!(Connection::connect(&config).await.unwrap_err().is_auth());
    // And allowed by `no_weak_password`.
    let mut config = db.config(Role::Superuser);
    config.require_auth(AuthPolicy::no_weak_password());
    assert_connects(&config, Role::Superuser).await;
}

#[tokio::test]
async fn password_never_shows_in_debug() {
    let db = db();
    let mut config = db.config(Role::Scram);
    config.password("hunter2-secret");
    let shown = format!("{config:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("<redacted>"));
}

#[tokio::test]
async fn startup_parameters_reach_the_server() {
    let db = db();
    let mut config = db.config(Role::Superuser);
    config
        .application_name("wire-startup-check")
        .options("-c statement_timeout=12345 -c search_path=pg_catalog");
    let mut conn = Connection::connect(&config).await.unwrap();
    let row = conn
        .query_one(
            "SELECT current_setting('application_name'), current_setting('statement_timeout'), current_setting('search_path')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, &str>(0), "wire-startup-check");
    assert_eq!(row.get::<_, &str>(1), "12345ms");
    assert_eq!(row.get::<_, &str>(2), "pg_catalog");
    assert_eq!(
        conn.parameter("application_name"),
        Some("wire-startup-check")
    );
    assert!(conn.parameter("TimeZone").is_some());
    assert_eq!(
        conn.round_trips(),
        2,
        "a cache miss costs two round trips; startup none"
    );
}

#[tokio::test]
async fn wrong_database_and_refused_port_are_errors_not_hangs() {
    let db = db();
    let mut config = db.config(Role::Superuser);
    config.dbname("no_such_database_here");
    let error = Connection::connect(&config).await.unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::INVALID_CATALOG_NAME));

    // A port nobody listens on: connection refused, reported as an I/O error.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut config = db.config(Role::Superuser);
    config.port(port);
    let error = Connection::connect(&config).await.unwrap_err();
    assert!(error.is_io() || error.is_closed(), "{error}");
}
