//! The `cairn` binary: parse, run, print one line on error, exit with the documented code.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let mut cli = match cli::args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { cli::exit::FATAL } else { cli::exit::OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging();
    if let Err(error) = cli::configure(&mut cli) {
        eprintln!("cairn: {error}");
        return ExitCode::from(error.exit_code());
    }
    let cancel = cairn::CancelToken::new();
    let handler_token = cancel.clone();
    // First Ctrl-C: cancel cleanly (what is stored stays reusable); second: stop at once.
    let _ = ctrlc::set_handler(move || {
        if handler_token.is_cancelled() {
            std::process::exit(i32::from(cli::exit::INTERRUPTED));
        }
        handler_token.cancel();
    });
    match cli::run(&cli, &cancel) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            if cli.json {
                let value = serde_json::json!({ "message_type": "error", "message": error.to_string(), "code": error.exit_code() });
                eprintln!("{value}");
            } else {
                eprintln!("cairn: {error}");
            }
            ExitCode::from(error.exit_code())
        }
    }
}

/// Diagnostics on stderr at the level `CAIRN_LOG` names (`error` … `trace`); off by default.
/// The library logs ids, paths and sizes, never key material or passwords.
fn init_logging() {
    let Some(level) = std::env::var("CAIRN_LOG").ok().and_then(|v| v.parse::<tracing::Level>().ok()) else {
        return;
    };
    let _ = tracing_subscriber::fmt().with_max_level(level).with_writer(std::io::stderr).try_init();
}
