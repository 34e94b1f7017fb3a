//! heartbeat resource agent `Filesystem`; see [`resource_agents::filesystem`].
fn main() -> std::process::ExitCode {
    resource_agents::cli::main::<resource_agents::filesystem::Filesystem>()
}
