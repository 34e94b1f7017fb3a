//! `heartbeat`: the cluster membership daemon (see `heartbeat::cli`).

fn main() {
    std::process::exit(heartbeat::cli::heartbeat_main(std::env::args_os()));
}
