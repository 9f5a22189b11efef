//! Operations: build, update, search, verify and the bridges to other stores, joining the
//! archive, the index and the embedding providers; opening an archive wherever it is; and the
//! network (push, pull and block fetching through IPFS nodes, gateways and web servers). Commands
//! call one of these; the layers below never call up.

pub mod bridge;
pub mod build;
pub mod open;
pub mod remote;
pub mod search;
pub mod update;
pub mod verify;
