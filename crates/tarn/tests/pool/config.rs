//! Configuration forms reach the server as configured.

use tarn_testkit::Role;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_key_value_and_unix_socket_forms_connect() {
    let db = db();
    let p = db.params(Role::Superuser);
    let app = app_name("forms");
    let key_value = format!(
        "host={} port={} user={} dbname={} application_name={app}",
        p.host, p.port, p.user, p.dbname
    );
    let socket_dir = p
        .socket_dir
        .clone()
        .expect("the testkit server has a socket");
    let unix = format!(
        "host={} port={} user={} dbname={} application_name={app}",
        socket_dir.display(),
        p.port,
        p.user,
        p.dbname
    );
    for form in [db.url(Role::Superuser), key_value, unix] {
        let pool = tarn::Pool::builder()
            .url(&form)
            .min_idle(0)
            .build()
            .await
            .unwrap();
        let row = pool
            .query_one("SELECT current_database()", &[])
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), db.name(), "{form}");
        pool.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_roles_authenticate_through_the_pool() {
    let db = db();
    if !db.server().has_auth_roles() {
        eprintln!("skipped: auth roles exist only on testkit servers");
        return;
    }
    for role in [Role::Cleartext, Role::Md5, Role::Scram] {
        let pool = tarn::Pool::builder()
            .url(&db.url(role))
            .min_idle(0)
            .build()
            .await
            .unwrap();
        let who: String = pool
            .query_one("SELECT current_user::text", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(who, role.user());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_name_and_min_idle_show_in_pg_stat_activity() {
    let db = db();
    let app = app_name("min_idle");
    let pool = builder(&db, &app)
        .min_idle(3)
        .max_size(5)
        .build()
        .await
        .unwrap();
    let server = db.server();
    tokio::task::spawn_blocking({
        let app = app.clone();
        move || wait_for_backends(tarn_testkit::PgServer::shared().unwrap(), &app, 3)
    })
    .await
    .unwrap();
    assert_eq!(pool.status().size, 3);
    let shown: String = pool
        .query_one("SELECT current_setting('application_name')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(shown, app);
    pool.close().await;
    let _ = server;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_above_min_idle_are_reaped() {
    let db = db();
    let app = app_name("reap");
    let pool = builder(&db, &app)
        .min_idle(1)
        .max_size(4)
        .idle_timeout(std::time::Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    // Four at once: the pool grows to four.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(pool.get().await.unwrap());
    }
    drop(held);
    assert_eq!(pool.status().size, 4);
    // Then the idle ones above min_idle go, on the server too.
    tokio::task::spawn_blocking({
        let app = app.clone();
        move || wait_for_backends(tarn_testkit::PgServer::shared().unwrap(), &app, 1)
    })
    .await
    .unwrap();
    assert_eq!(pool.status().size, 1);
    assert!(pool.stats().closed_idle >= 3);
}

#[tokio::test]
async fn bad_settings_are_named_at_build() {
    let err = tarn::Pool::builder()
        .max_size(2)
        .min_idle(3)
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("min_idle"), "{err}");
    let err = tarn::Pool::builder()
        .url("postgres://u:secret@h:99999/d")
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invalid port number"), "{err}");
    assert!(!err.to_string().contains("secret"), "{err}");
}
