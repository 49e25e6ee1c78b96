//! `conglang`: thin entry point; everything lives in the library (see `cli`).

fn main() -> std::process::ExitCode {
    conglang::cli::main()
}
