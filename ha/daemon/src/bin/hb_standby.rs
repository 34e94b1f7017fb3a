//! `hb_standby [all|local|foreign|failback]`: ask the cluster to let this
//! node give up resources (see `heartbeat::standby`).

use heartbeat::paths::DaemonPaths;
use heartbeat::standby::{self, Tool};

fn main() {
    let argv0 = std::env::args()
        .next()
        .unwrap_or_else(|| "hb_standby".to_owned());
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(standby::main(
        Tool::Standby,
        &argv0,
        &args,
        &DaemonPaths::default().fifo,
    ));
}
