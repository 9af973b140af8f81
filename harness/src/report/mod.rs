//! Reports: truth tables for people, JSON and JUnit for machines.

pub mod plan;
pub mod truth_table;
