//! Unique names for what a test creates on the host (cgroups, bridges,
//! pods), so tests running at once never collide.

/// A random lowercase hex string, for unique names.
pub fn random_suffix() -> String {
    use rand::Rng;
    let n: u32 = rand::rng().random();
    format!("{n:08x}")
}
