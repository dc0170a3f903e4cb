//! gRPC over unix sockets, below both kubelet faces and the cluster side:
//! the socket rules (bind 0600, dial) and the `:authority` rewrite every
//! accepted connection passes through.

pub mod authority;
pub mod unix;
