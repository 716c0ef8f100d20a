//! Running queries: the simple protocol ([`Connection::simple_query`]) and the extended
//! protocol ([`Connection::query`], [`Connection::execute`], [`Connection::prepare`], ...).
//!
//! Message flows (one line per write; `──►` client to server):
//! ```text
//! simple query:     Query(sql)                                  ──►
//!                   ◄── (RowDescription DataRow* CommandComplete)* ReadyForQuery
//!
//! cache hit:        [Close(evicted)*] Bind Execute Sync          ──►
//!                   ◄── BindComplete DataRow* CommandComplete ReadyForQuery      (1 round trip)
//!
//! cache miss:       Parse(sN) Describe(S sN) Sync                ──►
//!                   ◄── ParseComplete ParameterDescription RowDescription|NoData ReadyForQuery
//!                   Bind(sN) Execute Sync                        ──►
//!                   ◄── BindComplete DataRow* CommandComplete ReadyForQuery      (2 round trips)
//!
//! error:            ◄── ... ErrorResponse ReadyForQuery   (the server skips to the Sync;
//!                   exactly one ReadyForQuery per Sync, so the connection is in sync again)
//! ```
//! Parameters are encoded with `ToSql::to_sql_checked` against the types the server
//! described; every result column is requested in binary format.
//!
//! Unnamed-statement mode (`Config::named_statements(false)`, the mode for a transaction
//! pooler such as PgBouncer in `pool_mode=transaction`) never names a statement on the server
//! and never relies on one surviving past its own `Sync`: every request that executes a
//! statement is self-contained, because between two `Sync`s a transaction pooler may move the
//! client to another server connection, where the unnamed statement is someone else's. The
//! cache keeps only descriptions, by SQL text. Every execution is sent as Parse (with the
//! parameter types) + Bind + Describe(portal) + Execute + Sync in one write; the portal
//! description keeps the rows right even if the schema changed since the description was
//! cached. A miss first learns the parameter types with Parse + Describe + Sync (two round
//! trips); nothing from that request is used by the next one but the description.
//!
//! ```text
//! unnamed, miss:    Parse("") Describe(S "") Sync               ──►  (types only)
//!                   ◄── ParseComplete ParameterDescription RowDescription|NoData ReadyForQuery
//! unnamed, always:  Parse("", types) Bind Describe(P) Execute Sync ──►
//!                   ◄── ParseComplete BindComplete RowDescription|NoData DataRow* CommandComplete ReadyForQuery
//! ```

use postgres_protocol::message::backend::{Message, RowDescriptionBody};
use postgres_protocol::message::frontend;
use postgres_types::{Format, ToSql, Type};

use crate::connection::Connection;
use crate::error::{Error, SqlState};
use crate::row::{Row, SimpleColumn, SimpleQueryMessage, SimpleQueryRow};
use crate::statement::{Column, Statement, StatementInner, StatementRef, ToStatement};

use fallible_iterator::FallibleIterator;
use std::sync::Arc;

/// The parameter list type every query method takes.
pub type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// An execution's reply being read: the statement as sent, the columns the rows are decoded
/// with (the portal's, if it was described again), and what arrived so far.
pub(crate) struct Reply {
    statement: Statement,
    current: Statement,
    reparse: bool,
    /// Decode `DataRow`s into rows (a query), or only count them (an execute).
    decode: bool,
    affected: u64,
    /// The first error; later rows are skipped, and the reply is read to `ReadyForQuery`.
    error: Option<Error>,
}

/// What one reply message meant.
pub(crate) enum ReplyStep {
    /// A row for the caller.
    Row(Row),
    /// Nothing for the caller yet.
    More,
    /// The server wants COPY data: a `CopyFail` is queued in the write buffer; flush it and
    /// read on (the server answers with an error and `ReadyForQuery`).
    RefuseCopyIn,
    /// `ReadyForQuery`: call [`Connection::finish_reply`].
    Done,
}

/// Whether a parameter's Rust type accepts `ty`: `to_sql_checked` on an empty buffer says so
/// without encoding anything that matters (its `WrongType` error is the "no").
fn param_accepts(param: &(dyn ToSql + Sync), ty: &Type) -> bool {
    let mut probe = bytes::BytesMut::new();
    !matches!(param.to_sql_checked(ty, &mut probe), Err(e) if e.is::<postgres_types::WrongType>())
}

/// Reads the row count from a `CommandComplete` tag (`INSERT 0 5`, `SELECT 3`, `CREATE TABLE`).
fn rows_from_tag(tag: &str) -> u64 {
    tag.rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

impl Connection {
    /// Runs one or more statements with the simple (text) protocol and returns every row and
    /// command completion in order. No parameters: use [`query`](Connection::query) for
    /// untrusted values. Stops at the first error (later statements do not run).
    ///
    /// # Cancel safety
    /// Dropping the future leaves `needs_drain()` true; the next call drains first.
    pub async fn simple_query(&mut self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        self.begin().await?;
        // Statements the cache evicted are closed first, in the same write: Close* + Sync
        // (owing one more ReadyForQuery) ahead of the Query.
        let mut syncs = 1;
        if !self.pending_closes.is_empty() {
            if let Err(e) = self.encode_closes() {
                self.framed.write_buf.clear();
                return Err(e);
            }
            frontend::sync(&mut self.framed.write_buf);
            syncs += 1;
        }
        if let Err(e) = frontend::query(sql, &mut self.framed.write_buf) {
            self.framed.write_buf.clear();
            return Err(Error::encode(e));
        }
        self.pending_closes.clear();
        self.last_request_simple = true;
        self.send(syncs).await?;

        let mut out = Vec::new();
        let mut columns: Option<Arc<[SimpleColumn]>> = None;
        let mut error = None;
        loop {
            match self.recv().await? {
                Message::RowDescription(body) => {
                    let mut fields = body.fields();
                    let mut cols = Vec::new();
                    loop {
                        match fields.next() {
                            Ok(Some(field)) => {
                                cols.push(SimpleColumn::new(field.name().to_owned()))
                            }
                            Ok(None) => break,
                            Err(_) => return Err(self.protocol_error("malformed RowDescription")),
                        }
                    }
                    let cols: Arc<[SimpleColumn]> = cols.into();
                    out.push(SimpleQueryMessage::RowDescription(cols.clone()));
                    columns = Some(cols);
                }
                Message::DataRow(body) => {
                    let Some(cols) = &columns else {
                        return Err(self.protocol_error("DataRow without RowDescription"));
                    };
                    match SimpleQueryRow::new(cols.clone(), body) {
                        Ok(row) => out.push(SimpleQueryMessage::Row(row)),
                        Err(e) => {
                            self.broken = true;
                            return Err(e);
                        }
                    }
                }
                Message::CommandComplete(body) => {
                    let Ok(tag) = body.tag() else {
                        return Err(self.protocol_error("CommandComplete tag is not UTF-8"));
                    };
                    out.push(SimpleQueryMessage::CommandComplete(rows_from_tag(tag)));
                    columns = None;
                }
                Message::EmptyQueryResponse => columns = None,
                Message::CloseComplete => {}
                Message::ErrorResponse(body) => {
                    let e = self.db_error(&body);
                    if self.broken {
                        return Err(e);
                    }
                    error.get_or_insert(e);
                }
                Message::CopyInResponse(_) => self.refuse_copy_in().await?,
                Message::CopyOutResponse(_) => {
                    error.get_or_insert_with(Error::copy_out_unsupported);
                }
                // The rows of a refused COPY TO STDOUT: read and dropped, the error says so.
                Message::CopyData(_) | Message::CopyDone => {}
                Message::ReadyForQuery(_) if self.pending_ready == 0 => break,
                Message::ReadyForQuery(_) => {}
                _ => return Err(self.protocol_error("unexpected message in a simple query reply")),
            }
        }
        match error {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Prepares a statement, or returns the cached one for this SQL text.
    ///
    /// # Cancel safety
    /// Dropping the future leaves `needs_drain()` true; the next call drains first. A
    /// statement whose preparation was abandoned is never cached.
    pub async fn prepare(&mut self, sql: &str) -> Result<Statement, Error> {
        self.begin().await?;
        if let Some(statement) = self.cache.get(sql) {
            return Ok(statement);
        }
        if self.cache.capacity() > 0 {
            self.prepare_and_cache(sql).await
        } else {
            self.prepare_as(sql, String::new()).await
        }
    }

    /// Runs a statement and returns its rows.
    ///
    /// `statement` is SQL text (looked up in the statement cache, prepared on a miss) or a
    /// [`Statement`]. Parameters are `$1, $2, ...` in the SQL.
    ///
    /// # Cancel safety
    /// Dropping the future leaves `needs_drain()` true (or, mid-write, unsent bytes that the
    /// drain writes first); the next call drains first, so it never sees this query's rows.
    pub async fn query<S>(&mut self, statement: &S, params: Params<'_>) -> Result<Vec<Row>, Error>
    where
        S: ToStatement + ?Sized,
    {
        let mut rows = Vec::new();
        self.run(statement.to_statement_ref(), params, Some(&mut rows))
            .await?;
        Ok(rows)
    }

    /// Runs a statement that must return exactly one row.
    ///
    /// # Cancel safety
    /// As [`query`](Connection::query).
    pub async fn query_one<S>(&mut self, statement: &S, params: Params<'_>) -> Result<Row, Error>
    where
        S: ToStatement + ?Sized,
    {
        let mut rows = self.query(statement, params).await?;
        match (rows.pop(), rows.is_empty()) {
            (Some(row), true) => Ok(row),
            (None, _) => Err(Error::row_count("query_one returned no rows")),
            (Some(_), false) => Err(Error::row_count("query_one returned more than one row")),
        }
    }

    /// Runs a statement that must return at most one row.
    ///
    /// # Cancel safety
    /// As [`query`](Connection::query).
    pub async fn query_opt<S>(
        &mut self,
        statement: &S,
        params: Params<'_>,
    ) -> Result<Option<Row>, Error>
    where
        S: ToStatement + ?Sized,
    {
        let mut rows = self.query(statement, params).await?;
        match (rows.pop(), rows.is_empty()) {
            (row, true) => Ok(row),
            (Some(_), false) => Err(Error::row_count("query_opt returned more than one row")),
            (None, false) => Err(Error::row_count("unreachable row count")),
        }
    }

    /// Runs a statement and returns the number of rows it affected (or returned). Rows are
    /// read and discarded without being decoded.
    ///
    /// # Cancel safety
    /// As [`query`](Connection::query).
    pub async fn execute<S>(&mut self, statement: &S, params: Params<'_>) -> Result<u64, Error>
    where
        S: ToStatement + ?Sized,
    {
        self.run(statement.to_statement_ref(), params, None).await
    }

    /// Picks or prepares the statement, then binds and executes it.
    async fn run(
        &mut self,
        statement: StatementRef<'_>,
        params: Params<'_>,
        rows: Option<&mut Vec<Row>>,
    ) -> Result<u64, Error> {
        let (statement, reparse) = self.pick(statement).await?;
        self.bind_execute(&statement, params, reparse, rows).await
    }

    /// The statement to execute, from the cache or prepared now, and whether its `Parse` must
    /// ride in front of its `Bind`.
    pub(crate) async fn pick(
        &mut self,
        statement: StatementRef<'_>,
    ) -> Result<(Statement, bool), Error> {
        self.begin().await?;
        let picked = match statement {
            StatementRef::Sql(sql) => match self.cache.get(sql) {
                // A cached unnamed-mode description is parsed again with its Bind.
                Some(statement) => {
                    let reparse = statement.name().is_empty();
                    (statement, reparse)
                }
                // Just prepared under a name: bind it. Just described as the unnamed
                // statement: parse it again with its Bind, never relying on the unnamed
                // statement outliving its request (a transaction pooler may have moved us).
                None if self.cache.capacity() > 0 => {
                    let statement = self.prepare_and_cache(sql).await?;
                    let reparse = statement.name().is_empty();
                    (statement, reparse)
                }
                None => (self.prepare_as(sql, String::new()).await?, true),
            },
            StatementRef::Prepared(statement) => {
                if statement.0.connection_id != self.id {
                    return Err(Error::foreign_statement());
                }
                // An unnamed statement may have been replaced since; an evicted named one was
                // closed. Either way it is parsed again in the same write as its Bind.
                let live = !statement.name().is_empty() && self.cache.contains(statement);
                (statement.clone(), !live)
            }
        };
        Ok(picked)
    }

    /// Prepares `sql` under a fresh name (in unnamed mode: as the unnamed statement) and
    /// caches it, queueing `Close` for what the cache evicts.
    async fn prepare_and_cache(&mut self, sql: &str) -> Result<Statement, Error> {
        let name = if self.named_statements {
            self.next_statement += 1;
            format!("s{}", self.next_statement)
        } else {
            String::new()
        };
        let statement = self.prepare_as(sql, name).await?;
        self.cache_insert(statement.clone());
        Ok(statement)
    }

    fn cache_insert(&mut self, statement: Statement) {
        for evicted in self.cache.insert(statement) {
            if !evicted.name().is_empty() {
                self.pending_closes.push(evicted.0.name.clone());
            }
        }
    }

    /// Encodes the queued `Close` messages; the caller clears the queue once the request is
    /// fully encoded.
    fn encode_closes(&mut self) -> Result<(), Error> {
        for name in &self.pending_closes {
            frontend::close(b'S', name, &mut self.framed.write_buf).map_err(Error::encode)?;
        }
        Ok(())
    }

    /// `Parse` + `Describe` + `Sync` in one write; reads the description.
    async fn prepare_as(&mut self, sql: &str, name: String) -> Result<Statement, Error> {
        let encoded = self.encode_closes().and_then(|()| {
            frontend::parse(&name, sql, std::iter::empty(), &mut self.framed.write_buf)
                .map_err(Error::encode)?;
            frontend::describe(b'S', &name, &mut self.framed.write_buf).map_err(Error::encode)
        });
        if let Err(e) = encoded {
            self.framed.write_buf.clear();
            return Err(e);
        }
        frontend::sync(&mut self.framed.write_buf);
        self.pending_closes.clear();
        self.last_request_simple = false;
        self.send(1).await?;

        let mut params = None;
        let mut columns = None;
        let mut error = None;
        loop {
            match self.recv().await? {
                Message::ParseComplete | Message::CloseComplete => {}
                Message::ParameterDescription(body) => {
                    let mut types = Vec::new();
                    let mut iter = body.parameters();
                    loop {
                        match iter.next() {
                            Ok(Some(oid)) => types.push(self.type_or_placeholder(oid)),
                            Ok(None) => break,
                            Err(_) => {
                                return Err(self.protocol_error("malformed ParameterDescription"));
                            }
                        }
                    }
                    params = Some(types);
                }
                Message::RowDescription(body) => columns = Some(self.columns(&body)?),
                Message::NoData => columns = Some(Vec::new()),
                Message::ErrorResponse(body) => {
                    let e = self.db_error(&body);
                    if self.broken {
                        return Err(e);
                    }
                    error.get_or_insert(e);
                }
                Message::ReadyForQuery(_) if self.pending_ready == 0 => break,
                Message::ReadyForQuery(_) => {}
                _ => return Err(self.protocol_error("unexpected message in a prepare reply")),
            }
        }
        if let Some(e) = error {
            return Err(e);
        }
        let (Some(mut params), Some(mut columns)) = (params, columns) else {
            return Err(self.protocol_error("prepare reply without a full description"));
        };
        // Types this connection does not know yet (enums, composites, domains, ...): looked up
        // now that the reply is complete and the connection is idle again.
        for ty in params.iter_mut() {
            if self.is_unresolved(ty) {
                *ty = self.resolve_type(ty.oid(), 0).await?;
            }
        }
        for column in columns.iter_mut() {
            if self.is_unresolved(column.type_()) {
                let ty = self.resolve_type(column.type_().oid(), 0).await?;
                column.set_type(ty);
            }
        }
        Ok(Statement(Arc::new(StatementInner {
            connection_id: self.id,
            name,
            sql: sql.to_owned(),
            params,
            columns,
        })))
    }

    /// The columns of a `RowDescription`.
    fn columns(&mut self, body: &RowDescriptionBody) -> Result<Vec<Column>, Error> {
        let mut columns = Vec::new();
        let mut fields = body.fields();
        loop {
            match fields.next() {
                Ok(Some(f)) => columns.push(Column::new(
                    f.name().to_owned(),
                    self.type_or_placeholder(f.type_oid()),
                    f.table_oid(),
                    f.column_id(),
                )),
                Ok(None) => return Ok(columns),
                Err(_) => return Err(self.protocol_error("malformed RowDescription")),
            }
        }
    }

    /// `[Close*] [Close+Parse] Bind [Describe(portal)] Execute Sync` in one write; reads rows
    /// until `ReadyForQuery`, collecting them into `rows` (or only counting them).
    async fn bind_execute(
        &mut self,
        statement: &Statement,
        params: Params<'_>,
        reparse: bool,
        mut rows: Option<&mut Vec<Row>>,
    ) -> Result<u64, Error> {
        let mut reply = self
            .start_execute(statement, params, reparse, rows.is_some())
            .await?;
        loop {
            let message = self.recv().await?;
            match self.on_reply(&mut reply, message)? {
                ReplyStep::Row(row) => {
                    if let Some(rows) = rows.as_deref_mut() {
                        rows.push(row);
                    }
                }
                ReplyStep::More => {}
                ReplyStep::RefuseCopyIn => self.flush().await?,
                ReplyStep::Done => return self.finish_reply(reply),
            }
        }
    }

    /// Encodes and sends the request of an execution; the reply is read with
    /// [`on_reply`](Connection::on_reply), one message at a time.
    pub(crate) async fn start_execute(
        &mut self,
        statement: &Statement,
        params: Params<'_>,
        reparse: bool,
        decode: bool,
    ) -> Result<Reply, Error> {
        let types = statement.params();
        if params.len() != types.len() {
            return Err(Error::parameter_count(types.len(), params.len()));
        }
        if let Err(e) = self.encode_bind(statement, params, reparse) {
            self.framed.write_buf.clear();
            return Err(e);
        }
        self.pending_closes.clear();
        self.last_request_simple = false;
        self.send(1).await?;
        Ok(Reply {
            statement: statement.clone(),
            current: statement.clone(),
            reparse,
            decode,
            affected: 0,
            error: None,
        })
    }

    /// Takes one message of an execution's reply. Synchronous, so the same steps serve the
    /// collecting path ([`query`](Connection::query)) and the polled row stream.
    pub(crate) fn on_reply(
        &mut self,
        reply: &mut Reply,
        message: Message,
    ) -> Result<ReplyStep, Error> {
        match message {
            Message::RowDescription(body) => {
                let columns = self.columns(&body)?;
                if columns != reply.current.columns() {
                    reply.current = reply.statement.with_columns(columns);
                }
            }
            Message::NoData if !reply.current.columns().is_empty() => {
                reply.current = reply.statement.with_columns(Vec::new());
            }
            Message::NoData => {}
            Message::DataRow(body) => {
                if reply.decode && reply.error.is_none() {
                    return match Row::new(reply.current.clone(), body) {
                        Ok(row) => Ok(ReplyStep::Row(row)),
                        Err(e) => {
                            self.broken = true;
                            Err(e)
                        }
                    };
                }
            }
            Message::BindComplete | Message::ParseComplete | Message::CloseComplete => {}
            Message::CommandComplete(body) => {
                let Ok(tag) = body.tag() else {
                    return Err(self.protocol_error("CommandComplete tag is not UTF-8"));
                };
                reply.affected = rows_from_tag(tag);
            }
            Message::EmptyQueryResponse | Message::PortalSuspended => {}
            Message::ErrorResponse(body) => {
                let e = self.db_error(&body);
                if self.broken {
                    return Err(e);
                }
                reply.error.get_or_insert(e);
            }
            Message::CopyInResponse(_) => {
                self.queue_copy_fail()?;
                return Ok(ReplyStep::RefuseCopyIn);
            }
            Message::CopyOutResponse(_) => {
                reply.error.get_or_insert_with(Error::copy_out_unsupported);
            }
            Message::CopyData(_) | Message::CopyDone => {}
            Message::ReadyForQuery(_) if self.pending_ready == 0 => return Ok(ReplyStep::Done),
            Message::ReadyForQuery(_) => {}
            _ => return Err(self.protocol_error("unexpected message in a query reply")),
        }
        Ok(ReplyStep::More)
    }

    /// After an execution's `ReadyForQuery`: keeps the statement cache true to the server
    /// (forgets a statement the server lost or can no longer use, records a re-parsed one) and
    /// returns the row count or the error.
    pub(crate) fn finish_reply(&mut self, reply: Reply) -> Result<u64, Error> {
        let Reply {
            statement,
            current,
            reparse,
            affected,
            error,
            ..
        } = reply;
        match error {
            Some(e) => {
                // A cached plan the server can no longer use (schema changed) or a statement
                // the server lost: forget it so the next call prepares afresh.
                let stale = e.code().is_some_and(|c| {
                    *c == SqlState::INVALID_SQL_STATEMENT_NAME || c.as_str() == "0A000"
                });
                if stale && self.cache.remove(&statement) && !statement.name().is_empty() {
                    self.pending_closes.push(statement.0.name.clone());
                }
                // A cached unnamed-mode description may be what failed (parameter types that
                // no longer fit): describe afresh next time.
                if reparse && statement.name().is_empty() {
                    self.cache.remove(&statement);
                }
                Err(e)
            }
            None => {
                if reparse && !statement.name().is_empty() {
                    self.cache_insert(statement);
                } else if !Arc::ptr_eq(&current.0, &statement.0) && self.cache.contains(&statement)
                {
                    // The schema changed under a cached unnamed-mode description.
                    self.cache_insert(current);
                }
                Ok(affected)
            }
        }
    }

    fn encode_bind(
        &mut self,
        statement: &Statement,
        params: Params<'_>,
        reparse: bool,
    ) -> Result<(), Error> {
        self.encode_closes()?;
        let buf = &mut self.framed.write_buf;
        let name = statement.name();
        if reparse {
            // Close first: the name may still exist on the server (an earlier reparse whose
            // Bind failed), and closing a missing statement is not an error.
            if !name.is_empty() {
                frontend::close(b'S', name, buf).map_err(Error::encode)?;
            }
            frontend::parse(
                name,
                statement.sql(),
                statement.params().iter().map(Type::oid),
                buf,
            )
            .map_err(Error::encode)?;
        }
        let types = statement.params();
        let mut failed_param = 0;
        let result = frontend::bind(
            "",
            name,
            params
                .iter()
                .zip(types)
                .map(|(p, t)| match p.encode_format(t) {
                    Format::Text => 0,
                    Format::Binary => 1,
                }),
            params.iter().zip(types).enumerate(),
            |(i, (param, ty)), buf| {
                failed_param = i;
                let encoded = match param.to_sql_checked(ty, buf) {
                    // A string for an enum parameter, or a base-type value for a domain: tried
                    // only after the declared type was refused (which writes nothing), so the
                    // common path encodes once.
                    Err(e) if e.is::<postgres_types::WrongType>() => {
                        let view = crate::typeinfo::wire_view(ty, |t| param_accepts(*param, t));
                        if std::ptr::eq(view, ty) {
                            Err(e)
                        } else {
                            param.to_sql_checked(view, buf)
                        }
                    }
                    other => other,
                };
                match encoded {
                    Ok(postgres_types::IsNull::No) => Ok(postgres_protocol::IsNull::No),
                    Ok(postgres_types::IsNull::Yes) => Ok(postgres_protocol::IsNull::Yes),
                    Err(e) => Err(e),
                }
            },
            Some(1),
            buf,
        );
        match result {
            Ok(()) => {}
            Err(frontend::BindError::Conversion(e)) => return Err(Error::to_sql(failed_param, e)),
            Err(frontend::BindError::Serialization(e)) => return Err(Error::encode(e)),
        }
        if reparse && name.is_empty() {
            frontend::describe(b'P', "", buf).map_err(Error::encode)?;
        }
        frontend::execute("", 0, buf).map_err(Error::encode)?;
        frontend::sync(buf);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::rows_from_tag;

    #[test]
    fn command_tags() {
        assert_eq!(rows_from_tag("INSERT 0 5"), 5);
        assert_eq!(rows_from_tag("SELECT 3"), 3);
        assert_eq!(rows_from_tag("CREATE TABLE"), 0);
        assert_eq!(rows_from_tag(""), 0);
    }
}
