//! Benchmarks of socialpipe: criterion micro-benches (`benches/`) and the
//! end-to-end harness (`src/bin/e2e.rs`) that runs the real binary.
