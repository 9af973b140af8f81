//! Runner tests on the simulated cluster.
