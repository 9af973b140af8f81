//! Policy languages the oracle understands: selectors and, later, the policy kinds built on them.

pub mod selector;
