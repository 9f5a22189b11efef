//! Operations: build, update, search, verify and the bridges to other stores, joining the archive, the index and the embedding
//! providers, and the network (push and pull through IPFS nodes and gateways). Commands call one
//! of these; the layers below never call up.

pub mod bridge;
pub mod build;
pub mod remote;
pub mod search;
pub mod update;
pub mod verify;
