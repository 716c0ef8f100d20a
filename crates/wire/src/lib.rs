//! tarn-wire: a thin PostgreSQL wire-protocol client.
//!
//! A `Connection` owns its socket and two reused buffers; `&mut self` methods write a whole
//! request in one write and read until ReadyForQuery in the caller's task. There is no
//! background task and no channel between the caller and the socket.
