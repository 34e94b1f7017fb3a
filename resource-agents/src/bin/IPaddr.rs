//! heartbeat resource agent `IPaddr`; see [`resource_agents::ipaddr`].
fn main() -> std::process::ExitCode {
    resource_agents::cli::main::<resource_agents::ipaddr::IpAddr>()
}
