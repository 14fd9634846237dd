//! Latency samples, their percentiles, and the one-line JSON each subcommand prints.

use std::fmt::Write as _;
use std::time::Duration;

/// Latencies of one kind of operation, in microseconds.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    micros: Vec<u64>,
}

impl Samples {
    /// Records one operation.
    pub fn push(&mut self, latency: Duration) {
        // Saturates only past 584,000 years.
        self.micros
            .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }

    /// Adds another client's samples.
    pub fn merge(&mut self, other: Samples) {
        self.micros.extend(other.micros);
    }

    /// How many operations were recorded.
    pub fn len(&self) -> usize {
        self.micros.len()
    }

    /// The `p`-th percentile (0 < p ≤ 100) in milliseconds, by nearest rank; 0 when empty.
    pub fn percentile_ms(&mut self, p: f64) -> f64 {
        if self.micros.is_empty() {
            return 0.0;
        }
        self.micros.sort_unstable();
        let rank = (p / 100.0 * self.micros.len() as f64).ceil() as usize;
        let index = rank.clamp(1, self.micros.len()) - 1;
        self.micros[index] as f64 / 1000.0
    }

    /// The mean in milliseconds; 0 when empty.
    pub fn mean_ms(&self) -> f64 {
        if self.micros.is_empty() {
            return 0.0;
        }
        let sum: u128 = self.micros.iter().map(|&m| u128::from(m)).sum();
        sum as f64 / self.micros.len() as f64 / 1000.0
    }
}

/// A flat JSON object built field by field; values are numbers, strings or nested objects.
#[derive(Debug, Default)]
pub struct Json {
    out: String,
}

impl Json {
    /// Starts an object whose `test` field names the subcommand.
    pub fn new(test: &str) -> Self {
        let mut json = Json::default();
        json.string("test", test);
        json
    }

    fn key(&mut self, key: &str) {
        self.out
            .push_str(if self.out.is_empty() { "{" } else { "," });
        // Keys are literals in this program, never input, so they need no escaping.
        let _ = write!(self.out, "\"{key}\":");
    }

    /// Adds a number, rounded to three decimals (microseconds when the unit is ms).
    pub fn number(&mut self, key: &str, value: f64) -> &mut Self {
        self.key(key);
        if value.is_finite() {
            let _ = write!(self.out, "{}", (value * 1000.0).round() / 1000.0);
        } else {
            self.out.push_str("null");
        }
        self
    }

    /// Adds an integer.
    pub fn int(&mut self, key: &str, value: u64) -> &mut Self {
        self.key(key);
        let _ = write!(self.out, "{value}");
        self
    }

    /// Adds a string, escaped.
    pub fn string(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        self.out.push('"');
        for c in value.chars() {
            match c {
                '"' => self.out.push_str("\\\""),
                '\\' => self.out.push_str("\\\\"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(self.out, "\\u{:04x}", c as u32);
                }
                c => self.out.push(c),
            }
        }
        self.out.push('"');
        self
    }

    /// Adds a nested object.
    pub fn object(&mut self, key: &str, value: Json) -> &mut Self {
        self.key(key);
        self.out.push_str(&value.finish());
        self
    }

    /// Adds the count, rate per second over `seconds`, mean, p50 and p99 of `samples`.
    pub fn latencies(&mut self, samples: &mut Samples, seconds: f64) -> &mut Self {
        self.int("ops", samples.len() as u64)
            .number("per_sec", samples.len() as f64 / seconds)
            .number("mean_ms", samples.mean_ms())
            .number("p50_ms", samples.percentile_ms(50.0))
            .number("p99_ms", samples.percentile_ms(99.0))
    }

    /// The finished object.
    pub fn finish(self) -> String {
        if self.out.is_empty() {
            return "{}".to_owned();
        }
        self.out + "}"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples = Samples::default();
        for ms in 1..=100 {
            samples.push(Duration::from_millis(ms));
        }
        assert_eq!(samples.percentile_ms(50.0), 50.0);
        assert_eq!(samples.percentile_ms(99.0), 99.0);
        assert_eq!(samples.percentile_ms(100.0), 100.0);
    }

    #[test]
    fn json_escapes_strings() {
        let mut json = Json::new("x");
        json.string("error", "a \"b\"\n").int("n", 3);
        assert_eq!(
            json.finish(),
            r#"{"test":"x","error":"a \"b\"\u000a","n":3}"#
        );
    }
}
