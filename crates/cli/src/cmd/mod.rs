pub mod analyze;
pub mod experiment;
pub mod health;
pub mod lb_config;
pub mod scale;
pub mod serve;

/// A subcommand's flags parsed on their own, environment variables and defaults included, as
/// `openenv-bench NAME ARGS...` would parse them (for the subcommands' tests).
#[cfg(test)]
pub(crate) fn parse_flags<A: clap::Args>(argv: &[&str]) -> A {
    #[derive(clap::Parser)]
    struct Cli<A: clap::Args> {
        #[command(flatten)]
        args: A,
    }
    <Cli<A> as clap::Parser>::parse_from(argv).args
}
