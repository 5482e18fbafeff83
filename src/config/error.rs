//! How a configuration is found unusable: the error that names the file and the key, and the
//! ranges that every number which later becomes a period, a rate or a size is checked against,
//! so that nothing can panic or spin once the bridge runs.

use std::fmt;

use super::topics::TopicError;

/// A configuration that cannot be used, with the file and the key that make it so.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read the configuration: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: key `{key}`: {message}")]
    Invalid {
        file: String,
        key: String,
        message: String,
    },
    #[error("parameter `{name}`: {message}")]
    Parameter { name: String, message: String },
    #[error("robot id from {source_name}: {error}")]
    RobotId {
        source_name: &'static str,
        error: TopicError,
    },
    #[error("no robot id: set the parameter robot_id (-p robot_id:=AMR001), the key robot_id in the configuration, or start the node in a namespace")]
    NoRobotId,
}

impl ConfigError {
    pub fn invalid(file: &str, key: impl Into<String>, message: impl fmt::Display) -> Self {
        ConfigError::Invalid {
            file: file.to_owned(),
            key: key.into(),
            message: message.to_string(),
        }
    }
}

/// The range a number must be in.
#[derive(Debug, Clone, Copy)]
pub enum Range {
    /// > 0 and <= max.
    Positive(f64),
    /// min <= v <= max.
    Between(f64, f64),
    /// 0 (off), or min <= v <= max.
    ZeroOr(f64, f64),
}

impl Range {
    pub fn check(self, v: f64) -> Result<(), String> {
        let ok = v.is_finite()
            && match self {
                Range::Positive(max) => v > 0.0 && v <= max,
                Range::Between(min, max) => (min..=max).contains(&v),
                Range::ZeroOr(min, max) => v == 0.0 || (min..=max).contains(&v),
            };
        if ok {
            return Ok(());
        }
        Err(match self {
            Range::Positive(max) => format!("must be a number above 0 and at most {max}, not {v}"),
            Range::Between(min, max) => format!("must be a number from {min} to {max}, not {v}"),
            Range::ZeroOr(min, max) => {
                format!("must be 0 (off) or a number from {min} to {max}, not {v}")
            }
        })
    }
}

/// The first of `numbers` (key, value, range) out of its range.
pub fn check_numbers(file: &str, numbers: &[(&str, f64, Range)]) -> Result<(), ConfigError> {
    for (key, v, range) in numbers {
        range
            .check(*v)
            .map_err(|why| ConfigError::invalid(file, *key, why))?;
    }
    Ok(())
}

/// The first of `sizes` (key, value, max) that is 0 or above its max.
pub fn check_sizes(file: &str, sizes: &[(&str, usize, usize)]) -> Result<(), ConfigError> {
    for (key, v, max) in sizes {
        if *v == 0 || v > max {
            return Err(ConfigError::invalid(file, *key, format!("must be 1-{max}")));
        }
    }
    Ok(())
}
