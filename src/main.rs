use clap::Parser;

fn main() {
    let cli = pipeline_run::cli::Cli::parse();
    pipeline_run::trace::init(cli.verbosity());
    let code = pipeline_run::commands::run(cli);
    std::process::exit(code);
}
