//! Run a tutorial scenario the way `netpol-harness run` does, against the simulated cluster
//! instead of kind — and watch the runner catch a CNI that ignores egress policy.
//!
//! ```sh
//! cargo run --example run_on_simulated_cluster
//! ```
//!
//! The simulated cluster's dataplane is the oracle itself, with faults injected; the runner
//! cannot tell it from a real cluster: it applies each step, execs one probe batch per source
//! pod, converges, confirms, and cleans up.

use std::sync::Arc;
use std::time::Duration;

use netpol_harness::cluster::sim::{Enforcement, Faults, SimCluster};
use netpol_harness::report::run::render_step;
use netpol_harness::runner::plan::ScenarioPlan;
use netpol_harness::runner::{RunOptions, Runner};
use netpol_harness::scenario::{default_root, load};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The Calico "About network policy" tutorial: its last step relies on egress rules.
    let loaded = load(&default_root(), "calico-about-network-policy")?;
    let plan = ScenarioPlan::new(&loaded, Vec::new())?;

    for enforcement in [Enforcement::Full, Enforcement::IgnoresEgress] {
        println!("== a CNI that enforces {enforcement:?}");
        let cluster = Arc::new(SimCluster::new(
            "example",
            Faults {
                enforcement,
                ..Faults::default()
            },
        ));
        let runner = Runner::new(
            cluster.clone(),
            RunOptions {
                deadline: Duration::from_secs(3),
                ..RunOptions::default()
            },
        );
        let outcome = runner.run_scenario(&plan, None).await;
        for step in &outcome.steps {
            println!("{}", render_step(&outcome.name, step));
        }
        println!(
            "{} — and the cluster holds none of the harness's objects afterwards: {}\n",
            if outcome.passed() { "PASSED" } else { "FAILED" },
            cluster.owned_objects().is_empty()
        );
    }
    Ok(())
}
