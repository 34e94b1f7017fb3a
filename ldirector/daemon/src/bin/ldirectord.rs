//! ldirectord: see the `ldirectord` library.
fn main() -> std::process::ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let rc = ldirectord::commands::main(argv);
    std::process::ExitCode::from(u8::try_from(rc).unwrap_or(1))
}
