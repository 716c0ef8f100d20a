//! The crate's one error type, [`Error`], and the server's error report, [`DbError`].
//!
//! `Error` is opaque: a boxed private kind plus an optional cause. Callers ask questions
//! (`code()`, `is_closed()`, `is_timeout()`, ...) instead of matching on variants, so new
//! kinds can be added without breaking anyone. A server `ErrorResponse` is kept whole as a
//! [`DbError`] reachable through [`Error::as_db_error`]. `Display` prints the whole story once
//! (kind, host, message, cause), so `source()` does not repeat the cause.
//!
//! Secrets never reach this module: no error is built from a password.

use std::error::Error as StdError;
use std::fmt;

use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::ErrorFields;

/// A five-character SQLSTATE code, as sent by the server in the `C` field of an error.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SqlState(pub(crate) [u8; 5]);

impl SqlState {
    /// Parses a code: exactly five ASCII digits or upper-case letters.
    pub fn new(code: &str) -> Option<SqlState> {
        let bytes: [u8; 5] = code.as_bytes().try_into().ok()?;
        if bytes
            .iter()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        {
            Some(SqlState(bytes))
        } else {
            None
        }
    }

    /// The code as a string, e.g. `"23505"`.
    pub fn as_str(&self) -> &str {
        // The constructor only admits ASCII, so this cannot fail; the fallback keeps it panic-free.
        std::str::from_utf8(&self.0).unwrap_or("?????")
    }
}

impl fmt::Debug for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SqlState({})", self.as_str())
    }
}

impl fmt::Display for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where in the query text an error was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorPosition {
    /// A 1-based character position in the query the client sent.
    Original(u32),
    /// A position in an internally generated query (for example inside a PL/pgSQL function).
    Internal {
        /// The 1-based character position.
        position: u32,
        /// The internally generated query text.
        query: String,
    },
}

/// An error or notice reported by the server (`ErrorResponse` / `NoticeResponse`).
///
/// Every field the protocol defines is kept; see the PostgreSQL documentation chapter
/// "Error and Notice Message Fields" for their meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    severity: String,
    code: SqlState,
    message: String,
    detail: Option<String>,
    hint: Option<String>,
    position: Option<ErrorPosition>,
    where_: Option<String>,
    schema: Option<String>,
    table: Option<String>,
    column: Option<String>,
    datatype: Option<String>,
    constraint: Option<String>,
    file: Option<String>,
    line: Option<u32>,
    routine: Option<String>,
}

impl DbError {
    /// Parses the fields of an `ErrorResponse` or `NoticeResponse` body.
    ///
    /// A message without severity, SQLSTATE or message text is a protocol error.
    pub(crate) fn parse(fields: &mut ErrorFields<'_>) -> Result<DbError, Error> {
        let mut severity = None;
        let mut code = None;
        let mut message = None;
        let mut detail = None;
        let mut hint = None;
        let mut position = None;
        let mut internal_position = None;
        let mut internal_query = None;
        let mut where_ = None;
        let mut schema = None;
        let mut table = None;
        let mut column = None;
        let mut datatype = None;
        let mut constraint = None;
        let mut file = None;
        let mut line = None;
        let mut routine = None;
        let mut localized_severity = None;

        while let Some(field) = fields
            .next()
            .map_err(|e| Error::protocol(format!("malformed error fields: {e}")))?
        {
            let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
            match field.type_() {
                b'S' => localized_severity = Some(value),
                b'V' => severity = Some(value),
                b'C' => code = Some(value),
                b'M' => message = Some(value),
                b'D' => detail = Some(value),
                b'H' => hint = Some(value),
                b'P' => position = value.parse::<u32>().ok(),
                b'p' => internal_position = value.parse::<u32>().ok(),
                b'q' => internal_query = Some(value),
                b'W' => where_ = Some(value),
                b's' => schema = Some(value),
                b't' => table = Some(value),
                b'c' => column = Some(value),
                b'd' => datatype = Some(value),
                b'n' => constraint = Some(value),
                b'F' => file = Some(value),
                b'L' => line = value.parse::<u32>().ok(),
                b'R' => routine = Some(value),
                // Unknown field types must be ignored, per the protocol documentation.
                _ => {}
            }
        }

        let code = code
            .ok_or_else(|| Error::protocol("error response without SQLSTATE"))
            .and_then(|c| {
                SqlState::new(&c)
                    .ok_or_else(|| Error::protocol("error response with a malformed SQLSTATE"))
            })?;
        let severity = severity
            .or(localized_severity)
            .ok_or_else(|| Error::protocol("error response without severity"))?;
        let message = message.ok_or_else(|| Error::protocol("error response without message"))?;
        let position = match (position, internal_position, internal_query) {
            (Some(p), _, _) => Some(ErrorPosition::Original(p)),
            (None, Some(position), Some(query)) => {
                Some(ErrorPosition::Internal { position, query })
            }
            _ => None,
        };

        Ok(DbError {
            severity,
            code,
            message,
            detail,
            hint,
            position,
            where_,
            schema,
            table,
            column,
            datatype,
            constraint,
            file,
            line,
            routine,
        })
    }

    /// The severity (`ERROR`, `FATAL`, `PANIC`, or for notices `WARNING`, `NOTICE`, ...),
    /// never localized when the server sends the `V` field (PostgreSQL 9.6+).
    pub fn severity(&self) -> &str {
        &self.severity
    }

    /// The SQLSTATE code.
    pub fn code(&self) -> &SqlState {
        &self.code
    }

    /// The primary human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// An optional secondary message with more detail.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// An optional suggestion what to do about the problem.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// Where in the query the error was found.
    pub fn position(&self) -> Option<&ErrorPosition> {
        self.position.as_ref()
    }

    /// The call stack context (`W` field).
    pub fn where_(&self) -> Option<&str> {
        self.where_.as_deref()
    }

    /// The schema of the object the error is about.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The table the error is about.
    pub fn table(&self) -> Option<&str> {
        self.table.as_deref()
    }

    /// The column the error is about.
    pub fn column(&self) -> Option<&str> {
        self.column.as_deref()
    }

    /// The data type the error is about.
    pub fn datatype(&self) -> Option<&str> {
        self.datatype.as_deref()
    }

    /// The constraint the error is about.
    pub fn constraint(&self) -> Option<&str> {
        self.constraint.as_deref()
    }

    /// The server source file that reported the error.
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }

    /// The server source line that reported the error.
    pub fn line(&self) -> Option<u32> {
        self.line
    }

    /// The server routine that reported the error.
    pub fn routine(&self) -> Option<&str> {
        self.routine.as_deref()
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.severity, self.code, self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, "\nDETAIL: {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\nHINT: {hint}")?;
        }
        Ok(())
    }
}

impl StdError for DbError {}

/// What went wrong; private so that kinds can be added without a breaking change.
#[derive(Debug)]
enum Kind {
    /// The server sent an `ErrorResponse`; the cause is the [`DbError`].
    Db,
    /// A socket read or write failed.
    Io,
    /// The server closed the connection, or the connection was already closed or broken.
    Closed,
    /// A connect or cancel deadline passed.
    Timeout,
    /// The server sent something the protocol does not allow.
    Protocol,
    /// Authentication could not be carried out (policy refused the method, password missing,
    /// server proof wrong, unsupported method).
    Auth,
    /// The configuration is unusable.
    Config,
    /// A parameter could not be encoded; the index is 0-based.
    ToSql(usize),
    /// A column could not be decoded; the index is 0-based.
    FromSql(usize),
    /// No column with this name or index.
    ColumnNotFound,
    /// The number of parameters does not match the statement.
    ParameterCount,
    /// `query_one` got a number of rows other than one, or `query_opt` more than one.
    RowCount,
    /// A statement prepared on another connection was used.
    ForeignStatement,
    /// A query or name could not be encoded (for example it contains a NUL byte).
    Encode,
    /// The server started a protocol feature this client does not support (COPY TO STDOUT).
    Unsupported,
    /// TLS could not be set up: the server does not offer it, the handshake or a certificate
    /// check failed, or the TLS settings are unusable.
    Tls,
    /// The server was not of the kind `target_session_attrs` asks for.
    Session,
}

struct Inner {
    kind: Kind,
    /// The server (`host:port` or socket path) a connect error is about.
    host: Option<String>,
    /// The other hosts a multi-host connect tried, each with why it failed.
    also_tried: Vec<String>,
    message: Option<String>,
    cause: Option<Box<dyn StdError + Send + Sync>>,
}

/// The error type of every fallible operation in this crate.
///
/// Opaque: use the predicates ([`code`](Error::code), [`as_db_error`](Error::as_db_error),
/// [`is_closed`](Error::is_closed), [`is_timeout`](Error::is_timeout), [`is_db`](Error::is_db))
/// and [`source`](StdError::source).
pub struct Error(Box<Inner>);

impl Error {
    fn new(
        kind: Kind,
        message: Option<String>,
        cause: Option<Box<dyn StdError + Send + Sync>>,
    ) -> Error {
        Error(Box::new(Inner {
            kind,
            host: None,
            also_tried: Vec::new(),
            message,
            cause,
        }))
    }

    pub(crate) fn db(error: DbError) -> Error {
        Error::new(Kind::Db, None, Some(Box::new(error)))
    }

    pub(crate) fn io(error: std::io::Error) -> Error {
        if matches!(
            error.kind(),
            std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::ConnectionAborted
        ) {
            Error::new(Kind::Closed, None, Some(Box::new(error)))
        } else {
            Error::new(Kind::Io, None, Some(Box::new(error)))
        }
    }

    pub(crate) fn closed(message: impl Into<String>) -> Error {
        Error::new(Kind::Closed, Some(message.into()), None)
    }

    pub(crate) fn timeout(message: impl Into<String>) -> Error {
        Error::new(Kind::Timeout, Some(message.into()), None)
    }

    pub(crate) fn protocol(message: impl Into<String>) -> Error {
        Error::new(Kind::Protocol, Some(message.into()), None)
    }

    pub(crate) fn protocol_io(error: std::io::Error) -> Error {
        Error::new(Kind::Protocol, None, Some(Box::new(error)))
    }

    pub(crate) fn auth(message: impl Into<String>) -> Error {
        Error::new(Kind::Auth, Some(message.into()), None)
    }

    pub(crate) fn auth_cause(message: impl Into<String>, cause: std::io::Error) -> Error {
        Error::new(Kind::Auth, Some(message.into()), Some(Box::new(cause)))
    }

    pub(crate) fn config(message: impl Into<String>) -> Error {
        Error::new(Kind::Config, Some(message.into()), None)
    }

    pub(crate) fn to_sql(index: usize, cause: Box<dyn StdError + Send + Sync>) -> Error {
        Error::new(Kind::ToSql(index), None, Some(cause))
    }

    pub(crate) fn from_sql(index: usize, cause: Box<dyn StdError + Send + Sync>) -> Error {
        Error::new(Kind::FromSql(index), None, Some(cause))
    }

    pub(crate) fn column_not_found(column: String) -> Error {
        Error::new(Kind::ColumnNotFound, Some(column), None)
    }

    pub(crate) fn parameter_count(expected: usize, got: usize) -> Error {
        Error::new(
            Kind::ParameterCount,
            Some(format!("expected {expected} parameters but got {got}")),
            None,
        )
    }

    pub(crate) fn row_count(message: &str) -> Error {
        Error::new(Kind::RowCount, Some(message.to_owned()), None)
    }

    pub(crate) fn encode(error: std::io::Error) -> Error {
        Error::new(Kind::Encode, None, Some(Box::new(error)))
    }

    pub(crate) fn foreign_statement() -> Error {
        Error::new(
            Kind::ForeignStatement,
            Some("the statement was prepared on another connection".to_owned()),
            None,
        )
    }

    pub(crate) fn tls(message: impl Into<String>) -> Error {
        Error::new(Kind::Tls, Some(message.into()), None)
    }

    pub(crate) fn tls_cause(message: impl Into<String>, cause: std::io::Error) -> Error {
        Error::new(Kind::Tls, Some(message.into()), Some(Box::new(cause)))
    }

    pub(crate) fn session_mismatch(message: impl Into<String>) -> Error {
        Error::new(Kind::Session, Some(message.into()), None)
    }

    /// The error of a multi-host connect where every host failed: the last host's error,
    /// naming it, with the others listed.
    pub(crate) fn hosts_failed(mut failures: Vec<(String, Error)>) -> Error {
        let Some((host, last)) = failures.pop() else {
            return Error::config("no host configured");
        };
        let mut error = last.at_host(host);
        error.0.also_tried = failures
            .into_iter()
            .map(|(host, e)| format!("{host}: {e}"))
            .collect();
        error
    }

    /// The hosts a multi-host connect tried before the one this error names, each with why
    /// it was skipped (`host:port: reason`), in the order tried.
    pub fn also_tried(&self) -> &[String] {
        &self.0.also_tried
    }

    /// True if the server was not of the kind `target_session_attrs` asks for (a standby
    /// when a read-write session was wanted, for example).
    pub fn is_session_mismatch(&self) -> bool {
        matches!(self.0.kind, Kind::Session)
    }

    pub(crate) fn copy_out_unsupported() -> Error {
        Error::new(
            Kind::Unsupported,
            Some(
                "COPY TO STDOUT is not supported by this client; its output was read and discarded"
                    .to_owned(),
            ),
            None,
        )
    }

    /// Adds an explanation in front of the cause (kept, so `code()` still works).
    pub(crate) fn with_message(mut self, message: impl Into<String>) -> Error {
        self.0.message = Some(message.into());
        self
    }

    /// Names the server a connect error is about.
    pub(crate) fn at_host(mut self, host: String) -> Error {
        self.0.host.get_or_insert(host);
        self
    }

    /// The server (`host:port`, or the unix socket path) this error came from, for errors
    /// raised while connecting.
    pub fn host(&self) -> Option<&str> {
        self.0.host.as_deref()
    }

    /// True if the server started a protocol feature this client does not support (COPY TO
    /// STDOUT). The statement ran; its output was discarded; the connection is usable.
    pub fn is_unsupported(&self) -> bool {
        matches!(self.0.kind, Kind::Unsupported)
    }

    /// True for a unique violation (`23505`).
    pub fn is_unique_violation(&self) -> bool {
        self.code() == Some(&SqlState::UNIQUE_VIOLATION)
    }

    /// True for a foreign key violation (`23503`).
    pub fn is_foreign_key_violation(&self) -> bool {
        self.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION)
    }

    /// True when the transaction failed only because it raced another one and may succeed if
    /// run again from the start: a serialization failure (`40001`) or a deadlock (`40P01`).
    pub fn is_serialization_failure(&self) -> bool {
        matches!(
            self.code(),
            Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
        )
    }

    /// True when the statement was cancelled (`57014`): by a cancel request (tarn's
    /// `query_timeout`) or by the server's `statement_timeout`.
    pub fn is_query_canceled(&self) -> bool {
        self.code() == Some(&SqlState::QUERY_CANCELED)
    }

    /// The SQLSTATE code, if the server reported this error.
    pub fn code(&self) -> Option<&SqlState> {
        self.as_db_error().map(DbError::code)
    }

    /// The server's full error report, if the server reported this error.
    pub fn as_db_error(&self) -> Option<&DbError> {
        self.0
            .cause
            .as_ref()
            .and_then(|c| c.downcast_ref::<DbError>())
    }

    /// True if the server reported this error (an `ErrorResponse`). The connection stays
    /// usable after such an error unless the severity is `FATAL` or `PANIC`.
    pub fn is_db(&self) -> bool {
        matches!(self.0.kind, Kind::Db)
    }

    /// True if the connection is closed: the server hung up, or the connection was already
    /// closed or broken when the call was made.
    pub fn is_closed(&self) -> bool {
        matches!(self.0.kind, Kind::Closed)
    }

    /// True if a deadline passed (the connect timeout, or the cancel request's timeout).
    pub fn is_timeout(&self) -> bool {
        matches!(self.0.kind, Kind::Timeout)
    }

    /// True if the server broke the protocol (bad length, unknown message, oversized
    /// message, malformed fields). The connection is broken afterwards.
    pub fn is_protocol(&self) -> bool {
        matches!(self.0.kind, Kind::Protocol)
    }

    /// True if authentication failed on the client side (method refused by the
    /// [`AuthPolicy`](crate::AuthPolicy), password missing, server proof invalid). A wrong
    /// password reported by the server is a database error with SQLSTATE 28P01 instead.
    pub fn is_auth(&self) -> bool {
        matches!(self.0.kind, Kind::Auth)
    }

    /// True if TLS could not be set up: the server does not offer it with an `sslmode` that
    /// requires it, the handshake failed, a certificate check failed (unknown CA, name
    /// mismatch, expired), or the TLS files are unusable.
    pub fn is_tls(&self) -> bool {
        matches!(self.0.kind, Kind::Tls)
    }

    /// True if the configuration is unusable (no host, a NUL byte in a value, ...).
    pub fn is_config(&self) -> bool {
        matches!(self.0.kind, Kind::Config)
    }

    /// True if a socket read or write failed for a reason other than the peer closing it.
    pub fn is_io(&self) -> bool {
        matches!(self.0.kind, Kind::Io)
    }

    /// True if a value could not be converted to or from its SQL representation, or a
    /// row/parameter count or column name did not match (a caller error: the connection is fine).
    pub fn is_conversion(&self) -> bool {
        matches!(
            self.0.kind,
            Kind::ToSql(_)
                | Kind::FromSql(_)
                | Kind::ColumnNotFound
                | Kind::ParameterCount
                | Kind::RowCount
                | Kind::ForeignStatement
                | Kind::Encode
        )
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.0.kind)
            .field("host", &self.0.host)
            .field("also_tried", &self.0.also_tried)
            .field("message", &self.0.message)
            .field("cause", &self.0.cause)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.kind {
            Kind::Db => f.write_str("db error")?,
            Kind::Io => f.write_str("i/o error")?,
            Kind::Closed => f.write_str("connection closed")?,
            Kind::Timeout => f.write_str("timeout")?,
            Kind::Protocol => f.write_str("protocol error")?,
            Kind::Auth => f.write_str("authentication error")?,
            Kind::Config => f.write_str("invalid configuration")?,
            Kind::ToSql(i) => write!(f, "error serializing parameter {i}")?,
            Kind::FromSql(i) => write!(f, "error deserializing column {i}")?,
            Kind::ColumnNotFound => f.write_str("column not found")?,
            Kind::ParameterCount => f.write_str("wrong number of parameters")?,
            Kind::RowCount => f.write_str("unexpected number of rows")?,
            Kind::ForeignStatement => f.write_str("foreign statement")?,
            Kind::Encode => f.write_str("error encoding the request")?,
            Kind::Unsupported => f.write_str("unsupported")?,
            Kind::Tls => f.write_str("TLS error")?,
            Kind::Session => f.write_str("wrong kind of server")?,
        }
        if let Some(host) = &self.0.host {
            write!(f, " (connecting to {host})")?;
        }
        if let Some(message) = &self.0.message {
            write!(f, ": {message}")?;
        }
        if let Some(cause) = &self.0.cause {
            write!(f, ": {cause}")?;
        }
        if !self.0.also_tried.is_empty() {
            write!(f, "; also tried {}", self.0.also_tried.join("; "))?;
        }
        Ok(())
    }
}

/// `Display` already prints the cause (`db error: ERROR 23505: ...`), so `source()` skips it
/// and returns the cause's own source: a report that walks the chain (`anyhow`'s `{:#}`)
/// prints each message once. The server's report stays reachable with
/// [`Error::as_db_error`].
impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.cause.as_ref().and_then(|c| c.source())
    }
}
