//! `cargo run --release -p openenv-report --example report -- OUT_FIGURES_DIR RESULTS_DIR...`:
//! the library's analysis without the CLI (handy while the CLI's other crates are in flux).

use openenv_report::{Input, Options};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(
        args.next()
            .ok_or("usage: report OUT_FIGURES_DIR RESULTS_DIR...")?,
    );
    let inputs = args
        .map(|d| Input {
            dir: d.into(),
            infra: None,
        })
        .collect();
    let opts = Options::with_layout(inputs, &out);
    let outcome = openenv_report::run(&opts)?;
    println!("{}", outcome.tables.unwrap_or_default());
    for f in outcome.figures {
        println!("{}", f.display());
    }
    Ok(())
}
