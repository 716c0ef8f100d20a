//! Typed rows over COPY in the binary format: [`BinaryCopyInWriter`] encodes rows with
//! `ToSql`, [`BinaryCopyOutStream`] decodes them into [`BinaryCopyRow`]s read with `FromSql`.
//!
//! The format (PostgreSQL documentation, `COPY`, "Binary Format"), all integers big-endian:
//! ```text
//! header:   "PGCOPY\n\377\r\n\0" (11 bytes)  flags: i32  extension length: i32  extension
//! tuple:    field count: i16  (field length: i32 (-1 = NULL)  field bytes)*
//! trailer:  -1: i16
//! ```
//! Flags bit 16 means an OID field follows each field count (not supported here); bits 0-15
//! are critical (an unknown one set is an error), bits 17-31 are ignored. The extension is
//! skipped.
//!
//! Decoding checks every length against what has arrived and against a row size limit before
//! it reads or keeps anything, so hostile input (truncated, negative or huge lengths, a wrong
//! field count, data after the trailer) is an error, never a panic or an allocation larger
//! than the data received plus one message. A row is a slice of the received chunk, no copy,
//! unless the server split it across messages (PostgreSQL does not), when it is joined.
//!
//! Errors: data that breaks the format is an [`is_protocol`](Error::is_protocol) error
//! naming the fault (the connection itself stays in sync: the COPY's messages were well
//! formed); a value that does not encode or decode is a conversion error naming its column.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_core::Stream;
use postgres_types::{FromSql, IsNull, ToSql, Type, WrongType};

use crate::config::DEFAULT_MAX_MESSAGE_SIZE;
use crate::copy::{CopyInSink, CopyOutStream};
use crate::error::Error;

/// The 11 bytes every binary COPY starts with.
const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// Signature, flags and extension length.
const HEADER_LEN: usize = 19;

/// Flags bit 16: each tuple carries an OID.
const FLAG_OIDS: u32 = 1 << 16;

/// Flags bits 0-15: critical; a reader must refuse one it does not know.
const FLAGS_CRITICAL: u32 = 0xffff;

fn format_error(what: &str) -> Error {
    Error::protocol(format!("binary COPY data: {what}"))
}

fn encode_error(what: &str) -> Error {
    Error::encode(std::io::Error::new(std::io::ErrorKind::InvalidInput, what))
}

/// Appends the header (no flags, no extension).
fn encode_header(buf: &mut BytesMut) {
    buf.put_slice(SIGNATURE);
    buf.put_i32(0);
    buf.put_i32(0);
}

/// Appends one tuple: the field count, then each value's length and bytes.
fn encode_row(
    buf: &mut BytesMut,
    types: &[Type],
    values: &[&(dyn ToSql + Sync)],
) -> Result<(), Error> {
    if values.len() != types.len() {
        return Err(Error::parameter_count(types.len(), values.len()));
    }
    let count = i16::try_from(types.len()).map_err(|_| encode_error("more than 32767 columns"))?;
    buf.put_i16(count);
    for (i, (value, ty)) in values.iter().zip(types).enumerate() {
        let at = buf.len();
        buf.put_i32(-1);
        match value.to_sql_checked(ty, buf) {
            Ok(IsNull::Yes) => buf.truncate(at + 4),
            Ok(IsNull::No) => {
                let len = i32::try_from(buf.len() - at - 4)
                    .map_err(|_| encode_error("a value larger than 2 GiB"))?;
                if let Some(field) = buf.get_mut(at..at + 4) {
                    field.copy_from_slice(&len.to_be_bytes());
                }
            }
            Err(e) => return Err(Error::to_sql(i, e)),
        }
    }
    Ok(())
}

/// Appends the trailer.
fn encode_trailer(buf: &mut BytesMut) {
    buf.put_i16(-1);
}

fn be_i16(buf: &[u8], at: usize) -> Option<i16> {
    let bytes = buf.get(at..at.checked_add(2)?)?;
    Some(i16::from_be_bytes(bytes.try_into().ok()?))
}

fn be_i32(buf: &[u8], at: usize) -> Option<i32> {
    let bytes = buf.get(at..at.checked_add(4)?)?;
    Some(i32::from_be_bytes(bytes.try_into().ok()?))
}

/// Parses the header at the front of `buf`: the bytes it takes, or `None` if more must
/// arrive first.
fn parse_header(buf: &[u8], max: usize) -> Result<Option<usize>, Error> {
    let seen = buf.len().min(SIGNATURE.len());
    if buf[..seen] != SIGNATURE[..seen] {
        return Err(format_error(
            "no PGCOPY signature (is the COPY in FORMAT binary?)",
        ));
    }
    let (Some(flags), Some(extension)) = (be_i32(buf, 11), be_i32(buf, 15)) else {
        return Ok(None);
    };
    let flags = flags as u32;
    if flags & FLAG_OIDS != 0 {
        return Err(format_error("rows with OIDs are not supported"));
    }
    if flags & FLAGS_CRITICAL != 0 {
        return Err(format_error("unknown critical flags in the header"));
    }
    let Ok(extension) = usize::try_from(extension) else {
        return Err(format_error("negative header extension length"));
    };
    let total = HEADER_LEN.saturating_add(extension);
    if total > max {
        return Err(format_error(
            "header extension larger than the row size limit",
        ));
    }
    Ok((buf.len() >= total).then_some(total))
}

/// Where one value sits in a row: offset and length, -1 for NULL.
#[derive(Debug, Clone, Copy)]
struct Slot {
    start: u32,
    len: i32,
}

/// What [`parse_tuple`] found at the front of the buffer.
#[derive(Debug, PartialEq)]
enum Tuple {
    /// A row of this many bytes; its slots were filled.
    Row(usize),
    /// The trailer (2 bytes).
    Trailer,
}

/// Parses one tuple at the front of `buf` with `columns` fields, filling `slots`; `None` if
/// more must arrive first. Every length is checked against `max` before it is waited for,
/// and `max` must not exceed `i32::MAX`.
fn parse_tuple(
    buf: &[u8],
    columns: usize,
    max: usize,
    slots: &mut Vec<Slot>,
) -> Result<Option<Tuple>, Error> {
    let Some(count) = be_i16(buf, 0) else {
        return Ok(None);
    };
    if count == -1 {
        return Ok(Some(Tuple::Trailer));
    }
    if usize::try_from(count).ok() != Some(columns) {
        return Err(format_error(&format!(
            "a row has {count} fields where {columns} were expected"
        )));
    }
    slots.clear();
    let mut at = 2usize;
    for _ in 0..columns {
        if at + 4 > max {
            return Err(format_error("a row larger than the row size limit"));
        }
        let Some(len) = be_i32(buf, at) else {
            return Ok(None);
        };
        at += 4;
        let start = u32::try_from(at).map_err(|_| format_error("a row too large"))?;
        if len == -1 {
            slots.push(Slot { start, len });
            continue;
        }
        let Ok(n) = usize::try_from(len) else {
            return Err(format_error(&format!("negative field length {len}")));
        };
        let end = at.saturating_add(n);
        if end > max {
            return Err(format_error("a row larger than the row size limit"));
        }
        if end > buf.len() {
            return Ok(None);
        }
        slots.push(Slot { start, len });
        at = end;
    }
    Ok(Some(Tuple::Row(at)))
}

/// Where the decoder is in the format.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    Header,
    Rows,
    /// The trailer was read; only the end of the data may follow.
    Trailer,
}

/// The decoding state, apart from where the data comes from (so it can be tested alone).
#[derive(Debug)]
struct Decoder {
    types: Arc<[Type]>,
    /// Received and not yet decoded.
    pending: Bytes,
    stage: Stage,
    max_row_size: usize,
}

impl Decoder {
    fn new(types: &[Type], max_row_size: usize) -> Decoder {
        Decoder {
            types: types.into(),
            pending: Bytes::new(),
            stage: Stage::Header,
            max_row_size: max_row_size.min(i32::MAX as usize),
        }
    }

    /// Adds a received chunk.
    fn push(&mut self, chunk: Bytes) -> Result<(), Error> {
        if self.stage == Stage::Trailer && !chunk.is_empty() {
            return Err(format_error("data after the trailer"));
        }
        if self.pending.is_empty() {
            self.pending = chunk;
        } else {
            // A row split across messages. `pending` is less than one row (bounded by the
            // limit, checked as lengths are parsed) and the chunk is one received message.
            let mut joined = BytesMut::with_capacity(self.pending.len() + chunk.len());
            joined.extend_from_slice(&self.pending);
            joined.extend_from_slice(&chunk);
            self.pending = joined.freeze();
        }
        Ok(())
    }

    /// The next row if a whole one has arrived; `Ok(None)` if more data is needed (or, after
    /// the trailer, only the end may come).
    fn next_row(&mut self) -> Result<Option<BinaryCopyRow>, Error> {
        loop {
            match self.stage {
                Stage::Header => match parse_header(&self.pending, self.max_row_size)? {
                    Some(n) => {
                        self.pending.advance(n);
                        self.stage = Stage::Rows;
                    }
                    None => return Ok(None),
                },
                Stage::Rows => {
                    let mut slots = Vec::with_capacity(self.types.len());
                    match parse_tuple(
                        &self.pending,
                        self.types.len(),
                        self.max_row_size,
                        &mut slots,
                    )? {
                        Some(Tuple::Row(n)) => {
                            return Ok(Some(BinaryCopyRow {
                                body: self.pending.split_to(n),
                                slots,
                                types: self.types.clone(),
                            }));
                        }
                        Some(Tuple::Trailer) => {
                            self.pending.advance(2);
                            self.stage = Stage::Trailer;
                        }
                        None => return Ok(None),
                    }
                }
                Stage::Trailer if self.pending.is_empty() => return Ok(None),
                Stage::Trailer => return Err(format_error("data after the trailer")),
            }
        }
    }

    /// At the end of the data: an error unless the trailer ended it.
    fn end(&self) -> Result<(), Error> {
        match self.stage {
            Stage::Trailer => Ok(()),
            Stage::Header if self.pending.is_empty() => {
                Err(format_error("the data ended before the header"))
            }
            _ => Err(format_error(
                "the data ended without the trailer (truncated)",
            )),
        }
    }
}

/// One row of a binary COPY, decoded on access with `FromSql` as the type given for its
/// column. Keeps the row's bytes (a slice of the received message, no copy).
pub struct BinaryCopyRow {
    body: Bytes,
    slots: Vec<Slot>,
    types: Arc<[Type]>,
}

impl std::fmt::Debug for BinaryCopyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BinaryCopyRow")
            .field("types", &self.types)
            .finish_non_exhaustive()
    }
}

impl BinaryCopyRow {
    /// The number of values.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True if the row has no values.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Decodes value `idx` (0-based).
    ///
    /// # Panics
    /// If there is no such column or the value cannot be decoded as `T` (wrong type, or NULL
    /// into a non-`Option`). Use [`try_get`](BinaryCopyRow::try_get) to get an error instead.
    #[track_caller]
    pub fn get<'a, T: FromSql<'a>>(&'a self, idx: usize) -> T {
        match self.try_get(idx) {
            Ok(value) => value,
            Err(e) => panic!("error retrieving column {idx}: {e}"),
        }
    }

    /// Decodes value `idx` (0-based), or reports why it cannot.
    pub fn try_get<'a, T: FromSql<'a>>(&'a self, idx: usize) -> Result<T, Error> {
        let Some(ty) = self.types.get(idx) else {
            return Err(Error::column_not_found(idx.to_string()));
        };
        // An enum column read as a string, or a domain as its base type.
        let view = crate::typeinfo::wire_view(ty, T::accepts);
        if !T::accepts(view) {
            return Err(Error::from_sql(
                idx,
                Box::new(WrongType::new::<T>(ty.clone())),
            ));
        }
        T::from_sql_nullable(view, self.raw_value(idx)?).map_err(|e| Error::from_sql(idx, e))
    }

    /// The raw bytes of value `idx` (`None` for NULL or no such column).
    pub fn raw(&self, idx: usize) -> Option<&[u8]> {
        self.raw_value(idx).ok().flatten()
    }

    fn raw_value(&self, idx: usize) -> Result<Option<&[u8]>, Error> {
        let Some(slot) = self.slots.get(idx) else {
            return Err(Error::column_not_found(idx.to_string()));
        };
        let Ok(len) = usize::try_from(slot.len) else {
            return Ok(None);
        };
        let start = slot.start as usize;
        self.body
            .get(start..start.saturating_add(len))
            .map(Some)
            .ok_or_else(|| format_error("value outside its row"))
    }
}

/// Writes typed rows to a `COPY ... FROM STDIN (FORMAT binary)`: each value encoded with
/// `ToSql` as the type given for its column, straight into the connection's write buffer.
///
/// ```no_run
/// # async fn demo(conn: &mut tarn_wire::Connection) -> Result<(), tarn_wire::Error> {
/// use tarn_wire::{BinaryCopyInWriter, Type};
/// let sink = conn.copy_in("COPY items (id, name) FROM STDIN (FORMAT binary)").await?;
/// let mut writer = BinaryCopyInWriter::new(sink, &[Type::INT8, Type::TEXT]);
/// writer.write(&[&1i64, &"one"]).await?;
/// writer.write(&[&2i64, &None::<&str>]).await?;
/// assert_eq!(writer.finish().await?, 2);
/// # Ok(()) }
/// ```
///
/// As with [`CopyInSink`], dropping the writer without [`finish`](BinaryCopyInWriter::finish)
/// rolls the COPY back.
#[derive(Debug)]
#[must_use = "a COPY is rolled back unless finish() is called"]
pub struct BinaryCopyInWriter<'a> {
    sink: CopyInSink<'a>,
    types: Vec<Type>,
    header_written: bool,
}

impl<'a> BinaryCopyInWriter<'a> {
    /// A writer for rows of `types`, one per column of the COPY, in its column order.
    pub fn new(sink: CopyInSink<'a>, types: &[Type]) -> BinaryCopyInWriter<'a> {
        BinaryCopyInWriter {
            sink,
            types: types.to_vec(),
            header_written: false,
        }
    }

    /// Adds one row: one value per column (`&None::<T>` for NULL). A value that does not
    /// encode as its column's type is an error naming the column, and nothing of the row is
    /// sent. Buffered like [`CopyInSink::send`]; the server's error, if it ended the COPY, is
    /// returned here.
    ///
    /// # Cancel safety
    /// The row is taken whole or not at all; dropping the writer rolls the COPY back.
    pub async fn write(&mut self, values: &[&(dyn ToSql + Sync)]) -> Result<(), Error> {
        self.sink.reserve().await?;
        let types = &self.types;
        let header = !self.header_written;
        self.sink.encode_with(|buf| {
            if header {
                encode_header(buf);
            }
            encode_row(buf, types, values)
        })?;
        self.header_written = true;
        Ok(())
    }

    /// Ends the COPY and returns the number of rows copied, or the server's error.
    ///
    /// # Cancel safety
    /// As [`CopyInSink::finish`].
    pub async fn finish(mut self) -> Result<u64, Error> {
        self.sink.reserve().await?;
        let header = !self.header_written;
        self.sink.encode_with(|buf| {
            if header {
                encode_header(buf);
            }
            encode_trailer(buf);
            Ok(())
        })?;
        self.sink.finish().await
    }

    /// Rolls the COPY back, as [`CopyInSink::abort`].
    ///
    /// # Cancel safety
    /// As [`CopyInSink::abort`].
    pub async fn abort(self, reason: &str) -> Result<(), Error> {
        self.sink.abort(reason).await
    }
}

/// Reads typed rows from a `COPY ... TO STDOUT (FORMAT binary)`: a [`Stream`] of
/// [`BinaryCopyRow`]s (also [`next`](BinaryCopyOutStream::next)), given the type of each
/// column.
///
/// ```no_run
/// # async fn demo(conn: &mut tarn_wire::Connection) -> Result<(), tarn_wire::Error> {
/// use tarn_wire::{BinaryCopyOutStream, Type};
/// let stream = conn.copy_out("COPY items (id, name) TO STDOUT (FORMAT binary)").await?;
/// let mut rows = BinaryCopyOutStream::new(stream, &[Type::INT8, Type::TEXT]);
/// while let Some(row) = rows.next().await {
///     let row = row?;
///     let (id, name): (i64, Option<&str>) = (row.try_get(0)?, row.try_get(1)?);
///     # let _ = (id, name);
/// }
/// # Ok(()) }
/// ```
///
/// A format error (not binary, a truncated row, a bad length, a wrong field count) ends the
/// stream with an error; the rest of the COPY is then left to the connection's next drain.
#[derive(Debug)]
#[must_use = "a stream does nothing unless polled"]
pub struct BinaryCopyOutStream<'a> {
    inner: CopyOutStream<'a>,
    decoder: Decoder,
    done: bool,
}

impl<'a> BinaryCopyOutStream<'a> {
    /// Decodes `stream` as rows of `types`, one per column of the COPY, in its column order.
    /// A row may be at most [`DEFAULT_MAX_MESSAGE_SIZE`] bytes (see
    /// [`max_row_size`](BinaryCopyOutStream::max_row_size)).
    pub fn new(stream: CopyOutStream<'a>, types: &[Type]) -> BinaryCopyOutStream<'a> {
        BinaryCopyOutStream {
            inner: stream,
            decoder: Decoder::new(types, DEFAULT_MAX_MESSAGE_SIZE),
            done: false,
        }
    }

    /// Sets the largest row accepted (at most 2 GiB); a longer one is an error, raised as
    /// soon as its lengths say so, before its data is waited for.
    pub fn max_row_size(mut self, bytes: usize) -> BinaryCopyOutStream<'a> {
        self.decoder.max_row_size = bytes.min(i32::MAX as usize);
        self
    }

    /// The next row, `None` after the last one (or after the error that ended the stream).
    ///
    /// # Cancel safety
    /// Cancel safe: progress is kept in the stream and its connection.
    pub async fn next(&mut self) -> Option<Result<BinaryCopyRow, Error>> {
        std::future::poll_fn(|cx| self.poll_row(cx)).await
    }

    /// The number of rows the COPY sent, once the stream has ended without an error.
    pub fn rows(&self) -> Option<u64> {
        self.inner.rows()
    }

    fn fail(&mut self, e: Error) -> Poll<Option<Result<BinaryCopyRow, Error>>> {
        self.done = true;
        Poll::Ready(Some(Err(e)))
    }

    fn poll_row(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<BinaryCopyRow, Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if !self.inner.is_binary() {
            return self.fail(format_error(
                "the COPY is in text format; ask for FORMAT binary",
            ));
        }
        loop {
            match self.decoder.next_row() {
                Ok(Some(row)) => return Poll::Ready(Some(Ok(row))),
                Ok(None) => {}
                Err(e) => return self.fail(e),
            }
            match ready!(Pin::new(&mut self.inner).poll_next(cx)) {
                Some(Ok(chunk)) => {
                    if let Err(e) = self.decoder.push(chunk) {
                        return self.fail(e);
                    }
                }
                Some(Err(e)) => return self.fail(e),
                None => {
                    self.done = true;
                    return match self.decoder.end() {
                        Ok(()) => Poll::Ready(None),
                        Err(e) => Poll::Ready(Some(Err(e))),
                    };
                }
            }
        }
    }
}

impl Stream for BinaryCopyOutStream<'_> {
    type Item = Result<BinaryCopyRow, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_row(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 1 << 20;

    fn encoded(types: &[Type], rows: &[Vec<&(dyn ToSql + Sync)>]) -> Vec<u8> {
        let mut buf = BytesMut::new();
        encode_header(&mut buf);
        for row in rows {
            encode_row(&mut buf, types, row).unwrap();
        }
        encode_trailer(&mut buf);
        buf.to_vec()
    }

    /// Every row's values as (int4, text).
    type Decoded = Vec<(Option<i32>, Option<String>)>;

    /// Decodes `data` fed in pieces of `piece` bytes.
    fn decode(types: &[Type], data: &[u8], piece: usize) -> Result<Decoded, Error> {
        let mut decoder = Decoder::new(types, MAX);
        let mut out = Vec::new();
        for chunk in data.chunks(piece.max(1)) {
            decoder.push(Bytes::copy_from_slice(chunk))?;
            while let Some(row) = decoder.next_row()? {
                out.push((row.try_get(0)?, row.try_get(1)?));
            }
        }
        decoder.end()?;
        Ok(out)
    }

    fn sample() -> (Vec<Type>, Vec<u8>) {
        let types = vec![Type::INT4, Type::TEXT];
        let data = encoded(
            &types,
            &[
                vec![&1i32, &"one"],
                vec![&None::<i32>, &"two"],
                vec![&3i32, &None::<&str>],
            ],
        );
        (types, data)
    }

    #[test]
    fn round_trip_in_any_split() {
        let (types, data) = sample();
        let want = vec![
            (Some(1), Some("one".to_owned())),
            (None, Some("two".to_owned())),
            (Some(3), None),
        ];
        for piece in 1..=data.len() {
            assert_eq!(decode(&types, &data, piece).unwrap(), want, "piece {piece}");
        }
    }

    #[test]
    fn header_checks() {
        let types = [Type::INT4, Type::TEXT];
        // Not binary at all (a text COPY line).
        let e = decode(&types, b"1\tone\n", 64).unwrap_err();
        assert!(
            e.is_protocol() && e.to_string().contains("signature"),
            "{e}"
        );
        let header = |flags: u32, ext: i32| {
            let mut h = SIGNATURE.to_vec();
            h.extend_from_slice(&flags.to_be_bytes());
            h.extend_from_slice(&ext.to_be_bytes());
            h
        };
        for (flags, ext, needle) in [
            (FLAG_OIDS, 0, "OIDs"),
            (1, 0, "critical"),
            (0, -5, "negative"),
            (0, i32::MAX, "limit"),
        ] {
            let e = decode(&types, &header(flags, ext), 64).unwrap_err();
            assert!(e.to_string().contains(needle), "{flags} {ext}: {e}");
        }
        // Non-critical flags are ignored and an extension is skipped.
        let mut data = header(1 << 20, 3);
        data.extend_from_slice(b"xyz");
        data.extend_from_slice(&(-1i16).to_be_bytes());
        assert_eq!(decode(&types, &data, 1).unwrap(), vec![]);
        // Nothing at all, or a header alone.
        assert!(
            decode(&types, b"", 1)
                .unwrap_err()
                .to_string()
                .contains("before the header")
        );
        let e = decode(&types, &header(0, 0), 4).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
    }

    #[test]
    fn truncated_at_every_byte_is_an_error() {
        let (types, data) = sample();
        for cut in 0..data.len() {
            for piece in [1, 7, data.len()] {
                let e = decode(&types, &data[..cut], piece).unwrap_err();
                assert!(e.is_protocol(), "cut {cut}: {e}");
            }
        }
    }

    #[test]
    fn bad_lengths_and_counts() {
        let types = [Type::INT4, Type::TEXT];
        let with_tuple = |tuple: &[u8]| {
            let mut data = BytesMut::new();
            encode_header(&mut data);
            data.extend_from_slice(tuple);
            encode_trailer(&mut data);
            data.to_vec()
        };
        let cases: [(&[u8], &str); 6] = [
            // Three fields where two were expected.
            (b"\x00\x03", "3 fields"),
            (b"\xff\xfe", "-2 fields"),
            // A negative length other than -1.
            (b"\x00\x02\xff\xff\xff\xfe", "negative field length"),
            // A length far past the limit: refused before it is waited for.
            (b"\x00\x02\x7f\xff\xff\xff", "limit"),
            // A length past the data: the trailer is read as value bytes, then the end.
            (
                b"\x00\x02\x00\x00\x00\x04\x00\x00\x00\x01\x00\x00\x00\x09ab",
                "truncated",
            ),
            // An int4 of 2 bytes: the value, not the format, is wrong.
            (b"\x00\x02\x00\x00\x00\x02ab\xff\xff\xff\xff", "column 0"),
        ];
        for (tuple, needle) in cases {
            let e = decode(&types, &with_tuple(tuple), 3).unwrap_err();
            assert!(e.to_string().contains(needle), "{tuple:?}: {e}");
        }
        // Data after the trailer.
        let (types, mut data) = sample();
        data.push(0);
        let e = decode(&types, &data, 5).unwrap_err();
        assert!(e.to_string().contains("after the trailer"), "{e}");
    }

    #[test]
    fn a_row_over_the_limit_is_refused_before_it_arrives() {
        let types = [Type::BYTEA];
        let mut decoder = Decoder::new(&types, 1024);
        let mut data = BytesMut::new();
        encode_header(&mut data);
        data.put_i16(1);
        data.put_i32(4096);
        decoder.push(data.freeze()).unwrap();
        let e = decoder.next_row().unwrap_err();
        assert!(e.to_string().contains("limit"), "{e}");
    }

    #[test]
    fn random_input_never_panics() {
        let (types, data) = sample();
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..20_000 {
            // Random bytes, and the valid encoding with random bytes changed.
            let mut input = if rng.bool() {
                (0..rng.usize(0..80))
                    .map(|_| rng.u8(..))
                    .collect::<Vec<u8>>()
            } else {
                let mut d = data.clone();
                for _ in 0..rng.usize(1..4) {
                    let i = rng.usize(..d.len());
                    d[i] = rng.u8(..);
                }
                d
            };
            if rng.bool() {
                input.splice(0..0, SIGNATURE.iter().copied());
            }
            let _ = decode(&types, &input, rng.usize(1..16));
        }
    }

    #[test]
    fn encoding_checks_the_row() {
        let types = [Type::INT4, Type::TEXT];
        let mut buf = BytesMut::new();
        let e = encode_row(&mut buf, &types, &[&1i32]).unwrap_err();
        assert!(e.is_conversion(), "{e}");
        let e = encode_row(&mut buf, &types, &[&"not an int", &"x"]).unwrap_err();
        assert!(
            e.is_conversion() && e.to_string().contains("parameter 0"),
            "{e}"
        );
    }
}
