//! Sales by day as bars of an SVG chart, laid out here so the template only draws them (no
//! JavaScript; it prints).

use serde::Serialize;

use super::render::{day, sats};

/// Width and height of the chart's drawing area (the SVG's `viewBox`, scaled by CSS).
pub(crate) const WIDTH: u64 = 600;
/// See [`WIDTH`].
pub(crate) const HEIGHT: u64 = 150;

/// One day's bar.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Bar {
    /// Left edge.
    pub x: u64,
    /// Top edge.
    pub y: u64,
    /// Width.
    pub w: u64,
    /// Height (0 for a day without sales).
    pub h: u64,
    /// `2026-12-07`.
    pub day: String,
    /// `12,500 sat` (what the bar's tooltip and the table under it say).
    pub amount: String,
}

/// `days` bars from the UTC day starting at `from` (a multiple of 86,400), each the sum of the
/// amounts of `paid` (`(paid_at, msat)`) on its day; the tallest fills the height.
pub(crate) fn bars_by_day(
    paid: impl Iterator<Item = (u64, u64)>,
    from: u64,
    days: u64,
) -> Vec<Bar> {
    let days = days.max(1);
    let mut sums = vec![0u64; days as usize];
    for (at, msat) in paid {
        if at >= from {
            if let Some(slot) = sums.get_mut(((at - from) / 86_400) as usize) {
                *slot = slot.saturating_add(msat);
            }
        }
    }
    let top = sums.iter().copied().max().unwrap_or(0).max(1);
    let w = WIDTH / days;
    sums.iter()
        .enumerate()
        .map(|(i, &msat)| {
            let h = (u128::from(msat) * u128::from(HEIGHT) / u128::from(top)) as u64;
            Bar {
                x: i as u64 * w,
                y: HEIGHT - h,
                w: w.saturating_sub(2).max(1),
                h,
                day: day(from + i as u64 * 86_400),
                amount: sats(msat),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_sale_lands_on_its_day_and_the_tallest_fills_the_chart() {
        let from = 1_796_601_600; // 2026-12-07 00:00 UTC
        let paid = [(from + 10, 1_000_000), (from + 86_399, 1_000_000), (from + 86_400, 500_000)];
        let bars = bars_by_day(paid.into_iter().chain([(from - 1, 9_000_000)]), from, 3);
        assert_eq!(bars.len(), 3);
        assert_eq!((bars[0].h, bars[0].y, bars[0].amount.as_str()), (HEIGHT, 0, "2,000 sat"));
        assert_eq!(bars[1].h, HEIGHT / 4);
        assert_eq!((bars[2].h, bars[2].day.as_str()), (0, "2026-12-09"));
        assert_eq!(bars[1].x, WIDTH / 3);
    }
}
