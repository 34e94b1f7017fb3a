//! `cl_status`: query the running heartbeat (see `heartbeat::cl_status`).

use heartbeat::cl_status::{self, ErrLine, SocketBackend};
use heartbeat::paths::DaemonPaths;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let backend = SocketBackend {
        path: DaemonPaths::default().control_socket,
        timeout: cl_status::DEFAULT_TIMEOUT,
    };
    let out = cl_status::run(&args, &backend);
    print!("{}", out.stdout);
    for line in &out.stderr {
        match line {
            ErrLine::Log(msg) => eprintln!(
                "{}",
                heartbeat::logging::line_now("cl_status", tracing::Level::ERROR, false, msg)
            ),
            ErrLine::Plain(msg) => eprintln!("{msg}"),
        }
    }
    std::process::exit(out.code);
}
