//! tarn-testkit: throwaway PostgreSQL servers for tests and benches, and a fault-injecting
//! TCP proxy.
