//! netpol-harness
