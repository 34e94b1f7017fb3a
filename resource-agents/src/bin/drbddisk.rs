//! heartbeat resource agent `drbddisk`; see [`resource_agents::drbddisk`].
fn main() -> std::process::ExitCode {
    resource_agents::drbddisk::main()
}
