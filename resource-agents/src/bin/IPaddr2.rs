//! IPaddr2 resource agent: not implemented yet (tracked by the resource-manager issue).
fn main() -> std::process::ExitCode {
    eprintln!("IPaddr2: not implemented yet in this release");
    std::process::ExitCode::from(1)
}
