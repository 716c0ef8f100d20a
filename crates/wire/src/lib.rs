//! tarn-wire: a thin PostgreSQL wire-protocol client.
//!
//! A [`Connection`] owns its socket and two reused buffers; `&mut self` methods write a whole
//! request in one write and read until `ReadyForQuery` in the caller's task. There is no
//! background task and no channel between the caller and the socket.
//!
//! Message encoding and decoding and SCRAM come from `postgres-protocol`; parameters and
//! results go through `postgres-types` (`ToSql` / `FromSql`), so existing type impls work.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tarn_wire::Error> {
//! let mut config = tarn_wire::Config::new();
//! config.host("127.0.0.1").user("postgres").dbname("postgres");
//! let mut conn = tarn_wire::Connection::connect(&config).await?;
//! let row = conn.query_one("SELECT $1::int4 + 1", &[&41i32]).await?;
//! assert_eq!(row.get::<_, i32>(0), 42);
//! conn.close().await?;
//! # Ok(())
//! # }
//! ```
//!
//! Module map: `config` (settings), `connect` (startup and authentication), `tls` (sslmode,
//! certificates, channel binding), `io` (socket and framing), `connection` (state, drain, close), `query` (simple and extended protocol),
//! `statement` (statements and their cache), `row` (rows), `error`, `cancel`.

mod binary_copy;
mod cancel;
mod config;
mod connect;
mod connection;
mod copy;
mod error;
mod io;
mod query;
mod row;
mod sqlstate;
mod statement;
mod stream;
mod tls;
mod typeinfo;

pub use binary_copy::{BinaryCopyInWriter, BinaryCopyOutStream, BinaryCopyRow};
pub use cancel::CancelToken;
pub use config::{
    AuthMethod, AuthPolicy, Config, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_MAX_SCRAM_ITERATIONS, DEFAULT_STATEMENT_CACHE_CAPACITY, Host, LoadBalanceHosts,
    NoticeCallback, TargetSessionAttrs,
};
pub use connection::{Connection, MAX_NOTIFICATIONS, Notification, TransactionStatus};
pub use copy::{COPY_BUFFER_SIZE, CopyInSink, CopyOutStream};
pub use error::{DbError, Error, ErrorPosition, SqlState};
pub use postgres_types as types;
pub use postgres_types::{FromSql, ToSql, Type};
pub use query::Params;
pub use row::{Row, RowIndex, SimpleColumn, SimpleQueryMessage, SimpleQueryRow, SimpleRowIndex};
/// `rust_decimal`, whose `Decimal` reads and writes `numeric` (feature `rust_decimal`).
#[cfg(feature = "rust_decimal")]
pub use rust_decimal;
/// The TLS library's types users may need (`rustls::ClientConfig` for [`Config::tls_config`]).
pub use rustls;
pub use statement::{Column, Statement, StatementRef, ToStatement};
pub use stream::{RowReader, RowStream};
pub use tls::{ChannelBinding, SslMode, SslNegotiation, SslRootCert};

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}
    fn assert_send_sync<T: Send + Sync>() {}

    /// A pool moves connections and their futures between tasks: every future must be `Send`.
    #[allow(dead_code, reason = "compile-time check only; never run")]
    async fn futures_are_send(conn: &mut Connection, statement: &Statement, config: &Config) {
        assert_send(&Connection::connect(config));
        assert_send(&conn.query("SELECT $1::int4", &[&1i32]));
        assert_send(&conn.query_one(statement, &[]));
        assert_send(&conn.query_opt("SELECT 1", &[]));
        assert_send(&conn.execute("SELECT 1", &[]));
        assert_send(&conn.simple_query("SELECT 1"));
        assert_send(&conn.prepare("SELECT 1"));
        assert_send(&conn.drain());
        assert_send(&conn.cancel_token().cancel_query());
    }

    #[test]
    fn shared_types_are_send_and_sync() {
        assert_send_sync::<Connection>();
        assert_send_sync::<CancelToken>();
        assert_send_sync::<Config>();
        assert_send_sync::<Error>();
        assert_send_sync::<Row>();
        assert_send_sync::<Statement>();
    }
}
