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
//! Module map: `config` (settings), `connect` (startup and authentication), `io` (socket and
//! framing), `connection` (state, drain, close), `query` (simple and extended protocol),
//! `statement` (statements and their cache), `row` (rows), `error`, `cancel`.

mod cancel;
mod config;
mod connect;
mod connection;
mod error;
mod io;
mod query;
mod row;
mod statement;

pub use cancel::CancelToken;
pub use config::{
    AuthMethod, AuthPolicy, Config, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_MAX_SCRAM_ITERATIONS, DEFAULT_STATEMENT_CACHE_CAPACITY, Host, NoticeCallback,
};
pub use connection::{Connection, TransactionStatus};
pub use error::{DbError, Error, ErrorPosition, SqlState};
pub use postgres_types as types;
pub use postgres_types::{FromSql, ToSql, Type};
pub use query::Params;
pub use row::{Row, RowIndex, SimpleColumn, SimpleQueryMessage, SimpleQueryRow, SimpleRowIndex};
pub use statement::{Column, Statement, StatementRef, ToStatement};
