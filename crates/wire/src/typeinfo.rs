//! Type lookup: OIDs the client does not know (enums, composites, domains, ranges, arrays of
//! them, extension types) resolved from the server's catalogue, so `postgres-types`' derives
//! (`#[derive(ToSql, FromSql)]`) work unchanged.
//!
//! A statement's description names its parameter and column types by OID. Built-in OIDs map to
//! `postgres_types::Type` constants; any other OID is looked up once per connection in
//! `pg_type` (with `pg_enum` for an enum's labels, `pg_attribute` for a composite's fields and
//! `pg_range` for a range's or multirange's subtype), recursively for element, base and field
//! types, and cached in the connection. The catalogue queries are ordinary statements, so they
//! go through the statement cache (or, in unnamed mode, stay self-contained) like any other.
//! A lookup is bounded in depth, so a hostile catalogue cannot make it recurse without end.

use std::future::Future;
use std::pin::Pin;

use postgres_types::{Field, Kind, Oid, Type};

use crate::connection::Connection;
use crate::error::Error;

/// The deepest chain of element, base and field types followed.
const MAX_DEPTH: u32 = 16;

const TYPE_SQL: &str = "SELECT t.typname::text, t.typtype::text, t.typelem, \
     r.rngsubtype, mr.rngtypid, t.typbasetype, n.nspname::text, t.typrelid, \
     t.typcategory::text \
     FROM pg_catalog.pg_type t \
     LEFT OUTER JOIN pg_catalog.pg_range r ON r.rngtypid = t.oid \
     LEFT OUTER JOIN pg_catalog.pg_range mr ON mr.rngmultitypid = t.oid \
     INNER JOIN pg_catalog.pg_namespace n ON t.typnamespace = n.oid \
     WHERE t.oid = $1";

const ENUM_SQL: &str = "SELECT enumlabel::text FROM pg_catalog.pg_enum \
     WHERE enumtypid = $1 ORDER BY enumsortorder";

const COMPOSITE_SQL: &str = "SELECT attname::text, atttypid FROM pg_catalog.pg_attribute \
     WHERE attrelid = $1 AND NOT attisdropped AND attnum > 0 ORDER BY attnum";

/// A type this client does not know yet, named after its OID until it is looked up.
pub(crate) fn placeholder(oid: Oid) -> Type {
    Type::new(format!("oid{oid}"), oid, Kind::Simple, String::new())
}

impl Connection {
    /// The type for `oid` if known without asking the server: built in, or looked up before
    /// on this connection.
    pub(crate) fn known_type(&self, oid: Oid) -> Option<Type> {
        Type::from_oid(oid).or_else(|| self.types.get(&oid).cloned())
    }

    /// The type for `oid`, known or a placeholder to resolve later (while a reply is being
    /// read, no other request can be made).
    pub(crate) fn type_or_placeholder(&self, oid: Oid) -> Type {
        self.known_type(oid).unwrap_or_else(|| placeholder(oid))
    }

    /// True if `ty` is a placeholder still to be looked up.
    pub(crate) fn is_unresolved(&self, ty: &Type) -> bool {
        self.known_type(ty.oid()).is_none()
    }

    /// Looks `oid` up in the catalogue (and, recursively, the types it is made of), caching
    /// every type found.
    ///
    /// Cancellation safety: each catalogue query is an ordinary request; a drop between them
    /// leaves the connection as any dropped query does, and nothing half-built is cached.
    pub(crate) fn resolve_type(
        &mut self,
        oid: Oid,
        depth: u32,
    ) -> Pin<Box<dyn Future<Output = Result<Type, Error>> + Send + '_>> {
        Box::pin(async move {
            if let Some(ty) = self.known_type(oid) {
                return Ok(ty);
            }
            if depth > MAX_DEPTH {
                return Err(Error::protocol(format!(
                    "type {oid} is nested more than {MAX_DEPTH} levels deep"
                )));
            }
            let rows = self.query(TYPE_SQL, &[&oid]).await?;
            let Some(row) = rows.first() else {
                // Dropped since it was described, or not visible: keep the placeholder, which
                // decodes as nothing but raw bytes.
                return Ok(placeholder(oid));
            };
            let name: String = row.try_get(0)?;
            let typtype: String = row.try_get(1)?;
            let elem: Oid = row.try_get(2)?;
            let range_subtype: Option<Oid> = row.try_get(3)?;
            let multirange_of: Option<Oid> = row.try_get(4)?;
            let base: Oid = row.try_get(5)?;
            let schema: String = row.try_get(6)?;
            let relid: Oid = row.try_get(7)?;
            let category: String = row.try_get(8)?;
            let kind = if typtype == "e" {
                let labels = self.query(ENUM_SQL, &[&oid]).await?;
                let labels = labels
                    .iter()
                    .map(|r| r.try_get::<_, String>(0))
                    .collect::<Result<Vec<_>, _>>()?;
                Kind::Enum(labels)
            } else if typtype == "p" {
                Kind::Pseudo
            } else if typtype == "d" {
                Kind::Domain(self.resolve_type(base, depth + 1).await?)
            } else if category == "A" && elem != 0 {
                Kind::Array(self.resolve_type(elem, depth + 1).await?)
            } else if let Some(sub) = range_subtype {
                Kind::Range(self.resolve_type(sub, depth + 1).await?)
            } else if let Some(range) = multirange_of {
                let range = self.resolve_type(range, depth + 1).await?;
                match range.kind() {
                    Kind::Range(sub) => Kind::Multirange(sub.clone()),
                    _ => Kind::Multirange(range),
                }
            } else if relid != 0 {
                let attrs = self.query(COMPOSITE_SQL, &[&relid]).await?;
                let mut fields = Vec::with_capacity(attrs.len());
                for attr in &attrs {
                    let field_name: String = attr.try_get(0)?;
                    let field_oid: Oid = attr.try_get(1)?;
                    let field_type = self.resolve_type(field_oid, depth + 1).await?;
                    fields.push(Field::new(field_name, field_type));
                }
                Kind::Composite(fields)
            } else {
                Kind::Simple
            };
            let ty = Type::new(name, oid, kind, schema);
            if self.types.len() < MAX_CACHED_TYPES {
                self.types.insert(oid, ty.clone());
            }
            Ok(ty)
        })
    }
}

/// The most looked-up types a connection keeps (a schema has far fewer; the bound only keeps a
/// hostile server from growing the map without end).
const MAX_CACHED_TYPES: usize = 4096;

/// `text`, for an enum read or written as a string.
static TEXT: Type = Type::TEXT;

/// The type to encode or decode a value as, for a Rust type that does not accept `ty` itself:
/// an enum's label as `text` (same bytes), a domain as its base type (same representation).
/// Otherwise `ty` itself, and the Rust type's own check reports the mismatch.
pub(crate) fn wire_view(ty: &Type, accepts: impl Fn(&Type) -> bool) -> &Type {
    if accepts(ty) {
        return ty;
    }
    match ty.kind() {
        Kind::Enum(_) if accepts(&TEXT) => &TEXT,
        Kind::Domain(base) => wire_view(base, accepts),
        _ => ty,
    }
}
