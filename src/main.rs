//! The `healing-space` binary: everything lives in the library.

#![forbid(unsafe_code)]

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match healing_space::cli::run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
