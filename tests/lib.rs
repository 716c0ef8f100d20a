//! Cross-crate integration and fault tests live in this crate's test targets; the library
//! holds nothing but this description.
