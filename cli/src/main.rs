//! `fjord`: topics, consumer groups and cluster health from the command line, against any
//! Kafka-compatible bootstrap. See docs/cli.md for every command, the JSON shapes and the exit
//! codes.

mod args;
mod cmd;
mod failure;
mod output;
mod settings;
mod table;

use std::process::ExitCode;

use clap::Parser;

use crate::args::Args;

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::from(failure::EXIT_ERROR);
        }
    };
    match runtime.block_on(cmd::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(failure::exit_code(&e))
        }
    }
}
