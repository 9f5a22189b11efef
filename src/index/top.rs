//! The best hits of a search: all scored and the best chosen ([`top_k`]), or chosen while
//! scoring ([`Best`]), the same way.

use std::cmp::Ordering;

use super::search::Hit;

/// The `k` best hits, sorted by score (best first) then row.
pub(super) fn top_k(mut hits: Vec<Hit>, k: usize) -> Vec<Hit> {
    if hits.len() > k {
        keep_best(&mut hits, k);
        hits.shrink_to_fit();
    }
    hits.sort_by(order);
    hits
}

/// Leaves the `k` best of `hits` (more than `k`), the worst of them last.
fn keep_best(hits: &mut Vec<Hit>, k: usize) {
    if k == 0 {
        hits.clear();
        return;
    }
    hits.select_nth_unstable_by(k - 1, order);
    hits.truncate(k);
}

/// Best first: by score, then row.
fn order(a: &Hit, b: &Hit) -> Ordering {
    b.score.total_cmp(&a.score).then(a.row.cmp(&b.row))
}

/// The `n` best hits offered (as [`top_k`] chooses), holding at most 2n: a scan keeps each
/// query's candidates, not every row it scores.
#[derive(Clone)]
pub(super) struct Best {
    n: usize,
    kept: Vec<Hit>,
    /// The score of the worst hit kept when the list was last cut to `n`: below it, no hit
    /// can be among the best.
    floor: f64,
}

impl Best {
    /// Keeps the `n` best.
    pub(super) fn new(n: usize) -> Best {
        Best {
            n,
            kept: Vec::new(),
            floor: f64::NEG_INFINITY,
        }
    }

    /// Keeps `row` scoring `score` if it may be among the best.
    #[inline]
    pub(super) fn offer(&mut self, row: u64, score: f64) {
        if score < self.floor || self.n == 0 {
            return;
        }
        if self.kept.is_empty() {
            self.kept.reserve_exact(2 * self.n);
        }
        self.kept.push(Hit { row, score });
        if self.kept.len() >= 2 * self.n {
            keep_best(&mut self.kept, self.n);
            self.floor = self.kept[self.n - 1].score;
        }
    }

    /// Offers every hit `other` kept.
    pub(super) fn merge(&mut self, other: Best) {
        other.kept.into_iter().for_each(|hit| self.offer(hit.row, hit.score));
    }

    /// The rows of the best hits, best first.
    pub(super) fn rows(self) -> Vec<u64> {
        top_k(self.kept, self.n).into_iter().map(|h| h.row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_keeps_what_top_k_chooses_from_every_hit() {
        let mut seed = 3u64;
        for n in [0, 1, 2, 5, 20, 64] {
            // Scores with many ties (row order decides) and infinities among them.
            let hits: Vec<Hit> = (0..1000u64)
                .map(|i| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let score = match (seed >> 33) % 50 {
                        0 => f64::NEG_INFINITY,
                        1 => f64::INFINITY,
                        r => (r % 9) as f64 - 4.0,
                    };
                    Hit {
                        row: (i * 7919) % 1000,
                        score,
                    }
                })
                .collect();
            let (front, back) = hits.split_at(400);
            let (mut one, mut other) = (Best::new(n), Best::new(n));
            front.iter().for_each(|h| one.offer(h.row, h.score));
            back.iter().for_each(|h| other.offer(h.row, h.score));
            one.merge(other);
            let want: Vec<u64> = top_k(hits.clone(), n).into_iter().map(|h| h.row).collect();
            assert_eq!(one.rows(), want, "n = {n}");
        }
    }
}
