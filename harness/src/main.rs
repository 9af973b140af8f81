//! The `netpol-harness` binary; everything lives in the library's [`netpol_harness::cli`].

fn main() -> std::process::ExitCode {
    netpol_harness::cli::main()
}
