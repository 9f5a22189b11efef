//! One module per subcommand: parse the arguments, call the library, print.

pub mod build;
pub mod export;
pub mod get;
pub mod info;
pub mod ls;
pub mod query;
pub mod verify;
