//! Per-thread state borrowed safely: every cache and scratch buffer of the event path is a
//! `thread_local!` `RefCell`, and each may be out of reach at the moment an event arrives —
//! during the thread's teardown (the local is gone), or while already borrowed higher on the
//! stack (an event emitted from inside a value's `Debug`, which runs while the buffer is in
//! use). Logging must never panic for either, so each use goes through [`with`], which says
//! when the state cannot be had, or [`with_or_fresh`], which then lends a fresh value instead.

use std::cell::RefCell;
use std::thread::LocalKey;

/// Runs `f` with this thread's value of `key`, borrowed mutably; `None` (and `f` not called)
/// when the value cannot be had (thread teardown, or already borrowed on this thread).
#[inline(always)]
pub(crate) fn with<T: 'static, R>(
    key: &'static LocalKey<RefCell<T>>,
    f: impl FnOnce(&mut T) -> R,
) -> Option<R> {
    key.try_with(|cell| cell.try_borrow_mut().ok().map(|mut v| f(&mut v)))
        .ok()
        .flatten()
}

/// [`with`], lending a fresh `T::default()` to `f` when this thread's value cannot be had.
#[inline(always)]
pub(crate) fn with_or_fresh<T: Default + 'static, R>(
    key: &'static LocalKey<RefCell<T>>,
    f: impl FnOnce(&mut T) -> R,
) -> R {
    let mut f = Some(f);
    let r = with(key, |v| (f.take().expect("called once"))(v));
    match r {
        Some(r) => r,
        None => (f.take().expect("not called yet"))(&mut T::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static N: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
    }

    #[test]
    fn a_nested_use_gets_none_or_a_fresh_value() {
        let got = with(&N, |outer| {
            outer.push(1);
            let inner = with(&N, |_| ());
            let fresh = with_or_fresh(&N, |v| v.len());
            (inner, fresh)
        });
        assert_eq!(got, Some((None, 0)));
        assert_eq!(with_or_fresh(&N, |v| v.clone()), vec![1]);
    }
}
