//! tarn's integration tests, against the testkit's real PostgreSQL: configuration forms,
//! connection hygiene, timeouts, health, shutdown, and recovery from a dead backend.

mod client;
mod common;
mod config;
mod copy;
mod health;
mod hygiene;
mod lifecycle;
mod listener;
mod pgbouncer;
mod timeouts;
mod tls;
mod topology;
mod types;
