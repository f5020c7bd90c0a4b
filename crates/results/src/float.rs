//! Floats as Python's `repr(float)` (and `str(float)`) prints them: the shortest decimal that
//! round-trips, `.0` on integral values, and an exponent of at least two digits below 1e-4 and
//! from 1e16 on (`1e-07`, `1e+16`). `summary.csv` (as `csv.writer` writes Python floats) and the
//! Python-style `str()` of wire values both use it.

/// `repr(x)` of a Python float: `1.0`, `0.1`, `1e-07`, `1.5e+16`, `nan`, `inf`, `-inf`.
pub fn py_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    // Rust's `{:e}` is the shortest round-trip digits in scientific form: `-1.2345e-7`.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if x.is_sign_negative() { "-" } else { "" };
    let body = if (-4..16).contains(&exp) {
        if exp >= 0 {
            let point = exp as usize + 1;
            if digits.len() > point {
                format!("{}.{}", &digits[..point], &digits[point..])
            } else {
                format!("{digits}{}.0", "0".repeat(point - digits.len()))
            }
        } else {
            format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
        }
    } else {
        let (lead, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{lead}{frac}e{esign}{:02}", exp.abs())
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::py_float;

    #[test]
    fn prints_like_python_repr() {
        // Each pair: the value and what `python3 -c 'print(repr(x))'` prints.
        for (x, py) in [
            (1.0, "1.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (0.25, "0.25"),
            (1.0325126579999733, "1.0325126579999733"),
            (1e-7, "1e-07"),
            (1e-5, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (0.00012345, "0.00012345"),
            (123456.789, "123456.789"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (1e300, "1e+300"),
            (-2.5, "-2.5"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(py_float(x), py, "{x:?}");
        }
    }

    #[test]
    fn round_trips() {
        for x in [0.1, 1.0 / 3.0, 2.0f64.sqrt() * 1e-9, 6.02214076e23, 1e-310] {
            assert_eq!(py_float(x).parse::<f64>().unwrap(), x);
        }
    }
}
