//! Shared helpers for the criterion benches: servers, pools and runtimes set up the same way
//! for every pool under comparison.
