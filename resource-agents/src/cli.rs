//! The shared command line: `<Agent> <args…> <action>`.

use std::process::ExitCode;

use crate::arp;
use crate::ocf::{outcome, Action, RaError, State};

/// One resource agent: built from the arguments before the action.
pub trait Agent: Sized {
    const NAME: &'static str;
    /// The arguments part of the usage line.
    const ARGS: &'static str;
    fn from_args(args: &[String]) -> Result<Self, RaError>;
    fn start(&self) -> Result<(), RaError>;
    fn stop(&self) -> Result<(), RaError>;
    fn status(&self) -> Result<State, RaError>;
}

pub fn usage_line(name: &str, args: &str) -> String {
    format!("usage: {name} {args} {{start|stop|status|monitor}}")
}

/// Process entry point for a bin: `fn main() -> ExitCode { cli::main::<X>() }`.
pub fn main<A: Agent>() -> ExitCode {
    let args = match collect_args() {
        Ok(a) => a,
        Err(e) => {
            init_logging();
            tracing::error!("{}: {e}", A::NAME);
            println!("{}", e.rc.words());
            return ExitCode::from(e.rc as u8);
        }
    };
    if args.first().map(String::as_str) == Some(arp::INTERNAL_FLAG) {
        init_logging();
        return ExitCode::from(arp::run_internal(args.get(1..).unwrap_or_default()));
    }
    init_logging();
    ExitCode::from(run::<A>(&args))
}

/// Arguments as UTF-8 strings (an agent's arguments come from haresources).
pub fn collect_args() -> Result<Vec<String>, RaError> {
    std::env::args_os()
        .skip(1)
        .map(|a| {
            a.into_string()
                .map_err(|a| RaError::args(format!("argument {a:?} is not valid UTF-8")))
        })
        .collect()
}

/// Stderr logging; `HA_debug=1` (heartbeat's debug switch) adds debug lines.
pub fn init_logging() {
    let debug = std::env::var("HA_debug").is_ok_and(|v| v != "0" && !v.is_empty());
    let level = if debug {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .with_max_level(level)
        .try_init();
}

/// Run the agent for `args` (without `argv[0]`); prints the outcome words on
/// stdout and returns the exit code.
pub fn run<A: Agent>(args: &[String]) -> u8 {
    let usage = usage_line(A::NAME, A::ARGS);
    let Some((word, rest)) = args.split_last() else {
        tracing::error!("{}: No action specified.", A::NAME);
        println!("{usage}");
        return crate::ocf::Rc::Args as u8;
    };
    let Some(action) = Action::parse(word) else {
        tracing::error!("{}: Unknown operation: {word}", A::NAME);
        println!("{usage}");
        return crate::ocf::Rc::Args as u8;
    };
    if action == Action::Usage {
        println!("{usage}");
        return 0;
    }
    let span = tracing::info_span!("agent", name = A::NAME, args = %rest.join(" "));
    let _enter = span.enter();
    let result = match A::from_args(rest) {
        Ok(agent) => match action {
            Action::Start => agent.start().map(|()| None),
            Action::Stop => agent.stop().map(|()| None),
            Action::Status | Action::Monitor => agent.status().map(Some),
            Action::Usage => Ok(None),
        },
        Err(e) => {
            // A wrong number of arguments gets the usage line, as the wrappers do.
            if e.rc == crate::ocf::Rc::Args {
                println!("{usage}");
            }
            Err(e)
        }
    };
    if let Err(e) = &result {
        tracing::error!("{e}");
    }
    let (code, words) = outcome(action, &result);
    println!("{words}");
    code
}
