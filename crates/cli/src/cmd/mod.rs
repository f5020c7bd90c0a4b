pub mod analyze;
pub mod experiment;
pub mod health;
pub mod lb_config;
pub mod scale;
pub mod serve;

/// A subcommand's flags parsed on their own, environment variables and defaults included, as
/// `openenv-bench NAME ARGS...` would parse them (for the subcommands' tests).
#[cfg(test)]
pub(crate) fn try_parse_flags<A: clap::Args>(argv: &[&str]) -> Result<A, clap::Error> {
    #[derive(clap::Parser)]
    struct Cli<A: clap::Args> {
        #[command(flatten)]
        args: A,
    }
    <Cli<A> as clap::Parser>::try_parse_from(argv).map(|cli| cli.args)
}

/// [`try_parse_flags`] of flags that must parse.
#[cfg(test)]
pub(crate) fn parse_flags<A: clap::Args>(argv: &[&str]) -> A {
    try_parse_flags(argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"))
}
