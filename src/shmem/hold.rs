//! pgpool's `InRecovery` (spec/architecture.md §10, pcp.md §5.8): the shared "hold new clients
//! back" state a PCP worker sets while it waits for the connected clients to leave (graceful
//! detach and promote, online recovery's second stage). Children look at it — one atomic load —
//! before accept(2); while it is set they leave new connections in the listen queue. The worker
//! that set it clears it when it is done (`Hold`'s drop, whatever the way out); should it die
//! first, the PCP main process clears it when reaping it, and a waiting child when it finds the
//! holder gone.

use std::sync::atomic::Ordering::SeqCst;

use super::Shmem;

/// Why new clients are held back (pgpool's `RECOVERY_*` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum HoldMode {
    /// Online recovery, second stage.
    Online = 1,
    /// Graceful detach (`pcp_detach_node -g`, `pcp_promote_node -g -s`).
    Detach = 2,
    /// Graceful promote (`pcp_promote_node -g`).
    Promote = 3,
}

/// While alive, new clients wait in the listen queue. Dropping it lets them in again.
#[must_use = "clients are held back only while the guard lives"]
pub struct Hold<'a> {
    sh: &'a Shmem,
    owner: i32,
}

impl Shmem {
    /// Hold new clients back until the returned guard is dropped. A later holder takes over (as
    /// pgpool overwrites `InRecovery`); only the current owner's drop clears the state.
    pub fn hold_clients(&self, mode: HoldMode) -> Hold<'_> {
        let owner = std::process::id() as i32;
        let h = self.header();
        h.hold_owner.store(owner, SeqCst);
        h.hold_mode.store(mode as u8, SeqCst);
        Hold { sh: self, owner }
    }

    /// Whether new clients are being held back (the accept path's one load).
    #[inline]
    pub fn clients_held(&self) -> bool {
        self.header().hold_mode.load(SeqCst) != 0
    }

    /// Clear the state if `pid` set it (a holder that died without clearing it). True if it
    /// was cleared.
    pub fn release_clients_of(&self, pid: i32) -> bool {
        let h = self.header();
        if h.hold_mode.load(SeqCst) == 0 || h.hold_owner.load(SeqCst) != pid {
            return false;
        }
        h.hold_mode.store(0, SeqCst);
        true
    }

    /// Clear the state if its holder no longer exists. True if it was cleared.
    pub fn release_clients_if_holder_gone(&self) -> bool {
        let owner = self.header().hold_owner.load(SeqCst);
        if owner <= 0 {
            return false;
        }
        // SAFETY: kill(2) with signal 0 only checks that the process exists.
        let gone = unsafe { libc::kill(owner, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        gone && self.release_clients_of(owner)
    }
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        self.sh.release_clients_of(self.owner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_is_cleared_by_its_drop_and_by_its_dead_holder_only() {
        let sh = crate::shmem::tests_region();
        {
            let _hold = sh.hold_clients(HoldMode::Detach);
            assert!(sh.clients_held());
            assert!(!sh.release_clients_if_holder_gone(), "the holder is alive");
            assert!(!sh.release_clients_of(1), "pid 1 is not the holder");
            assert!(sh.clients_held());
        }
        assert!(!sh.clients_held(), "dropping the guard clears it");
        // A holder that died without clearing it: a reaped child's pid.
        let child = std::process::Command::new("true")
            .spawn()
            .and_then(|mut c| c.wait().map(|_| c.id()))
            .expect("run true");
        sh.header().hold_owner.store(child as i32, SeqCst);
        sh.header().hold_mode.store(HoldMode::Promote as u8, SeqCst);
        assert!(sh.clients_held());
        assert!(sh.release_clients_if_holder_gone());
        assert!(!sh.clients_held());
    }
}
