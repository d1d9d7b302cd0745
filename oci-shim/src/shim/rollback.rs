//! Undo actions registered as side effects happen, run in reverse on failure.

/// A list of undo actions; dropping it without [`Rollback::commit`] runs them
/// last-first, so a failed set-up unwinds exactly what it did.
#[derive(Default)]
pub struct Rollback {
    undo: Vec<(String, Box<dyn FnOnce()>)>,
}

impl Rollback {
    /// An empty undo list.
    pub fn new() -> Rollback {
        Rollback::default()
    }

    /// Register the undo of a side effect that just happened.
    pub fn push(&mut self, what: impl Into<String>, undo: impl FnOnce() + 'static) {
        self.undo.push((what.into(), Box::new(undo)));
    }

    /// Set-up succeeded: keep every side effect.
    pub fn commit(mut self) {
        self.undo.clear();
    }
}

impl Drop for Rollback {
    fn drop(&mut self) {
        while let Some((what, undo)) = self.undo.pop() {
            crate::diag!("rolling back: {what}");
            undo();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    #[test]
    fn dropped_rollback_undoes_in_reverse_order() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut rollback = Rollback::new();
        for n in 0..3 {
            let log = Rc::clone(&log);
            rollback.push(format!("step {n}"), move || log.borrow_mut().push(n));
        }
        drop(rollback);
        assert_eq!(*log.borrow(), vec![2, 1, 0]);
    }

    #[test]
    fn committed_rollback_undoes_nothing() {
        let log = Rc::new(RefCell::new(Vec::<i32>::new()));
        let mut rollback = Rollback::new();
        let inner = Rc::clone(&log);
        rollback.push("step", move || inner.borrow_mut().push(1));
        rollback.commit();
        assert!(log.borrow().is_empty());
    }
}
