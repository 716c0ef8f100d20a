//! Result rows: [`Row`] (extended protocol, binary values) and [`SimpleQueryRow`] (simple
//! protocol, text values).
//!
//! A row keeps the `DataRow` body as received (a `Bytes` slice of the read buffer, no copy)
//! and the byte range of each value, computed once and checked against the body length.
//! Values are decoded on access through `postgres_types::FromSql`.

use std::fmt;
use std::sync::Arc;

use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::DataRowBody;
use postgres_types::{FromSql, Type, WrongType};

use crate::error::Error;
use crate::statement::{Column, Statement};

/// Where one value sits in a `DataRow` body: a start offset and a length, -1 for NULL.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    start: u32,
    len: i32,
}

/// Rows with at most this many columns keep their value positions inline (no allocation).
const INLINE_SLOTS: usize = 6;

/// The value positions of one row: inline for narrow rows, on the heap for wide ones.
#[derive(Debug)]
enum Slots {
    Inline {
        len: u8,
        slots: [Slot; INLINE_SLOTS],
    },
    Heap(Vec<Slot>),
}

impl Slots {
    fn len(&self) -> usize {
        match self {
            Slots::Inline { len, .. } => usize::from(*len),
            Slots::Heap(slots) => slots.len(),
        }
    }

    fn get(&self, i: usize) -> Option<Slot> {
        match self {
            Slots::Inline { len, slots } if i < usize::from(*len) => slots.get(i).copied(),
            Slots::Inline { .. } => None,
            Slots::Heap(slots) => slots.get(i).copied(),
        }
    }

    /// The bytes of value `i` in `body`: `Ok(None)` for NULL.
    fn value<'a>(&self, body: &'a [u8], i: usize) -> Result<Option<&'a [u8]>, Error> {
        let Some(slot) = self.get(i) else {
            return Err(Error::column_not_found(i.to_string()));
        };
        if slot.len < 0 {
            return Ok(None);
        }
        let start = slot.start as usize;
        let end = start.saturating_add(slot.len as usize);
        body.get(start..end)
            .map(Some)
            .ok_or_else(|| Error::protocol("value range outside the row"))
    }
}

/// Splits a `DataRow` into value positions, refusing a malformed body or a column count that
/// does not match the description.
fn slots(body: &DataRowBody, expected: usize) -> Result<Slots, Error> {
    let mut iter = body.ranges();
    let mut inline = [Slot::default(); INLINE_SLOTS];
    let mut heap = Vec::new();
    let mut count = 0usize;
    while let Some(range) = iter
        .next()
        .map_err(|e| Error::protocol(format!("malformed DataRow: {e}")))?
    {
        // Offsets fit in u32 and lengths in i32: the message length field is an i32.
        let slot = match range {
            Some(r) => Slot {
                start: u32::try_from(r.start).map_err(|_| Error::protocol("DataRow too large"))?,
                len: i32::try_from(r.len()).map_err(|_| Error::protocol("DataRow too large"))?,
            },
            None => Slot { start: 0, len: -1 },
        };
        if expected <= INLINE_SLOTS {
            match inline.get_mut(count) {
                Some(place) => *place = slot,
                None => return Err(column_count_error(count + 1, expected)),
            }
        } else {
            heap.push(slot);
        }
        count += 1;
    }
    if count != expected {
        return Err(column_count_error(count, expected));
    }
    if expected <= INLINE_SLOTS {
        Ok(Slots::Inline {
            // `expected <= INLINE_SLOTS`, so this cannot truncate.
            len: u8::try_from(count).unwrap_or(0),
            slots: inline,
        })
    } else {
        Ok(Slots::Heap(heap))
    }
}

fn column_count_error(got: usize, expected: usize) -> Error {
    Error::protocol(format!(
        "DataRow has {got} or more values but the row description has {expected} columns"
    ))
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
    slots: Slots,
}

impl Row {
    pub(crate) fn new(statement: Statement, body: DataRowBody) -> Result<Row, Error> {
        let slots = slots(&body, statement.columns().len())?;
        Ok(Row {
            statement,
            body,
            slots,
        })
    }

    /// The result columns.
    pub fn columns(&self) -> &[Column] {
        self.statement.columns()
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True if the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.slots.len() == 0
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
        let Some(column) = self.columns().get(i) else {
            return Err(Error::column_not_found(idx.describe()));
        };
        // An enum column read as a string, or a domain as its base type.
        let ty = crate::typeinfo::wire_view(column.type_(), T::accepts);
        if !T::accepts(ty) {
            return Err(
                Error::from_sql(i, Box::new(WrongType::new::<T>(column.type_().clone())))
                    .with_message(format!("column {:?}", column.name())),
            );
        }
        let raw = self.slots.value(self.body.buffer(), i)?;
        T::from_sql_nullable(ty, raw)
            .map_err(|e| Error::from_sql(i, e).with_message(format!("column {:?}", column.name())))
    }

    /// The raw binary value of a column (`None` for NULL), for callers doing their own decoding.
    pub fn raw(&self, idx: usize) -> Option<&[u8]> {
        self.slots.value(self.body.buffer(), idx).ok().flatten()
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
    slots: Slots,
}

impl SimpleQueryRow {
    pub(crate) fn new(
        columns: Arc<[SimpleColumn]>,
        body: DataRowBody,
    ) -> Result<SimpleQueryRow, Error> {
        let slots = slots(&body, columns.len())?;
        Ok(SimpleQueryRow {
            columns,
            body,
            slots,
        })
    }

    /// The result columns.
    pub fn columns(&self) -> &[SimpleColumn] {
        &self.columns
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True if the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.slots.len() == 0
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
        match self.slots.value(self.body.buffer(), i)? {
            Some(raw) => std::str::from_utf8(raw)
                .map(Some)
                .map_err(|e| Error::from_sql(i, Box::new(e))),
            None => Ok(None),
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
