//! How a table's columns share a width: every column as wide as its widest cell when that
//! fits; otherwise names and ids longer than 24 columns give way first (a message says more
//! than the end of a long user id), then they and the free text (messages, JSON) share what
//! is left, the widest cut first, down to 8 columns and then further, and the fixed-format
//! columns (times, short ids, statuses) only when nothing else is left. Cells are then cut to
//! their column's width, never wrapped.

/// How a column gives way when the table is wider than the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Give {
    /// A fixed-format value (a time, a short id, a status): cut only when nothing else is left.
    Keep,
    /// A name or an id: cut to 24 columns before the free text gives way, then with it.
    Cut,
    /// Free text (a message, a JSON column): takes the room the others leave.
    Text,
}

/// What a name or an id keeps before the free text gives way.
const NAME: usize = 24;
/// The narrowest names and text are cut to while that is enough.
const FLOOR: usize = 8;

/// The content width of each column, given each column's widest cell (`natural`) and how it
/// gives way, so that the widths add up to at most `budget` (when `budget` allows a column
/// of 1 each; the caller leaves columns out before that).
pub fn widths(natural: &[usize], give: &[Give], budget: usize) -> Vec<usize> {
    let mut w = natural.to_vec();
    let steps: [(&dyn Fn(Give) -> bool, usize); 4] = [
        (&|g| g == Give::Cut, NAME),
        (&|g| g != Give::Keep, FLOOR),
        (&|g| g != Give::Keep, 1),
        (&|_| true, 1),
    ];
    for (eligible, floor) in steps {
        if w.iter().sum::<usize>() <= budget {
            break;
        }
        let which: Vec<bool> = give.iter().map(|g| eligible(*g)).collect();
        level(&mut w, &which, floor, budget);
    }
    w
}

/// Lowers the widest of the `which` columns to one cap, no lower than `floor`, until the sum
/// fits `budget` (or the cap is at `floor`); what the cap leaves over goes back to the capped
/// columns, left to right, one column each.
fn level(w: &mut [usize], which: &[bool], floor: usize, budget: usize) {
    let (mut room, mut widest) = (budget, 0);
    for (x, e) in w.iter().zip(which) {
        if *e {
            widest = widest.max(*x);
        } else {
            room = room.saturating_sub(*x);
        }
    }
    let at = |cap: usize| -> usize {
        w.iter()
            .zip(which)
            .filter(|(_, e)| **e)
            .map(|(x, _)| (*x).min(cap))
            .sum()
    };
    // The largest cap from `floor` up whose columns fit `room`, by bisection (the sum grows
    // with the cap).
    let (mut cap, mut hi) = (floor, widest.max(floor));
    while cap < hi {
        let mid = (cap + hi).div_ceil(2);
        if at(mid) <= room {
            cap = mid;
        } else {
            hi = mid - 1;
        }
    }
    let mut spare = room.saturating_sub(at(cap));
    for (x, e) in w.iter_mut().zip(which) {
        if *e && *x > cap {
            *x = cap + usize::from(spare > 0);
            spare = spare.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Give::*;

    #[test]
    fn a_table_that_fits_is_left_alone() {
        assert_eq!(widths(&[5, 10, 3], &[Keep, Cut, Text], 18), [5, 10, 3]);
    }

    #[test]
    fn long_names_give_way_first_then_names_and_text_then_fixed_formats() {
        // The message alone absorbs the cut while the names are short.
        assert_eq!(
            widths(&[20, 8, 20, 100], &[Keep, Keep, Cut, Text], 100),
            [20, 8, 20, 52]
        );
        // A long name is cut to 24 before the message gives way.
        assert_eq!(
            widths(&[20, 8, 150, 100], &[Keep, Keep, Cut, Text], 120),
            [20, 8, 24, 68]
        );
        // Then names and text share what is left, the narrow name whole.
        assert_eq!(
            widths(&[20, 5, 60, 40, 100], &[Keep, Cut, Cut, Cut, Text], 70),
            [20, 5, 15, 15, 15]
        );
        // Below their floor too before the fixed-format columns give way, which go last.
        assert_eq!(
            widths(&[20, 8, 60, 100], &[Keep, Keep, Cut, Text], 34),
            [20, 8, 3, 3]
        );
        assert_eq!(
            widths(&[20, 8, 60, 100], &[Keep, Keep, Cut, Text], 20),
            [10, 8, 1, 1]
        );
    }

    #[test]
    fn every_budget_is_met_when_it_allows_a_column_each() {
        let natural = [20, 8, 21, 9, 60, 15, 8, 300];
        let give = [Keep, Keep, Cut, Keep, Cut, Cut, Keep, Text];
        for budget in natural.len()..500 {
            let w = widths(&natural, &give, budget);
            let sum: usize = w.iter().sum();
            assert!(sum <= budget, "{budget}: {w:?}");
            assert!(w.iter().all(|x| *x >= 1), "{budget}: {w:?}");
            assert!(w.iter().zip(&natural).all(|(x, n)| x <= n), "{w:?}");
            if budget >= natural.iter().sum() {
                assert_eq!(w, natural);
            } else {
                assert_eq!(sum, budget, "{w:?} leaves room unused");
            }
        }
    }
}
