//! Integration tests for tarn-wire against a real PostgreSQL server from the testkit, plus a
//! fake server for hostile input. One binary; one module per concern.

mod auth;
mod cache;
mod cancel;
mod conformance;
mod copy;
mod faults;
mod hostile;
mod multihost;
mod recovery;
mod stream;
mod support;
mod tls;
