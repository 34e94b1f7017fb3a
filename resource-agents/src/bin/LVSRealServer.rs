//! heartbeat resource agent `LVSRealServer`; see [`resource_agents::lvs_real_server`].
fn main() -> std::process::ExitCode {
    resource_agents::cli::main::<resource_agents::lvs_real_server::LvsRealServer>()
}
