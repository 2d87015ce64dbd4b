//! Who watches a client's connections: the instance's load (for balancers) and the client's
//! observer (for engine events). Both are optional; an unwatched connection pays nothing.

use std::sync::Arc;

use crate::discovery::Load;
use crate::observe::Observer;

/// Handed to a pool and from it to each connection it dials.
#[derive(Clone, Default)]
pub(crate) struct Watchers {
    /// The instance's load: kept only for a discovered service's instances.
    pub load: Option<Arc<Load>>,
    /// The client's observer, if it has one.
    pub observer: Option<Arc<dyn Observer>>,
}
