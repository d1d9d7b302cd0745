//! The seam between the launcher's set-up logic and the kernel, after
//! youki's `Syscall` trait.

mod traits;

pub(crate) use traits::*;
