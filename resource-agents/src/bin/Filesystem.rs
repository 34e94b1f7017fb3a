//! Filesystem resource agent: not implemented yet (tracked by the resource-manager issue).
fn main() -> std::process::ExitCode {
    eprintln!("Filesystem: not implemented yet in this release");
    std::process::ExitCode::from(1)
}
