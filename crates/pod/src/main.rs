//! The `pod` binary: parses arguments and calls the library.

fn main() -> std::process::ExitCode {
    pod::cli::main()
}
