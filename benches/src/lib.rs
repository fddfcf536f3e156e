//! Benchmarks of socialpipe: criterion micro-benches (`benches/`) and the
//! end-to-end harness (`src/bin/e2e.rs`) that runs the real binary.

/// Pins this thread (and what it spawns later) to the given cores.
pub fn pin(cores: &[usize]) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET stays in bounds.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cores {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}
