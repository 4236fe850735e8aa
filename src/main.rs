//! The `microsip` binary: a headless MicroSIP.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use microsip::app::{self, cli};

fn main() -> ExitCode {
    let opts = match cli::parse(std::env::args_os().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("microsip: {e}");
            return ExitCode::from(app::EXIT_BAD_INPUT);
        }
    };
    if opts.help {
        println!("{}", cli::USAGE);
        return ExitCode::SUCCESS;
    }
    if opts.check {
        microsip::logging::init(opts.log_level.unwrap_or(log::LevelFilter::Info));
        return app::setup::check(&opts);
    }
    if opts.version {
        println!(
            "microsip {} (pjproject {})",
            env!("CARGO_PKG_VERSION"),
            microsip::engine::pjproject_version()
        );
        return ExitCode::SUCCESS;
    }
    let level = opts.log_level.unwrap_or(log::LevelFilter::Info);
    microsip::logging::init(level);
    app::run(opts)
}
