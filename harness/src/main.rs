//! The `netpol-harness` command; all logic lives in the library.

fn main() -> std::process::ExitCode {
    netpol_harness::cli::main()
}
