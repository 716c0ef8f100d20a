//! Prepared statements ([`Statement`], [`Column`]) and the per-connection statement cache.
//!
//! A `Statement` is an `Arc` around what `Describe` told us: the server-side name, the
//! parameter types and the result columns. Rows share it, so a row costs one reference-count
//! increment, not a copy of the column list.
//!
//! The cache maps SQL text to a `Statement` and is bounded: inserting into a full cache evicts
//! the least recently used entry, whose server-side statement is closed in the next request
//! (the `Close` message rides in front of the next `Bind`, costing no round trip). Recency is a
//! per-connection tick stored in each entry: a hit is a hash lookup and a store; only an
//! eviction scans the entries (O(capacity), and only on a miss with a full cache).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use postgres_types::{Oid, Type};

/// A result column: its name and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    name: String,
    type_: Type,
    table_oid: Oid,
    column_id: i16,
}

impl Column {
    pub(crate) fn new(name: String, type_: Type, table_oid: Oid, column_id: i16) -> Column {
        Column {
            name,
            type_,
            table_oid,
            column_id,
        }
    }

    /// Replaces a placeholder type with the one looked up in the catalogue.
    pub(crate) fn set_type(&mut self, type_: Type) {
        self.type_ = type_;
    }

    /// The column name (its alias, if the query gave one).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The column type.
    pub fn type_(&self) -> &Type {
        &self.type_
    }

    /// The OID of the table the column comes from, or 0 for a computed column.
    pub fn table_oid(&self) -> Oid {
        self.table_oid
    }

    /// The column's attribute number in that table, or 0.
    pub fn column_id(&self) -> i16 {
        self.column_id
    }
}

pub(crate) struct StatementInner {
    /// Which connection prepared it; using it on another connection is refused.
    pub(crate) connection_id: u64,
    /// The server-side name; empty for the unnamed statement.
    pub(crate) name: String,
    pub(crate) sql: String,
    pub(crate) params: Vec<Type>,
    pub(crate) columns: Vec<Column>,
}

/// A prepared statement: its name on the server, parameter types and result columns.
///
/// Cheap to clone. Valid only on the connection that prepared it. If the statement cache
/// evicted it in the meantime, using it prepares it again in the same round trip.
#[derive(Clone)]
pub struct Statement(pub(crate) Arc<StatementInner>);

impl Statement {
    /// The same statement with other result columns (the schema changed since it was described).
    pub(crate) fn with_columns(&self, columns: Vec<Column>) -> Statement {
        Statement(Arc::new(StatementInner {
            connection_id: self.0.connection_id,
            name: self.0.name.clone(),
            sql: self.0.sql.clone(),
            params: self.0.params.clone(),
            columns,
        }))
    }

    /// The SQL text.
    pub fn sql(&self) -> &str {
        &self.0.sql
    }

    /// The server-side name (empty for the unnamed statement).
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The parameter types, as the server inferred them.
    pub fn params(&self) -> &[Type] {
        &self.0.params
    }

    /// The result columns (empty for statements that return no rows).
    pub fn columns(&self) -> &[Column] {
        &self.0.columns
    }
}

impl fmt::Debug for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Statement")
            .field("name", &self.0.name)
            .field("sql", &self.0.sql)
            .field("params", &self.0.params)
            .field("columns", &self.0.columns)
            .finish()
    }
}

/// What a query method runs: SQL text or a prepared [`Statement`].
#[derive(Debug, Clone, Copy)]
pub enum StatementRef<'a> {
    /// SQL text, looked up in (or added to) the statement cache.
    Sql(&'a str),
    /// A statement from [`Connection::prepare`](crate::Connection::prepare).
    Prepared(&'a Statement),
}

/// Anything the query methods accept as the statement: `&str`, `String` or `Statement`.
pub trait ToStatement {
    /// Which kind of statement this is.
    fn to_statement_ref(&self) -> StatementRef<'_>;
}

impl ToStatement for str {
    fn to_statement_ref(&self) -> StatementRef<'_> {
        StatementRef::Sql(self)
    }
}

impl ToStatement for String {
    fn to_statement_ref(&self) -> StatementRef<'_> {
        StatementRef::Sql(self)
    }
}

impl ToStatement for Statement {
    fn to_statement_ref(&self) -> StatementRef<'_> {
        StatementRef::Prepared(self)
    }
}

struct Entry {
    statement: Statement,
    last_used: u64,
}

/// A bounded LRU map from SQL text to prepared statement.
pub(crate) struct StatementCache {
    entries: HashMap<String, Entry>,
    capacity: usize,
    tick: u64,
}

impl StatementCache {
    pub(crate) fn new(capacity: usize) -> StatementCache {
        StatementCache {
            entries: HashMap::with_capacity(capacity.min(1024)),
            capacity,
            tick: 0,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn get(&mut self, sql: &str) -> Option<Statement> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(sql).map(|entry| {
            entry.last_used = tick;
            entry.statement.clone()
        })
    }

    /// True if this exact statement is cached (so it is live on the server).
    pub(crate) fn contains(&self, statement: &Statement) -> bool {
        self.entries
            .get(statement.sql())
            .is_some_and(|e| Arc::ptr_eq(&e.statement.0, &statement.0))
    }

    /// Inserts, returning the entries this displaced (an older statement for the same SQL,
    /// or the least recently used one), whose server-side statements must be closed.
    pub(crate) fn insert(&mut self, statement: Statement) -> Vec<Statement> {
        let mut evicted = Vec::new();
        if self.capacity == 0 {
            evicted.push(statement);
            return evicted;
        }
        self.tick += 1;
        if let Some(old) = self.entries.remove(statement.sql()) {
            evicted.push(old.statement);
        }
        while self.entries.len() >= self.capacity {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(sql, _)| sql.clone())
            else {
                break;
            };
            if let Some(old) = self.entries.remove(&oldest) {
                evicted.push(old.statement);
            }
        }
        self.entries.insert(
            statement.sql().to_owned(),
            Entry {
                statement,
                last_used: self.tick,
            },
        );
        evicted
    }

    /// Removes the entry for `statement` if it is this exact statement.
    pub(crate) fn remove(&mut self, statement: &Statement) -> bool {
        if self.contains(statement) {
            self.entries.remove(statement.sql());
            true
        } else {
            false
        }
    }
}
