//! Archives on the IPFS network and on web servers: `push` imports an archive into an IPFS node
//! through its RPC API (Kubo's `/api/v0`), `pull` fetches one by its root CID from trustless
//! gateways or a node and writes it as a CARv2 after checking every block, link and count, and
//! `fetch` reads the blocks a command needs, one by one, from gateways, a node or a CARv2 on a web
//! server (`range`).
//!
//! One blocking HTTP client (ureq, as for embeddings) and no async runtime: an archive moves as
//! one streamed request or response, and blocks fetched together run on a bounded set of threads.

pub mod api;
pub mod fetch;
pub mod pull;
pub mod push;
pub mod range;
mod stream;

/// How long a node or gateway may send or take nothing before it is given up: an archive
/// streams for as long as it takes.
const IDLE: crate::http::Limit = crate::http::Limit::Idle(std::time::Duration::from_secs(120));
