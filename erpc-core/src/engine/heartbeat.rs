//! Liveness as a sans-IO state machine: the caller reports inbound traffic and clock ticks.

/// What to do at a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Beat {
    /// Traffic arrived since the last tick: all is well.
    Alive,
    /// Nothing arrived: probe with a PING.
    Ping,
    /// Nothing arrived for too many ticks: the peer is gone.
    Dead,
}

#[derive(Debug)]
pub(crate) struct Heartbeat {
    max_misses: u32,
    misses: u32,
    heard: bool,
}

impl Heartbeat {
    pub fn new(max_misses: u32) -> Self {
        Heartbeat {
            max_misses: max_misses.max(1),
            misses: 0,
            heard: false,
        }
    }

    /// Bytes arrived from the peer.
    pub fn heard(&mut self) {
        self.heard = true;
    }

    /// One interval has passed.
    pub fn tick(&mut self) -> Beat {
        if std::mem::take(&mut self.heard) {
            self.misses = 0;
            return Beat::Alive;
        }
        self.misses += 1;
        if self.misses >= self.max_misses {
            Beat::Dead
        } else {
            Beat::Ping
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_pings_then_declares_death() {
        let mut hb = Heartbeat::new(3);
        assert_eq!(hb.tick(), Beat::Ping);
        assert_eq!(hb.tick(), Beat::Ping);
        hb.heard();
        assert_eq!(hb.tick(), Beat::Alive);
        assert_eq!(hb.tick(), Beat::Ping);
        assert_eq!(hb.tick(), Beat::Ping);
        assert_eq!(hb.tick(), Beat::Dead);
    }
}
