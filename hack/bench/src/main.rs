//! cradle-bench: measures CRI runtimes and OCI launchers side by side.
fn main() {
    eprintln!("cradle-bench: no benchmark is built yet");
    std::process::exit(2);
}
