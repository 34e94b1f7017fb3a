//! heartbeat resource agent `IPaddr2`; see [`resource_agents::ipaddr2`].
fn main() -> std::process::ExitCode {
    resource_agents::cli::main::<resource_agents::ipaddr2::IpAddr2>()
}
