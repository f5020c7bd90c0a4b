//! Value parsers shared by the subcommands' flags (and their environment variables).

/// Largest duration any flag accepts, in seconds (a week: no benchmark step, timeout or pause is
/// longer, and a bigger value is a typo that would overflow a timer).
pub const MAX_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

/// A duration in seconds: a finite number, `0 <= s <= MAX_SECONDS`. Rejects what used to
/// slip through (`nan`, `inf`, `-1`, `1e400`) with a message that says what is accepted.
pub fn seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !v.is_finite() || !(0.0..=MAX_SECONDS).contains(&v) {
        return Err(format!(
            "`{s}` is not a duration: seconds must be a finite number from 0 to {MAX_SECONDS}"
        ));
    }
    Ok(v)
}

/// A boolean setting as people type it: 1/0, true/false, yes/no, on/off (also y/n, t/f), in any
/// case. Anything else is an error, not silently false.
pub fn boolish() -> clap::builder::BoolishValueParser {
    clap::builder::BoolishValueParser::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::builder::TypedValueParser;

    #[test]
    fn seconds_are_finite_non_negative_and_bounded() {
        assert_eq!(seconds("0"), Ok(0.0));
        assert_eq!(seconds("2.5"), Ok(2.5));
        assert_eq!(seconds(" 1e3 "), Ok(1000.0));
        assert_eq!(seconds(&MAX_SECONDS.to_string()), Ok(MAX_SECONDS));
        for bad in [
            "nan", "NaN", "inf", "-inf", "1e400", "-1", "-0.5", "604801", "", "5s",
        ] {
            let e = seconds(bad).unwrap_err();
            assert!(e.contains(&format!("`{bad}`")), "{bad}: {e}");
        }
    }

    /// Every duration flag goes through `seconds` (a non-finite cooldown used to panic after
    /// the first cell; `-1` and `nan` silently meant 0).
    #[test]
    fn duration_flags_are_validated() {
        use clap::Parser;
        let parse = |args: &[&str]| {
            crate::Cli::try_parse_from(std::iter::once("openenv-bench").chain(args.iter().copied()))
        };
        for flag in [
            "--cooldown",
            "--timeout",
            "--close-timeout",
            "--ramp",
            "--wait",
            "--wait-grid",
        ] {
            for bad in ["inf", "1e400", "-1", "nan"] {
                assert!(parse(&["scale", flag, bad]).is_err(), "scale {flag} {bad}");
            }
            assert!(parse(&["scale", flag, "2"]).is_ok(), "scale {flag} 2");
        }
        for flag in ["--cooldown", "--timeout", "--wait-grid"] {
            assert!(
                parse(&["experiment", flag, "nan"]).is_err(),
                "experiment {flag}"
            );
            assert!(
                parse(&["experiment", flag, "1.5"]).is_ok(),
                "experiment {flag}"
            );
        }
        for flag in [
            "--idle-timeout",
            "--drain-grace",
            "--header-timeout",
            "--max-wait-seconds",
        ] {
            assert!(parse(&["serve", flag, "nan"]).is_err(), "serve {flag}");
            assert!(parse(&["serve", flag, "-1"]).is_err(), "serve {flag}");
            assert!(parse(&["serve", flag, "0"]).is_ok(), "serve {flag}");
        }
    }

    #[test]
    fn booleans_as_typed() {
        let cmd = clap::Command::new("t");
        let p = boolish();
        for (s, want) in [
            ("1", true),
            ("0", false),
            ("true", true),
            ("FALSE", false),
            ("Yes", true),
            ("no", false),
            ("ON", true),
            ("off", false),
        ] {
            let got = p.parse_ref(&cmd, None, std::ffi::OsStr::new(s)).unwrap();
            assert_eq!(got, want, "{s}");
        }
        for bad in ["2", "maybe", ""] {
            assert!(
                p.parse_ref(&cmd, None, std::ffi::OsStr::new(bad)).is_err(),
                "{bad}"
            );
        }
    }
}
