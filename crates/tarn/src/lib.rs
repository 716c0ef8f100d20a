//! tarn: an async PostgreSQL connection pool.
//!
//! The generic engine of `tarn-pool` driving `tarn-wire` connections, with configuration from
//! a builder, a URL or the environment.
