//! One module per subcommand: parse the arguments, call the library, print.

pub mod build;
pub mod export;
pub mod get;
pub mod info;
pub mod ls;
pub mod query;
pub mod verify;

/// A mistake in the command line found after parsing (a malformed `--filter`, say): exit 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}
