//! Result rows: [`Row`] (extended protocol, binary values) and [`SimpleQueryRow`] (simple
//! protocol, text values).
//!
//! A row keeps the `DataRow` body as received (a `Bytes` slice of the read buffer, no copy)
//! and the byte range of each value, computed once and checked against the body length.
//! Values are decoded on access through `postgres_types::FromSql`.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::DataRowBody;
use postgres_types::{FromSql, Type, WrongType};

use crate::error::Error;
use crate::statement::{Column, Statement};

/// Splits a `DataRow` into value ranges, refusing a column count that does not match.
fn ranges(body: &DataRowBody, expected: usize) -> Result<Vec<Option<Range<usize>>>, Error> {
    let mut ranges = Vec::with_capacity(expected);
    let mut iter = body.ranges();
    while let Some(range) = iter
        .next()
        .map_err(|e| Error::protocol(format!("malformed DataRow: {e}")))?
    {
        ranges.push(range);
    }
    if ranges.len() != expected {
        return Err(Error::protocol(format!(
            "DataRow has {} values but the row description has {expected} columns",
            ranges.len()
        )));
    }
    Ok(ranges)
}

/// How a column is named in [`Row::get`]: by 0-based position or by name.
pub trait RowIndex {
    /// The position of the column in `columns`, if there is one.
    fn index(&self, columns: &[Column]) -> Option<usize>;
    /// A description for error messages.
    fn describe(&self) -> String;
}

impl RowIndex for usize {
    fn index(&self, columns: &[Column]) -> Option<usize> {
        (*self < columns.len()).then_some(*self)
    }

    fn describe(&self) -> String {
        self.to_string()
    }
}

impl RowIndex for str {
    fn index(&self, columns: &[Column]) -> Option<usize> {
        columns.iter().position(|c| c.name() == self).or_else(|| {
            columns
                .iter()
                .position(|c| c.name().eq_ignore_ascii_case(self))
        })
    }

    fn describe(&self) -> String {
        self.to_owned()
    }
}

impl<T: RowIndex + ?Sized> RowIndex for &T {
    fn index(&self, columns: &[Column]) -> Option<usize> {
        T::index(*self, columns)
    }

    fn describe(&self) -> String {
        T::describe(*self)
    }
}

/// One row of a `query` result. Values are binary and decoded by `FromSql` on access.
pub struct Row {
    statement: Statement,
    body: DataRowBody,
    ranges: Vec<Option<Range<usize>>>,
}

impl Row {
    pub(crate) fn new(statement: Statement, body: DataRowBody) -> Result<Row, Error> {
        let ranges = ranges(&body, statement.columns().len())?;
        Ok(Row {
            statement,
            body,
            ranges,
        })
    }

    /// The result columns.
    pub fn columns(&self) -> &[Column] {
        self.statement.columns()
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// True if the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Decodes a value, by index or column name.
    ///
    /// # Panics
    /// If the column does not exist or the value cannot be decoded as `T` (wrong type, or
    /// NULL into a non-`Option`). Use [`try_get`](Row::try_get) to get an error instead.
    #[track_caller]
    pub fn get<'a, I, T>(&'a self, idx: I) -> T
    where
        I: RowIndex + fmt::Display,
        T: FromSql<'a>,
    {
        match self.try_get(&idx) {
            Ok(value) => value,
            Err(e) => panic!("error retrieving column {idx}: {e}"),
        }
    }

    /// Decodes a value, by index or column name, or reports why it cannot.
    pub fn try_get<'a, I, T>(&'a self, idx: I) -> Result<T, Error>
    where
        I: RowIndex,
        T: FromSql<'a>,
    {
        let Some(i) = idx.index(self.columns()) else {
            return Err(Error::column_not_found(idx.describe()));
        };
        let (Some(column), Some(range)) = (self.columns().get(i), self.ranges.get(i)) else {
            return Err(Error::column_not_found(idx.describe()));
        };
        let ty = column.type_();
        if !T::accepts(ty) {
            return Err(Error::from_sql(
                i,
                Box::new(WrongType::new::<T>(ty.clone())),
            ));
        }
        let raw = match range {
            Some(range) => match self.body.buffer().get(range.clone()) {
                Some(raw) => Some(raw),
                None => return Err(Error::protocol("value range outside the row")),
            },
            None => None,
        };
        T::from_sql_nullable(ty, raw).map_err(|e| Error::from_sql(i, e))
    }

    /// The raw binary value of a column (`None` for NULL), for callers doing their own decoding.
    pub fn raw(&self, idx: usize) -> Option<&[u8]> {
        self.ranges
            .get(idx)
            .and_then(|r| r.as_ref())
            .and_then(|r| self.body.buffer().get(r.clone()))
    }

    /// The type of column `idx`.
    pub fn type_of(&self, idx: usize) -> Option<&Type> {
        self.columns().get(idx).map(Column::type_)
    }
}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Row")
            .field("columns", &self.columns())
            .finish()
    }
}

/// A column of a simple-query result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleColumn {
    name: String,
}

impl SimpleColumn {
    pub(crate) fn new(name: String) -> SimpleColumn {
        SimpleColumn { name }
    }

    /// The column name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// One row of a `simple_query` result: every value is text (or NULL).
pub struct SimpleQueryRow {
    columns: Arc<[SimpleColumn]>,
    body: DataRowBody,
    ranges: Vec<Option<Range<usize>>>,
}

impl SimpleQueryRow {
    pub(crate) fn new(
        columns: Arc<[SimpleColumn]>,
        body: DataRowBody,
    ) -> Result<SimpleQueryRow, Error> {
        let ranges = ranges(&body, columns.len())?;
        Ok(SimpleQueryRow {
            columns,
            body,
            ranges,
        })
    }

    /// The result columns.
    pub fn columns(&self) -> &[SimpleColumn] {
        &self.columns
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// True if the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The text of a value by index or name; `None` for NULL.
    ///
    /// # Panics
    /// If the column does not exist or the value is not UTF-8. Use
    /// [`try_get`](SimpleQueryRow::try_get) to get an error instead.
    #[track_caller]
    pub fn get<I>(&self, idx: I) -> Option<&str>
    where
        I: SimpleRowIndex + fmt::Display,
    {
        match self.try_get(&idx) {
            Ok(value) => value,
            Err(e) => panic!("error retrieving column {idx}: {e}"),
        }
    }

    /// The text of a value by index or name; `Ok(None)` for NULL.
    pub fn try_get<I>(&self, idx: I) -> Result<Option<&str>, Error>
    where
        I: SimpleRowIndex,
    {
        let Some(i) = idx.index(&self.columns) else {
            return Err(Error::column_not_found(idx.describe()));
        };
        match self.ranges.get(i) {
            Some(Some(range)) => match self.body.buffer().get(range.clone()) {
                Some(raw) => std::str::from_utf8(raw)
                    .map(Some)
                    .map_err(|e| Error::from_sql(i, Box::new(e))),
                None => Err(Error::protocol("value range outside the row")),
            },
            Some(None) => Ok(None),
            None => Err(Error::column_not_found(idx.describe())),
        }
    }
}

impl fmt::Debug for SimpleQueryRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_map();
        for (i, column) in self.columns.iter().enumerate() {
            list.entry(&column.name(), &self.try_get(i).ok().flatten());
        }
        list.finish()
    }
}

/// How a column is named in [`SimpleQueryRow::get`]: by 0-based position or by name.
pub trait SimpleRowIndex {
    /// The position of the column in `columns`, if there is one.
    fn index(&self, columns: &[SimpleColumn]) -> Option<usize>;
    /// A description for error messages.
    fn describe(&self) -> String;
}

impl SimpleRowIndex for usize {
    fn index(&self, columns: &[SimpleColumn]) -> Option<usize> {
        (*self < columns.len()).then_some(*self)
    }

    fn describe(&self) -> String {
        self.to_string()
    }
}

impl SimpleRowIndex for str {
    fn index(&self, columns: &[SimpleColumn]) -> Option<usize> {
        columns.iter().position(|c| c.name() == self)
    }

    fn describe(&self) -> String {
        self.to_owned()
    }
}

impl<T: SimpleRowIndex + ?Sized> SimpleRowIndex for &T {
    fn index(&self, columns: &[SimpleColumn]) -> Option<usize> {
        T::index(*self, columns)
    }

    fn describe(&self) -> String {
        T::describe(*self)
    }
}

/// One item of a `simple_query` result, in the order the server sent them.
#[derive(Debug)]
#[non_exhaustive]
pub enum SimpleQueryMessage {
    /// The columns of the rows that follow (one per row-returning statement).
    RowDescription(Arc<[SimpleColumn]>),
    /// A row.
    Row(SimpleQueryRow),
    /// A statement finished; the number of rows it returned or affected (0 if the command
    /// reports none).
    CommandComplete(u64),
}
