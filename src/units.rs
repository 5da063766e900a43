//! Durations and sizes as people write them, one parser each for every option and setting
//! (`--token-ttl`, `--queue-wait`, `--query-timeout`, `--memory-limit`,
//! `TAGFUSION_S3_RETRY_TIMEOUT`): durations by `humantime` (`8h`, `30m`, `90s`, `500ms`,
//! `1h 30m`) or plain seconds (`30`, `1.5`); sizes `4G`, `512M`, `64K` or plain bytes.

use std::time::Duration;

/// `8h`, `30m`, `90s`, `500ms`, `1h 30m` or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if let Ok(seconds) = t.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds)
            .map_err(|_| format!("'{text}' is not a duration of zero or more seconds"));
    }
    humantime::parse_duration(t)
        .map_err(|_| format!("'{text}' is not a duration; write e.g. 8h, 30m or 90s"))
}

/// `4G`, `512M`, `64K` (a trailing B is allowed) or plain bytes.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim().to_uppercase();
    let t = t.strip_suffix('B').unwrap_or(&t);
    let (number, unit) = match t.chars().last() {
        Some('K') => (&t[..t.len() - 1], 1usize << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        Some('T') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a size; write e.g. 4G or 512M"))?;
    if value <= 0.0 {
        return Err(format!("'{text}' is not a positive size"));
    }
    Ok((value * unit as f64) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("512mb"), Ok(512 << 20));
        assert_eq!(parse_size("1.5K"), Ok(1536));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("-1G").is_err());
    }

    #[test]
    fn durations_parse_with_units_or_as_seconds() {
        assert_eq!(parse_duration("8h"), Ok(Duration::from_secs(8 * 3600)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("-3s").is_err());
        assert!(parse_duration("-3").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
