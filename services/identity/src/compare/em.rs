//! Estimating m and u from unlabelled candidate pairs by expectation–maximisation.
//!
//! Each candidate pair is a comparison level per field. Pairs are a mixture of matches and
//! non-matches; EM alternates between the probability that each pair is a match given the
//! current m, u and match share (expectation) and the m, u and match share that best
//! explain those probabilities (maximisation). When pairs drawn at random are supplied,
//! u is read from them directly (random pairs are almost never matches), which is more
//! reliable than estimating it, and EM estimates only m and the match share.
//!
//! Candidate pairs come from blocking, so the strangers among them agree on the blocking
//! keys far more often than random pairs do. Holding the mixture's non-match side to the
//! random pairs' u would make EM explain those agreements as matches (the match share runs
//! to 1 and m becomes the candidates' own distribution). So the mixture keeps its own
//! non-match distribution for the candidates, estimated alongside m, and the model it
//! returns carries m and the match share from EM and u from the random pairs.
//!
//! Two guards keep the estimates usable on data unlike the training pairs: probabilities
//! are clamped away from 0 and 1, and within a field a more similar level never weighs less
//! than a less similar one (a level no match in the training data reached, such as a
//! nickname in data without any, would otherwise count as strong evidence against).

use super::{Field, Level, Model};

/// Probabilities are kept in [`PROBABILITY_BOUND`, 1 − `PROBABILITY_BOUND`], so no level
/// is ever impossible under either hypothesis and weights stay finite.
pub const PROBABILITY_BOUND: f64 = 1e-5;

/// EM stops when no probability moves by more than this in one iteration.
pub const TOLERANCE: f64 = 1e-5;

/// What [`estimate`] found.
#[derive(Debug, Clone)]
pub struct Estimate {
    /// The estimated model, with the start's levels and names.
    pub model: Model,
    /// Iterations run.
    pub iterations: u32,
    /// Whether the estimates settled before the iteration limit.
    pub converged: bool,
    /// The estimated share of candidate pairs that are the same person.
    pub match_share: f64,
}

/// Expectation–maximisation over candidate `pairs` (each a level per [`Field::ALL`], `None`
/// for missing, which is ignored; levels the model does not have are ignored too),
/// starting from `start`. When `random_pairs` is not empty, the returned u is the share of
/// random pairs at each level with add-one smoothing, and EM contributes m and the match
/// share only (the candidates' own non-match distribution, which blocking skews, is
/// estimated alongside and not returned); otherwise EM estimates both. Probabilities are
/// clamped away from 0 and 1 and a more similar level never weighs less than a less
/// similar one; EM stops when no parameter moves more than [`TOLERANCE`] or after
/// `max_iterations`.
pub fn estimate(
    start: &Model,
    pairs: &[Vec<Option<usize>>],
    random_pairs: &[Vec<Option<usize>>],
    max_iterations: u32,
) -> Estimate {
    let mut model = start.clone();
    let mut random_u = None;
    if !random_pairs.is_empty() {
        let mut from_random = start.clone();
        set_u_from_random_pairs(&mut from_random, random_pairs);
        random_u = Some(from_random);
    }
    let mut match_share = initial_match_share(&model, pairs);
    let mut iterations = 0;
    let mut converged = pairs.is_empty();
    while !converged && iterations < max_iterations {
        iterations += 1;
        let posteriors: Vec<f64> = pairs
            .iter()
            .map(|pair| match_probability(&model, pair, match_share))
            .collect();
        let mut moved: f64 = 0.0;
        let share = clamp(posteriors.iter().sum::<f64>() / pairs.len() as f64);
        moved = moved.max((share - match_share).abs());
        match_share = share;
        for field in Field::ALL {
            let count = model.levels(field).len();
            let mut m_counts = vec![0.0; count];
            let mut u_counts = vec![0.0; count];
            for (pair, g) in pairs.iter().zip(&posteriors) {
                if let Some(level) = level_of(pair, field, count) {
                    m_counts[level] += g;
                    u_counts[level] += 1.0 - g;
                }
            }
            let new_m = normalized(&m_counts);
            let new_u = normalized(&u_counts);
            for (i, level) in model.levels_mut(field).iter_mut().enumerate() {
                if let Some(m) = new_m.as_ref().and_then(|m| m.get(i)) {
                    moved = moved.max((m - level.m).abs());
                    level.m = *m;
                }
                if let Some(u) = new_u.as_ref().and_then(|u| u.get(i)) {
                    moved = moved.max((u - level.u).abs());
                    level.u = *u;
                }
            }
        }
        converged = moved <= TOLERANCE;
    }
    if let Some(random_u) = random_u {
        for field in Field::ALL {
            for (level, fixed) in model
                .levels_mut(field)
                .iter_mut()
                .zip(random_u.levels(field))
            {
                level.u = fixed.u;
            }
        }
    }
    for field in Field::ALL {
        make_monotone(model.levels_mut(field));
    }
    Estimate {
        model,
        iterations,
        converged,
        match_share,
    }
}

/// Raises m where a more similar level would weigh less than the next less similar one,
/// to the same ratio, then rescales m to sum to one (which shifts every weight of the
/// field equally, keeping the order).
fn make_monotone(levels: &mut [Level]) {
    let mut changed = false;
    for i in (0..levels.len().saturating_sub(1)).rev() {
        let next_ratio = levels[i + 1].m / levels[i + 1].u;
        if levels[i].m / levels[i].u < next_ratio {
            levels[i].m = levels[i].u * next_ratio;
            changed = true;
        }
    }
    if changed {
        let total: f64 = levels.iter().map(|l| l.m).sum();
        if total.is_finite() && total > 0.0 {
            for level in levels.iter_mut() {
                level.m = clamp(level.m / total);
            }
        }
    }
}

/// The level `pair` has for `field`, when present and one of the field's `count` levels.
fn level_of(pair: &[Option<usize>], field: Field, count: usize) -> Option<usize> {
    pair.get(field.index())
        .copied()
        .flatten()
        .filter(|l| *l < count)
}

/// The probability that `pair` is a match under `model` with prior `match_share`.
fn match_probability(model: &Model, pair: &[Option<usize>], match_share: f64) -> f64 {
    let mut log_odds = (match_share / (1.0 - match_share)).ln();
    for field in Field::ALL {
        let levels = model.levels(field);
        if let Some(level) = level_of(pair, field, levels.len()).and_then(|l| levels.get(l)) {
            log_odds += (clamp(level.m) / clamp(level.u)).ln();
        }
    }
    // The logistic function, written so neither branch overflows.
    if log_odds >= 0.0 {
        1.0 / (1.0 + (-log_odds).exp())
    } else {
        let e = log_odds.exp();
        e / (1.0 + e)
    }
}

/// A first match share: the share of pairs the start model already calls more likely a
/// match than not, so EM starts near the data rather than at an arbitrary prior.
fn initial_match_share(model: &Model, pairs: &[Vec<Option<usize>>]) -> f64 {
    if pairs.is_empty() {
        return clamp(0.5);
    }
    let likely = pairs
        .iter()
        .filter(|pair| match_probability(model, pair, 0.5) > 0.5)
        .count();
    clamp(likely as f64 / pairs.len() as f64).clamp(0.01, 0.99)
}

/// u of every level from random pairs: the share at each level, add-one smoothed. A field
/// no random pair has keeps its u.
fn set_u_from_random_pairs(model: &mut Model, random_pairs: &[Vec<Option<usize>>]) {
    for field in Field::ALL {
        let count = model.levels(field).len();
        let mut counts = vec![0.0; count];
        let mut present = 0.0;
        for pair in random_pairs {
            if let Some(level) = level_of(pair, field, count) {
                counts[level] += 1.0;
                present += 1.0;
            }
        }
        if present == 0.0 {
            continue;
        }
        let smoothed: Vec<f64> = counts.iter().map(|c| c + 1.0).collect();
        if let Some(u) = normalized(&smoothed) {
            for (level, u) in model.levels_mut(field).iter_mut().zip(u) {
                level.u = u;
            }
        }
    }
}

/// `counts` as probabilities, each clamped away from 0 and 1 and the whole renormalised;
/// `None` when there is nothing to normalise (no pair had the field).
fn normalized(counts: &[f64]) -> Option<Vec<f64>> {
    let total: f64 = counts.iter().sum();
    if !(total.is_finite() && total > 0.0) {
        return None;
    }
    let clamped: Vec<f64> = counts.iter().map(|c| clamp(c / total)).collect();
    let sum: f64 = clamped.iter().sum();
    Some(clamped.iter().map(|p| p / sum).collect())
}

/// `p` kept within [`PROBABILITY_BOUND`] of 0 and 1 (NaN becomes the bound).
fn clamp(p: f64) -> f64 {
    if p.is_nan() {
        return PROBABILITY_BOUND;
    }
    p.clamp(PROBABILITY_BOUND, 1.0 - PROBABILITY_BOUND)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (SplitMix64), so the synthetic mixture is the same
    /// on every run.
    struct Random(u64);

    impl Random {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 11) as f64 / (1u64 << 53) as f64
        }

        fn pick(&mut self, probabilities: &[f64]) -> usize {
            let mut r = self.next();
            for (i, p) in probabilities.iter().enumerate() {
                if r < *p {
                    return i;
                }
                r -= p;
            }
            probabilities.len() - 1
        }
    }

    /// A model whose probabilities differ from the defaults in a known way: m leans to the
    /// first level, u to the last, each spread geometrically.
    fn truth() -> Model {
        let mut model = Model::default();
        for field in Field::ALL {
            let levels = model.levels_mut(field);
            let n = levels.len();
            let m: Vec<f64> = (0..n).map(|i| 0.5f64.powi(i as i32 + 1)).collect();
            let u: Vec<f64> = (0..n)
                .map(|i| 0.4f64.powi((n - 1 - i) as i32 + 1))
                .collect();
            let (m_sum, u_sum): (f64, f64) = (m.iter().sum(), u.iter().sum());
            for (i, level) in levels.iter_mut().enumerate() {
                level.m = m[i] / m_sum;
                level.u = u[i] / u_sum;
            }
        }
        model
    }

    fn sample(
        model: &Model,
        is_match: bool,
        missing: f64,
        random: &mut Random,
    ) -> Vec<Option<usize>> {
        Field::ALL
            .into_iter()
            .map(|field| {
                if random.next() < missing {
                    return None;
                }
                let p: Vec<f64> = model
                    .levels(field)
                    .iter()
                    .map(|l| if is_match { l.m } else { l.u })
                    .collect();
                Some(random.pick(&p))
            })
            .collect()
    }

    fn mixture(
        model: &Model,
        n: usize,
        share: f64,
        random: &mut Random,
    ) -> Vec<Vec<Option<usize>>> {
        (0..n)
            .map(|_| {
                let is_match = random.next() < share;
                sample(model, is_match, 0.1, random)
            })
            .collect()
    }

    fn assert_close(estimated: &Model, truth: &Model, tolerance: f64, check_u: bool) {
        for field in Field::ALL {
            for (e, t) in estimated.levels(field).iter().zip(truth.levels(field)) {
                assert!(
                    (e.m - t.m).abs() < tolerance,
                    "{} {}: m {} against {}",
                    field.name(),
                    t.name,
                    e.m,
                    t.m
                );
                if check_u {
                    assert!(
                        (e.u - t.u).abs() < tolerance,
                        "{} {}: u {} against {}",
                        field.name(),
                        t.name,
                        e.u,
                        t.u
                    );
                }
            }
        }
    }

    #[test]
    fn recovers_m_u_and_the_match_share_of_a_synthetic_mixture() {
        let truth = truth();
        let mut random = Random(7);
        let pairs = mixture(&truth, 30_000, 0.3, &mut random);
        let estimate = estimate(&Model::default(), &pairs, &[], 500);
        assert!(
            estimate.converged,
            "after {} iterations",
            estimate.iterations
        );
        assert!(
            (estimate.match_share - 0.3).abs() < 0.02,
            "{}",
            estimate.match_share
        );
        assert_close(&estimate.model, &truth, 0.03, true);
    }

    #[test]
    fn random_pairs_fix_u_and_em_finds_m() {
        let truth = truth();
        let mut random = Random(11);
        let pairs = mixture(&truth, 20_000, 0.2, &mut random);
        let random_pairs: Vec<_> = (0..20_000)
            .map(|_| sample(&truth, false, 0.1, &mut random))
            .collect();
        let estimate = estimate(&Model::default(), &pairs, &random_pairs, 500);
        assert!(estimate.converged);
        assert!(
            (estimate.match_share - 0.2).abs() < 0.02,
            "{}",
            estimate.match_share
        );
        assert_close(&estimate.model, &truth, 0.03, true);
    }

    #[test]
    fn blocking_skewed_candidates_do_not_pull_the_match_share_to_one() {
        let truth = truth();
        // Blocking on postal code: nearly every stranger among the candidates shares it,
        // unlike strangers picked at random.
        let mut blocked = truth.clone();
        let postal = blocked.levels_mut(Field::PostalCode);
        let n = postal.len();
        for (i, level) in postal.iter_mut().enumerate() {
            level.u = if i == 0 { 0.9 } else { 0.1 / (n - 1) as f64 };
        }
        let mut random = Random(5);
        let pairs: Vec<_> = (0..20_000)
            .map(|_| {
                if random.next() < 0.25 {
                    sample(&truth, true, 0.1, &mut random)
                } else {
                    sample(&blocked, false, 0.1, &mut random)
                }
            })
            .collect();
        let random_pairs: Vec<_> = (0..20_000)
            .map(|_| sample(&truth, false, 0.1, &mut random))
            .collect();
        let estimate = estimate(&Model::default(), &pairs, &random_pairs, 500);
        assert!(
            (estimate.match_share - 0.25).abs() < 0.02,
            "{}",
            estimate.match_share
        );
        assert_close(&estimate.model, &truth, 0.03, true);
    }

    #[test]
    fn a_level_no_match_reached_does_not_count_against_a_match() {
        // No pair ever reaches given-name level 1 (nickname).
        let mut random = Random(9);
        let mut pairs = mixture(&truth(), 5_000, 0.3, &mut random);
        for pair in &mut pairs {
            if pair[0] == Some(1) {
                pair[0] = Some(0);
            }
        }
        let estimate = estimate(&Model::default(), &pairs, &[], 500);
        let levels = estimate.model.levels(Field::GivenName);
        for pair in levels.windows(2) {
            assert!(pair[0].weight() >= pair[1].weight() - 1e-9, "{levels:?}");
        }
    }

    #[test]
    fn never_produces_nan_or_certainty() {
        let cases: Vec<Vec<Vec<Option<usize>>>> = vec![
            vec![],
            vec![vec![None; 8]; 10],
            vec![vec![Some(0); 8]; 50],
            vec![vec![Some(99); 3]],
            (0..40).map(|i| vec![Some(i % 2); 8]).collect(),
        ];
        for pairs in &cases {
            for random_pairs in [&[][..], &cases[2][..], &cases[1][..]] {
                let estimate = estimate(&Model::default(), pairs, random_pairs, 100);
                assert!(estimate.match_share.is_finite());
                assert!(estimate.match_share > 0.0 && estimate.match_share < 1.0);
                for field in Field::ALL {
                    for level in estimate.model.levels(field) {
                        assert!(level.m > 0.0 && level.m < 1.0, "{level:?}");
                        assert!(level.u > 0.0 && level.u < 1.0, "{level:?}");
                        assert!(level.weight().is_finite());
                    }
                }
            }
        }
    }

    #[test]
    fn stops_at_the_iteration_limit() {
        let mut random = Random(3);
        let pairs = mixture(&truth(), 2_000, 0.3, &mut random);
        let estimate = estimate(&Model::default(), &pairs, &[], 2);
        assert_eq!(estimate.iterations, 2);
        assert!(!estimate.converged);
    }
}
