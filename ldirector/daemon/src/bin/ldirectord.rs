//! ldirectord: not implemented yet (tracked by the ldirectord issue).
fn main() -> std::process::ExitCode {
    eprintln!("ldirectord: not implemented yet in this release");
    std::process::ExitCode::from(1)
}
