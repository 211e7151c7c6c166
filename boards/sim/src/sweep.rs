//! The design-space sweep (`m3rt profile sweep`): a base design point varied over the linear unit's tile,
//! the clock and the precision; each variant checked against its device's resources (estimates) and, when
//! it fits, simulated on one input's routing; the Pareto front of latency against energy. SIMULATED.

use m3rt::model::Hyper;

use crate::design::Precision;
use crate::report::{simulate, Report};
use crate::resources::{check, DoesNotFit, Resources};
use crate::Design;

/// What is varied.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    /// Linear-unit tiles, rows × columns (MAC/cycle = their product).
    pub tiles: Vec<(u32, u32)>,
    /// Clocks, MHz.
    pub clocks_mhz: Vec<f64>,
    /// Precisions.
    pub precisions: Vec<Precision>,
}

impl Default for Grid {
    /// 8×8 to 32×32 tiles, 200 to 300 MHz (the IP's target; no timing closure is claimed for any), both
    /// precisions.
    fn default() -> Self {
        Self {
            tiles: vec![(8, 8), (16, 8), (16, 16), (16, 32), (32, 32)],
            clocks_mhz: vec![200.0, 250.0, 300.0],
            precisions: vec![Precision::W16a32, Precision::Int8],
        }
    }
}

/// One variant and what became of it.
#[derive(Clone, Debug)]
pub struct Point {
    /// The variant.
    pub design: Design,
    /// Its resource estimate, or the resource it overflows.
    pub fit: Result<Resources, DoesNotFit>,
    /// Its simulated report (when it fits and the model is within its maxima).
    pub report: Option<Report>,
}

impl Point {
    /// End-to-end seconds and joules (encoder alone where the head cannot run), when simulated.
    pub fn latency_energy(&self) -> Option<(f64, f64)> {
        self.report.as_ref().map(|r| {
            let t = r.end_to_end();
            (t.seconds, t.energy.total_j())
        })
    }
}

/// Every variant of `base` in `grid`, named `<base>-<rows>x<cols>-<MHz>-<precision>`, on a model of
/// hyperparameters `h` whose task has `channels` outputs and whose input routes to `queues`.
pub fn sweep(base: &Design, grid: &Grid, h: &Hyper, channels: u32, queues: &[Vec<u32>]) -> Vec<Point> {
    let mut points = Vec::new();
    for &(rows, cols) in &grid.tiles {
        for &clock in &grid.clocks_mhz {
            for &precision in &grid.precisions {
                let mut d = base.clone();
                d.linear.tile_rows = rows;
                d.linear.tile_cols = cols;
                d.clock_mhz = clock;
                d.precision = precision;
                d.name = format!("{}-{rows}x{cols}-{clock}MHz-{precision:?}", base.name).to_lowercase();
                let fit = check(&d);
                let report = fit.is_ok().then(|| simulate(&d, h, channels, queues).ok()).flatten();
                points.push(Point { design: d, fit, report });
            }
        }
    }
    points
}

/// The indices of the simulated points no other simulated point beats on both latency and energy
/// ([`pareto_of`] of their end-to-end figures), sorted by latency.
pub fn pareto(points: &[Point]) -> Vec<usize> {
    pareto_of(&points.iter().map(Point::latency_energy).collect::<Vec<_>>())
}

/// The indices of the `(latency, energy)` pairs that no other pair dominates (as small or smaller in both,
/// smaller in one; of equal pairs the first stays), sorted by latency; `None`s are never on the front.
pub fn pareto_of(values: &[Option<(f64, f64)>]) -> Vec<usize> {
    let dominated = |i: usize, (t, e): (f64, f64)| {
        values.iter().enumerate().any(|(j, o)| {
            o.is_some_and(|(tj, ej)| (tj <= t && ej <= e && (tj < t || ej < e)) || (j < i && tj == t && ej == e))
        })
    };
    let mut front: Vec<usize> = (0..values.len()).filter(|&i| values[i].is_some_and(|v| !dominated(i, v))).collect();
    front.sort_by(|&a, &b| {
        let key = |i: usize| values[i].map_or(f64::INFINITY, |v| v.0);
        key(a).total_cmp(&key(b))
    });
    front
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_front_by_hand() {
        // (1, 9) and (2, 4) and (5, 1) trade off; (3, 5) is beaten by (2, 4); (2, 4) again is a tie that
        // leaves the first; None never counts; (6, 1) is beaten by (5, 1) on latency.
        let v = [
            Some((3.0, 5.0)),
            Some((2.0, 4.0)),
            None,
            Some((5.0, 1.0)),
            Some((1.0, 9.0)),
            Some((2.0, 4.0)),
            Some((6.0, 1.0)),
        ];
        assert_eq!(pareto_of(&v), vec![4, 1, 3]);
        assert_eq!(pareto_of(&[None, None]), Vec::<usize>::new());
    }
}
