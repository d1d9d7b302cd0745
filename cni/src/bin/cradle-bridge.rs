//! `cradle-bridge`: Cradle's bridge CNI plugin. Reads its configuration on
//! stdin and `CNI_*` from the environment, prints the result (or the spec's
//! error JSON) on stdout; see `cradle_cni::plugin`.

use std::io::{Read, Write};

fn main() {
    if std::env::var("CNI_COMMAND").is_err() && std::env::args().any(|a| a == "--version") {
        print_and_exit(
            "CNI cradle-bridge plugin; protocol versions 0.3.0 to 1.1.0\n",
            0,
        );
    }
    let mut stdin = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut stdin) {
        let err = cradle_cni::plugin::PluginError::io("reading stdin".into(), e);
        print_and_exit(&err.to_json(""), 1);
    }
    match cradle_cni::plugin::run(|k| std::env::var(k).ok(), &stdin) {
        Ok(out) => print_and_exit(&out, 0),
        Err((err, version)) => print_and_exit(&err.to_json(&version), 1),
    }
}

fn print_and_exit(text: &str, code: i32) -> ! {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    std::process::exit(code)
}
